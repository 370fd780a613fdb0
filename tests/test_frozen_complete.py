"""Everything the model writes after boot is in its frozen state, or declared an observation.

Random operation sequences on every built-in and portfolio scenario (several topologies; every kind
of operation they offer: allocations, frees, drains, isolation, policies, cpusets, tasks) and on
every named variant: at points along each run, a freshly booted machine restored to the run's frozen
state must equal the running machine attribute by attribute (tests/attribute_diff.py), except what
the model's classes declare OBSERVATIONS or PARTLY_STATE. The planted variants of
tests/unfrozen_variants.py write after boot what freeze() does not take, and are caught by name.
"""

import random

import pytest
from attribute_diff import attribute_differences
from unfrozen_variants import RemembersLastFree, WatermarkDrifts, ZoneNotesFree

from buddycheck.checks.ops import Alloc, Free
from buddycheck.checks.scenarios import DIFF_SCENARIOS, SCENARIOS, portfolio_scenarios, scenario
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.model.errors import ModelError
from buddycheck.model.variants import VARIANTS

SCENARIOS_CHECKED = [scenario(name) for name in (*SCENARIOS, *DIFF_SCENARIOS)] + portfolio_scenarios()
STEPS, CHECK_EVERY, SEEDS = 36, 12, 3


def restored_copy(m):
    """A machine booted afresh on m's topology and class, then restored to m's frozen state."""
    fresh = type(m)(m.topology, m.env)
    fresh.restore(m.freeze())
    return fresh


def unfrozen_writes(sc, seed, steps=STEPS, every=CHECK_EVERY):
    """The attribute differences met along one random run of sc: (step, paths) wherever there are some."""
    rng = random.Random(seed)
    m = sc.initial()
    found = []
    for step in range(1, steps + 1):
        ops = sc.actions(m)
        if ops:
            try:
                rng.choice(ops).apply(m)
            except ModelError:
                pass  # not enabled here; the model promises no change
        if step % every == 0 or step == steps:
            diff = attribute_differences(m, restored_copy(m))
            if diff:
                found.append((step, diff))
    return found


@pytest.mark.parametrize("sc", SCENARIOS_CHECKED, ids=lambda sc: sc.name)
def test_every_write_after_boot_is_frozen_or_an_observation(sc):
    for seed in range(SEEDS):
        assert unfrozen_writes(sc, seed) == [], (sc.name, seed)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_freezes_what_it_writes(name):
    for base in ("numa2-mixed", "numa2-isolation", "highatomic", "policy-modes"):
        sc = scenario(base).with_model(VARIANTS[name])
        for seed in range(2):
            assert unfrozen_writes(sc, seed) == [], (name, base, seed)


def test_a_fresh_boot_equals_its_own_restore():
    m = Kernel419(preset("numa2"))
    assert attribute_differences(m, restored_copy(m)) == []


# ---- the checker fails, naming the attribute --------------------------------------------------------------

def freed_one_page(model):
    """A machine of `model` on buddy-core after an order-0 allocation and its free (through free_unref_page)."""
    m = model(preset("buddy-core", pages=16, max_order=4))
    page = Alloc(G.GFP_KERNEL, 0).apply(m).page
    Free(page).apply(m)
    return m, page


def test_a_new_machine_attribute_written_after_boot_is_caught():
    m, page = freed_one_page(RemembersLastFree)
    assert m.last_freed == page
    assert attribute_differences(m, restored_copy(m)) == ["m.last_freed: set on the first machine only"]


def test_a_new_zone_attribute_written_after_boot_is_caught():
    m, page = freed_one_page(ZoneNotesFree)
    zone = m.page_zone(page)
    assert attribute_differences(m, restored_copy(m)) == [
        f"m.node_data[{zone.nid}].node_zones[{zone.idx}].last_freed: set on the first machine only"]


def test_a_boot_time_value_changed_after_boot_is_caught():
    m = WatermarkDrifts(preset("numa2"))
    zone = m.zone(0, 2)  # node 0 Normal
    booted = zone.watermark[0]
    assert booted > 0
    page = Alloc(G.GFP_KERNEL, 0, nid=0).apply(m).page
    assert m.page_zone(page) is zone
    Free(page).apply(m)
    assert attribute_differences(m, restored_copy(m)) == [
        f"m.node_data[0].node_zones[2].watermark[0]: {booted - 1} != {booted}"]


def test_the_variants_are_caught_by_the_random_runs_too():
    sc = scenario("numa2-kernel")
    for model, what in ((RemembersLastFree, "m.last_freed"), (ZoneNotesFree, ".last_freed"),
                        (WatermarkDrifts, ".watermark[0]")):
        found = unfrozen_writes(sc.with_model(model), seed=0)
        assert found and any(what in path for _, paths in found for path in paths), model.NAME


def test_the_live_part_of_pcp_mt_is_compared_and_the_rest_is_not():
    m = Kernel419(preset("numa2"))
    page = Alloc(G.GFP_KERNEL, 0).apply(m).page  # order 0: a batch of pages moves onto cpu 0's list
    Free(page).apply(m)
    on_pcp = [pfn for z in m.zones() for p in z.pageset.values() for lst in p.lists for pfn in lst]
    assert page in on_pcp
    stale = next(pfn for pfn in range(m.topology.max_pfn) if pfn not in on_pcp)
    m.pcp_mt[stale] = 3  # page->index of a page on no per-cpu list: never read before it is written
    assert attribute_differences(m, restored_copy(m)) == []
    other = restored_copy(m)
    i = sorted(on_pcp).index(page)
    other.pcp_mt[page] = (m.pcp_mt[page] + 1) % 3
    assert attribute_differences(m, other) == [
        f"m.pcp_mt (the part live_pcp_mt() returns)[{i}][1]: {m.pcp_mt[page]} != {other.pcp_mt[page]}"]
