"""The machine's shape: nodes, distances, CPUs, zones and sysctls (configuration data).

A `Topology` is immutable data; a machine is built from it. Every field the
kernel computes at boot (watermarks, lowmem_reserve, pcp high/batch) may be
given explicitly, or left as None to be computed the way 4.19 computes it.
The sysctls here are the values at boot; `m.sysctl(name, value)` writes them
at run time (model/sysctl.py), and the machine, not its topology, holds them.

Abstracted away: memory holes inside a zone (spanned == present == managed
unless `managed` is given smaller, in which case the unmanaged pages are the
zone's highest pfns and never enter the buddy allocator); memory hotplug;
node and CPU hotplug.
"""

from dataclasses import dataclass

from .constants import LOCAL_DISTANCE, MAX_NR_ZONES, REMOTE_DISTANCE, ZONE_HIGHMEM, ZONE_MOVABLE, ZONE_NAMES
from .errors import ConfigError
from .gfp import DEFAULT_CONFIGURED_ZONES


@dataclass(frozen=True)
class ZoneSpec:
    """One zone of a node: its type, first pfn and size in pages."""

    zone_type: int
    start_pfn: int
    pages: int
    managed: int | None = None  # defaults to pages
    watermarks: tuple[int, int, int] | None = None  # (min, low, high); None: computed
    lowmem_reserve: tuple[int, ...] | None = None  # MAX_NR_ZONES entries; None: computed
    pcp_high_batch: tuple[int, int] | None = None  # None: zone_batchsize()
    cma_pageblocks: tuple[int, ...] = ()  # pageblock indexes (pfn >> pageblock_order) marked CMA

    @property
    def managed_pages(self):
        return self.pages if self.managed is None else self.managed

    @property
    def end_pfn(self):
        return self.start_pfn + self.pages

    @property
    def name(self):
        return ZONE_NAMES[self.zone_type]


@dataclass(frozen=True)
class NodeSpec:
    """One NUMA node: its id, CPUs and zones (lowest zone type first)."""

    nid: int
    cpus: tuple[int, ...]
    zones: tuple[ZoneSpec, ...]


@dataclass(frozen=True)
class Topology:
    """A whole machine. Small ones are the point: 8 to 64 pages per zone show most bugs."""

    nodes: tuple[NodeSpec, ...]
    distances: tuple[tuple[int, ...], ...] | None = None  # None: 10 local, 20 remote
    max_order: int = 11
    pageblock_order: int = 9
    configured_zones: frozenset = DEFAULT_CONFIGURED_ZONES
    min_free_kbytes: int | None = None  # None: init_per_zone_wmark_min()
    watermark_scale_factor: int = 10
    lowmem_reserve_ratio: tuple[int, ...] = (256, 256, 32, 0, 0)
    percpu_pagelist_fraction: int = 0
    page_group_by_mobility_disabled: bool | None = None  # None: decided as build_all_zonelists does
    node_reclaim_mode: int = 0
    numa: bool = True
    max_numnodes: int = 64
    cpusets_enabled: bool = False
    memcg_kmem_enabled: bool = False
    gfp_allowed_mask: int | None = None  # None: __GFP_BITS_MASK (after boot)
    name: str = "custom"

    def __post_init__(self):
        validate_topology(self)

    @property
    def node_ids(self):
        return tuple(n.nid for n in self.nodes)

    def node_distance(self, a, b):
        """node_distance(): the SLIT entry, or 10/20 when no table is given."""
        if self.distances is None:
            return LOCAL_DISTANCE if a == b else REMOTE_DISTANCE
        ia = self.node_ids.index(a)
        ib = self.node_ids.index(b)
        return self.distances[ia][ib]

    def cpu_to_node(self, cpu):
        for node in self.nodes:
            if cpu in node.cpus:
                return node.nid
        raise ConfigError(f"cpu {cpu} is on no node")

    @property
    def cpus(self):
        return tuple(sorted(c for n in self.nodes for c in n.cpus))

    @property
    def max_pfn(self):
        return max((z.end_pfn for n in self.nodes for z in n.zones), default=0)


