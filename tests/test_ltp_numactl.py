"""numactl's regression tests and LTP's numa01.sh stated against the model (catalogue: tests/ltp_expectations.py).

numactl's test/regress runs memhog under numactl options (a task policy) or with memhog's own mbind
(a range policy) and reads numastat's per-node counters before and after; test/prefered.c binds one
page per node with MPOL_PREFERRED. LTP's numa01.sh runs a program that writes 1 MiB under numactl
options and reads the pages per node of that process. Sizes are scaled down to the small machines
here: regress's 15 MiB becomes 16 pages and numa01.sh's 1 MiB becomes 16 pages. regress allows 100
pages of slack for other activity; the model runs nothing else, so the counts are exact.
"""

import pytest
from ltp_helpers import (
    BASE,
    count_nodes,
    fault_count_unmap,
    free_pages,
    map_fault_count,
    node_of,
    numa_machine,
    per_node,
)

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.memory import HPAGE_PMD_ORDER, HPAGE_PMD_SIZE
from buddycheck.model.mempolicy import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
)

PAGES = 16  # regress's SIZE / PAGESIZE, scaled
NODES = 2
THP_BASE = 0x200000  # huge-page aligned


def numastat(m, name, nodes=range(NODES)):
    return tuple(m.stats.node(n, name) for n in nodes)


def memhog(m, policy=None, cpu=None):
    """memhog -H SIZE [policy nodes]: map PAGES pages, mbind them if asked, write them all, exit (unmap)."""
    m.mmap(BASE, PAGES * PAGE_SIZE)
    if policy is not None:
        mode, nodes = policy
        assert m.mbind(BASE, PAGES * PAGE_SIZE, mode, nodes).ret == 0
    return fault_count_unmap(m, PAGES, cpu=cpu)


def numactl(m, mode, nodes, cpu=None):
    """numactl --<mode>=<nodes> memhog -H SIZE: the task policy set, then memhog, then the policy dropped."""
    assert m.set_mempolicy(mode, nodes).ret == 0
    counts = memhog(m, cpu=cpu)
    assert m.set_mempolicy(MPOL_DEFAULT).ret == 0  # the next command starts with the default policy
    return counts


