"""migrate_pages(2) (model/migrate.py): kernel_migrate_pages' checks in 4.19's order and do_migrate_pages' moves.

Machines from helpers_migration: three nodes of 16 pages, task 0 maps pages faulted from CPU 0
(node 0: pfns 12, 13, ...), CPU 1 (node 1: 28, ...) or CPU 2 (node 2: 44, ...). A planted bug, a
migrate_to_node that queues the pages off the source node instead of those on it, is caught by
migrate_pages_placement after a fault and the call.
"""

import pytest
from helpers_migration import BASE, faulted, fill_node, migrated, pfns, topology

from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Fault, MigratePages, Mmap
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import scenario_from_dict
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import EINVAL, ENOMEM, EPERM, ESRCH, MPOL_MF_DISCONTIG_OK, MPOL_MF_MOVE, TASK_SIZE
from buddycheck.model.page_table import with_entry
from buddycheck.spec.operation_invariants import MIGRATE_PAGES_PLACEMENT


def three_nodes(cpus=(0, 1, 2)):
    """Task 0 maps one page per CPU in `cpus`, at BASE, BASE + 4K, ..."""
    m = faulted(0, nodes=3)
    for i, cpu in enumerate(cpus):
        m.fault(BASE + i * PAGE_SIZE, cpu=cpu)
    return m


def nodes_of(m, task=0):
    return [m.page_zone(pfn).nid for pfn in pfns(m, task)]


def rejected(m, errno, *args, **kw):
    before = m.freeze()
    r = m.sys_migrate_pages(*args, **kw)
    assert r.ret == -errno, str(r)
    assert m.freeze() == before


# ---- validation order -------------------------------------------------------------------------------------
def test_a_bad_mask_is_einval_before_the_pid_is_looked_up():
    m = three_nodes()
    rejected(m, EINVAL, 7, {64}, {1}, maxnode=66)  # a bit at MAX_NUMNODES among the 65 bits get_nodes reads
    rejected(m, EINVAL, 7, {0}, {64}, maxnode=66)
    rejected(m, ESRCH, 7, {64}, {1})  # with a full mask (maxnode 65) bit 64 is not read
    rejected(m, ESRCH, 7, {0}, {1})
    rejected(m, ESRCH, -1, {0}, {1})


def test_another_task_needs_ptrace_access_but_a_task_may_always_name_itself():
    m = three_nodes()
    m.add_task(1)
    rejected(m, EPERM, 1, {0}, {1}, may_ptrace=False)  # task 0 names task 1
    assert m.sys_migrate_pages(1, {0}, {1}, task=1, may_ptrace=False).ret == 0  # task 1 names itself
    assert m.sys_migrate_pages(0, {0}, {1}, may_ptrace=False).ret == 0 and nodes_of(m) == [1, 1, 2]


def test_new_nodes_outside_the_targets_cpuset_need_cap_sys_nice():
    m = three_nodes()
    m.add_task(1, {0, 1})
    rejected(m, EPERM, 1, {0}, {2})
    assert m.sys_migrate_pages(1, {0}, {2}, cap_sys_nice=True).ret == 0


def with_task_1_page():
    """three_nodes() plus task 1 (every node) mapping one page on node 0 (pfn 15)."""
    m = three_nodes()
    m.add_task(1)
    m.mmap(BASE, PAGE_SIZE, task=1)
    m.fault(BASE, task=1)
    return m


def test_new_nodes_are_narrowed_to_the_callers_cpuset_and_none_left_is_einval():
    m = with_task_1_page()
    rejected(m, EINVAL, 1, {0}, set())
    assert m.set_cpuset(0, {0, 1}).ret == 0
    assert m.sys_migrate_pages(1, {0}, {1, 2}).ret == 0 and nodes_of(m, 1) == [1]  # {1, 2} & {0, 1}
    assert m.set_cpuset(0, {2}).ret == 0
    rejected(m, EINVAL, 1, {1}, {0}, cap_sys_nice=True)  # {0} & {2} is empty


# ---- the moves --------------------------------------------------------------------------------------------
def test_pages_move_node_to_node_each_source_once_a_destination_still_to_empty_last():
    m = three_nodes()
    assert nodes_of(m) == [0, 1, 2]
    r = m.sys_migrate_pages(0, {0, 1}, {1, 2})
    # node 1 is emptied into node 2 before node 0 moves into node 1
    assert r.ret == 0 and migrated(r) == [{"succeeded": 1, "failed": 0}, {"succeeded": 1, "failed": 0}]
    assert nodes_of(m) == [1, 2, 2] and pfns(m) == [28, 45, 44]


def test_unequal_weights_leave_the_pages_of_a_source_that_is_a_destination():
    m = three_nodes()
    assert m.sys_migrate_pages(0, {0, 1, 2}, {1}).ret == 0
    assert nodes_of(m) == [1, 1, 1]
    m = three_nodes()
    assert m.sys_migrate_pages(0, {0, 1}, {1, 2, 0}).ret == 0 and nodes_of(m) == [0, 1, 2]  # every source stays


def test_a_node_that_maps_to_itself_keeps_its_pages():
    m = three_nodes()
    r = m.sys_migrate_pages(0, {0, 2}, {1, 2})  # node_remap: 0 -> 1, 2 -> 2
    assert r.ret == 0 and migrated(r) == [{"succeeded": 1, "failed": 0}] and nodes_of(m) == [1, 1, 2]


