"""Page tables, faults and munmap: what an LTP-style program would see, stated on the model.

A task's fault allocates through alloc_pages_vma with the VMA's policy (else the task's) and maps the
page; get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) reports the node of the page at an address, faulting it
in for reading first as 4.19's lookup_node does; munmap frees what was mapped. Two planted bugs are
caught: by the explorer's page-table invariant, and by diff in the node of the faulted page.
"""

import pytest
from numa_machines import free_pages, machine, nodes_topology

from buddycheck.checks.diff import diff
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Fault, Free, Mbind, Mmap, Munmap
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import scenario_from_dict
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.errors import InvalidOperation
from buddycheck.model.memory import HPAGE_PMD_ORDER, HPAGE_PMD_SIZE
from buddycheck.model.mempolicy import (
    EFAULT,
    EINVAL,
    MPOL_BIND,
    MPOL_F_ADDR,
    MPOL_F_NODE,
    MPOL_INTERLEAVE,
    MPOL_PREFERRED,
)
from buddycheck.model.page_table import ZERO_PFN
from buddycheck.spec.page_table import PAGE_TABLE_INVARIANTS
from buddycheck.spec.view import view_of

BASE = 0x100000  # where the tests map their VMAs


def node_at(m, addr, task=0):
    r = m.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, addr, task=task)
    assert r.ret == 0
    return r.policy


def page_table_holds(m):
    return [str(v) for inv in PAGE_TABLE_INVARIANTS for v in inv.check(view_of(m))]


# ---- faults follow the policy -----------------------------------------------------------------------------
def test_mbind_bind_node_1_then_faulting_each_page_lands_every_page_on_node_1():
    m = machine()
    m.mmap(BASE, 6 * PAGE_SIZE)
    assert m.mbind(BASE, 6 * PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    for i in range(6):
        r = m.fault(BASE + i * PAGE_SIZE + 8, cpu=0)  # from node 0's CPU
        assert (r.ret, r.nid, r.order) == (0, 1, 0)
    assert [node_at(m, BASE + i * PAGE_SIZE) for i in range(6)] == [1] * 6
    assert len(m.allocated) == 6 and page_table_holds(m) == []


def test_interleave_on_a_vma_spreads_pages_by_page_offset_as_interleave_nid_computes():
    m = machine(nodes=3)
    pgoff = 0x41  # the mapping's vm_pgoff: page offsets count from there, not from 0
    m.mmap(BASE, 8 * PAGE_SIZE, pgoff=pgoff)
    m.mbind(BASE, 8 * PAGE_SIZE, MPOL_INTERLEAVE, {0, 2})
    order = [5, 0, 7, 2, 1, 6, 3, 4]  # the order of the faults does not matter: the offset does
    for i in order:
        m.fault(BASE + i * PAGE_SIZE, cpu=1)
    expected = [(0, 2)[(pgoff + i) % 2] for i in range(8)]
    assert [node_at(m, BASE + i * PAGE_SIZE) for i in range(8)] == expected
    assert m.tasks[0].il_prev == 0  # offset interleave never moves the task's cursor


def test_a_vma_without_policy_takes_the_task_policy():
    m = machine()
    m.mmap(BASE, 2 * PAGE_SIZE)
    m.set_mempolicy(MPOL_PREFERRED, {1})
    assert m.fault(BASE, cpu=0).nid == 1


def test_fault_outside_every_vma_is_efault_and_changes_nothing():
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    before = m.freeze()
    assert m.fault(BASE + PAGE_SIZE).ret == -EFAULT
    assert m.fault(BASE - 1).ret == -EFAULT
    assert m.freeze() == before


def test_a_fault_on_a_mapped_address_is_a_no_op():
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    first = m.fault(BASE)
    before = m.freeze()
    again = m.fault(BASE + 0x123)
    assert (again.ret, again.pfn) == (0, first.pfn) and m.freeze() == before
    assert m.fault(BASE, write=False).pfn == first.pfn and m.freeze() == before


def test_a_failed_allocation_is_enomem_and_maps_nothing():
    m = machine(pages_per_node=4, nodes=1, max_order=3)
    m.mmap(BASE, 8 * PAGE_SIZE)
    rets = [m.fault(BASE + i * PAGE_SIZE).ret for i in range(5)]
    assert rets[:4] == [0] * 4 and rets[4] < 0
    assert len(m.tasks[0].page_table) == 4 and page_table_holds(m) == []


# ---- get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) ---------------------------------------------------------------
def test_node_of_an_untouched_address_is_the_zero_pages_node_as_in_4_19():
    # lookup_node's get_user_pages asks without FOLL_WRITE: the read fault maps the zero page, so 4.19
    # reports the zero page's node (here node 0), not the node the policy would give a written page
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    m.mbind(BASE, PAGE_SIZE, MPOL_BIND, {1})
    assert node_at(m, BASE) == 0
    assert m.tasks[0].page_table == ((BASE, ZERO_PFN, 0),) and m.allocated == {}
    r = m.fault(BASE)  # the write breaks the zero page: wp_page_copy allocates with the VMA policy
    assert (r.nid, len(m.allocated)) == (1, 1) and node_at(m, BASE) == 1


def test_node_of_an_address_in_no_vma_is_efault():
    m = machine()
    assert m.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, BASE).ret == -EFAULT


