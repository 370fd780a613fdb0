"""move_pages(2) (model/migrate.py): kernel_move_pages' checks, do_pages_stat and do_pages_move as stable 4.19.y.

Machines from helpers_migration: three nodes of 16 pages; task 0 maps, at BASE, a page faulted from
CPU 0 (node 0, pfn 12), at BASE + 4K one from CPU 1 (node 1, pfn 28) and at BASE + 8K the zero page;
BASE + 12K is in the VMA but unmapped. A planted bug, a move that allocates without __GFP_THISNODE,
is caught by move_pages_status after a fault and the call, once node 1 is full.
"""

from helpers_migration import BASE, faulted, fill_node, migrated, pfns, topology

from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Alloc, Fault, Mmap, MovePages
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import scenario_from_dict
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.gfp import __GFP_THISNODE, GFP_HIGHUSER_MOVABLE, GFP_KERNEL
from buddycheck.model.mempolicy import (
    EACCES,
    EBUSY,
    EFAULT,
    EINVAL,
    ENODEV,
    ENOMEM,
    EPERM,
    ESRCH,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
)
from buddycheck.model.page_table import with_entry
from buddycheck.spec.operation_invariants import MOVE_PAGES_STATUS

A, B, ZERO, HOLE = BASE, BASE + PAGE_SIZE, BASE + 2 * PAGE_SIZE, BASE + 3 * PAGE_SIZE


def machine():
    m = faulted(0, nodes=3)
    m.fault(A)
    m.fault(B, cpu=1)
    m.fault(ZERO, write=False)
    return m


def nodes_of(m, task=0):
    return [m.page_zone(pfn).nid for pfn in pfns(m, task) if pfn >= 0]


def test_a_query_reports_each_pages_node_or_efault():
    m = machine()
    before = m.freeze()
    r = m.sys_move_pages(0, [A, B, ZERO, HOLE, 0x10])
    assert r.ret == 0 and r.status == (0, 1, -EFAULT, -EFAULT, -EFAULT) and m.freeze() == before


def test_checks_in_order_flags_capability_pid_ptrace():
    m = machine()
    m.add_task(1)
    assert m.sys_move_pages(9, [A], [1], flags=MPOL_MF_STRICT).ret == -EINVAL
    assert m.sys_move_pages(9, [A], [1], flags=MPOL_MF_MOVE_ALL).ret == -EPERM
    assert m.sys_move_pages(9, [A], [1], flags=MPOL_MF_MOVE_ALL, cap_sys_nice=True).ret == -ESRCH
    r = m.sys_move_pages(1, [A], None, may_ptrace=False)
    assert (r.ret, r.status) == (-EPERM, (None,))
    assert m.sys_move_pages(0, [A], None, task=1, may_ptrace=False).status == (-EFAULT,)  # its own, empty mm


def test_pages_move_in_batches_per_node_and_report_their_node():
    m = machine()
    r = m.sys_move_pages(0, [A, B], [2, 2], flags=MPOL_MF_MOVE)
    assert r.ret == 0 and r.status == (2, 2) and migrated(r) == [{"succeeded": 2, "failed": 0}]
    assert nodes_of(m) == [2, 2] and pfns(m)[:2] == [44, 45]
    r = m.sys_move_pages(0, [A, B], [0, 1])
    assert r.status == (0, 1) and migrated(r) == [{"succeeded": 1, "failed": 0}] * 2 and nodes_of(m) == [0, 1]


def test_a_page_already_on_its_node_reports_that_node_and_flushes_the_batch():
    m = machine()
    r = m.sys_move_pages(0, [A, B, ZERO], [1, 1, 1])
    assert r.ret == 0 and r.status == (1, 1, -EFAULT) and nodes_of(m) == [1, 1]


def test_a_bad_node_is_the_calls_error_after_the_pages_before_it_moved():
    m = machine()
    r = m.sys_move_pages(0, [A, B], [1, 64])
    assert (r.ret, r.status) == (-ENODEV, (1, None)) and nodes_of(m) == [1, 1]
    assert m.sys_move_pages(0, [A], [-1]).ret == -ENODEV
    m.add_task(1, {0, 1})
    m.mmap(BASE, PAGE_SIZE, task=1)
    m.fault(BASE, task=1)
    r = m.sys_move_pages(0, [BASE, BASE], [0, 2], task=1)
    assert (r.ret, r.status) == (-EACCES, (0, None))  # node 2 is outside task 1's cpuset


