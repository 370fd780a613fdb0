"""The mutant catalogue: each re-introduced kernel bug is caught with its pinned shortest counterexample.

For every mutant: breadth-first exploration finds a violation of the expected invariant at exactly
the pinned length; one operation less finds none (minimality); the unmutated Kernel419 passes the
same scenario at that depth; the counterexample replays. Then, per mutant, the state the
counterexample reaches is compared with what 4.19 does on the same operations, by the kernel rule
the mutant breaks, and the extra invariants are checked on hand-made states.
"""

import pathlib

import pytest

from buddycheck.checks.mutants import CATALOGUE, MUTANTS, explore, kill
from buddycheck.checks.mutants.highatomic import HaDoubleDec, HaSteal, ha_double_dec_scenario
from buddycheck.checks.replay import replay
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.constants import MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE
from buddycheck.model.kernel import KERNEL_FUNCTIONS
from buddycheck.model.mempolicy import EIO, MPOL_BIND, MPOL_F_LOCAL, MPOL_INTERLEAVE, MPOL_PREFERRED, Mempolicy
from buddycheck.model.task import Task
from buddycheck.spec.invariants import HighatomicAccounting, HighatomicReserveExact
from buddycheck.spec.operation_invariants import thp_target_node
from buddycheck.spec.view import view_of

KERNEL_DOC = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "kernel-419.md").read_text()

NAMES = [m.name for m in CATALOGUE]


def run_trace(mutant, model):
    """Replay the mutant's pinned counterexample on `model`; the machine after it and each step's result."""
    scenario = mutant.checked_scenario(model)
    trace = kill(mutant).trace
    m = scenario.initial()
    results = [op.apply(m) for op in trace]
    return m, results


# ---- the catalogue as a whole -------------------------------------------------------------------------------

def test_the_catalogue_has_at_least_twelve_real_bugs_with_distinct_names():
    bugs = [m for m in CATALOGUE if m.kind == "bug"]
    assert len(bugs) >= 12
    assert len(MUTANTS) == len(CATALOGUE)
    assert all(m.model.NAME == m.name for m in CATALOGUE)


# Which kernel functions each mutant replaces (nothing else may differ from Kernel419).
OVERRIDES = {
    "zone-xmerge": {"page_is_buddy"},
    "iso-merge-order": {"__free_one_page"},
    "iso-merge-buddy": {"__free_one_page"},
    "iso-undo-no-merge": {"unset_migratetype_isolate"},
    "pcp-stale-isolate": {"free_pcppages_bulk"},
    "cma-wmark": {"__zone_watermark_ok", "zone_watermark_fast"},
    "cma-iso-count": {"set_migratetype_isolate", "unset_migratetype_isolate", "__free_one_page"},
    "wmark-neg": {"zone_watermark_fast"},
    "ha-double-dec": {"unreserve_highatomic_pageblock"},
    "ha-steal": {"steal_suitable_fallback"},
    "thp-preferred": {"alloc_pages_vma"},
    "thp-not-thisnode": {"alloc_pages_vma"},
    "il-next-rebind": {"mpol_rebind_nodemask"},
    "mbind-strict-eio": {"queue_pages_pte_range"},
}


@pytest.mark.parametrize("name", NAMES)
def test_a_mutant_overrides_only_the_functions_its_bug_touches(name):
    cls = MUTANTS[name].model
    assert cls.__mro__[1] is Kernel419
    own = {attr for attr in vars(cls) if attr in KERNEL_FUNCTIONS}
    assert own == OVERRIDES[name]
    assert all(getattr(cls, f) is not getattr(Kernel419, f) for f in own)


@pytest.mark.parametrize("name", NAMES)
def test_every_mutant_says_where_it_comes_from(name):
    m = MUTANTS[name]
    assert m.fix_title and m.what_went_wrong
    # the bug's short name (its first word) has a row in the documentation's table of historical bugs
    assert f"| {m.known_bug.split()[0]} |" in KERNEL_DOC
    assert m.commit and m.model.DESCRIPTION
    assert m.kind in ("bug", "partial revert")


