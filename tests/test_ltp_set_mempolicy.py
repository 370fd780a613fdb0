"""LTP's set_mempolicy tests stated against the model (catalogue: tests/ltp_expectations.py).

Each test runs the steps of its LTP counterpart on a 3-node machine with 64 pages per node and asserts
the counts LTP asserts: set a task policy, map an anonymous range, write every page, count the pages
per node with get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR), unmap. LTP passes maxnode as the libnuma mask's
size plus one; the model's default maxnode (MAX_NUMNODES + 1) is that value. LTP forks after
set_mempolicy and runs the count in the child and then in the parent: the parent's half and the
child's half are tests of their own.
"""

import pytest
from ltp_helpers import fault_count_unmap, fork_child, map_fault_count, numa_machine, per_node

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED

NODES = 3
PAGES_ALLOCATED = 16  # set_mempolicy01's count


def alone_on(node, pages=PAGES_ALLOCATED):
    """`pages` on node, none on any other node: what set_mempolicy01 and mbind04 expect."""
    return tuple(pages if n == node else 0 for n in range(NODES))


@pytest.mark.parametrize("mode", [pytest.param(MPOL_BIND, id="bind"), pytest.param(MPOL_PREFERRED, id="preferred")])
def test_set_mempolicy01_each_node_in_turn_gets_all_16_pages(mode):
    """LTP set_mempolicy01 (the parent's half): for every memory node n in turn, set_mempolicy(mode, {n})
    returns 0, and 16 pages written afterwards are all on n, none elsewhere.

    The writes run on the CPU of the next node, so a local allocation would be seen as a wrong count.
    """
    m = numa_machine(NODES)
    for node in range(NODES):
        assert m.set_mempolicy(mode, {node}).ret == 0
        counts = map_fault_count(m, PAGES_ALLOCATED, cpu=(node + 1) % NODES)
        assert per_node(counts, NODES) == alone_on(node)


@pytest.mark.parametrize("mode", [pytest.param(MPOL_BIND, id="bind"), pytest.param(MPOL_PREFERRED, id="preferred")])
def test_set_mempolicy01_the_forked_child_gets_the_same_16_pages(mode):
    """LTP set_mempolicy01 (the child's half): the child forked after set_mempolicy(mode, {n}) inherits
    the task policy; its own 16 pages, written and counted first, are all on n; the parent's then too.
    """
    m = numa_machine(NODES)
    for node in range(NODES):
        assert m.set_mempolicy(mode, {node}).ret == 0
        child = fork_child(m)
        assert per_node(map_fault_count(m, PAGES_ALLOCATED, task=child), NODES) == alone_on(node)
        assert per_node(map_fault_count(m, PAGES_ALLOCATED), NODES) == alone_on(node)


@pytest.mark.parametrize("on_nodes, per_node_pages", [
    pytest.param(NODES, 2, id="all-nodes-2-each"),
    pytest.param(2, 8, id="first-2-nodes-8-each"),
])
def test_set_mempolicy02_interleave_gives_each_node_its_share(on_nodes, per_node_pages):
    """LTP set_mempolicy02 (the parent's half): MPOL_INTERLEAVE over every memory node, 2 pages per node
    written, lands exactly 2 on each; over the first 2 nodes, 16 pages land 8 on each and 0 elsewhere.
    """
    m = numa_machine(NODES)
    assert m.set_mempolicy(MPOL_INTERLEAVE, set(range(on_nodes))).ret == 0
    counts = map_fault_count(m, per_node_pages * on_nodes)
    assert per_node(counts, NODES) == tuple(per_node_pages if n < on_nodes else 0 for n in range(NODES))


@pytest.mark.parametrize("on_nodes, per_node_pages", [
    pytest.param(NODES, 2, id="all-nodes-2-each"),
    pytest.param(2, 8, id="first-2-nodes-8-each"),
])
def test_set_mempolicy02_the_forked_child_interleaves_the_same(on_nodes, per_node_pages):
    """LTP set_mempolicy02 (the child's half): the child forked after set_mempolicy(MPOL_INTERLEAVE)
    writes and counts its pages first, with the same counts as the parent: 2 on every node, or 8 on
    each of the first two and 0 on the third. Interleave on a mapping goes by page offset, so the child's
    pages and then the parent's land alike.
    """
    m = numa_machine(NODES)
    assert m.set_mempolicy(MPOL_INTERLEAVE, set(range(on_nodes))).ret == 0
    child = fork_child(m)
    expected = tuple(per_node_pages if n < on_nodes else 0 for n in range(NODES))
    assert per_node(map_fault_count(m, per_node_pages * on_nodes, task=child), NODES) == expected
    assert per_node(map_fault_count(m, per_node_pages * on_nodes), NODES) == expected


FILE_INO = 3  # set_mempolicy03's and 04's files, as inode numbers of the model's named files
FILE_BASE = 0x100000


@pytest.mark.parametrize("mode", [pytest.param(MPOL_BIND, id="bind"), pytest.param(MPOL_PREFERRED, id="preferred")])
def test_set_mempolicy03_file_pages_follow_the_task_policy_to_the_node(mode):
    """LTP set_mempolicy03: for every memory node n, set_mempolicy(mode, {n}), then 16 pages of a file
    mapped MAP_SHARED and written: all 16 are on n (the page cache is allocated with the task policy).
    The model has no filesystems: one named file stands for the suite's file on each of them.
    """
    m = numa_machine(NODES)
    for node in range(NODES):
        ino = FILE_INO + node  # a new file each time: its page cache starts empty
        assert m.set_mempolicy(mode, {node}).ret == 0
        m.mmap_file(FILE_BASE, PAGES_ALLOCATED * PAGE_SIZE, ino, shared=True)
        counts = fault_count_unmap(m, PAGES_ALLOCATED, start=FILE_BASE, cpu=(node + 1) % NODES)
        assert per_node(counts, NODES) == alone_on(node)


def test_set_mempolicy04_file_pages_interleave_over_every_node():
    """LTP set_mempolicy04: MPOL_INTERLEAVE over every memory node, then for i in 1..10 and j in 1..N a
    file of 10 i + j % 10 pages mapped MAP_SHARED and written (1130 pages on 2 nodes): each node holds
    strictly within total/N +- total/60 of the pages and their sum is the total. The page cache is
    allocated by the task's interleave counter, which goes on from file to file, so the model splits
    them exactly: 565 and 565.
    """
    nodes = 2
    m = numa_machine(nodes, pages_per_node=1024, max_order=10, pageblock_order=9)
    assert m.set_mempolicy(MPOL_INTERLEAVE, set(range(nodes))).ret == 0
    total = {n: 0 for n in range(nodes)}
    ino = FILE_INO
    for i in range(1, 11):
        for j in range(1, nodes + 1):
            pages = 10 * i + j % 10
            m.mmap_file(FILE_BASE, pages * PAGE_SIZE, ino, shared=True)
            ino += 1
            for node, count in fault_count_unmap(m, pages, start=FILE_BASE).items():
                total[node] += count
    expected = sum(10 * i + j % 10 for i in range(1, 11) for j in range(1, nodes + 1))
    assert sum(total.values()) == expected == 1130
    assert all(expected / nodes - expected / 60 < total[n] < expected / nodes + expected / 60 for n in range(nodes))
    assert total == {0: 565, 1: 565}