def validate_topology(t):
    """Reject an impossible machine with a message naming the field and the value."""
    if not t.nodes:
        raise ConfigError("topology: nodes: at least one node is needed")
    if not 1 <= t.max_order <= 20:
        raise ConfigError(f"topology: max_order = {t.max_order}: must be between 1 and 20")
    if not 0 <= t.pageblock_order <= t.max_order - 1:
        raise ConfigError(
            f"topology: pageblock_order = {t.pageblock_order}: must be between 0 and max_order-1 = {t.max_order - 1}"
        )
    if not 1 <= t.max_numnodes <= 1024:
        raise ConfigError(f"topology: max_numnodes = {t.max_numnodes}: must be between 1 and 1024")
    nids = [n.nid for n in t.nodes]
    if len(set(nids)) != len(nids):
        raise ConfigError(f"topology: nodes: node ids {nids} are not distinct")
    if nids != sorted(nids):
        raise ConfigError(f"topology: nodes: node ids {nids} must be listed in ascending order")
    for nid in nids:
        if not 0 <= nid < t.max_numnodes:
            raise ConfigError(f"topology: node id {nid} is outside 0..max_numnodes-1 = {t.max_numnodes - 1}")
    cpus = [c for n in t.nodes for c in n.cpus]
    if len(set(cpus)) != len(cpus):
        raise ConfigError(f"topology: cpus {cpus}: a cpu is on two nodes")
    if any(c < 0 for c in cpus):
        raise ConfigError(f"topology: cpus {cpus}: cpu ids must be non-negative")
    if not cpus:
        raise ConfigError("topology: no node has a cpu")
    spans = []
    for n in t.nodes:
        types = [z.zone_type for z in n.zones]
        if types != sorted(set(types)):
            raise ConfigError(f"node {n.nid}: zones {[ZONE_NAMES[x] for x in types]} must be distinct, lowest first")
        prev_end = None
        for z in n.zones:
            where = f"node {n.nid} zone {z.name}"
            if not 0 <= z.zone_type < MAX_NR_ZONES:
                raise ConfigError(f"{where}: zone type {z.zone_type} is not a zone")
            if z.zone_type not in t.configured_zones:
                raise ConfigError(f"{where}: zone type {z.name} is not configured on this machine")
            if z.pages < 0 or z.start_pfn < 0:
                raise ConfigError(f"{where}: start_pfn = {z.start_pfn}, pages = {z.pages}: must be non-negative")
            if not 0 <= z.managed_pages <= z.pages:
                raise ConfigError(f"{where}: managed = {z.managed}: must be between 0 and pages = {z.pages}")
            if prev_end is not None and z.pages and z.start_pfn < prev_end:
                raise ConfigError(f"{where}: start_pfn = {z.start_pfn} overlaps the zone below it (ends at {prev_end})")
            if z.pages:
                prev_end = z.end_pfn
                spans.append((z.start_pfn, z.end_pfn, where))
            if z.watermarks is not None:
                wm = tuple(z.watermarks)
                if len(wm) != 3 or any(w < 0 for w in wm) or not wm[0] <= wm[1] <= wm[2]:
                    raise ConfigError(f"{where}: watermarks = {z.watermarks}: need 0 <= min <= low <= high")
            if z.lowmem_reserve is not None and len(z.lowmem_reserve) != MAX_NR_ZONES:
                raise ConfigError(f"{where}: lowmem_reserve = {z.lowmem_reserve}: needs {MAX_NR_ZONES} entries")
            if z.pcp_high_batch is not None:
                high, batch = z.pcp_high_batch
                if high < 0 or batch < 1:
                    raise ConfigError(f"{where}: pcp_high_batch = {z.pcp_high_batch}: need high >= 0, batch >= 1")
            if len(set(z.cma_pageblocks)) != len(z.cma_pageblocks):
                raise ConfigError(f"{where}: cma_pageblocks = {list(z.cma_pageblocks)}: a pageblock is listed twice")
            for pb in z.cma_pageblocks:
                lo, hi = pb << t.pageblock_order, (pb + 1) << t.pageblock_order
                if lo < z.start_pfn or hi > z.end_pfn:
                    raise ConfigError(f"{where}: cma pageblock {pb} (pfn {lo}..{hi - 1}) is not inside the zone")
                # the unmanaged pages never reach the buddy allocator, so CMA there could never be freed to it
                if hi > z.start_pfn + z.managed_pages:
                    raise ConfigError(f"{where}: cma pageblock {pb} (pfn {lo}..{hi - 1}) is not inside the managed "
                                      f"part of the zone (pfn {z.start_pfn}..{z.start_pfn + z.managed_pages - 1})")
    spans.sort()
    for (a0, a1, wa), (b0, b1, wb) in zip(spans, spans[1:]):
        if b0 < a1:
            raise ConfigError(f"{wb}: pfns {b0}..{b1 - 1} overlap {wa} ({a0}..{a1 - 1})")
    if t.distances is not None:
        k = len(t.nodes)
        if len(t.distances) != k or any(len(row) != k for row in t.distances):
            raise ConfigError(f"topology: distances must be a {k}x{k} table")
        for i in range(k):
            if t.distances[i][i] != LOCAL_DISTANCE:
                raise ConfigError(f"topology: distances[{i}][{i}] = {t.distances[i][i]}: must be {LOCAL_DISTANCE}")
            for j in range(k):
                if i != j and t.distances[i][j] <= LOCAL_DISTANCE:
                    raise ConfigError(
                        f"topology: distances[{i}][{j}] = {t.distances[i][j]}: remote must exceed {LOCAL_DISTANCE}"
                    )
    if len(t.lowmem_reserve_ratio) != MAX_NR_ZONES:
        raise ConfigError(f"topology: lowmem_reserve_ratio = {t.lowmem_reserve_ratio}: needs {MAX_NR_ZONES} entries")
    if t.watermark_scale_factor < 1 or t.watermark_scale_factor > 1000:
        raise ConfigError(f"topology: watermark_scale_factor = {t.watermark_scale_factor}: must be 1..1000")


def zone_is_highmem(zone_type, configured):
    """is_highmem_idx(): HIGHMEM, or MOVABLE when HIGHMEM is configured (movable carved from highmem)."""
    if ZONE_HIGHMEM not in configured:
        return False
    return zone_type in (ZONE_HIGHMEM, ZONE_MOVABLE)