def test_a_node_without_memory_is_enodev():
    m = Kernel419(topology(nodes=2))
    m.mmap(BASE, PAGE_SIZE)
    m.fault(BASE)
    assert m.sys_move_pages(0, [BASE], [5]).ret == -ENODEV  # a node id below MAX_NUMNODES with no memory


def test_a_shared_page_is_eacces_without_move_all_and_moves_with_it():
    m = machine()
    m.add_task(1)
    m.tasks[1].page_table = with_entry(m.tasks[1].page_table, BASE, 12, 0)
    r = m.sys_move_pages(0, [A], [2])
    assert (r.ret, r.status) == (0, (-EACCES,)) and nodes_of(m)[0] == 0
    r = m.sys_move_pages(0, [A], [2], flags=MPOL_MF_MOVE_ALL, cap_sys_nice=True)
    assert r.status == (2,) and pfns(m)[0] == pfns(m, 1)[0] == 44


def test_a_page_listed_twice_cannot_be_isolated_twice():
    m = machine()
    r = m.sys_move_pages(0, [A, A], [1, 1])
    assert r.ret == 0 and r.status == (1, -EBUSY) and nodes_of(m)[0] == 1


def test_a_full_node_is_enomem_and_the_batch_keeps_no_status():
    m = machine()
    fill_node(m, 2, leave=1)
    r = m.sys_move_pages(0, [A, B], [2, 2])
    assert (r.ret, r.status) == (-ENOMEM, (None, None)) and migrated(r) == [{"succeeded": 1, "failed": 1}]
    assert nodes_of(m) == [2, 1]


# ---- the invariant, the operation and a planted bug --------------------------------------------------------
def test_move_pages_status_judges_written_nodes():
    assert MOVE_PAGES_STATUS.check([A, B], [1, -EFAULT], {A: 1}) == []
    (v,) = MOVE_PAGES_STATUS.check([A, B], [1, 0], {A: 1, B: 1})
    assert v.invariant == "move_pages_status" and v.values == {"addr": B, "node": 1, "status": 0}
    assert MOVE_PAGES_STATUS.check([A, A], [1, 2], {A: 2}) == []  # listed twice: not judged
    assert len(MOVE_PAGES_STATUS.check([A], [1], {})) == 1  # a node for an address where nothing is mapped


def test_the_move_pages_table_code_and_json():
    doc = {"topology": {"preset": "numa2"}, "move_pages": [
        {"pages": [BASE, BASE + PAGE_SIZE], "nodes": [1, 0], "flags": ["MPOL_MF_MOVE"]},
        {"pid": 1, "pages": [BASE], "may_ptrace": False}]}
    first, second = scenario_from_dict(doc).extra_ops
    assert first == MovePages(0, (BASE, BASE + PAGE_SIZE), (1, 0), MPOL_MF_MOVE)
    assert second == MovePages(1, (BASE,), None, may_ptrace=False)
    assert first.code() == f"m.sys_move_pages(0, [{BASE:#x}, {B:#x}], [1, 0], flags=P.MPOL_MF_MOVE, task=0)"
    assert second.code() == f"m.sys_move_pages(1, [{BASE:#x}], None, may_ptrace=False, task=0)"
    for op in (first, second):
        assert op_from_dict(op_to_dict(op)) == op
    assert op_to_dict(first)["pages"] == [BASE, B]


FallsBack = Kernel419.variant("move-falls-back", "alloc_new_node_page without __GFP_THISNODE")


@FallsBack.override
def alloc_new_node_page(k, pfn, order, node):
    return k.__alloc_pages_nodemask(GFP_HIGHUSER_MOVABLE, order, node, None)


def test_planted_move_without_thisnode_is_caught_after_a_fault_and_the_call():
    fill = tuple(Alloc(GFP_KERNEL | __GFP_THISNODE, 0, cpu=1) for _ in range(8))
    sc = Scenario("move-pages", topology(8), extra_ops=(Fault(BASE), MovePages(0, (BASE,), (1,))),
                  setup=(Mmap(BASE, PAGE_SIZE), *fill), depth=3)
    run = Explorer(sc.with_model(FallsBack)).check(*all_properties()).all_violations().depth(2).run()
    found = {v.invariant: v for v in run.violations}
    assert found["move_pages_status"].length == 2
    assert [op.kind for op in found["move_pages_status"].trace] == ["fault", "move_pages"]
    assert Explorer(sc).check(*all_properties()).all_violations().depth(3).run().violations == []
