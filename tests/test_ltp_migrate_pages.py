"""LTP's migrate_pages tests, numactl's migrate_pages.c and numa01.sh's migratepages case stated against the
model (catalogue: tests/ltp_expectations.py).

The suites run as root, so the calls here hold CAP_SYS_NICE unless a case says otherwise. Pages are
placed by faulting them from the CPU of the node wanted (CPU n sits on node n) and counted with
get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR), as LTP's tests do.
"""

import pytest
from ltp_helpers import BASE, count_nodes, fault_range, fork_child, numa_machine, per_node

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import EFAULT, EINVAL, EPERM, ESRCH, MPOL_PREFERRED

ULONG_MINUS_1 = 2**64 - 1  # migrate_pages01's maxnode -1 as the unsigned long the kernel reads
SANE_MAX_NODE = 64  # migrate_pages01's maxnode: the highest node id rounded up to a whole unsigned long


def test_migrate_pages01_sane_nodes_return_0():
    """LTP migrate_pages01, test_sane_nodes: migrate_pages(0, maxnode, {n}, {n}) on the calling process
    returns 0 for the first memory node n (nothing needs to move).
    """
    m = numa_machine(2)
    m.mmap(BASE, PAGE_SIZE)
    fault_range(m, BASE, 1, cpu=0)
    assert m.sys_migrate_pages(0, {0}, {0}, maxnode=SANE_MAX_NODE, cap_sys_nice=True).ret == 0
    assert count_nodes(m, BASE, 1) == {0: 1}


def test_migrate_pages01_invalid_masksize_einval():
    """LTP migrate_pages01, test_invalid_masksize: maxnode -1 is refused with EINVAL (get_nodes: more bits
    than a page holds).
    """
    m = numa_machine(2)
    assert m.sys_migrate_pages(0, {0}, {0}, maxnode=ULONG_MINUS_1, cap_sys_nice=True).ret == -EINVAL


def test_migrate_pages01_invalid_nodes_einval():
    """LTP migrate_pages01, test_invalid_nodes: a new mask naming only the first node that has no memory
    (here node 2 of a 2-node machine) is EINVAL as root (the new nodes narrowed to the nodes with memory
    leave none).
    """
    m = numa_machine(2)
    assert m.sys_migrate_pages(0, {0}, {2}, maxnode=SANE_MAX_NODE, cap_sys_nice=True).ret == -EINVAL


@pytest.mark.parametrize("cap_sys_nice", [pytest.param(True, id="root"), pytest.param(False, id="unprivileged")])
def test_migrate_pages02_own_private_page_goes_to_b_and_back(cap_sys_nice):
    """LTP migrate_pages02, test_migrate_current_process: the process migrates itself from every node to
    node B, then to node A, with and without CAP_SYS_NICE; each call returns >= 0 (here 0: no page
    failed) and its written private page is on B, then on A.
    """
    m = numa_machine(2)
    m.mmap(BASE, PAGE_SIZE)
    fault_range(m, BASE, 1, cpu=0)
    assert m.sys_migrate_pages(0, {0, 1}, {1}, cap_sys_nice=cap_sys_nice).ret == 0
    assert count_nodes(m, BASE, 1) == {1: 1}
    assert m.sys_migrate_pages(0, {0, 1}, {0}, cap_sys_nice=cap_sys_nice).ret == 0
    assert count_nodes(m, BASE, 1) == {0: 1}


def test_numactl_migrate_pages_c_moves_every_touched_page_to_node_0():
    """numactl test/migrate_pages.c: 32 pages, all but page 2 written, moved with move_pages (flags 0) to
    node 1, where the query finds every written page; then migrate_pages(0, {1}, {0}) returns >= 0 (0)
    and the query reports node 0 for every written page. Page 2, never written, is not mapped: the
    query reports -EFAULT for it in 4.19 (the suite does not check it).
    """
    pages, untouched = 32, 2
    m = numa_machine(2)
    m.mmap(BASE, pages * PAGE_SIZE)
    addrs = [BASE + i * PAGE_SIZE for i in range(pages)]
    for i, addr in enumerate(addrs):
        if i != untouched:
            assert m.fault(addr, cpu=0).ret == 0
    assert m.sys_move_pages(0, addrs, [1] * pages).ret == 0
    written = [i for i in range(pages) if i != untouched]
    status = m.sys_move_pages(0, addrs).status
    assert [status[i] for i in written] == [1] * len(written)
    assert m.sys_migrate_pages(0, {1}, {0}).ret == 0
    status = m.sys_move_pages(0, addrs).status
    assert [status[i] for i in written] == [0] * len(written)
    assert status[untouched] == -EFAULT


