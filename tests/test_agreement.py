"""agreement(): a theorem about 4.19's encoding is judged for a variant by comparing the variant's
overridden functions with the encoding; the first differing input is reported, decoded."""

from dataclasses import replace

from planted_models import BuddyPlus, ExpandUpper, InterleaveSkip, ThisnodeFallback

from buddycheck.model import Kernel419
from buddycheck.model.buddy import expand as expand_419
from buddycheck.model.constants import ALLOC_CPUSET
from buddycheck.model.kernel import KERNEL_FUNCTIONS
from buddycheck.model.variants import VARIANTS
from buddycheck.spec.agreement import AGREES, DIFFERS, NOT_COMPARED, agreement
from buddycheck.spec.theorems import THEOREMS, THEOREMS_BY_NAME

SameExpand = Kernel419.variant("same-expand", "expand rewritten, behaving as 4.19's")


@SameExpand.override
def expand(k, zone, page, low, high, migratetype):
    expand_419(k, zone, page, low, high, migratetype)


NoHardwall = Kernel419.variant("no-hardwall", "the fast path forgets the cpuset check under ALLOC_CPUSET")


@NoHardwall.override
def get_page_from_freelist(k, gfp_mask, order, alloc_flags, ac):
    return Kernel419.get_page_from_freelist(k, gfp_mask, order, alloc_flags & ~ALLOC_CPUSET, ac)


def test_every_declared_function_is_a_kernel_function():
    for t in THEOREMS:
        assert set(t.functions + t.not_compared) <= set(KERNEL_FUNCTIONS), t.name


def test_a_variant_with_identical_behaviour_agrees():
    rows = agreement(SameExpand)
    assert [(r.theorem, r.functions, r.status) for r in rows] == [
        ("buddy_arithmetic", ("expand",), AGREES), ("split_merge_preserve", ("expand",), AGREES)]
    assert rows[0].inputs == 1000 + 400 and rows[1].inputs == 400
    assert rows[1].text() == "same-expand's expand agrees on 400 inputs"
    assert rows[0].to_json()["status"] == "agrees" and rows[0].to_json()["difference"] is None


def test_n_sets_the_inputs_per_comparison():
    rows = agreement(SameExpand, n=50)
    assert [r.inputs for r in rows] == [100, 50]


def test_buddy_computed_with_plus_differs_at_a_pinned_input():
    rows = agreement(BuddyPlus)
    assert [(r.theorem, r.status) for r in rows] == [("buddy_arithmetic", DIFFERS), ("split_merge_preserve", DIFFERS)]
    first = rows[0]
    assert first.functions == ("__find_buddy_pfn",) and first.inputs == 1
    assert first.difference == {"input": {"pfn": "0x1027c4d1c386bbc4", "order": 2},
                                "model": "0x1027c4d1c386bbc8", "encoding": "0x1027c4d1c386bbc0"}
    assert first.text() == ("buddy-plus's __find_buddy_pfn differs from the encoding at pfn=0x1027c4d1c386bbc4, "
                            "order=2 (buddy-plus gives 0x1027c4d1c386bbc8, the encoding 0x1027c4d1c386bbc0): "
                            "not proved for buddy-plus")
    step = rows[1].difference
    assert step["input"]["operation"] == "free pfn 60 order 2"
    # 60 + 4 is past the zone's 64 pages and the memory map: the read is reported, not taken as "no buddy"
    assert step["model"].startswith("raises OutOfZoneAccess: page_is_buddy (called from __free_one_page) read the "
                                    "struct page of pfn 64, outside the memory map")


def test_expand_keeping_the_upper_half_differs_at_the_first_split():
    rows = agreement(ExpandUpper)
    assert all(r.status == DIFFERS and r.functions == ("expand",) for r in rows)
    assert rows[1].inputs == 1 and rows[1].difference["input"]["operation"] == "alloc order 0 -> pfn 56"


def test_interleave_skipping_a_node_differs():
    (row,) = agreement(InterleaveSkip)
    assert row.theorem == "interleave_fairness" and row.status == DIFFERS and row.inputs == 2
    assert row.difference == {"input": {"MAX_NUMNODES": 64, "il_prev": 34, "mask": [20, 47, 50, 55, 56]},
                              "model": {"node": 50, "il_prev after": 50},
                              "encoding": {"node": 47, "il_prev after": 47}}


def test_a_fast_path_without_the_cpuset_check_differs():
    (row,) = agreement(NoHardwall)
    assert row.theorem == "policy_nodemask_cpuset" and row.functions == ("get_page_from_freelist",)
    assert row.status == DIFFERS and row.inputs == 1000 + 48 + 34
    assert row.difference == {"input": {"preferred node": 0, "nodemask": [0], "mems_allowed": [1],
                                        "cpusets enabled": True, "in interrupt": False, "oom victim": False},
                              "model": "node 0", "encoding": "no page"}


def test_an_overridden_function_no_comparison_exercises_is_not_proved():
    stated = replace(THEOREMS_BY_NAME["policy_nodemask_cpuset"], not_compared=("finalise_ac",))
    Finalise = Kernel419.variant("finalise-copy")

    @Finalise.override
    def finalise_ac(k, gfp_mask, ac):
        Kernel419.finalise_ac(k, gfp_mask, ac)

    (row,) = agreement(Finalise, theorems=(stated,))
    assert row.theorem == "policy_nodemask_cpuset" and row.status == NOT_COMPARED and row.inputs == 0
    assert row.text() == "finalise-copy's finalise_ac not compared with the encoding: not proved for finalise-copy"


def test_a_variant_overriding_nothing_encoded_gives_no_rows():
    assert agreement(ThisnodeFallback) == []
    for cls in VARIANTS.values():
        assert agreement(cls) == []


def test_kernel419_gives_no_rows():
    assert agreement(Kernel419) == []