# ---- pinned counterexamples ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_caught_by_the_expected_invariant_at_the_pinned_length(name):
    m = MUTANTS[name]
    report = explore(m, m.length, stop_at_first=False)
    found = {v.invariant: v for v in report.violations}
    assert m.invariant in found, f"{name}: {m.invariant} not violated; found {sorted(found)}"
    assert found[m.invariant].length == m.length


@pytest.mark.parametrize("name", [n for n in NAMES if MUTANTS[n].length > 0])
def test_one_operation_less_does_not_break_the_invariant(name):
    m = MUTANTS[name]
    report = explore(m, m.length - 1, stop_at_first=False)
    assert all(v.invariant != m.invariant for v in report.violations)
    assert report.stopped_by is None


def test_the_only_boot_time_counterexample_is_zone_xmerge():
    # the unaligned boundary merges during the boot frees (pfn 3's order-0 buddy is pfn 2 = 3 ^ 1)
    assert [n for n in NAMES if MUTANTS[n].length == 0] == ["zone-xmerge"]


@pytest.mark.parametrize("name", NAMES)
def test_kernel_419_passes_the_same_scenario_at_that_depth(name):
    m = MUTANTS[name]
    report = explore(m, m.length, model=Kernel419, stop_at_first=False)
    assert report.violations == []
    assert report.stopped_by is None


@pytest.mark.parametrize("name", NAMES)
def test_the_counterexample_replays(name):
    m = MUTANTS[name]
    scenario = m.checked_scenario()
    result = kill(m)
    props = [p for p in m.properties() if p.name == m.invariant]
    if m.length == 0:
        machine = scenario.initial()
        assert props[0].violations(None, None, None, machine)
        return
    again = replay(scenario, result.trace, props).violation_of(m.invariant)
    assert again is not None and again.length == m.length and again.trace == result.trace


def test_kill_reports_every_mutant_as_pinned_and_fast():
    results = [kill(m) for m in CATALOGUE]
    assert all(r.killed and r.as_expected for r in results)
    assert all(r.seconds < 30 for r in results)
    assert sum(r.seconds for r in results) < 300


def test_kill_below_the_pinned_length_does_not_kill():
    r = kill(MUTANTS["wmark-neg"], depth=2)
    assert not r.killed and r.invariant is None and r.depth == 2


# ---- what each counterexample does, against 4.19 -------------------------------------------------------------

def test_zone_xmerge_merges_across_the_zone_boundary_at_boot():
    m = MUTANTS["zone-xmerge"].checked_scenario().initial()
    dma, normal = m.zones()
    # DMA [0,3) frees {0,1} order 1 and {2} order 0; Normal frees {3} order 0, whose buddy 3 ^ 1 = 2 is free
    assert (2, 1, MIGRATE_MOVABLE) in m.free_blocks(normal)
    assert m.free_blocks(dma) == [(0, 1, MIGRATE_MOVABLE)]
    ok = Kernel419(m.topology)
    assert (2, 0, MIGRATE_MOVABLE) in ok.free_blocks(ok.zones()[0])
    assert (3, 0, MIGRATE_MOVABLE) in ok.free_blocks(ok.zones()[1])


def test_iso_merge_order_hides_two_counted_pages_on_the_isolate_list():
    mutant, _ = run_trace(MUTANTS["iso-merge-order"], MUTANTS["iso-merge-order"].model)
    ok, _ = run_trace(MUTANTS["iso-merge-order"], Kernel419)
    z, zk = mutant.zones()[0], ok.zones()[0]
    # 4.19: pfn 0 from the per-cpu list merges with pfn 1 up to pageblock_order only, {2,3} stays apart
    assert ok.free_blocks(zk) == [(0, 1, MIGRATE_ISOLATE), (2, 1, MIGRATE_ISOLATE)] and zk.nr_free_pages == 0
    # the mutant merges {0,1} (ISOLATE) with B's {2,3} while B is still MOVABLE: 2 pages stay counted
    assert mutant.free_blocks(z) == [(0, 2, MIGRATE_ISOLATE)] and z.nr_free_pages == 2


