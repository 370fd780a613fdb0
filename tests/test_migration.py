"""mbind's page migration (model/migrate.py): MPOL_MF_STRICT's -EIO, MPOL_MF_MOVE and MOVE_ALL as stable 4.19.y.

Machines from helpers_migration: two nodes of 16 pages (node n: pfns 16n..16n+15), one CPU each,
watermarks 0 and no per-cpu batching, so each page a fault takes and each page a migration frees is
exactly known. Planted bugs: the catalogue's mbind-strict-eio, whose walk passes misplaced pages by
when no move flag is given, so that MPOL_MF_STRICT returns 0 as it did before a7f40cfe3b7a (caught
by mbind_strict_placement after two operations, here on a machine of 8-page nodes); a migration
that forgets to free the old page (caught by diff after three); MPOL_MF_MOVE moving a page a fork
shares (caught by diff after three: a fault, the fork and the mbind).
"""

import pytest
from helpers_migration import BASE, faulted, fill_node, free_pages, migrated, pfns, topology

from buddycheck.checks.diff import diff
from buddycheck.checks.explore import Explorer
from buddycheck.checks.mutants import MUTANTS
from buddycheck.checks.ops import Fault, Fork, Mbind, Mmap
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import scenario_from_dict
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.errors import InvalidOperation
from buddycheck.model.memory import HPAGE_PMD_ORDER, HPAGE_PMD_SIZE
from buddycheck.model.mempolicy import (
    EIO,
    EPERM,
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_RELATIVE_NODES,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
)
from buddycheck.model.page_table import ZERO_PFN, with_entry
from buddycheck.spec.operation_invariants import MBIND_STRICT_PLACEMENT

STRICT, MOVE, MOVE_ALL = MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL


# ---- MPOL_MF_STRICT alone --------------------------------------------------------------------------------
def test_strict_with_a_misplaced_page_is_eio_and_changes_nothing():
    m = faulted(3)
    assert pfns(m) == [12, 13, 14]
    before = m.freeze()
    assert m.mbind(BASE, 4 * PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT).ret == -EIO
    assert m.freeze() == before


def test_strict_with_every_page_placed_succeeds_and_the_zero_page_is_not_judged():
    m = faulted(2)
    m.fault(BASE + 2 * PAGE_SIZE, write=False)
    assert m.mbind(BASE, 4 * PAGE_SIZE, MPOL_BIND, {0}, flags=STRICT).ret == 0
    assert m.tasks[0].vmas[0].policy.nodes == frozenset({0}) and pfns(m) == [12, 13, ZERO_PFN]


def test_mpol_default_drops_strict():
    assert faulted(1).mbind(BASE, PAGE_SIZE, MPOL_DEFAULT, None, flags=STRICT).ret == 0


# ---- MPOL_MF_MOVE -----------------------------------------------------------------------------------------
def test_move_migrates_each_misplaced_page_to_the_new_policy_and_frees_the_old_one():
    m = faulted(3)
    free = free_pages(m)
    r = m.mbind(BASE, 4 * PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT | MOVE)
    assert r.ret == 0 and migrated(r) == [{"succeeded": 3, "failed": 0}]
    assert pfns(m) == [28, 29, 30]  # node 1's pages, in the order the walk queued the old ones
    assert free_pages(m) == free and sorted(m.allocated) == [28, 29, 30]
    assert all(m.page_zone(pfn).nid == 0 for pfn in (12, 13, 14))


def test_move_leaves_pages_already_on_an_allowed_node():
    m = faulted(2)
    r = m.mbind(BASE, PAGE_SIZE, MPOL_BIND, {0, 1}, flags=MOVE)
    assert r.ret == 0 and migrated(r) == [] and pfns(m) == [12, 13]


def test_move_touches_only_the_pages_of_the_range():
    m = faulted(3)
    assert m.mbind(BASE + PAGE_SIZE, PAGE_SIZE, MPOL_BIND, {1}, flags=MOVE).ret == 0
    assert pfns(m) == [12, 28, 14]


