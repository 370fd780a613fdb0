"""LTP's move_pages tests and numactl's move_pages.c and mbind_mig_pages.c stated against the model
(catalogue: tests/ltp_expectations.py).

The suites run as root, so MPOL_MF_MOVE_ALL holds CAP_SYS_NICE here. Pages are placed by faulting
them from the CPU of the node wanted (CPU n sits on node n); node A is 0 and node B is 1, as LTP's
get_allowed_nodes picks them on a 2-node machine.
"""

from ltp_helpers import BASE, count_nodes, fault_range, fork_child, numa_machine

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import (
    EACCES,
    EFAULT,
    EINVAL,
    ENODEV,
    EPERM,
    ESRCH,
    MPOL_BIND,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
)

NODE_A, NODE_B = 0, 1


def pages_at(m, count, node, start=BASE):
    """count pages mapped at start and written from node's CPU: their addresses."""
    m.mmap(start, count * PAGE_SIZE)
    fault_range(m, start, count, cpu=node)
    return [start + i * PAGE_SIZE for i in range(count)]


def test_move_pages01_query_reports_each_pages_node():
    """LTP move_pages01: move_pages with nodes NULL on 2 pages placed on nodes A and B returns 0 and the
    status array holds each page's node.
    """
    m = numa_machine(2)
    first = pages_at(m, 1, NODE_A)
    second = pages_at(m, 1, NODE_B, start=BASE + PAGE_SIZE)
    r = m.sys_move_pages(0, first + second)
    assert (r.ret, r.status) == (0, (NODE_A, NODE_B))


def test_move_pages02_moves_the_pages_to_node_b():
    """LTP move_pages02: 2 pages on node A moved to node B with MPOL_MF_MOVE: ret 0, status B for each, and
    the pages (written again) are on B.
    """
    m = numa_machine(2)
    addrs = pages_at(m, 2, NODE_A)
    r = m.sys_move_pages(0, addrs, [NODE_B] * 2, flags=MPOL_MF_MOVE)
    assert (r.ret, r.status) == (0, (NODE_B, NODE_B))
    fault_range(m, BASE, 2, cpu=NODE_A)
    assert count_nodes(m, BASE, 2) == {NODE_B: 2}


def test_move_pages03_move_all_takes_shared_pages_to_node_b():
    """LTP move_pages03: 2 pages of a MAP_SHARED anonymous mapping on node A, touched by a forked child too,
    moved to node B by root with MPOL_MF_MOVE_ALL: ret 0, status B, and both processes see the pages on B.
    """
    m = numa_machine(2)
    m.mmap_shared(BASE, 2 * PAGE_SIZE, 1)
    fault_range(m, BASE, 2, cpu=NODE_A)
    child = fork_child(m)
    fault_range(m, BASE, 2, task=child, cpu=NODE_A)
    addrs = [BASE, BASE + PAGE_SIZE]
    r = m.sys_move_pages(0, addrs, [NODE_B] * 2, flags=MPOL_MF_MOVE_ALL, cap_sys_nice=True)
    assert (r.ret, r.status) == (0, (NODE_B, NODE_B))
    assert count_nodes(m, BASE, 2) == count_nodes(m, BASE, 2, task=child) == {NODE_B: 2}


def test_move_pages04_untouched_zero_and_unmapped_pages_are_efault_in_4_19():
    """LTP move_pages04: move_pages(MPOL_MF_MOVE) of a page never touched, a page mapped to the zero page
    (read only) and an address with no mapping: ret 0, status -EFAULT for the last two; for the untouched
    page LTP expects -ENOENT, which 4.19 does not give: follow_page with FOLL_DUMP finds no page table
    entry in an anonymous VMA and answers -EFAULT, so the status is -EFAULT, -EFAULT, -EFAULT.
    """
    m = numa_machine(2)
    m.mmap(BASE, 2 * PAGE_SIZE)
    untouched, zero, unmapped = BASE, BASE + PAGE_SIZE, BASE + 0x100000
    assert m.fault(zero, write=False).ret == 0
    r = m.sys_move_pages(0, [untouched, zero, unmapped], [NODE_B] * 3, flags=MPOL_MF_MOVE)
    assert (r.ret, r.status) == (0, (-EFAULT, -EFAULT, -EFAULT))


def test_move_pages05_a_page_shared_with_a_child_is_eacces_without_move_all():
    """LTP move_pages05: a MAP_SHARED anonymous page and a private page, both on node A, written by a
    forked child too (the child's write copies the private page), moved to node B with MPOL_MF_MOVE, not
    MPOL_MF_MOVE_ALL: ret 0 and the shared page's status is -EACCES (mapped twice); the private page,
    mapped once again, moves: status B.
    """
    m = numa_machine(2)
    shared, private = BASE, BASE + 0x10000
    m.mmap_shared(shared, PAGE_SIZE, 1)
    m.mmap(private, PAGE_SIZE)
    for addr in (shared, private):
        assert m.fault(addr, cpu=NODE_A).ret == 0
    child = fork_child(m)
    for addr in (shared, private):
        assert m.fault(addr, task=child, cpu=NODE_A).ret == 0
    r = m.sys_move_pages(0, [shared, private], [NODE_B] * 2, flags=MPOL_MF_MOVE)
    assert (r.ret, r.status) == (0, (-EACCES, NODE_B))
    assert count_nodes(m, shared, 1) == count_nodes(m, shared, 1, task=child) == {NODE_A: 1}


