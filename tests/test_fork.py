"""fork(): the child's policies and cursor, copy-on-write of the parent's pages, and what frees a shared page.

Expected values follow 4.19: copy_process copies the task_struct (mems_allowed, il_prev) and
mpol_dup()s the task policy; dup_mmap gives each VMA its own copy of its policy (vma_dup_policy)
and write-protects every pte of a real page in both tables (copy_one_pte); a write fault then
reuses a page mapped once (wp_page_reuse) or copies it (wp_page_copy, allocating with the faulting
task's VMA or task policy); a page goes back to the allocator with its last mapping. Two planted
bugs are caught: a copy-on-write that reuses a page mapped twice (cow_write_protected, three
operations) and a fork that shares the parent's policy object (diff, four operations).
"""

import pytest
from numa_machines import free_pages, machine, nodes_topology
from test_page_table import BASE, page_table_holds, thp_machine

from buddycheck.checks.diff import diff
from buddycheck.checks.explore import Explorer
from buddycheck.checks.goals import GOALS
from buddycheck.checks.observation import observe
from buddycheck.checks.ops import AllocPages, Fault, Fork, Mmap, SetCpuset, SetMempolicy
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import scenario_from_dict
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.errors import ConfigError, InvalidOperation
from buddycheck.model.memory import HPAGE_PMD_ORDER, HPAGE_PMD_SIZE
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED
from buddycheck.model.page_table import ZERO_PFN, lookup

F = frozenset


def forked(m, parent=0):
    r = m.fork(parent)
    assert r.ok
    return r.ret


# ---- the child's policies, cpuset and cursor ---------------------------------------------------------------
def test_the_child_faults_by_its_copy_of_the_task_policy_and_each_task_then_sets_its_own():
    m = machine()
    m.mmap(BASE, 4 * PAGE_SIZE)
    assert m.set_mempolicy(MPOL_BIND, {1}).ret == 0
    child = forked(m)
    assert child == 1 and m.tasks[1].mempolicy == m.tasks[0].mempolicy
    assert m.tasks[1].mempolicy is not m.tasks[0].mempolicy  # mpol_dup: a copy, not the parent's object
    assert m.fault(BASE, task=1, cpu=0).nid == 1
    assert m.set_mempolicy(MPOL_BIND, {0}, task=1).ret == 0
    assert m.fault(BASE + PAGE_SIZE, task=1, cpu=1).nid == 0
    assert m.fault(BASE + PAGE_SIZE, task=0, cpu=0).nid == 1  # the parent's policy did not move