def test_a_failed_allocation_stops_the_migration_and_strict_reports_it():
    m = faulted(3)
    fill_node(m, 1, leave=1)
    r = m.mbind(BASE, 4 * PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT | MOVE)
    assert r.ret == -EIO and migrated(r) == [{"succeeded": 1, "failed": 1}]
    assert [m.page_zone(p).nid for p in pfns(m)] == [1, 0, 0]  # the third page is not tried
    assert m.tasks[0].vmas[0].policy.nodes == frozenset({1})  # the policy is applied all the same


def test_a_failed_allocation_without_strict_is_success():
    m = faulted(2)
    fill_node(m, 1)
    r = m.mbind(BASE, 4 * PAGE_SIZE, MPOL_BIND, {1}, flags=MOVE)
    assert r.ret == 0 and migrated(r) == [{"succeeded": 0, "failed": 1}] and pfns(m) == [12, 13]


def test_mpol_default_with_move_queues_every_page_against_its_empty_mask():
    m = faulted(1)
    r = m.mbind(BASE, PAGE_SIZE, MPOL_DEFAULT, None, flags=MOVE)
    assert r.ret == 0 and migrated(r) == [{"succeeded": 1, "failed": 0}]
    assert m.page_zone(pfns(m)[0]).nid == 0  # the new page comes from the local node again


def test_preferred_falls_back_and_still_succeeds_under_strict():
    m = faulted(1)
    fill_node(m, 1)
    r = m.mbind(BASE, PAGE_SIZE, MPOL_PREFERRED, {1}, flags=STRICT | MOVE)
    assert r.ret == 0 and migrated(r) == [{"succeeded": 1, "failed": 0}]
    assert m.page_zone(pfns(m)[0]).nid == 0  # new_page fell back to node 0: PREFERRED is not judged


# ---- shared pages: MOVE and MOVE_ALL ----------------------------------------------------------------------
def shared(model=Kernel419):
    """Task 1 maps task 0's page at BASE too (what fork would do): mapcount 2."""
    m = faulted(1, model)
    m.add_task(1)
    m.mmap(BASE, PAGE_SIZE, task=1)
    m.tasks[1].page_table = with_entry(m.tasks[1].page_table, BASE, 12, 0)
    return m


def test_move_skips_a_shared_page_without_a_report_even_under_strict():
    m = shared()
    r = m.mbind(BASE, PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT | MOVE)
    assert r.ret == 0 and migrated(r) == [] and pfns(m) == pfns(m, 1) == [12]


def test_move_all_needs_cap_sys_nice_and_moves_every_mapping_of_a_shared_page():
    m = shared()
    before = m.freeze()
    assert m.mbind(BASE, PAGE_SIZE, MPOL_BIND, {1}, flags=MOVE_ALL).ret == -EPERM and m.freeze() == before
    r = m.mbind(BASE, PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT | MOVE_ALL, cap_sys_nice=True)
    assert r.ret == 0 and pfns(m) == pfns(m, 1) == [28] and 12 not in m.allocated


def test_a_page_mapped_twice_in_the_range_cannot_be_isolated_twice_strict_reports_it():
    m = faulted(1)
    m.tasks[0].page_table = with_entry(m.tasks[0].page_table, BASE + PAGE_SIZE, 12, 0)
    r = m.mbind(BASE, 2 * PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT | MOVE_ALL, cap_sys_nice=True)
    assert r.ret == -EIO and pfns(m) == [28, 28]  # queue_pages_range returned 1; the page moved all the same


def test_the_walk_stops_after_the_pmd_holding_a_page_it_could_not_isolate():
    m = Kernel419(topology())
    m.mmap(0x200000, 0x400000)
    m.fault(0x200000)
    m.tasks[0].page_table = with_entry(m.tasks[0].page_table, 0x201000, 12, 0)
    m.fault(0x400000)  # pfn 13, in the next pmd
    r = m.mbind(0x200000, 0x400000, MPOL_BIND, {1}, flags=STRICT | MOVE_ALL, cap_sys_nice=True)
    assert r.ret == -EIO and pfns(m) == [28, 28, 13]


