"""Free-list hygiene (spec/hygiene.py): the strict rules, what 4.19 breaks, and the merge rule per profile.

- each rule catches a hand-made state and passes a hygienic one, in both its concrete and Z3 form,
  and the two forms agree on Hypothesis-generated states with random pageblock and list types;
- 4.19 breaks freelist_hygiene, cma_highatomic_own_lists and no_mixed_merge at exactly the pinned
  lengths on portfolio scenarios and one of their own (one operation less finds nothing); it keeps
  maximal_coalescing_strict;
  none of the rules is in the 4.19 profile, so the default check does not judge 4.19 by them;
- LaterMerge (tests/hygiene_variants.py, 1dd214b8f21c's merge refusal) gets a maximal_coalescing
  false alarm under the 4.19 form and none under its declared strict profile, where the planted
  LaterMergeHighatomicMixes is caught by no_mixed_merge.
"""

import random
from pathlib import Path

import pytest
from hygiene_variants import LaterMerge, LaterMergeHighatomicMixes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_invariant_agreement import random_machine

from buddycheck.checks.explore import Explorer
from buddycheck.checks.portfolio import explore_portfolio, is_strict, properties_for
from buddycheck.checks.scenario_file import load_scenario
from buddycheck.checks.scenarios import scenario as builtin_scenario
from buddycheck.model import Kernel419, preset
from buddycheck.model.constants import (
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_TYPES,
    MIGRATE_UNMOVABLE,
)
from buddycheck.spec.hygiene import HYGIENE_INVARIANTS
from buddycheck.spec.invariants import PROFILE_STRICT
from buddycheck.spec.view import view_of

BY = {inv.name: inv for inv in HYGIENE_INVARIANTS}
# two HIGHATOMIC reserves not yet taken: the portfolio's highatomic-two-reserves as it was before its setup took them
FRESH = Path(__file__).parent / "hygiene_scenarios" / "two-reserves-fresh.toml"


def scenario(name):
    return load_scenario(FRESH) if name == "two-reserves-fresh" else builtin_scenario(name)

BROKEN_BY_419 = ("freelist_hygiene", "cma_highatomic_own_lists", "no_mixed_merge")

# (rule, portfolio scenario): the length of 4.19's shortest counterexample (docs/invariants.md)
KNOWN_419 = {
    ("freelist_hygiene", "slowpath"): 2,  # HIGHATOMIC head pageblock of a two-pageblock block, then its free
    ("cma_highatomic_own_lists", "slowpath"): 2,
    ("no_mixed_merge", "slowpath"): 2,
    ("freelist_hygiene", "two-reserves-fresh"): 3,  # a merge goes to the freed page's list
    ("no_mixed_merge", "two-reserves-fresh"): 4,  # a HIGHATOMIC pageblock merges with an Unmovable one
    ("cma_highatomic_own_lists", "highatomic-one-pageblock"): 4,  # a per-cpu page drained under a stale type
    ("freelist_hygiene", "pageblock-steal"): 6,  # merging across pageblocks of two per-cpu types
}


def boot():
    """numa2 at boot: MAX_ORDER 4, pageblock_order 2; node 0 DMA32 holds free (0,3) (8,3), all MOVABLE."""
    return view_of(Kernel419(preset("numa2")))


def verdicts(view, name):
    inv = BY[name]
    concrete, symbolic = inv.holds(view), inv.z3_holds(view)
    assert concrete == symbolic, (name, [str(v) for v in inv.check(view)])
    return concrete


def with_pageblock(view, i, mt):
    pbs = list(view.pageblocks)
    pbs[i] = mt
    return view.with_(pageblocks=tuple(pbs))


def test_boot_is_hygienic():
    v = boot()
    assert v.pageblock_order == 2 and v.zones[0].free == ((0, 3, MIGRATE_MOVABLE), (8, 3, MIGRATE_MOVABLE))
    assert all(verdicts(v, name) for name in BY)


def test_freelist_hygiene_catches_a_block_covering_another_type():
    v = with_pageblock(boot(), 1, MIGRATE_UNMOVABLE)  # pfn 4..7 inside the free (0,3) on the Movable list
    assert not verdicts(v, "freelist_hygiene")
    assert [str(x) for x in BY["freelist_hygiene"].check(v)] == [
        "freelist_hygiene: free block at pfn 0 of order 3 on node 0 zone DMA32 is on the Movable list but "
        "covers the Unmovable pageblock at pfn 4"]
    assert verdicts(v, "cma_highatomic_own_lists") and verdicts(v, "no_mixed_merge")  # two per-cpu types mix