def test_the_child_gets_its_own_copy_of_each_vma_policy():
    m = machine()
    m.mmap(BASE, 2 * PAGE_SIZE)
    assert m.mbind(BASE, 2 * PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    forked(m)
    assert m.tasks[1].vmas == m.tasks[0].vmas and m.tasks[1].vmas[0].policy is not m.tasks[0].vmas[0].policy
    assert m.mbind(BASE, 2 * PAGE_SIZE, MPOL_BIND, {0}).ret == 0  # the parent rebinds its VMA only
    assert m.fault(BASE, task=1).nid == 1 and m.fault(BASE, task=0, cpu=1).nid == 0


def test_the_child_keeps_the_parents_cpuset_and_interleave_cursor_then_moves_its_own():
    m = machine()
    assert m.set_cpuset(0, {0, 1}).ret == 0
    assert m.set_mempolicy(MPOL_INTERLEAVE, {0, 1}).ret == 0
    assert m.alloc_pages(G.GFP_KERNEL).nid == 0  # il_prev: MAX_NUMNODES - 1 wraps to node 0
    forked(m)
    assert m.tasks[1].mems_allowed == F({0, 1}) and m.tasks[1].il_prev == m.tasks[0].il_prev == 0
    # copy_process does not reset il_prev: both continue from node 0, each with its own cursor
    assert [m.alloc_pages(G.GFP_KERNEL, task=1).nid for _ in range(3)] == [1, 0, 1]
    assert m.alloc_pages(G.GFP_KERNEL, task=0).nid == 1


def test_fork_names_the_lowest_free_id_and_refuses_an_id_in_use_or_a_limited_memcg():
    m = machine()
    assert m.fork(0).ret == 1 and m.fork(1).ret == 2 and m.fork(0, child=7).ret == 7
    with pytest.raises(InvalidOperation, match="not in use"):
        m.fork(0, child=2)
    m.set_memcg_limit(2, 4)
    with pytest.raises(InvalidOperation, match="memory cgroup"):
        m.fork(2)


# ---- copy-on-write ---------------------------------------------------------------------------------------
def test_a_write_after_fork_copies_the_shared_page_and_the_last_writer_reuses_it():
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    page = m.fault(BASE).pfn
    r = m.fork(0)
    assert r.shared == (page,) and m.tasks[1].page_table == m.tasks[0].page_table
    assert m.tasks[0].wrprotected == m.tasks[1].wrprotected == (BASE,) and page_table_holds(m) == []
    assert m.fault(BASE, task=1, write=False).pfn == page  # a read of a shared page maps nothing new
    allocated = len(m.allocated)
    copy = m.fault(BASE, task=1).pfn  # wp_page_copy: the page is mapped twice
    assert copy != page and len(m.allocated) == allocated + 1 and m.tasks[1].wrprotected == ()
    assert m.fault(BASE, task=0).pfn == page  # wp_page_reuse: mapped once now, nothing allocated
    assert len(m.allocated) == allocated + 1 and m.tasks[0].wrprotected == () and page_table_holds(m) == []


def test_the_copy_follows_the_faulting_tasks_policy():
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    assert m.fault(BASE, cpu=0).nid == 0
    forked(m)
    assert m.set_mempolicy(MPOL_PREFERRED, {1}, task=1).ret == 0
    assert m.fault(BASE, task=1, cpu=0).nid == 1


def test_the_zero_page_stays_shared_and_a_write_to_it_allocates_in_either_task():
    m = machine()
    m.mmap(BASE, PAGE_SIZE)
    assert m.fault(BASE, write=False).pfn == ZERO_PFN
    r = m.fork(0)
    assert r.shared == () and m.tasks[1].page_table == ((BASE, ZERO_PFN, 0),) and m.tasks[1].wrprotected == ()
    a, b = m.fault(BASE, task=1).pfn, m.fault(BASE, task=0).pfn
    assert ZERO_PFN not in (a, b) and a != b and len(m.allocated) == 2


def test_munmap_in_the_parent_leaves_the_page_the_child_maps_and_the_childs_munmap_frees_it():
    m = machine()
    start = free_pages(m)
    m.mmap(BASE, 2 * PAGE_SIZE)
    page = m.fault(BASE).pfn
    forked(m)
    assert m.munmap(BASE, 2 * PAGE_SIZE).ret == 0
    assert page in m.allocated and m.mapped_pfns() == {page: [(1, BASE)]} and page_table_holds(m) == []
    with pytest.raises(InvalidOperation, match="maps it"):
        m.free(page)
    assert m.fault(BASE, task=1).pfn == page and len(m.allocated) == 1  # mapped once: reused
    assert m.munmap(BASE, PAGE_SIZE, task=1).ret == 0
    assert m.allocated == {} and free_pages(m) == start


# ---- transparent huge pages --------------------------------------------------------------------------------
def test_a_shared_thp_is_copied_as_a_thp_then_reused_by_the_other_task():
    m = thp_machine()
    m.mmap(0x200000, HPAGE_PMD_SIZE)
    huge = m.fault(0x200000).pfn
    forked(m)
    assert m.tasks[1].page_table == ((0x200000, huge, HPAGE_PMD_ORDER),) and page_table_holds(m) == []
    r = m.fault(0x200000 + 3 * PAGE_SIZE, task=1)
    assert r.order == HPAGE_PMD_ORDER and r.pfn != huge and m.tasks[1].wrprotected == ()
    assert m.fault(0x200000, task=0).pfn == huge and len(m.allocated) == 2 and m.tasks[0].wrprotected == ()


def test_without_a_huge_page_the_copy_is_hpage_pmd_nr_pages_and_without_them_it_is_refused():
    m = thp_machine()
    m.mmap(0x200000, HPAGE_PMD_SIZE)
    huge = m.fault(0x200000, cpu=0).pfn
    assert m.alloc(G.GFP_KERNEL, HPAGE_PMD_ORDER, cpu=0, nodemask={0}).nid == 0  # node 0 has no huge page left
    forked(m)
    r = m.fault(0x200000, task=1, cpu=0)  # do_huge_pmd_wp_page_fallback: order-0 copies, node 1 serves them
    entries = m.tasks[1].page_table
    assert (r.ret, r.order, r.nid) == (0, 0, 1) and len(entries) == 1 << HPAGE_PMD_ORDER
    assert [e[0] for e in entries] == [0x200000 + i * PAGE_SIZE for i in range(1 << HPAGE_PMD_ORDER)]
    assert huge not in {e[1] for e in entries} and m.tasks[1].wrprotected == () and page_table_holds(m) == []
    assert lookup(m.tasks[0].page_table, 0x200000) == (0x200000, huge, HPAGE_PMD_ORDER)
    # no pages anywhere for a second copy: 4.19 would split the shared huge pmd, which is refused
    forked(m, 0)
    assert m.alloc(G.GFP_KERNEL, HPAGE_PMD_ORDER, cpu=1, nodemask={1}).nid == 1
    before = m.freeze()
    with pytest.raises(InvalidOperation, match="not modelled"):
        m.fault(0x200000, task=2, cpu=0)
    assert m.freeze() == before


# ---- the checker's operation and scenario files ------------------------------------------------------------
def test_fork_is_an_operation_that_round_trips_replays_and_is_observed():
    op = Fork(1, task=0)
    assert op_from_dict(op_to_dict(op)) == op and op_to_dict(op) == {"kind": "fork", "child": 1, "task": 0}
    assert op.code() == "m.fork(0, child=1)"
    m = machine()
    m.set_mempolicy(MPOL_BIND, {1})
    seen = observe(op.apply(m))
    assert (seen.ret, seen.reported) == (1, ("bind:1", ()))
    assert observe(InvalidOperation("x")).status == "refused"


def test_fork_tables_become_operations_and_other_tables_may_name_the_child():
    doc = {"topology": {"preset": "numa2"}, "mmap": [{"start": BASE, "length": PAGE_SIZE}],
           "fault": [{"addr": BASE}, {"addr": BASE, "task": 1}], "fork": [{"child": 1}],
           "sometimes": ["cow-copied", "cow-reused"]}
    sc = scenario_from_dict(doc)
    assert Fork(1, 0) in sc.extra_ops and Fault(BASE, 1, 0) in sc.extra_ops
    report = Explorer(sc).check(*all_properties()).depth(4).run()
    assert report.violations == [] and all(report.sometimes.values()) and len(report.sometimes) == 2
    for bad, match in ((dict(doc, fork=[{"child": 1, "cpu": 0}]), "cpu"),
                       (dict(doc, fork=[{"child": -1}]), "child"),
                       (dict(doc, fault=[{"addr": BASE, "task": 2}]), "no such task"),
                       (dict(doc, task=[{"id": 1, "mems": [0]}]), "never enabled")):
        with pytest.raises(ConfigError, match=match):
            scenario_from_dict(bad, "s.toml")


def test_the_built_in_goals_name_copy_and_reuse():
    assert {"cow-copied", "cow-reused"} <= set(GOALS)


# ---- planted bugs ------------------------------------------------------------------------------------------
CowReusesShared = Kernel419.variant("cow-reuses-shared", "do_wp_page reuses a page without counting its mappings")


@CowReusesShared.override
def do_wp_page(k, task, vma, addr):
    """The slip: reuse any anonymous page, as if reuse_swap_page were always true."""
    entry = lookup(task.page_table, addr)
    if entry[1] != ZERO_PFN:
        return k.wp_page_reuse(task, entry)
    return k.wp_page_copy(task, vma, addr)


ForkSharesPolicy = Kernel419.variant("fork-shares-policy", "copy_process gives the child the parent's policy object")


@ForkSharesPolicy.override
def mpol_dup(k, old):
    """The slip: the child's pointer is the parent's object (no copy, no reference taken)."""
    return old


@ForkSharesPolicy.override
def mpol_rebind_task(k, tsk, new):
    """A rebind changes the object in place, so every task holding that very object sees it."""
    old = tsk.mempolicy
    rebound = k.mpol_rebind_policy(old, new)
    for task in k.tasks.values():
        if old is not None and task.mempolicy is old:
            task.mempolicy = rebound
    tsk.mempolicy = rebound


def cow_scenario(model=Kernel419):
    return Scenario("cow", nodes_topology(8), model=model, extra_ops=(Fault(BASE), Fork(1), Fault(BASE, task=1)),
                    setup=(Mmap(BASE, PAGE_SIZE),), depth=3)


def test_planted_cow_reuse_of_a_shared_page_is_caught_after_fault_fork_fault():
    explore = Explorer(cow_scenario(CowReusesShared)).check(*all_properties()).all_violations()
    assert explore.depth(2).run().violations == []
    found = {v.invariant: v for v in explore.depth(3).run().violations}
    assert found["cow_write_protected"].length == 3
    assert [op.kind for op in found["cow_write_protected"].trace] == ["fault", "fork", "fault"]
    assert Explorer(cow_scenario()).check(*all_properties()).all_violations().depth(3).run().violations == []


def test_planted_shared_policy_differs_once_the_parents_cpuset_moves_and_the_child_allocates():
    # BIND {0,1}; fork; the parent's cpuset becomes {1} (its policy rebinds to {1}); the child, in its own
    # cpuset {0,1}, allocates on CPU 0: its own copy keeps node 0, the shared object sends it to node 1
    sc = Scenario("shared-policy", nodes_topology(8),
                  extra_ops=(SetMempolicy(MPOL_BIND, F({0, 1})), Fork(1), SetCpuset(0, F({1})),
                             AllocPages(G.GFP_KERNEL, 0, 0, 1)), depth=4)
    assert diff(Kernel419, ForkSharesPolicy, sc, depth=3, shrink=False).difference is None
    report = diff(Kernel419, ForkSharesPolicy, sc, depth=4, shrink=False)
    last = report.difference.last
    assert report.difference.length == 4
    assert [op.kind for op in report.difference.trace] == ["set_mempolicy", "fork", "set_cpuset", "alloc_pages"]
    assert (last.base.observation.node, last.head.observation.node) == (0, 1)