def test_iso_undo_no_merge_leaves_the_two_halves_apart():
    mutant, _ = run_trace(MUTANTS["iso-undo-no-merge"], MUTANTS["iso-undo-no-merge"].model)
    ok, _ = run_trace(MUTANTS["iso-undo-no-merge"], Kernel419)
    assert ok.free_blocks(ok.zones()[0]) == [(0, 2, MIGRATE_MOVABLE)]
    assert mutant.free_blocks(mutant.zones()[0]) == [(0, 1, MIGRATE_MOVABLE), (2, 1, MIGRATE_MOVABLE)]


def test_pcp_stale_isolate_puts_the_drained_page_on_the_movable_list():
    mutant, _ = run_trace(MUTANTS["pcp-stale-isolate"], MUTANTS["pcp-stale-isolate"].model)
    ok, _ = run_trace(MUTANTS["pcp-stale-isolate"], Kernel419)
    assert ok.free_blocks(ok.zones()[0])[-1] == (2, 1, MIGRATE_ISOLATE)
    assert mutant.free_blocks(mutant.zones()[0])[-1] == (2, 1, MIGRATE_MOVABLE)
    # and the isolated pageblock's pages can be allocated again
    assert mutant.alloc(G.GFP_KERNEL, 0).page in (2, 3)


def test_cma_wmark_takes_the_last_usable_page():
    _, mutant = run_trace(MUTANTS["cma-wmark"], MUTANTS["cma-wmark"].model)
    _, ok = run_trace(MUTANTS["cma-wmark"], Kernel419)
    # usable = 5 free - 4 CMA = 1, not above min 1: 4.19 fails the second unmovable request
    assert ok[1].page is None
    assert mutant[1].page == 1  # pfns 0 and 1 are the only non-CMA pages


def test_wmark_neg_passes_with_the_reserve_above_the_free_pages():
    mutant, results = run_trace(MUTANTS["wmark-neg"], MUTANTS["wmark-neg"].model)
    ok, ok_results = run_trace(MUTANTS["wmark-neg"], Kernel419)
    for m in (mutant, ok):
        assert m.zones()[0].nr_reserved_highatomic == 2  # the GFP_ATOMIC order-1 request reserved its pageblock
    assert ok_results[2].page is None  # 1 free page is not above min 1
    assert results[2].page is not None and mutant.zones()[0].nr_free_pages == 0


def test_ha_double_dec_decrements_twice_for_one_pageblock():
    mutant, _ = run_trace(MUTANTS["ha-double-dec"], HaDoubleDec)
    ok, _ = run_trace(MUTANTS["ha-double-dec"], Kernel419)
    # pageblock 5 (pfns 20..23) stays HIGHATOMIC in both; 4.19 keeps its 4 pages reserved
    for m in (mutant, ok):
        assert m.pageblock_flags[5] == MIGRATE_HIGHATOMIC and m.pageblock_flags[4] == MIGRATE_UNMOVABLE
    assert ok.zones()[0].nr_reserved_highatomic == 4
    assert mutant.zones()[0].nr_reserved_highatomic == 0


def test_ha_double_dec_setup_reserves_two_pageblocks():
    m = ha_double_dec_scenario().initial()
    z = m.zones()[0]
    # 128 // 100 + 4 = 5 pages allow a second reservation (at 4 < 5), not a third (at 8)
    assert z.nr_reserved_highatomic == 8
    assert m.pageblock_flags[4:6] == [MIGRATE_HIGHATOMIC, MIGRATE_HIGHATOMIC]
    assert m.free_blocks(z) == [(17, 0, MIGRATE_HIGHATOMIC), (24, 3, MIGRATE_UNMOVABLE)]
    assert sorted(m.allocated)[:5] == [0, 16, 18, 20, 22]