def test_cma_highatomic_own_lists_catches_both_directions():
    v = with_pageblock(boot(), 1, MIGRATE_HIGHATOMIC)  # a HIGHATOMIC pageblock under a Movable-list block
    assert not verdicts(v, "cma_highatomic_own_lists") and not verdicts(v, "no_mixed_merge")
    v = boot()  # below: a Movable pageblock's block on the CMA list
    v = v.with_zone(0, free=((0, 3, MIGRATE_CMA), (8, 3, MIGRATE_MOVABLE)))
    assert not verdicts(v, "cma_highatomic_own_lists") and verdicts(v, "no_mixed_merge")
    v = v.with_(pageblocks=(MIGRATE_CMA, MIGRATE_CMA) + v.pageblocks[2:])
    assert verdicts(v, "cma_highatomic_own_lists") and verdicts(v, "freelist_hygiene")


def test_no_mixed_merge_allows_blocks_of_one_type_and_of_mixable_types():
    v = with_pageblock(with_pageblock(boot(), 0, MIGRATE_ISOLATE), 1, MIGRATE_ISOLATE)
    assert verdicts(v, "no_mixed_merge") and not verdicts(v, "freelist_hygiene")  # on the Movable list
    v = with_pageblock(boot(), 1, MIGRATE_ISOLATE)
    assert not verdicts(v, "no_mixed_merge")


def test_maximal_coalescing_strict_requires_merging_below_pageblock_order_only():
    v = boot().with_zone(0, free=((0, 2, MIGRATE_MOVABLE), (4, 2, MIGRATE_MOVABLE), (8, 3, MIGRATE_MOVABLE)),
                         nr_free=(0, 0, 2, 1))
    assert verdicts(v, "maximal_coalescing_strict")  # order 2 = pageblock_order: may stay apart
    assert BY["maximal_coalescing_strict"].replaces == "maximal_coalescing"
    v = boot().with_zone(0, free=((0, 1, MIGRATE_MOVABLE), (2, 1, MIGRATE_MOVABLE), (4, 2, MIGRATE_MOVABLE),
                                  (8, 3, MIGRATE_MOVABLE)), nr_free=(0, 2, 1, 1))
    assert not verdicts(v, "maximal_coalescing_strict")


# ---- concrete and Z3 agree on states near the rules' boundaries -----------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(0, 30), st.integers(0, 6))
def test_concrete_and_z3_agree_on_retyped_states(seed, steps, nretypes):
    """Random runs of buddy-core and numa2, then pageblocks and free lists retyped at random."""
    rng = random.Random(seed)
    v = view_of(random_machine(("buddy-core", "numa2")[seed % 2], seed, steps))
    for _ in range(nretypes):
        if rng.random() < 0.5:
            v = with_pageblock(v, rng.randrange(len(v.pageblocks)), rng.randrange(MIGRATE_TYPES))
        else:
            zi = rng.randrange(len(v.zones))
            free = list(v.zones[zi].free)
            if free:
                k = rng.randrange(len(free))
                free[k] = free[k][:2] + (rng.randrange(MIGRATE_TYPES),)
                v = v.with_zone(zi, free=tuple(free))
    if len(v.blocks()) <= 64:
        for name in BY:
            verdicts(v, name)


# ---- 4.19 against the strict rules ----------------------------------------------------------------------
def test_the_rules_are_strict_and_not_judged_in_the_419_profile():
    assert all(inv.profile == PROFILE_STRICT for inv in HYGIENE_INVARIANTS)
    sc = scenario("slowpath")
    default = {p.name for p in properties_for(sc)}
    assert default.isdisjoint(BY) and "maximal_coalescing" in default
    strict = {p.name for p in properties_for(sc, strict=True)}
    assert set(BY) <= strict and all(is_strict(p) for p in properties_for(sc, tuple(BY), strict=True))


def explore(sc, rule, depth):
    return Explorer(sc).check(*properties_for(sc, (rule,), strict=True)).depth(depth).run()


@pytest.mark.parametrize("rule,name", sorted(KNOWN_419))
def test_419_breaks_the_rule_at_exactly_the_pinned_length(rule, name):
    length = KNOWN_419[(rule, name)]
    sc = scenario(name)
    report = explore(sc, rule, length)
    assert [(v.invariant, v.length) for v in report.violations] == [(rule, length)]
    assert explore(sc, rule, length - 1).violations == []