def test_move_pages06_a_node_past_the_last_is_enodev():
    """LTP move_pages06: the target node numa_max_node() + 1 (here 2 on a 2-node machine) fails the call
    with ENODEV.
    """
    m = numa_machine(2)
    addrs = pages_at(m, 1, NODE_A)
    assert m.sys_move_pages(0, addrs, [2], flags=MPOL_MF_MOVE).ret == -ENODEV


def test_move_pages09_pages_moved_to_their_own_node_return_0():
    """LTP move_pages09: pages moved to the node they are already on: ret 0 (ENOENT only before 2.6.28);
    each status is that node (stable 4.19.y's e0153fc2c760).
    """
    m = numa_machine(2)
    addrs = pages_at(m, 2, NODE_A)
    r = m.sys_move_pages(0, addrs, [NODE_A] * 2, flags=MPOL_MF_MOVE)
    assert (r.ret, r.status) == (0, (NODE_A, NODE_A))


def test_move_pages10_strict_as_flags_is_einval():
    """LTP move_pages10: move_pages with MPOL_MF_STRICT as its flags fails with EINVAL."""
    m = numa_machine(2)
    addrs = pages_at(m, 1, NODE_A)
    assert m.sys_move_pages(0, addrs, [NODE_B], flags=MPOL_MF_STRICT).ret == -EINVAL


def test_numactl_move_pages_c_moves_the_pages_to_the_nodes_in_turn():
    """numactl test/move_pages.c: 32 pages, all but page 2 written, queried and then moved with move_pages
    (flags 0) to the memory nodes in turn (page i to node i mod 2): the call returns >= 0, which is all
    the suite checks besides the contents; the model returns 0, each written page reports its target
    node and the query finds it there; page 2, never written, reports -EFAULT (4.19).
    """
    pages, untouched = 32, 2
    m = numa_machine(2)
    m.mmap(BASE, pages * PAGE_SIZE)
    addrs = [BASE + i * PAGE_SIZE for i in range(pages)]
    for i, addr in enumerate(addrs):
        if i != untouched:
            assert m.fault(addr, cpu=NODE_A).ret == 0
    assert m.sys_move_pages(0, addrs).ret == 0
    targets = [i % 2 for i in range(pages)]
    r = m.sys_move_pages(0, addrs, targets)
    expected = tuple(-EFAULT if i == untouched else targets[i] for i in range(pages))
    assert (r.ret, r.status) == (0, expected)
    assert m.sys_move_pages(0, addrs).status == expected


def test_numactl_mbind_mig_pages_c_moves_every_page_to_node_1():
    """numactl test/mbind_mig_pages.c: 32 pages, all but page 2 written, moved with move_pages to node 0
    (the query finds every written page there); then mbind(MPOL_BIND, {0}, MPOL_MF_MOVE|MPOL_MF_STRICT)
    and mbind(MPOL_BIND, {1}) the same way both return 0, and the query reports node 1 for every written
    page.
    """
    pages, untouched = 32, 2
    m = numa_machine(2)
    m.mmap(BASE, pages * PAGE_SIZE)
    addrs = [BASE + i * PAGE_SIZE for i in range(pages)]
    written = [i for i in range(pages) if i != untouched]
    for i in written:
        assert m.fault(addrs[i], cpu=NODE_B).ret == 0
    m.sys_move_pages(0, addrs, [NODE_A] * pages)
    r = m.sys_move_pages(0, addrs)
    assert r.ret == 0 and [r.status[i] for i in written] == [NODE_A] * len(written)
    flags = MPOL_MF_MOVE | MPOL_MF_STRICT
    for node in (NODE_A, NODE_B):
        assert m.mbind(BASE, pages * PAGE_SIZE, MPOL_BIND, {node}, flags=flags).ret == 0
    status = m.sys_move_pages(0, addrs).status
    assert [status[i] for i in written] == [NODE_B] * len(written)


def test_move_pages07_the_pid_of_an_exited_child_is_esrch():
    """LTP move_pages07: move_pages with the pid of a child that has exited fails with ESRCH. The model's
    tasks do not exit: a task id no task has stands for the reaped child's pid.
    """
    m = numa_machine(2)
    addrs = pages_at(m, 1, NODE_A)
    assert m.sys_move_pages(9, addrs, [NODE_B], flags=MPOL_MF_MOVE).ret == -ESRCH


def test_move_pages11_move_all_without_cap_sys_nice_is_eperm():
    """LTP move_pages11: MPOL_MF_MOVE_ALL by a non-root user (no CAP_SYS_NICE) on pages shared with a
    forked child fails with EPERM; the pages stay on node A.
    """
    m = numa_machine(2)
    addrs = pages_at(m, 2, NODE_A)
    fork_child(m)
    assert m.sys_move_pages(0, addrs, [NODE_B] * 2, flags=MPOL_MF_MOVE_ALL).ret == -EPERM
    assert count_nodes(m, BASE, 2) == {NODE_A: 2}
