"""Test helpers for page migration: machines of two or three nodes of 16 pages whose tasks map faulted pages.

Tests import this module as `from helpers_migration import ...` (tests/ is on sys.path, as for
helpers_state). Node n holds pfns 16n..16n+15; watermarks are 0 and the per-cpu lists keep nothing,
so which page a fault or a migration takes, and which it frees, is exactly known.
"""

from numa_machines import free_pages, nodes_topology

from buddycheck.model import Kernel419
from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.gfp import __GFP_THISNODE, GFP_KERNEL

topology = nodes_topology  # the name the migration tests use
__all__ = ["BASE", "faulted", "fill_node", "free_pages", "migrated", "pfns", "topology"]

BASE = 0x100000  # where the helpers map task 0's VMA


def faulted(pages, model=Kernel419, nodes=2):
    """A machine whose task 0 maps `pages` pages at BASE, written from CPU 0: pfns 12, 13, ... on node 0."""
    m = model(topology(nodes=nodes))
    m.mmap(BASE, 4 * PAGE_SIZE)
    for i in range(pages):
        m.fault(BASE + i * PAGE_SIZE)
    return m


def pfns(m, task=0):
    return [pfn for _, pfn, _ in m.tasks[task].page_table]


def fill_node(m, nid, leave=0):
    """Allocate node nid's pages (from its CPU, which is nid) until `leave` are free there."""
    zone = next(z for z in m.populated_zones if z.nid == nid)
    while zone.nr_free_pages > leave:
        assert m.alloc_pages(GFP_KERNEL | __GFP_THISNODE, 0, cpu=nid).page is not None


def migrated(result):
    return [dict(e.detail) for e in result.events if e.kind == "mm_migrate_pages"]
