"""LTP's cpuset tests that meet memory policy, stated against the model (catalogue: tests/ltp_expectations.py).

cpuset_syscall_test runs a task in a cpuset of CPU 0 and the given mems, has it call mbind or
set_mempolicy with MPOL_BIND and a one-word mask (maxnode 64), or get_mempolicy(MPOL_F_MEMS_ALLOWED),
and reads the policy back from /proc/pid/numa_maps ("bind:<nodes>"). The model has no numa_maps: it
reads the same mode and nodes with get_mempolicy (MPOL_F_ADDR for the mapping, flags 0 for the task).
cpuset_memory_test writes one anonymous page and prints its node; moving the task to another cpuset
is, in the model, rewriting the mems of the task's own cpuset (each task has a cpuset of its own).
mem/cpuset/cpuset01 keeps writing memory under MPOL_BIND over every node while the cpuset's mems are
rewritten to one node and then another.
"""

import itertools

import pytest
from ltp_helpers import BASE, map_fault_count, node_of, numa_machine

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import EINVAL, MPOL_BIND, MPOL_DEFAULT, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED

TASK = 1
LENGTH = 10 * 1024 * 1024  # test_mbind's mapping


def bits(word):
    """The nodes of a one-word mask given as a number (the test's --mbind=6 is nodes 1 and 2)."""
    return {n for n in range(64) if word >> n & 1}


def in_cpuset(mems, nodes=3):
    m = numa_machine(nodes)
    m.add_task(TASK, mems)
    return m


@pytest.mark.parametrize("mems, word, ret, reported", [
    pytest.param({0}, 1, 0, (MPOL_BIND, {0}), id="test7-mems-0-bind-0"),
    pytest.param({0, 1}, 1, 0, (MPOL_BIND, {0}), id="test8-mems-0-1-bind-0"),
    pytest.param({0, 1}, 6, 0, (MPOL_BIND, {1}), id="test9-mems-0-1-bind-1-2"),
    pytest.param({0}, 6, -EINVAL, (MPOL_DEFAULT, set()), id="test10-mems-0-bind-1-2"),
])
def test_cpuset_syscall_mbind(mems, word, ret, reported):
    """LTP cpuset_syscall_testset.sh tests 7-10 (cpuset_syscall_test --mbind): mbind(MPOL_BIND, mask,
    64) on a fresh 10 MiB mapping inside the cpuset. The nodes the policy keeps are the mask's nodes
    within the cpuset's mems (test 9: {1, 2} in a cpuset of 0-1 is bind:1); with none of them allowed
    mbind fails (EINVAL, test 10) and the mapping shows the task's policy, the default.
    """
    m = in_cpuset(mems)
    m.mmap(BASE, LENGTH, task=TASK)
    assert m.mbind(BASE, LENGTH, MPOL_BIND, bits(word), maxnode=64, task=TASK).ret == ret
    r = m.get_mempolicy(MPOL_F_ADDR, BASE, task=TASK)
    assert (r.ret, r.policy, r.nodes) == (0, reported[0], frozenset(reported[1]))


@pytest.mark.parametrize("mems, word, ret, reported", [
    pytest.param({0}, 1, 0, (MPOL_BIND, {0}), id="test11-mems-0-bind-0"),
    pytest.param({0, 1}, 1, 0, (MPOL_BIND, {0}), id="test12-mems-0-1-bind-0"),
    pytest.param({0, 1}, 6, 0, (MPOL_BIND, {1}), id="test13-mems-0-1-bind-1-2"),
    pytest.param({0}, 6, -EINVAL, (MPOL_DEFAULT, set()), id="test14-mems-0-bind-1-2"),
])
def test_cpuset_syscall_set_mempolicy(mems, word, ret, reported):
    """LTP cpuset_syscall_testset.sh tests 11-14 (cpuset_syscall_test --set_mempolicy, on a machine of
    3 or more nodes): set_mempolicy(MPOL_BIND, mask, 64) inside the cpuset; every mapping without its
    own policy shows the task's, bind:<the mask within the mems>; with no allowed node the call fails
    (test 14) and the default policy stays. A mapping's pages follow it: all on the reported node.
    """
    m = in_cpuset(mems)
    assert m.set_mempolicy(MPOL_BIND, bits(word), maxnode=64, task=TASK).ret == ret
    r = m.get_mempolicy(0, 0, task=TASK)
    assert (r.ret, r.policy, r.nodes) == (0, reported[0], frozenset(reported[1]))
    counts = map_fault_count(m, 4, task=TASK)
    assert set(counts) <= (reported[1] or mems)


