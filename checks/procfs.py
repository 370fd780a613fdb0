"""The kernel's own text views of a machine state, in 4.19's formats (mm/vmstat.c, drivers/base/node.c).

One function per file, each taking a booted machine (`Kernel419` or a variant) in any state:
`buddyinfo` (/proc/buddyinfo), `pagetypeinfo` (/proc/pagetypeinfo), `zoneinfo` (/proc/zoneinfo) and
`numastat` (/sys/devices/system/node/nodeN/numastat, one node). The layouts follow the kernel's
seq_printf formats field for field; what the model does not have is left out, not invented:

- pagetypeinfo: the "Number of mixed blocks" table (needs CONFIG_PAGE_OWNER).
- zoneinfo: the per-node stats block (the model keeps no node LRU or writeback counters); every zone
  counter but nr_free_pages and nr_free_cma (nr_zone_*_anon/file, nr_mlock, nr_page_table_pages,
  nr_kernel_stack, nr_bounce, nr_zspages, nr_zone_write_pending); the per-CPU "vm stats threshold"
  (counters are exact here); node_unreclaimable (no reclaim is modelled). The NUMA counters are the
  model's (numa_hit ... numa_other), read from the machine's statistics.
- Zone types the topology does not configure are absent, as in a kernel built without them, and the
  protection array lists the configured types only.
"""

from buddycheck.model.constants import MIGRATE_TYPES, MIGRATETYPE_NAMES, WMARK_HIGH, WMARK_LOW, WMARK_MIN

# vmstat_text's names of the NUMA counters, with the model's statistics key for each
NUMA_STAT_ITEMS = (("numa_hit", "numa_hit"), ("numa_miss", "numa_miss"), ("numa_foreign", "numa_foreign"),
                   ("numa_interleave", "numa_interleave_hit"), ("numa_local", "numa_local"),
                   ("numa_other", "numa_other"))
# drivers/base/node.c's names for the same counters, in its order
NUMASTAT_NAMES = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")


def _configured_zones(m, pgdat):
    """The node's zones of the configured types, lowest first (the kernel's node_zones array)."""
    configured = m.topology.configured_zones
    return [z for z in pgdat.node_zones if z.idx in configured]


def _populated_zones(m, pgdat):
    return [z for z in _configured_zones(m, pgdat) if z.present_pages]


def _node_has_memory(m, pgdat):
    """node_state(nid, N_MEMORY)."""
    return any(z.present_pages for z in pgdat.node_zones)


def buddyinfo(m):
    """/proc/buddyinfo (frag_show_print): free blocks per order of every populated zone."""
    lines = []
    for pgdat in m.node_data:
        for zone in _populated_zones(m, pgdat):
            counts = "".join(f"{area.nr_free:6d} " for area in zone.free_area)
            lines.append(f"Node {pgdat.node_id}, zone {zone.name:>8} {counts}")
    return "".join(line + "\n" for line in lines)


def _pageblock_counts(m, zone):
    """pagetypeinfo_showblockcount_print(): pageblocks of each type, stepping from the zone's start."""
    count = [0] * MIGRATE_TYPES
    for pfn in range(zone.zone_start_pfn, zone.zone_end_pfn, m.pageblock_nr_pages):
        if m.page_zone(pfn) is zone:
            count[m.get_pageblock_migratetype(pfn)] += 1
    return count


def pagetypeinfo(m):
    """/proc/pagetypeinfo (pagetypeinfo_show): free lists' lengths per type and order, pageblocks per type.

    The kernel prints the whole block once per node with memory.
    """
    out = []
    for pgdat in m.node_data:
        if not _node_has_memory(m, pgdat):
            continue
        out.append(f"Page block order: {m.pageblock_order}\n")
        out.append(f"Pages per block:  {m.pageblock_nr_pages}\n\n")
        header = f"{'Free pages count per migrate type at order':<43} "
        out.append(header + "".join(f"{order:6d} " for order in range(m.MAX_ORDER)) + "\n")
        for zone in _populated_zones(m, pgdat):
            for mt in range(MIGRATE_TYPES):
                counts = "".join(f"{len(area.free_list[mt]):6d} " for area in zone.free_area)
                out.append(f"Node {pgdat.node_id:4d}, zone {zone.name:>8}, type {MIGRATETYPE_NAMES[mt]:>12} {counts}\n")
        out.append(f"\n{'Number of blocks type ':<23}" + "".join(f"{name:>12} " for name in MIGRATETYPE_NAMES) + "\n")
        for zone in _populated_zones(m, pgdat):
            counts = "".join(f"{c:12d} " for c in _pageblock_counts(m, zone))
            out.append(f"Node {pgdat.node_id}, zone {zone.name:>8} {counts}\n")
    return "".join(out)


def _zoneinfo_zone(m, pgdat, zone):
    """zoneinfo_show_print() for one zone (populated or not)."""
    configured = sorted(m.topology.configured_zones)
    out = [f"Node {pgdat.node_id}, zone {zone.name:>8}",
           f"\n  pages free     {zone.nr_free_pages}",
           f"\n        min      {zone.watermark[WMARK_MIN]}",
           f"\n        low      {zone.watermark[WMARK_LOW]}",
           f"\n        high     {zone.watermark[WMARK_HIGH]}",
           f"\n        spanned  {zone.spanned_pages}",
           f"\n        present  {zone.present_pages}",
           f"\n        managed  {zone.managed_pages}",
           "\n        protection: (" + ", ".join(str(zone.lowmem_reserve[i]) for i in configured) + ")"]
    if not zone.present_pages:
        return "".join(out) + "\n"
    for name, value in (("nr_free_pages", zone.nr_free_pages), ("nr_free_cma", zone.nr_free_cma_pages)):
        out.append(f"\n      {name:<12} {value}")
    for name, key in NUMA_STAT_ITEMS:
        out.append(f"\n      {name:<12} {m.stats.get(zone.nid, zone.idx, key)}")
    out.append("\n  pagesets")
    for cpu in m.topology.cpus:
        pcp = zone.pageset[cpu]
        out.append(f"\n    cpu: {cpu}"
                   f"\n              count: {pcp.count}"
                   f"\n              high:  {pcp.high}"
                   f"\n              batch: {pcp.batch}")
    out.append(f"\n  start_pfn:           {zone.zone_start_pfn}\n")
    return "".join(out)


def zoneinfo(m):
    """/proc/zoneinfo (zoneinfo_show): every configured zone of every node, populated or not."""
    return "".join(_zoneinfo_zone(m, pgdat, zone) for pgdat in m.node_data for zone in _configured_zones(m, pgdat))


def numastat(m, nid):
    """/sys/devices/system/node/node<nid>/numastat (node_read_numastat): the node's zones' counters summed."""
    values = [m.stats.node(nid, key) for _, key in NUMA_STAT_ITEMS]
    return "".join(f"{name} {value}\n" for name, value in zip(NUMASTAT_NAMES, values, strict=True))


def all_numastat(m):
    """numastat of every node, each under a line naming its sysfs file."""
    return "".join(f"/sys/devices/system/node/node{p.node_id}/numastat\n{numastat(m, p.node_id)}" for p in m.node_data)


VIEWS = {
    "buddyinfo": buddyinfo,
    "pagetypeinfo": pagetypeinfo,
    "zoneinfo": zoneinfo,
    "numastat": all_numastat,
}
