"""Zonelists and their iterators (mm/page_alloc.c build_zonelists, mm/mmzone.c, mmzone.h; 4.19).

`build_all_zonelists` runs at boot over the online nodes in ascending id,
with the node_load[] carry-over that makes tie-breaking depend on that order.
Every node gets ZONELIST_FALLBACK (all nodes in fallback order, zones highest
first within a node) and, with NUMA, ZONELIST_NOFALLBACK (its own zones).

Abstracted away: node hotplug (zonelists are built once); the non-NUMA
round-robin append of other nodes, which cannot occur with one node;
`page_group_by_mobility_disabled` is decided here as 4.19 does unless the
topology forces it.
"""

from .constants import MAX_NR_ZONES, MIGRATE_TYPES, PENALTY_FOR_NODE_WITH_CPUS, WMARK_HIGH, ZONE_MOVABLE
from .kernel import kernel_function
from .mmzone import Zoneref, managed_zone


@kernel_function
def check_highest_zone(k, zone_idx):
    """check_highest_zone(): policy_zone is the highest non-movable zone type in any zonelist."""
    if zone_idx > k.policy_zone and zone_idx != ZONE_MOVABLE:
        k.policy_zone = zone_idx


@kernel_function
def build_zonerefs_node(k, pgdat):
    """build_zonerefs_node(): the node's managed zones, highest zone index first."""
    refs = []
    for zone_type in range(MAX_NR_ZONES - 1, -1, -1):
        zone = pgdat.node_zones[zone_type]
        if managed_zone(zone):
            refs.append(Zoneref(zone))
            k.check_highest_zone(zone_type)
    return refs


def node_has_memory(pgdat):
    """node_state(n, N_MEMORY): the node has present pages in some zone."""
    return any(z.present_pages > 0 for z in pgdat.node_zones)


@kernel_function
def find_next_best_node(k, node, used_node_mask):
    """find_next_best_node(): the nearest unused node with memory, preferring higher ids and CPU-less nodes."""
    if node not in used_node_mask:
        used_node_mask.add(node)
        return node
    best_node = None
    min_val = None
    nr_online = len(k.node_data)
    for pgdat in k.node_data:
        n = pgdat.node_id
        if not node_has_memory(pgdat) or n in used_node_mask:
            continue
        val = k.topology.node_distance(node, n)
        val += 1 if n < node else 0
        if pgdat.cpus:
            val += PENALTY_FOR_NODE_WITH_CPUS
        val *= nr_online * k.topology.max_numnodes
        val += k.node_load[n]
        if min_val is None or val < min_val:
            min_val = val
            best_node = n
    if best_node is not None:
        used_node_mask.add(best_node)
    return best_node


@kernel_function
def build_zonelists(k, pgdat):
    """build_zonelists() (NUMA): node order by find_next_best_node, then each node's zonerefs."""
    local_node = pgdat.node_id
    load = len(k.node_data)
    prev_node = local_node
    used = set()
    node_order = []
    while True:
        node = k.find_next_best_node(local_node, used)
        if node is None:
            break
        dist = k.topology.node_distance
        if dist(local_node, node) != dist(local_node, prev_node):
            k.node_load[node] = load  # 4.19 assigns rather than adds
        node_order.append(node)
        prev_node = node
        load -= 1
    fallback = []
    for node in node_order:
        fallback.extend(k.build_zonerefs_node(k.pgdat(node)))
    fallback.append(Zoneref(None))
    pgdat.node_zonelists[0] = fallback
    if k.topology.numa:
        pgdat.node_zonelists[1] = k.build_zonerefs_node(pgdat) + [Zoneref(None)]
    else:
        pgdat.node_zonelists[1] = fallback
    return node_order


@kernel_function
def build_all_zonelists(k):
    """build_all_zonelists()/__build_all_zonelists(): every online node in ascending id, node_load reset first."""
    k.node_load = {p.node_id: 0 for p in k.node_data}
    k.policy_zone = 0
    for pgdat in k.node_data:
        k.build_zonelists(pgdat)
    forced = k.topology.page_group_by_mobility_disabled
    if forced is not None:
        k.page_group_by_mobility_disabled = forced
    else:
        vm_total_pages = sum(
            max(0, z.managed_pages - z.watermark[WMARK_HIGH]) for p in k.node_data for z in p.node_zones
        )
        k.page_group_by_mobility_disabled = vm_total_pages < (1 << k.pageblock_order) * MIGRATE_TYPES


@kernel_function
def __next_zones_zonelist(k, zonelist, z, highest_zoneidx, nodes):
    """__next_zones_zonelist() (next_zones_zonelist()): advance the cursor past unsuitable entries."""
    while True:
        ref = zonelist[z]
        if ref.zone_idx > highest_zoneidx:
            z += 1
            continue
        if nodes is not None and ref.zone is not None and ref.zone.nid not in nodes:
            z += 1
            continue
        return z


@kernel_function
def first_zones_zonelist(k, zonelist, highest_zoneidx, nodes):
    """first_zones_zonelist(): the index of the first suitable zoneref (possibly the terminator)."""
    return k.__next_zones_zonelist(zonelist, 0, highest_zoneidx, nodes)


def zonelist_zones(k, zonelist, highest_zoneidx, nodes, start=0):
    """for_each_zone_zonelist_nodemask()/for_next_zone_zonelist_nodemask() as a generator of zones."""
    z = k.__next_zones_zonelist(zonelist, start, highest_zoneidx, nodes)
    while zonelist[z].zone is not None:
        yield zonelist[z].zone
        z = k.__next_zones_zonelist(zonelist, z + 1, highest_zoneidx, nodes)


def zonelist_cursor(k, zonelist, highest_zoneidx, nodes, start=0):
    """The same walk, yielding (cursor, zone) so a caller can remember where a zone was found."""
    z = k.__next_zones_zonelist(zonelist, start, highest_zoneidx, nodes)
    while zonelist[z].zone is not None:
        yield z, zonelist[z].zone
        z = k.__next_zones_zonelist(zonelist, z + 1, highest_zoneidx, nodes)