# ---- munmap -----------------------------------------------------------------------------------------------
def test_munmap_frees_every_mapped_page_and_splits_the_vmas_at_its_edges():
    m = machine()
    m.mmap(BASE, 6 * PAGE_SIZE)
    m.mbind(BASE, 6 * PAGE_SIZE, MPOL_BIND, {1})
    before = free_pages(m)
    for i in range(6):
        m.fault(BASE + i * PAGE_SIZE)
    assert free_pages(m) == before - 6
    assert m.munmap(BASE + PAGE_SIZE, 2 * PAGE_SIZE).ret == 0
    assert free_pages(m) == before - 4
    assert [(v.start, v.end, v.vm_pgoff) for v in m.tasks[0].vmas] == [
        (BASE, BASE + PAGE_SIZE, BASE >> 12), (BASE + 3 * PAGE_SIZE, BASE + 6 * PAGE_SIZE, (BASE >> 12) + 3)]
    assert all(v.policy.mode == MPOL_BIND for v in m.tasks[0].vmas)
    assert m.fault(BASE + PAGE_SIZE).ret == -EFAULT
    assert m.munmap(BASE, 6 * PAGE_SIZE).ret == 0
    assert free_pages(m) == before and m.allocated == {} and m.tasks[0].vmas == () == m.tasks[0].page_table


@pytest.mark.parametrize("start, length", [(BASE + 1, PAGE_SIZE), (BASE, 0)])
def test_munmap_of_an_unaligned_start_or_zero_length_is_einval(start, length):
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    m.fault(BASE)
    before = m.freeze()
    assert m.munmap(start, length).ret == -EINVAL and m.freeze() == before


def test_munmap_of_a_hole_succeeds_and_changes_nothing():
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    before = m.freeze()
    assert m.munmap(BASE + PAGE_SIZE, PAGE_SIZE).ret == 0 and m.freeze() == before


def test_a_mapped_page_is_freed_by_munmap_not_by_free():
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    pfn = m.fault(BASE).pfn
    with pytest.raises(InvalidOperation, match="maps it"):
        m.free(pfn)
    sc = Scenario("mapped", m.topology, extra_ops=(Fault(BASE),), setup=(Mmap(BASE, PAGE_SIZE), Fault(BASE)))
    assert not any(isinstance(op, Free) for op in sc.actions(sc.initial()))


# ---- transparent huge pages -------------------------------------------------------------------------------
def thp_machine():
    return machine(pages_per_node=1 << 10, max_order=11, pageblock_order=9)


def test_thp_is_off_when_max_order_does_not_reach_hpage_pmd_order():
    m = machine()
    m.mmap(0x200000, HPAGE_PMD_SIZE)
    assert m.fault(0x200000).order == 0


def test_a_write_fault_in_a_huge_page_sized_vma_maps_a_thp_on_the_policy_node():
    m = thp_machine()
    m.mmap(0x200000, 2 * HPAGE_PMD_SIZE)
    m.mbind(0x200000, HPAGE_PMD_SIZE, MPOL_PREFERRED, {1})
    r = m.fault(0x200000 + 5 * PAGE_SIZE, cpu=0)
    assert (r.ret, r.order, r.nid) == (0, HPAGE_PMD_ORDER, 1)
    assert m.allocated[r.pfn][0] == HPAGE_PMD_ORDER and node_at(m, 0x200000 + 9 * PAGE_SIZE) == 1
    assert m.fault(0x200000 + HPAGE_PMD_SIZE, write=False).pfn == ZERO_PFN  # the huge zero page
    with pytest.raises(InvalidOperation, match="not modelled"):
        m.munmap(0x200000, PAGE_SIZE)
    before = free_pages(m)
    assert m.munmap(0x200000, 2 * HPAGE_PMD_SIZE).ret == 0 and free_pages(m) == before + (1 << HPAGE_PMD_ORDER)


