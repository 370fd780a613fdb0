"""LTP's set_mempolicy tests stated against the model (catalogue: tests/ltp_expectations.py).

Each test runs the steps of its LTP counterpart on a 3-node machine with 64 pages per node and asserts
the counts LTP asserts: set a task policy, map an anonymous range, write every page, count the pages
per node with get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR), unmap. LTP passes maxnode as the libnuma mask's
size plus one; the model's default maxnode (MAX_NUMNODES + 1) is that value. LTP forks after
set_mempolicy and runs the count in the child and then in the parent: the parent's half and the
child's half are tests of their own.
"""

import pytest
from ltp_helpers import fork_child, map_fault_count, numa_machine, per_node

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