@pytest.mark.parametrize("how", [pytest.param("numactl", id="task-policy"), pytest.param("mbind", id="range-policy")])
def test_regress_interleave_over_two_nodes_hits_each_with_half(how):
    """numactl test/regress, "interleaving test" (numactl --interleave=n0,n1) and "interleaving test 2"
    (memhog's mbind interleave n0,n1): each node's interleave_hit grows by at least HALFPAGES; the
    model gives exactly PAGES/2 on each.
    """
    m = numa_machine(NODES)
    before = numastat(m, "numa_interleave_hit")
    if how == "numactl":
        numactl(m, MPOL_INTERLEAVE, {0, 1})
    else:
        memhog(m, (MPOL_INTERLEAVE, {0, 1}))
    after = numastat(m, "numa_interleave_hit")
    assert tuple(b - a for a, b in zip(before, after)) == (PAGES // 2, PAGES // 2)


@pytest.mark.parametrize("how", [pytest.param("numactl", id="task-policy"), pytest.param("mbind", id="range-policy")])
def test_regress_membind_over_two_nodes_hits_pages(how):
    """numactl test/regress, "membind test" and "membind test 2": under MPOL_BIND {n0, n1} the
    numa_hit of n0 and n1 together grows by at least PAGES; the model gives exactly PAGES.
    """
    m = numa_machine(NODES)
    before = sum(numastat(m, "numa_hit"))
    if how == "numactl":
        numactl(m, MPOL_BIND, {0, 1})
    else:
        memhog(m, (MPOL_BIND, {0, 1}))
    assert sum(numastat(m, "numa_hit")) - before == PAGES


@pytest.mark.parametrize("how", [pytest.param("numactl", id="task-policy"), pytest.param("mbind", id="range-policy")])
def test_regress_membind_then_preferred_on_each_node_hits_double(how):
    """numactl test/regress, "membind/preferred on node" and its mbind form: for each node i, memhog
    under MPOL_BIND {i} and then under MPOL_PREFERRED {i}: numa_hit of i grows by at least DOUBLEPAGES;
    the model gives exactly 2 * PAGES, from the CPU of the other node too.
    """
    m = numa_machine(NODES)
    for node in range(NODES):
        cpu = 1 - node
        before = m.stats.node(node, "numa_hit")
        for mode in (MPOL_BIND, MPOL_PREFERRED):
            counts = numactl(m, mode, {node}, cpu=cpu) if how == "numactl" else memhog(m, (mode, {node}), cpu=cpu)
            assert counts == {node: PAGES}
        assert m.stats.node(node, "numa_hit") - before == 2 * PAGES


@pytest.mark.parametrize("mode, nodes", [
    pytest.param(MPOL_INTERLEAVE, {0, 1}, id="interleave-all"),
    pytest.param(MPOL_BIND, {0, 1}, id="membind-all"),
    pytest.param(MPOL_LOCAL, None, id="localalloc"),
])
def test_regress_other_options_let_memhog_finish(mode, nodes):
    """numactl test/regress: memhog under --interleave=all, --membind=all and --localalloc succeeds
    (every page written is mapped) and leaves every page free again after it exits.
    """
    m = numa_machine(NODES)
    free_before = [free_pages(m, n) for n in range(NODES)]
    counts = numactl(m, mode, nodes)
    assert sum(counts.values()) == PAGES
    assert [free_pages(m, n) for n in range(NODES)] == free_before


def test_prefered_c_each_node_preferred_for_one_page():
    """numactl test/prefered.c: for each node i, from the highest down, one page mbound MPOL_PREFERRED
    {i} and written reports mode MPOL_PREFERRED with bit i set through get_mempolicy(MPOL_F_ADDR),
    and node i through get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR).
    """
    nodes = 3
    m = numa_machine(nodes)
    for i in reversed(range(nodes)):
        mem = BASE + i * (nodes + 1) * PAGE_SIZE  # each round maps its own region of max+1 pages
        m.mmap(mem, nodes * PAGE_SIZE)
        assert m.mbind(mem, PAGE_SIZE, MPOL_PREFERRED, {i}).ret == 0
        assert m.fault(mem).ret == 0
        r = m.get_mempolicy(MPOL_F_ADDR, mem)
        assert (r.ret, r.policy, i in r.nodes) == (0, MPOL_PREFERRED, True)
        assert count_nodes(m, mem, 1) == {i: 1}


# ---- LTP testcases/kernel/numa/numa01.sh -------------------------------------------------------------------
def test_numa01_membind_with_cpunodebind_puts_all_on_the_node():
    """LTP numa01.sh test 1: numactl --cpunodebind=n --membind=n: the 1 MiB written is on n."""
    m = numa_machine(NODES)
    for node in range(NODES):
        assert numactl(m, MPOL_BIND, {node}, cpu=node) == {node: PAGES}


def test_numa01_preferred_next_node_gets_all():
    """LTP numa01.sh test 2: numactl --cpunodebind=n --preferred=next node: all of it on the next node."""
    m = numa_machine(NODES)
    for node in range(NODES):
        nxt = (node + 1) % NODES
        assert numactl(m, MPOL_PREFERRED, {nxt}, cpu=node) == {nxt: PAGES}


def test_numa01_interleave_all_gives_each_node_its_share():
    """LTP numa01.sh tests 3 and 6 (support_numa, then memhog, under numactl --interleave=all): each
    node holds at least 1 MiB / number of nodes; the model gives exactly that.
    """
    m = numa_machine(NODES)
    assert per_node(numactl(m, MPOL_INTERLEAVE, {0, 1}), NODES) == (PAGES // NODES,) * NODES


def test_numa01_localalloc_follows_the_cpu_node():
    """LTP numa01.sh test 5: numactl --cpunodebind=n --localalloc: the 1 MiB written is on n."""
    m = numa_machine(NODES)
    for node in range(NODES):
        assert numactl(m, MPOL_LOCAL, None, cpu=node) == {node: PAGES}


assert map_fault_count  # numa01.sh's program is memhog's write loop: one definition, in ltp_helpers


def test_numa01_thp_on_the_preferred_node():
    """LTP numa01.sh test 10: with THP enabled, numactl --cpunodebind=n --preferred=next node and two
    huge-page-sized writes: at least 2 huge pages' worth on the preferred node. The model maps two
    order-9 pages there, on a machine of 2048 pages per node whose buddy reaches that order.
    """
    m = numa_machine(NODES, pages_per_node=1 << 11, max_order=11, pageblock_order=9)
    huge = HPAGE_PMD_SIZE
    for node in range(NODES):
        nxt = (node + 1) % NODES
        assert m.set_mempolicy(MPOL_PREFERRED, {nxt}).ret == 0
        m.mmap(THP_BASE, 2 * huge)
        faults = [m.fault(THP_BASE + i * huge, cpu=node) for i in range(2)]
        assert [(r.ret, r.order, r.nid) for r in faults] == [(0, HPAGE_PMD_ORDER, nxt)] * 2
        assert count_nodes(m, THP_BASE, 2 * huge // PAGE_SIZE) == {nxt: 2 * huge // PAGE_SIZE}
        assert m.munmap(THP_BASE, 2 * huge).ret == 0


SHM_BASE = 0x400000  # where each numactl process attaches the object
SHM_OBJECT = 1  # its inode number
MIB = 2  # pages per MiB of shmtest's sizes, scaled


def shm_verify(m, task, start, pages, mode, nodes):
    """numactl --verify (verify_shm): every page of the piece reports the mode and mask; an interleaved
    piece's pages go round the mask from its first page's node, a bound or preferred piece's pages are
    in the mask. Each page is first read, as verify's get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) faults it."""
    on = []
    for i in range(pages):
        addr = start + i * PAGE_SIZE
        assert m.fault(addr, task=task, write=False).ret == 0
        r = m.get_mempolicy(MPOL_F_ADDR, addr, task=task)
        assert (r.ret, r.policy, r.nodes) == (0, mode, frozenset(nodes))
        on.append(node_of(m, addr, task))
    if mode == MPOL_INTERLEAVE:
        ordered = sorted(nodes)
        first = ordered.index(on[0])
        assert on == [ordered[(first + i) % len(ordered)] for i in range(pages)]
    else:
        assert set(on) <= set(nodes)
    return on


def test_shmtest_policies_on_pieces_of_a_shared_object_verify():
    """numactl test/shmtest, basictest with --shm (System V shared memory) and with --file on tmpfs: a
    20 MiB object is made, then three numactl processes each attach it and set, with --strict, the policy
    of one 2 MiB piece (--interleave=0,1 at 2 MiB, --membind=1 at 4 MiB, --preferred=1 at 6 MiB) and
    --verify it: the policy is the object's, so each check passes, and the bound and preferred pieces'
    pages are on node 1. Both objects are shmem in 4.19; the model makes them with MAP_SHARED|
    MAP_ANONYMOUS, kept alive by the first task's mapping as the segment or file outlives numactl.
    """
    m = numa_machine(2)
    length = 20 * MIB * PAGE_SIZE
    m.mmap_shared(SHM_BASE, length, SHM_OBJECT)  # numactl --length=20m: makes the object
    pieces = ((2, MPOL_INTERLEAVE, {0, 1}), (4, MPOL_BIND, {1}), (6, MPOL_PREFERRED, {1}))
    for task, (offset, mode, nodes) in enumerate(pieces, start=1):
        m.add_task(task)
        m.mmap_shared(SHM_BASE, length, SHM_OBJECT, task=task)
        start = SHM_BASE + offset * MIB * PAGE_SIZE
        assert m.mbind(start, 2 * MIB * PAGE_SIZE, mode, nodes, flags=MPOL_MF_STRICT, task=task).ret == 0
        on = shm_verify(m, task, start, 2 * MIB, mode, nodes)
        if mode != MPOL_INTERLEAVE:
            assert set(on) == {1}
        assert m.munmap(SHM_BASE, length, task=task).ret == 0
    for offset, mode, nodes in pieces:  # the policies outlive the processes that set them
        shm_verify(m, 0, SHM_BASE + offset * MIB * PAGE_SIZE, 2 * MIB, mode, nodes)