@pytest.mark.parametrize("mems", [pytest.param({0}, id="test15-mems-0"), pytest.param({0, 1}, id="test16-mems-0-1")])
def test_cpuset_syscall_get_mempolicy_mems_allowed(mems):
    """LTP cpuset_syscall_testset.sh tests 15 and 16 (cpuset_syscall_test --get_mempolicy):
    get_mempolicy(MPOL_F_MEMS_ALLOWED) inside the cpuset returns 0 and the cpuset's mems ("0", "0-1").
    """
    m = in_cpuset(mems)
    r = m.get_mempolicy(MPOL_F_MEMS_ALLOWED, 0, task=TASK)
    assert (r.ret, r.nodes) == (0, frozenset(mems))


def test_cpuset01_bind_over_every_node_follows_the_mems_written():
    """LTP mem/cpuset/cpuset01 (without the race): a task bound with MPOL_BIND to every node keeps
    writing 10 pages at a time while its cpuset's mems are written to the first node and then to the
    second; every write succeeds, on the node the cpuset allows.
    """
    m = numa_machine(2)
    m.add_task(TASK, {0, 1})
    assert m.set_mempolicy(MPOL_BIND, {0, 1}, task=TASK).ret == 0
    for mems in ({0}, {1}):
        assert m.set_cpuset(TASK, mems).ret == 0
        for _ in range(3):
            assert map_fault_count(m, 10, task=TASK, cpu=0) == {min(mems): 10}


# ---- controllers/cpuset/cpuset_memory_test: one page, written, its node read back -----------------------------
def write_one_page(m, addr, cpu=0):
    """cpuset_memory_test --mmap-anon: map one page, write it, print its node (get_mempolicy)."""
    m.mmap(addr, PAGE_SIZE, task=TASK)
    assert m.fault(addr, task=TASK, cpu=cpu).ret == 0
    return node_of(m, addr, TASK)


@pytest.mark.parametrize("mems, node", [pytest.param({0}, 0, id="test1-test7-mems-0"),
                                        pytest.param({1}, 1, id="test8-cpu-of-node-0-mems-1")])
def test_cpuset_memory_anonymous_page_on_the_cpuset_node(mems, node):
    """LTP cpuset_memory_testset.sh tests 1, 7 and 8: a task on CPU 0 (node 0) in a cpuset whose mems
    are {0}, or {1}, writes one anonymous page: it is on node 0, or on node 1 though the CPU is on 0.
    """
    m = in_cpuset(mems, nodes=2)
    assert write_one_page(m, BASE, cpu=0) == node


def test_cpuset_memory_moving_the_task_leaves_its_page_and_places_the_next():
    """LTP cpuset_memory_testset.sh test 9 (memory_migrate off): the task writes a page in a cpuset of
    mems 0 (node 0), is moved to a cpuset of mems 1, writes the same page again (still node 0: nothing
    migrates) and then a new page (node 1). The model moves a task by rewriting its own cpuset's mems.
    """
    m = in_cpuset({0}, nodes=2)
    assert write_one_page(m, BASE) == 0
    assert m.set_cpuset(TASK, {1}).ret == 0
    assert m.fault(BASE, task=TASK).ret == 0 and node_of(m, BASE, TASK) == 0
    assert m.munmap(BASE, PAGE_SIZE, task=TASK).ret == 0
    assert write_one_page(m, BASE) == 1