def test_a_huge_page_that_does_not_fit_the_vma_falls_back_to_a_page():
    m = thp_machine()
    m.mmap(0x200000, HPAGE_PMD_SIZE - PAGE_SIZE)
    assert m.fault(0x200000).order == 0


# ---- planted bugs -----------------------------------------------------------------------------------------
UnmapKeepsPte = Kernel419.variant("unmap-keeps-pte", "unmap_region frees each page but leaves its entry")


@UnmapKeepsPte.override
def unmap_region(k, task, start, end):
    for addr, pfn, order in task.page_table:
        if start <= addr < end and pfn != ZERO_PFN:
            k.__free_pages(pfn, order)


FaultIgnoresVmaPolicy = Kernel419.variant("fault-ignores-vma-policy", "faults allocate with the task policy")


@FaultIgnoresVmaPolicy.override
def alloc_zeroed_user_highpage_movable(k, vma, addr):
    return Kernel419.alloc_zeroed_user_highpage_movable(k, None, addr)


def munmap_scenario():
    m = nodes_topology(8)
    return Scenario("fault-munmap", m, extra_ops=(Fault(BASE), Munmap(BASE, PAGE_SIZE)),
                    setup=(Mmap(BASE, 2 * PAGE_SIZE),), depth=3)


def explore(scenario, depth):
    return Explorer(scenario).check(*all_properties()).all_violations().depth(depth).run()


def test_planted_unmap_keeping_its_entry_is_caught_after_a_fault_and_a_munmap():
    sc = munmap_scenario()
    assert explore(sc.with_model(UnmapKeepsPte), 1).violations == []
    report = explore(sc.with_model(UnmapKeepsPte), 2)
    found = {v.invariant: v for v in report.violations}
    assert found["mapped_allocated"].length == 2
    assert [op.kind for op in found["mapped_allocated"].trace] == ["fault", "munmap"]
    again = replay(sc.with_model(UnmapKeepsPte), found["mapped_allocated"].trace,
                   [p for p in all_properties() if p.name == "mapped_allocated"], strict=False)
    assert again.violation_of("mapped_allocated").length == 2
    assert explore(sc, 3).violations == []  # 4.19 itself keeps every invariant here


def test_planted_fault_ignoring_the_vma_policy_differs_in_the_node_of_the_first_fault():
    sc = Scenario("fault-bind", nodes_topology(8), extra_ops=(Fault(BASE),),
                  setup=(Mmap(BASE, PAGE_SIZE), Mbind(BASE, PAGE_SIZE, MPOL_BIND, frozenset({1}))), depth=2)
    report = diff(Kernel419, FaultIgnoresVmaPolicy, sc, depth=2, shrink=False)
    last = report.difference.last
    assert report.difference.length == 1
    assert (last.base.observation.node, last.head.observation.node) == (1, 0)


# ---- scenario files ---------------------------------------------------------------------------------------
def test_fault_and_munmap_tables_become_operations_of_the_alphabet():
    doc = {"topology": {"preset": "numa2"}, "mmap": [{"start": BASE, "length": 2 * PAGE_SIZE}],
           "fault": [{"addr": BASE, "cpus": [0, 1]}, {"addr": BASE + PAGE_SIZE, "write": False}],
           "munmap": [{"start": BASE, "length": PAGE_SIZE}]}
    sc = scenario_from_dict(doc)
    assert sc.extra_ops == (Fault(BASE, 0, 0), Fault(BASE, 0, 1), Fault(BASE + PAGE_SIZE, write=False),
                            Munmap(BASE, PAGE_SIZE))
    assert Fault(BASE, 0, 1).code() == f"m.fault({BASE:#x}, task=0, cpu=1)"
    report = Explorer(sc).check(*all_properties()).depth(3).run()
    assert report.violations == [] and report.reachable_states > 1


def test_fault_and_munmap_round_trip_through_json_counterexamples():
    for op in (Fault(BASE, task=1, cpu=1, write=False), Munmap(BASE, 3 * PAGE_SIZE, task=2)):
        assert op_from_dict(op_to_dict(op)) == op
    assert op_to_dict(Fault(BASE)) == {"kind": "fault", "addr": BASE, "task": 0, "cpu": 0, "write": True}