def test_a_shared_page_moves_only_with_cap_sys_nice():
    for cap, expected in ((False, [0]), (True, [1])):
        m = faulted(1, nodes=3)
        m.add_task(1)
        m.tasks[1].page_table = with_entry(m.tasks[1].page_table, BASE, 12, 0)
        assert m.sys_migrate_pages(0, {0}, {1}, cap_sys_nice=cap).ret == 0
        assert nodes_of(m) == nodes_of(m, 1) == expected


def test_a_full_destination_is_enomem_and_stops_the_moves():
    m = three_nodes(cpus=(0, 0))
    fill_node(m, 1, leave=1)
    r = m.sys_migrate_pages(0, {0}, {1})
    assert r.ret == -ENOMEM and migrated(r) == [{"succeeded": 1, "failed": 1}] and nodes_of(m) == [1, 0]


def test_a_target_without_vmas_has_nothing_to_move():
    m = three_nodes()
    m.add_task(1)
    r = m.sys_migrate_pages(1, {0}, {1})
    assert r.ret == 0 and migrated(r) == [] and nodes_of(m) == [0, 1, 2]


def test_migrate_to_node_walks_the_whole_address_space_holes_allowed():
    m = three_nodes()
    m.mmap(BASE + 0x10000, PAGE_SIZE)
    m.fault(BASE + 0x10000)
    ret, pagelist = m.queue_pages_range(m.tasks[0], BASE, TASK_SIZE, frozenset({0}),
                                        MPOL_MF_MOVE | MPOL_MF_DISCONTIG_OK)
    assert ret == 0 and [pfn for pfn, _ in pagelist] == [12, 13]  # node 0's two pages, in address order


# ---- the invariant, the operation and a planted bug --------------------------------------------------------
def test_migrate_pages_placement_judges_successful_calls():
    page = [(BASE, 12, 0, 1)]
    (v,) = MIGRATE_PAGES_PLACEMENT.check({0}, {1}, False, 0, page)
    assert v.invariant == "migrate_pages_placement" and v.values == {"addr": BASE, "pfn": 12, "node": 0}
    assert MIGRATE_PAGES_PLACEMENT.check({0}, {1}, False, -ENOMEM, page) == []
    assert MIGRATE_PAGES_PLACEMENT.check({0}, {0, 1}, False, 0, page) == []
    assert MIGRATE_PAGES_PLACEMENT.check({0}, {1}, False, 0, [(BASE, 12, 0, 2)]) == []
    assert len(MIGRATE_PAGES_PLACEMENT.check({0}, {1}, True, 0, [(BASE, 12, 0, 2)])) == 1


def test_the_migrate_pages_table_code_and_json():
    doc = {"topology": {"preset": "numa2"}, "migrate_pages": [{"pid": 1, "old_nodes": [0], "new_nodes": [1],
                                                               "cap_sys_nice": True, "may_ptrace": False}]}
    (op,) = scenario_from_dict(doc).extra_ops
    assert op == MigratePages(1, frozenset({0}), frozenset({1}), cap_sys_nice=True, may_ptrace=False)
    assert op.code() == "m.sys_migrate_pages(1, {0}, {1}, cap_sys_nice=True, may_ptrace=False, task=0)"
    assert op_from_dict(op_to_dict(op)) == op


QueuesOffSource = Kernel419.variant("migrate-to-node-inverted", "migrate_to_node queues the pages off the source")


@QueuesOffSource.override
def migrate_to_node(k, mm, source, dest, flags):
    others = frozenset(range(k.topology.max_numnodes)) - {source}
    _, pagelist = k.queue_pages_range(mm, mm.vmas[0].start, TASK_SIZE, others, flags | MPOL_MF_DISCONTIG_OK)
    return k.migrate_pages(pagelist, lambda pfn, order: k.alloc_new_node_page(pfn, order, dest)) if pagelist else 0


def test_planted_migrate_to_node_queueing_the_wrong_pages_is_caught_after_a_fault_and_the_call():
    sc = Scenario("migrate-pages", topology(8), extra_ops=(Fault(BASE), MigratePages(0, frozenset({0}),
                                                                                       frozenset({1}))),
                  setup=(Mmap(BASE, PAGE_SIZE),), depth=3)
    run = Explorer(sc.with_model(QueuesOffSource)).check(*all_properties()).all_violations().depth(2).run()
    found = {v.invariant: v for v in run.violations}
    assert found["migrate_pages_placement"].length == 2
    assert [op.kind for op in found["migrate_pages_placement"].trace] == ["fault", "migrate_pages"]
    assert Explorer(sc).check(*all_properties()).all_violations().depth(3).run().violations == []


@pytest.mark.parametrize("pid", [0, 1])
def test_pid_names_the_caller_or_the_task_of_that_id(pid):
    m = with_task_1_page()
    assert m.sys_migrate_pages(pid, {0}, {2}).ret == 0
    moved, kept = (0, 1) if pid == 0 else (1, 0)
    assert nodes_of(m, moved)[0] == 2 and nodes_of(m, kept)[0] == 0