def test_cpuset_memory_mems_rewritten_place_the_next_page():
    """LTP cpuset_memory_testset.sh test 11 (memory_migrate off): in a cpuset of CPU 0 and mems 1 the
    task's page is on node 1; after the cpuset's mems are written to 0 and the page is freed, the next
    page written is on node 0.
    """
    m = in_cpuset({1}, nodes=2)
    assert write_one_page(m, BASE) == 1
    assert m.set_cpuset(TASK, {0}).ret == 0
    assert m.munmap(BASE, PAGE_SIZE, task=TASK).ret == 0
    assert write_one_page(m, BASE) == 0


SHM_OBJECT = 1  # the shared object's inode number


def test_cpuset_memory_shared_page_on_the_cpuset_node():
    """LTP cpuset_memory_testset.sh tests 2 and 3: a task on CPU 0 in a cpuset of mems 0 writes one page of
    a MAP_SHARED mapping of /dev/zero (test 2) or of a System V shared memory segment (test 3): the page
    is on node 0. Both are shmem objects in 4.19 (shmem_zero_setup, shmem_kernel_file_setup); the model
    makes both with MAP_SHARED|MAP_ANONYMOUS, so one test states the two.
    """
    m = in_cpuset({0}, nodes=2)
    m.mmap_shared(BASE, PAGE_SIZE, SHM_OBJECT, task=TASK)
    assert m.fault(BASE, task=TASK, cpu=0).ret == 0
    assert node_of(m, BASE, TASK) == 0
    assert m.inodes[SHM_OBJECT].pages[0][0] == 0  # the page is the object's, at index 0


def write_racing_mems_change(mems, schedule):
    """cpuset01's writer (MPOL_BIND over both nodes, on CPU 0) faulting a page while its cpuset's mems are
    written to `mems`, interleaved as `schedule` says: the machine and the ConcurrentResult."""
    m = numa_machine(2)
    m.add_task(TASK, {0, 1})
    assert m.set_mempolicy(MPOL_BIND, {0, 1}, task=TASK).ret == 0
    m.mmap(BASE, 2 * PAGE_SIZE, task=TASK)
    result = m.concurrent(lambda: m.fault(BASE, task=TASK, cpu=0), lambda: m.set_cpuset(TASK, mems),
                          schedule=schedule)
    return m, result


def racing_schedules(longest=6):
    """Every schedule of 0s and 1s up to `longest` decisions: which side runs the next atomic section."""
    return [s for k in range(longest + 1) for s in itertools.product((0, 1), repeat=k)]


@pytest.mark.parametrize("mems", [pytest.param({0}, id="mems-first-node"), pytest.param({1}, id="mems-second-node")])
def test_cpuset01_writes_racing_the_mems_change_never_fail(mems):
    """LTP mem/cpuset/cpuset01 (the race, c0ff7453bb5c and 708c1bbc9d0c): a task bound with MPOL_BIND to
    every node writes a page while its cpuset's mems are written to one node, on another CPU at once.
    Under every interleaving of up to 6 switches the write succeeds (no child fails or is killed) and
    the cpuset write returns 0; afterwards the next page goes to the new mems. The interleavings seen
    include both orders and the write's page on either node.
    """
    orders, placed = set(), set()
    for schedule in racing_schedules():
        m, result = write_racing_mems_change(mems, schedule)
        write, cpuset_write = result.results
        assert (write.ret, cpuset_write.ret) == (0, 0), schedule
        orders.add(tuple(s.slot for s in result.sections))
        placed.add(write.nid)
        assert m.fault(BASE + PAGE_SIZE, task=TASK, cpu=0).nid == min(mems)
    assert len(orders) > 2 and placed == ({0} if mems == {0} else {0, 1})