def test_the_shortest_419_counterexamples_in_words():
    v = explore(scenario("slowpath"), "freelist_hygiene", 2).violations[0]
    assert [op.code() for op in v.trace] == ["m.alloc(G.GFP_KERNEL | G.__GFP_NOFAIL | G.__GFP_THISNODE, 3, cpu=0)",
                                             "m.free(16, cpu=0)"]
    assert "on the HighAtomic list but covers the Unmovable pageblock at pfn 20" in v.message
    v = explore(scenario("highatomic-one-pageblock"), "cma_highatomic_own_lists", 4).violations[0]
    assert [op.code() for op in v.trace][-1] == "m.drain()"
    assert "on the Unmovable list and covers the HighAtomic pageblock" in v.message


def test_419_keeps_the_strict_merge_duty():
    for name, depth in (("slowpath", 3), ("two-reserves-fresh", 5), ("pageblock-steal", 5)):
        assert explore(scenario(name), "maximal_coalescing_strict", depth).violations == [], name


# ---- the merge rule per profile -------------------------------------------------------------------------
def test_later_merge_gets_a_false_alarm_from_the_419_form_only():
    sc = scenario("two-reserves-fresh").with_model(LaterMerge)
    report = explore(sc, "maximal_coalescing", 4)  # named explicitly: the 4.19 form
    [v] = report.violations
    assert (v.invariant, v.length) == ("maximal_coalescing", 4)
    assert "pfn 16 (HighAtomic list) and pfn 20 (Unmovable list) of order 2" in v.message
    names = {p.name for p in properties_for(sc)}  # the profile LaterMerge declares
    assert "maximal_coalescing_strict" in names and "maximal_coalescing" not in names
    assert {"freelist_hygiene", "no_mixed_merge"} <= names
    report = Explorer(sc).check(*properties_for(sc, ("maximal_coalescing_strict", "no_mixed_merge"))).run()
    assert report.violations == [] and report.depth == sc.depth == 6


def test_later_merge_judged_against_419_by_its_profile_has_no_regression():
    scs = [scenario("two-reserves-fresh"), scenario("slowpath")]
    runs = explore_portfolio(scs, LaterMerge, seconds=None, base=Kernel419, diff_coverage=False)
    assert [v.invariant for r in runs for v in r.violations] == []
    known = {(r.scenario.name, v.invariant) for r in runs for v in r.known}
    assert ("slowpath", "no_mixed_merge") in known  # 4.19's reserve typing, which LaterMerge keeps
    assert not any(name.startswith("maximal_coalescing") for _, name in known)


def test_the_strict_merge_rule_catches_a_port_that_mixes_highatomic():
    sc = scenario("two-reserves-fresh").with_model(LaterMergeHighatomicMixes)
    merge_rules = ("no_mixed_merge", "maximal_coalescing_strict")
    report = Explorer(sc).check(*properties_for(sc, merge_rules)).run()
    [v] = report.violations
    assert (v.invariant, v.length) == ("no_mixed_merge", 4)
    assert [op.code() for op in v.trace] == ["m.alloc(G.GFP_ATOMIC, 1, cpu=0)"] * 2 + [
        "m.free(16, cpu=0)", "m.free(18, cpu=0)"]
    assert Explorer(sc).check(*properties_for(sc, merge_rules)).depth(3).run().violations == []
    runs = explore_portfolio([scenario("two-reserves-fresh")], LaterMergeHighatomicMixes, seconds=None,
                             base=LaterMergeHighatomicMixes.base_model(), only=("no_mixed_merge",),
                             diff_coverage=False)
    assert [(v.invariant, v.length) for v in runs[0].violations] == [("no_mixed_merge", 4)]  # a regression


def test_freelist_hygiene_catches_the_steal_slip_the_419_profile_misses():
    """tests/planted_variants.py's steal-head-pageblock-only, which no rule of the 4.19 profile catches."""
    from planted_variants import StealHeadPageblockOnly
    from test_planted_variants import steal_scenario

    assert explore(steal_scenario(), "freelist_hygiene", steal_scenario().depth).violations == []  # 4.19 keeps it
    runs = explore_portfolio([steal_scenario()], StealHeadPageblockOnly, seconds=None, base=Kernel419,
                             only=("freelist_hygiene",), diff_coverage=False)
    [v] = runs[0].violations  # a regression: 4.19 keeps the rule on these operations
    assert (v.invariant, [op.code() for op in v.trace]) == ("freelist_hygiene", ["m.alloc(G.GFP_KERNEL, 0, cpu=0)"])
    assert "on the Unmovable list but covers the Movable pageblock at pfn 6" in v.message