# ---- transparent huge pages -------------------------------------------------------------------------------
def thp_machine():
    m = Kernel419(topology(pages_per_node=1 << 10, max_order=11, pageblock_order=9))
    m.mmap(0x200000, 2 * HPAGE_PMD_SIZE)
    return m


def test_the_huge_zero_page_is_split_by_the_walk():
    m = thp_machine()
    m.fault(0x200000, write=False)
    assert m.tasks[0].page_table == ((0x200000, ZERO_PFN, HPAGE_PMD_ORDER),)
    assert m.mbind(0x200000, PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT).ret == 0
    table = m.tasks[0].page_table
    assert len(table) == 1 << HPAGE_PMD_ORDER and {e[1:] for e in table} == {(ZERO_PFN, 0)}


def test_a_misplaced_thp_is_eio_under_strict_and_its_migration_is_not_modelled():
    m = thp_machine()
    assert m.fault(0x200000).order == HPAGE_PMD_ORDER
    before = m.freeze()
    assert m.mbind(0x200000, PAGE_SIZE, MPOL_BIND, {1}, flags=STRICT).ret == -EIO
    with pytest.raises(InvalidOperation, match="not modelled"):
        m.mbind(0x200000, PAGE_SIZE, MPOL_BIND, {1}, flags=MOVE)
    assert m.freeze() == before


# ---- the invariant ----------------------------------------------------------------------------------------
def test_mbind_strict_placement_judges_strict_bind_calls_that_returned_0():
    page = [(BASE, 12, 0, 1)]
    (v,) = MBIND_STRICT_PLACEMENT.check(MPOL_BIND, frozenset({1}), STRICT | MOVE, 0, page)
    assert v.invariant == "mbind_strict_placement" and v.values == {"addr": BASE, "pfn": 12, "node": 0}
    assert MBIND_STRICT_PLACEMENT.check(MPOL_BIND, frozenset({1}), STRICT | MOVE, -EIO, page) == []
    assert MBIND_STRICT_PLACEMENT.check(MPOL_BIND, frozenset({1}), MOVE, 0, page) == []
    assert MBIND_STRICT_PLACEMENT.check(MPOL_PREFERRED, frozenset({1}), STRICT, 0, page) == []
    assert MBIND_STRICT_PLACEMENT.check(MPOL_BIND | MPOL_F_RELATIVE_NODES, frozenset({1}), STRICT, 0, page) == []
    assert MBIND_STRICT_PLACEMENT.check(MPOL_BIND, frozenset({0}), STRICT, 0, page) == []
    shared_page = [(BASE, 12, 0, 2)]
    assert MBIND_STRICT_PLACEMENT.check(MPOL_BIND, frozenset({1}), STRICT | MOVE, 0, shared_page) == []
    assert len(MBIND_STRICT_PLACEMENT.check(MPOL_BIND, frozenset({1}), STRICT | MOVE_ALL, 0, shared_page)) == 1
    assert len(MBIND_STRICT_PLACEMENT.check(MPOL_BIND, frozenset({1}), STRICT, 0, shared_page)) == 1


# ---- planted bugs -----------------------------------------------------------------------------------------
def strict_scenario():
    return Scenario("mbind-strict", topology(8), extra_ops=(Fault(BASE), Mbind(BASE, PAGE_SIZE, MPOL_BIND,
                                                                                 frozenset({1}), STRICT)),
                    setup=(Mmap(BASE, PAGE_SIZE),), depth=3)


def explore(scenario, depth):
    return Explorer(scenario).check(*all_properties()).all_violations().depth(depth).run()


def test_planted_mbind_without_strict_eio_is_caught_after_a_fault_and_an_mbind():
    sc = strict_scenario()
    assert explore(sc.with_model(MUTANTS["mbind-strict-eio"].model), 1).violations == []
    found = {v.invariant: v for v in explore(sc.with_model(MUTANTS["mbind-strict-eio"].model), 2).violations}
    assert found["mbind_strict_placement"].length == 2
    assert [op.kind for op in found["mbind_strict_placement"].trace] == ["fault", "mbind"]
    assert explore(sc, 3).violations == []  # stable 4.19.y keeps every invariant here


