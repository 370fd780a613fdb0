"""Small machines and the steps the LTP and numactl NUMA tests take, written against the model.

The suites run on a real machine with at least two memory nodes; the machines here are NUMA machines
of one ZONE_NORMAL per node and one CPU per node (CPU n on node n), with watermarks of 0 and per-cpu
lists that hold no page, so every page a fault takes comes straight from buddy and every count in a
test follows from the policy alone. `map_fault_count` is what LTP's alloc_fault_count does: map an
anonymous range, write every page, ask get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) for the node of each
page, unmap the range.
"""

from collections import Counter

from numa_machines import machine

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.mempolicy import MPOL_F_ADDR, MPOL_F_NODE

BASE = 0x100000  # where the tests map their ranges (any page-aligned user address would do)


def numa_machine(nodes=2, pages_per_node=64, **kw):
    return machine(pages_per_node, nodes, **kw)


def node_of(m, addr, task=0):
    """get_mempolicy(&node, NULL, 0, addr, MPOL_F_NODE|MPOL_F_ADDR): the node of the page at addr."""
    r = m.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, addr, want_nodes=False, task=task)
    assert r.ret == 0, str(r)
    return r.policy


def fault_range(m, start, pages, task=0, cpu=None):
    """Write one byte of every page of [start, start + pages pages), as memset does; every fault succeeds."""
    for i in range(pages):
        r = m.fault(start + i * PAGE_SIZE, task=task, cpu=cpu)
        assert r.ret == 0, str(r)


def count_nodes(m, start, pages, task=0):
    """Pages of the range per node, counted with get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR)."""
    return Counter(node_of(m, start + i * PAGE_SIZE, task) for i in range(pages))


def fault_count_unmap(m, pages, start=BASE, task=0, cpu=None):
    """Write every page of a mapped range, count its pages per node, munmap it: a {node: pages} dict."""
    fault_range(m, start, pages, task, cpu)
    counts = count_nodes(m, start, pages, task)
    assert m.munmap(start, pages * PAGE_SIZE, task=task).ret == 0
    return dict(counts)


def map_fault_count(m, pages, start=BASE, task=0, cpu=None):
    """LTP's alloc_fault_count: mmap, write every page, count the pages per node, munmap."""
    m.mmap(start, pages * PAGE_SIZE, task=task)
    return fault_count_unmap(m, pages, start, task, cpu)


def fork_child(m, task=0):
    """fork() by task: the child's id (SAFE_FORK, which fails the test when fork fails)."""
    r = m.fork(task)
    assert r.ret > 0, str(r)
    return r.ret


def per_node(counts, nodes):
    """The counts as a tuple over node ids 0..nodes-1, zeros included: what the suites compare."""
    return tuple(counts.get(n, 0) for n in range(nodes))


def free_pages(m, nid):
    """Free pages of node nid: in buddy and on the per-cpu lists of its zones."""
    return sum(z.nr_free_pages + sum(p.count for p in z.pageset.values())
               for z in m.populated_zones if z.nid == nid)