def test_ha_steal_claims_the_highatomic_pageblock():
    mutant, _ = run_trace(MUTANTS["ha-steal"], HaSteal)
    ok, _ = run_trace(MUTANTS["ha-steal"], Kernel419)
    assert ok.pageblock_flags[0] == MIGRATE_HIGHATOMIC and ok.zones()[0].nr_reserved_highatomic == 4
    assert mutant.pageblock_flags[0] == MIGRATE_MOVABLE and mutant.zones()[0].nr_reserved_highatomic == 4


@pytest.mark.parametrize("name, node_419, node_mutant", [("thp-preferred", 1, 0), ("thp-not-thisnode", None, 1)])
def test_thp_lands_where_the_policy_says_only_in_419(name, node_419, node_mutant):
    _, mutant = run_trace(MUTANTS[name], MUTANTS[name].model)
    _, ok = run_trace(MUTANTS[name], Kernel419)
    assert ok[-1].nid == node_419  # None: 4.19's node-0-only attempt fails, node 0 has no order-1 block left
    assert mutant[-1].nid == node_mutant


def test_il_next_rebind_moves_the_cursor_and_the_next_node():
    mutant, _ = run_trace(MUTANTS["il-next-rebind"], MUTANTS["il-next-rebind"].model)
    ok, _ = run_trace(MUTANTS["il-next-rebind"], Kernel419)
    assert ok.tasks[0].il_prev == 63  # set_mempolicy(INTERLEAVE) set MAX_NUMNODES - 1; rebinding keeps it
    assert mutant.tasks[0].il_prev == 1  # next_node_in(63, {1, 2})
    # so 4.19's next interleaved page goes to next_node_in(63, {1,2}) = 1, the mutant's to 2
    assert ok.alloc_pages(G.GFP_KERNEL, 0).nid == 1
    assert mutant.alloc_pages(G.GFP_KERNEL, 0).nid == 2


def test_mbind_strict_eio_returns_0_over_a_page_on_another_node():
    mutant, (fault, mbind) = run_trace(MUTANTS["mbind-strict-eio"], MUTANTS["mbind-strict-eio"].model)
    ok, (fault_ok, mbind_ok) = run_trace(MUTANTS["mbind-strict-eio"], Kernel419)
    assert (fault.nid, fault_ok.nid) == (0, 0)
    assert (mbind.ret, mbind_ok.ret) == (0, -EIO)
    assert mutant.tasks[0].vmas[0].policy.nodes == frozenset({1}) and ok.tasks[0].vmas[0].policy is None


# ---- the extra invariants on hand-made states -----------------------------------------------------------------

def test_highatomic_accounting_on_edited_states():
    m = Kernel419(ha_double_dec_scenario().topology)
    view = view_of(m)
    assert HighatomicAccounting().check(view) == []
    flags = list(view.pageblocks)
    flags[3] = MIGRATE_HIGHATOMIC
    one_block = view.with_(pageblocks=tuple(flags))
    assert HighatomicAccounting().check(one_block)  # 0 reserved < 4 pages of one HIGHATOMIC pageblock
    reserved = one_block.with_zone(0, nr_reserved_highatomic=4)
    assert HighatomicAccounting().check(reserved) == []
    assert HighatomicReserveExact().check(reserved) == []
    over = one_block.with_zone(0, nr_reserved_highatomic=8)
    assert HighatomicAccounting().check(over) == []
    assert HighatomicReserveExact().check(over)


def test_thp_target_node_follows_the_policy():
    task = Task(0, {0, 1})
    assert thp_target_node(task, None, 0) == 0
    task.mempolicy = Mempolicy(MPOL_PREFERRED, 0, preferred_node=1)
    assert thp_target_node(task, None, 0) == 1
    task.mempolicy = Mempolicy(MPOL_PREFERRED, MPOL_F_LOCAL)
    assert thp_target_node(task, None, 1) == 1
    task.mempolicy = Mempolicy(MPOL_BIND, 0, nodes=frozenset({1}))
    assert thp_target_node(task, None, 0) is None
    assert thp_target_node(task, None, 1) == 1
    task.mempolicy = Mempolicy(MPOL_INTERLEAVE, 0, nodes=frozenset({0, 1}))
    assert thp_target_node(task, None, 0) is None
