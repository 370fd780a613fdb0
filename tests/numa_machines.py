"""Small NUMA machines for the tests of the process side (faults, fork, shmem, migration, the LTP rows):
`nodes` nodes of one ZONE_NORMAL each, CPU n on node n, no watermarks, per-cpu lists that hold nothing."""

from buddycheck.model import Kernel419
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.topology import NodeSpec, Topology, ZoneSpec


def nodes_topology(pages_per_node=16, nodes=2, max_order=3, pageblock_order=2):
    zone = dict(watermarks=(0, 0, 0), pcp_high_batch=(0, 1))
    return Topology(
        nodes=tuple(NodeSpec(n, (n,), (ZoneSpec(ZONE_NORMAL, n * pages_per_node, pages_per_node, **zone),))
                    for n in range(nodes)),
        max_order=max_order, pageblock_order=pageblock_order, page_group_by_mobility_disabled=False)


def machine(pages_per_node=16, nodes=2, **kw):
    return Kernel419(nodes_topology(pages_per_node, nodes, **kw))


def free_pages(m):
    """Pages in buddy and on per-cpu lists, over every zone."""
    return sum(z.nr_free_pages + sum(p.count for p in z.pageset.values()) for z in m.populated_zones)