def test_numa01_migratepages_moves_the_1mib_to_the_next_node():
    """LTP numa01.sh, test 8: for each node n, a process under numactl --preferred=n writes 1 MiB (16 pages
    here, written from the next node's CPU); migratepages pid n next (migrate_pages(pid, {n}, {next}) as
    root) leaves at least 1 MiB of it on the next node: all of it in the model.
    """
    pages, nodes = 16, 2
    m = numa_machine(nodes)
    for node in range(nodes):
        task = node + 1  # a new process each time
        m.add_task(task)
        assert m.set_mempolicy(MPOL_PREFERRED, {node}, task=task).ret == 0
        m.mmap(BASE, pages * PAGE_SIZE, task=task)
        target = (node + 1) % nodes
        fault_range(m, BASE, pages, task=task, cpu=target)
        assert count_nodes(m, BASE, pages, task=task) == {node: pages}
        assert m.sys_migrate_pages(task, {node}, {target}, cap_sys_nice=True).ret == 0
        assert per_node(count_nodes(m, BASE, pages, task=task), nodes) == tuple(
            pages if n == target else 0 for n in range(nodes))
        assert m.munmap(BASE, pages * PAGE_SIZE, task=task).ret == 0


@pytest.mark.parametrize("cap_sys_nice, shared_node", [pytest.param(True, 0, id="root"),
                                                       pytest.param(False, 1, id="unprivileged")])
def test_migrate_pages02_shared_page_moves_only_with_cap_sys_nice(cap_sys_nice, shared_node):
    """LTP migrate_pages02, test_migrate_current_process (its shared half): a MAP_SHARED anonymous page
    written and migrated by the parent to node B; a forked child that writes it and a private page of
    its own, then (unprivileged: after seteuid to nobody) migrates itself from every node to node A:
    the call returns 0, the private page is on A, and the shared page (mapped by both) is on A only
    with CAP_SYS_NICE (MPOL_MF_MOVE_ALL), else still on B for both processes.
    """
    node_a, node_b = 0, 1
    shared, private = BASE, BASE + 0x10000
    m = numa_machine(2)
    m.mmap_shared(shared, PAGE_SIZE, 1)
    fault_range(m, shared, 1, cpu=node_a)
    assert m.sys_migrate_pages(0, {node_a, node_b}, {node_b}, cap_sys_nice=True).ret == 0  # the parent, root
    assert count_nodes(m, shared, 1) == {node_b: 1}
    child = fork_child(m)
    fault_range(m, shared, 1, task=child, cpu=node_b)
    m.mmap(private, PAGE_SIZE, task=child)
    fault_range(m, private, 1, task=child, cpu=node_b)
    assert m.sys_migrate_pages(0, {node_a, node_b}, {node_a}, task=child, cap_sys_nice=cap_sys_nice).ret == 0
    assert count_nodes(m, private, 1, task=child) == {node_a: 1}
    assert count_nodes(m, shared, 1, task=child) == count_nodes(m, shared, 1) == {shared_node: 1}


# ---- other processes: the model's tasks stand for processes, a task id for a pid -----------------------------
UNUSED_PID = 9  # no task has this id


@pytest.mark.parametrize("pid", [pytest.param(-1, id="pid-minus-1"), pytest.param(UNUSED_PID, id="unused-pid")])
def test_migrate_pages01_invalid_pid_esrch(pid):
    """LTP migrate_pages01, test_invalid_pid: pid -1 and a pid no process has are ESRCH (the node masks are
    sane, so the pid is the first check to fail).
    """
    m = numa_machine(2)
    assert m.sys_migrate_pages(pid, {0}, {0}, maxnode=SANE_MAX_NODE, cap_sys_nice=True).ret == -ESRCH


def test_migrate_pages01_invalid_perm_eperm():
    """LTP migrate_pages01, test_invalid_perm: a process running as user nobody (task 2, no CAP_SYS_NICE)
    calling migrate_pages on root's process (task 1) with the sane masks fails ptrace_may_access: EPERM.
    The model has no user ids: the failed ptrace check is the call's may_ptrace argument.
    """
    m = numa_machine(2)
    m.add_task(1)
    m.add_task(2)
    m.mmap(BASE, PAGE_SIZE, task=1)
    fault_range(m, BASE, 1, task=1, cpu=0)
    assert m.sys_migrate_pages(1, {0}, {0}, maxnode=SANE_MAX_NODE, task=2, may_ptrace=False).ret == -EPERM
    assert count_nodes(m, BASE, 1, task=1) == {0: 1}


@pytest.mark.parametrize("cap_sys_nice", [pytest.param(True, id="root"), pytest.param(False, id="same-uid")])
def test_migrate_pages02_other_process_page_goes_to_b(cap_sys_nice):
    """LTP migrate_pages02, test_migrate_other_process: a process migrates another one's written private
    page from every node to node B, as root or as the same user without CAP_SYS_NICE (the ptrace check
    passes either way): ret 0 and the other process's page is on B.
    """
    m = numa_machine(2)
    m.add_task(1)
    m.mmap(BASE, PAGE_SIZE, task=1)
    fault_range(m, BASE, 1, task=1, cpu=0)
    assert m.sys_migrate_pages(1, {0, 1}, {1}, cap_sys_nice=cap_sys_nice).ret == 0
    assert count_nodes(m, BASE, 1, task=1) == {1: 1}