MigrationLeaksOldPage = Kernel419.variant("migration-leaks-old-page", "unmap_and_move never frees the old page")


@MigrationLeaksOldPage.override
def unmap_and_move(k, get_new_page, pfn, order):
    newpage = get_new_page(pfn, order)
    if newpage is None:
        return -12
    task = k.current.task
    task.page_table = tuple((a, newpage if p == pfn else p, o) for a, p, o in task.page_table)
    return 0


def test_planted_migration_leaking_the_old_page_differs_in_the_next_fault():
    sc = Scenario("mbind-move", topology(8),
                  extra_ops=(Fault(BASE), Fault(BASE + PAGE_SIZE), Mbind(BASE, PAGE_SIZE, MPOL_BIND, frozenset({1}),
                                                                         MOVE)),
                  setup=(Mmap(BASE, 2 * PAGE_SIZE),), depth=3)
    report = diff(Kernel419, MigrationLeaksOldPage, sc, depth=3, shrink=False)
    assert report.difference.length == 3
    assert [op.kind for op in report.difference.trace] == ["fault", "mbind", "fault"]
    last = report.difference.last
    assert last.base.observation.block != last.head.observation.block  # the freed page is handed out again


MoveTakesSharedPages = Kernel419.variant("move-takes-shared-pages", "migrate_page_add ignores the mapcount")


@MoveTakesSharedPages.override
def migrate_page_add(k, pfn, order, qp):
    if (pfn, order) not in qp.pagelist:
        qp.pagelist.append((pfn, order))
    return 0


def test_planted_move_of_a_shared_page_moves_what_4_19_leaves():
    for model, expected in ((Kernel419, [12]), (MoveTakesSharedPages, [28])):
        m = shared(model)
        assert m.mbind(BASE, PAGE_SIZE, MPOL_BIND, {1}, flags=MOVE).ret == 0
        assert pfns(m) == expected


def test_planted_move_of_a_shared_page_differs_after_a_fault_a_fork_and_the_mbind():
    sc = Scenario("mbind-move-shared", topology(8),
                  extra_ops=(Fault(BASE), Fork(1), Mbind(BASE, PAGE_SIZE, MPOL_BIND, frozenset({1}), MOVE)),
                  setup=(Mmap(BASE, PAGE_SIZE),), depth=3)
    report = diff(Kernel419, MoveTakesSharedPages, sc, depth=3, shrink=False)
    assert report.difference.length == 3
    assert [op.kind for op in report.difference.trace] == ["fault", "fork", "mbind"]
    last = report.difference.last  # 4.19 leaves the shared page: no migration event
    assert [e[0] for e in last.base.observation.events] == []
    assert [e[0] for e in last.head.observation.events] == ["mm_migrate_pages"]


# ---- the operation ----------------------------------------------------------------------------------------
def test_mbind_cap_sys_nice_in_scenario_files_code_and_json():
    doc = {"topology": {"preset": "numa2"}, "mmap": [{"start": BASE, "length": PAGE_SIZE}],
           "mbind": [{"start": BASE, "length": PAGE_SIZE, "mode": "MPOL_BIND", "nodes": [1],
                      "mbind_flags": ["MPOL_MF_MOVE_ALL"], "cap_sys_nice": True}]}
    (op,) = scenario_from_dict(doc).extra_ops
    assert op == Mbind(BASE, PAGE_SIZE, MPOL_BIND, frozenset({1}), MOVE_ALL, cap_sys_nice=True)
    assert op.code() == (f"m.mbind({BASE:#x}, {PAGE_SIZE:#x}, P.MPOL_BIND, {{1}}, flags=P.MPOL_MF_MOVE_ALL, "
                         "cap_sys_nice=True, task=0)")
    assert op_from_dict(op_to_dict(op)) == op
