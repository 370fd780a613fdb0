"""The allocator's data structures (include/linux/mmzone.h): zones, free areas, per-cpu pages, nodes.

Each object holds exactly what can influence a future step of the allocator.
Static fields (set at boot) and dynamic fields (changed by allocation and
free) are kept apart so that a machine can freeze its dynamic part alone.

Abstracted away: struct page as a whole. Per-page state lives in the
machine's maps (PageBuddy and its order, the pcp migratetype cache, allocated
blocks); a free list holds head pfns, index 0 being the list head.
percpu_drift_mark and the per-cpu vmstat deltas (counters here are exact).
"""

from .constants import MIGRATE_PCPTYPES, MIGRATE_TYPES, ZONE_NAMES


class FreeArea:
    """struct free_area: one free list per migratetype (head first) and nr_free, in blocks."""

    __slots__ = ("free_list", "nr_free")

    def __init__(self):
        self.free_list = [[] for _ in range(MIGRATE_TYPES)]
        self.nr_free = 0


class PerCpuPages:
    """struct per_cpu_pages: order-0 lists of the three pcp migratetypes, count, high, batch."""

    __slots__ = ("count", "high", "batch", "lists")

    def __init__(self, high, batch):
        self.count = 0
        self.high = high
        self.batch = batch
        self.lists = [[] for _ in range(MIGRATE_PCPTYPES)]


class Zone:
    """struct zone: static geometry and limits, dynamic free areas and counters."""

    def __init__(self, nid, idx, start_pfn, spanned, managed, max_order):
        # static
        self.nid = nid
        self.idx = idx
        self.zone_start_pfn = start_pfn
        self.spanned_pages = spanned
        self.present_pages = spanned
        self.managed_pages = managed
        self.watermark = [0, 0, 0]
        self.lowmem_reserve = [0] * len(ZONE_NAMES)
        self.pcp_high = 0
        self.pcp_batch = 1
        # dynamic
        self.free_area = [FreeArea() for _ in range(max_order)]
        self.nr_free_pages = 0  # NR_FREE_PAGES
        self.nr_free_cma_pages = 0  # NR_FREE_CMA_PAGES
        self.nr_reserved_highatomic = 0
        self.nr_isolate_pageblock = 0
        self.pageset = {}  # cpu -> PerCpuPages

    @property
    def name(self):
        return ZONE_NAMES[self.idx]

    @property
    def zone_end_pfn(self):
        return self.zone_start_pfn + self.spanned_pages

    def __repr__(self):
        return f"<zone node {self.nid} {self.name} pfn {self.zone_start_pfn}..{self.zone_end_pfn - 1}>"

    def label(self):
        return f"node {self.nid} zone {self.name}"


def managed_zone(zone):
    """managed_zone(): the zone has pages the buddy allocator manages."""
    return zone.managed_pages > 0


def populated_zone(zone):
    """populated_zone(): the zone has present pages."""
    return zone.present_pages > 0


def zone_spans_pfn(zone, pfn):
    """zone_spans_pfn(): pfn lies in the zone's span."""
    return zone.zone_start_pfn <= pfn < zone.zone_end_pfn


def has_isolate_pageblock(zone):
    """has_isolate_pageblock(): some pageblock of the zone is isolated."""
    return zone.nr_isolate_pageblock > 0


class Zoneref:
    """struct zoneref: a zone and its index; the terminator has zone None and index 0."""

    __slots__ = ("zone", "zone_idx")

    def __init__(self, zone):
        self.zone = zone
        self.zone_idx = zone.idx if zone is not None else 0

    def __repr__(self):
        return "<zoneref end>" if self.zone is None else f"<zoneref {self.zone.label()}>"


class PglistData:
    """pg_data_t: a node's zones (all MAX_NR_ZONES types, unpopulated ones empty) and zonelists."""

    # the kswapd wake-up request of the current operation: reset by each operation (see model/machine.py)
    OBSERVATIONS = frozenset({"kswapd_order", "kswapd_classzone_idx"})

    def __init__(self, nid, zones, cpus):
        self.node_id = nid
        self.node_zones = zones
        self.cpus = cpus
        self.node_zonelists = [[], []]  # ZONELIST_FALLBACK, ZONELIST_NOFALLBACK (lists of Zoneref)
        self.totalreserve_pages = 0
        self.min_unmapped_pages = 0
        self.min_slab_pages = 0
