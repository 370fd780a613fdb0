"""A plain, immutable snapshot of an allocator state, as the invariants read it.

`view_of(machine)` reads a `Kernel419` (or a variant) and returns a `StateView`
made of tuples and ints only; it never changes the machine. It is the one way
views are built: `view_from_frozen(static_view(m), frozen)` puts together the
machine's boot-time part (geometry, limits, zonelists, configuration: nothing
an operation changes) and a frozen state (`Kernel419.freeze()`), so a view can
be built for any state the machine reached, without restoring it. A
`StateView` can also be written by hand, which is how tests build
deliberately broken states (overlapping blocks, wrong counters, ...) that no
correct model reaches.

What a view holds, per populated zone: its geometry (node, zone index, start,
end, managed pages), its free blocks (pfn, order, the migratetype of the list
that holds them), nr_free per order, NR_FREE_PAGES, NR_FREE_CMA_PAGES,
nr_reserved_highatomic, nr_isolate_pageblock, the per-cpu pages (cpu, list,
pfn, cached migratetype) and per-cpu counts, watermarks and lowmem_reserve,
each CPU's pcp high and batch, and the values the topology gives explicitly
for these (None where 4.19 computes them at boot).
Machine-wide: the allocated blocks (pfn, order, migratetype asked for, the
zone of the head), the pageblock migratetypes, each node's zonelists,
MAX_ORDER and pageblock_order, min_free_kbytes, totalreserve_pages (machine
and per node), and the configuration (`MachineConfig`: the sysctls as the
state holds them, which a sysctl write changes, and what
init_per_zone_wmark_min reads). The limits and the sysctls come from the
frozen state (its FrozenSysctls), never from the boot: a sysctl write
recomputes them.

From the tasks only their page tables: every mapping of an allocated page
(task, address, pfn, order; the zero page left out), which entries fork
write-protected (task, address), and from the files and shmem objects only
their page caches (inode number, index, pfn).

Left out: the rest of the tasks, mempolicies and cpusets (the step invariants
take them from the request), statistics, and the per-page PageBuddy map (the free lists are
what the invariants judge).
"""

import functools
import weakref
from dataclasses import dataclass, field, replace

from buddycheck.model.constants import MIGRATETYPE_NAMES, ZONE_NAMES
from buddycheck.model.page_table import ZERO_PFN

FREE, PCP, ALLOC = "free", "pcp", "alloc"


@dataclass(frozen=True)
class ZoneView:
    """One populated zone: geometry, free lists, counters and per-cpu lists."""

    nid: int
    zone_idx: int
    start_pfn: int
    end_pfn: int
    managed: int
    free: tuple = ()  # (pfn, order, list migratetype), sorted
    nr_free: tuple = ()  # blocks per order, MAX_ORDER entries
    nr_free_pages: int = 0
    nr_free_cma_pages: int = 0
    nr_reserved_highatomic: int = 0
    nr_isolate_pageblock: int = 0
    pcp: tuple = ()  # (cpu, list migratetype, pfn, cached migratetype)
    pcp_counts: tuple = ()  # (cpu, count)
    watermark: tuple = (0, 0, 0)
    lowmem_reserve: tuple = (0, 0, 0, 0, 0)
    pcp_limits: tuple = ()  # (cpu, high, batch)
    given_watermark: tuple | None = None  # the topology's explicit values; None: computed at boot
    given_lowmem_reserve: tuple | None = None
    given_pcp: tuple | None = None  # (high, batch)

    @property
    def name(self):
        return ZONE_NAMES[self.zone_idx]

    @property
    def label(self):
        return f"node {self.nid} zone {self.name}"

    @property
    def managed_end(self):
        """One past the last managed pfn: the unmanaged pages are the zone's highest pfns."""
        return self.start_pfn + self.managed

    @property
    def key(self):
        return (self.nid, self.zone_idx)


@dataclass(frozen=True)
class Block:
    """A block of 2^order pages: free on a buddy list, on a per-cpu list, or allocated.

    zone is an index into StateView.zones (None for an allocated block whose head lies in no zone);
    mt is the migratetype of the list (free), the per-cpu list (pcp) or the request (alloc);
    cached is the pcp page's cached migratetype (page->index); cpu the pcp list's CPU.
    """

    kind: str
    pfn: int
    order: int
    zone: int | None
    mt: int
    cpu: int = -1
    cached: int = -1

    @property
    def end(self):
        return self.pfn + (1 << self.order)


@dataclass(frozen=True)
class MachineConfig:
    """The configuration the limits are computed from: the state's sysctls and the zones init reads.

    user_min_free_kbytes is the topology's min_free_kbytes or the last one written (None: computed by
    init_per_zone_wmark_min);
    boot_zonelist the (nid, zone index) of the boot node's fallback zonelist, which
    nr_free_buffer_pages() sums; nids every node (a node without memory reserves nothing).
    """

    user_min_free_kbytes: int | None
    watermark_scale_factor: int
    lowmem_reserve_ratio: tuple
    percpu_pagelist_fraction: int
    configured_zones: tuple
    boot_zonelist: tuple
    nids: tuple


@dataclass(frozen=True)
class StateView:
    """A whole machine state as plain data; see the module docstring."""

    max_order: int
    pageblock_order: int
    zones: tuple  # ZoneView, lowest node and zone first
    allocated: tuple = ()  # (pfn, order, migratetype asked for)
    pageblocks: tuple = ()  # migratetype of pageblock i (pfn >> pageblock_order)
    zonelists: tuple = ()  # (nid, fallback ((nid, idx), ...), nofallback ((nid, idx), ...))
    cpus: tuple = ()
    name: str = field(default="", compare=False)
    config: MachineConfig | None = None  # None: a hand-built view without configuration
    min_free_kbytes: int = 0
    totalreserve_pages: int = 0
    node_totalreserve: tuple = ()  # (nid, pgdat->totalreserve_pages)
    mappings: tuple = ()  # (task id, address, pfn, order) of every page-table entry of an allocated page
    wrprotected: tuple = ()  # (task id, address) of every entry write-protected for copy-on-write
    cached: tuple = ()  # (inode number, index, pfn) of every page in a file's or shmem object's cache

    # ---- derived lookups --------------------------------------------------------------------
    def zone_of_pfn(self, pfn):
        """page_zone(): the index of the zone whose span holds pfn, or None."""
        for i, z in enumerate(self.zones):
            if z.start_pfn <= pfn < z.end_pfn:
                return i
        return None

    def zone_index(self, nid, zone_idx):
        for i, z in enumerate(self.zones):
            if z.nid == nid and z.zone_idx == zone_idx:
                return i
        return None

    def pageblock_mt(self, pfn):
        """get_pageblock_migratetype() of pfn (-1 when pfn lies past the pageblock table)."""
        i = pfn >> self.pageblock_order
        return self.pageblocks[i] if 0 <= i < len(self.pageblocks) else -1

    def blocks(self):
        """Every block of the state: free, per-cpu and allocated, in that order (a tuple, built once)."""
        built = self.__dict__.get("_blocks")
        if built is None:
            built = self.__dict__["_blocks"] = tuple(self._build_blocks())
        return built

    def _build_blocks(self):
        out = []
        for zi, z in enumerate(self.zones):
            out.extend(Block(FREE, pfn, order, zi, mt) for pfn, order, mt in z.free)
        for zi, z in enumerate(self.zones):
            out.extend(Block(PCP, pfn, 0, zi, lst, cpu, cached) for cpu, lst, pfn, cached in z.pcp)
        for pfn, order, mt in self.allocated:
            out.append(Block(ALLOC, pfn, order, self.zone_of_pfn(pfn), mt))
        return out

    def zonelist(self, nid, nofallback=False):
        for n, fallback, nofb in self.zonelists:
            if n == nid:
                return nofb if nofallback else fallback
        return ()

    def describe_block(self, b):
        """'block at pfn 0x6 of order 2 on node 1 zone Normal' (with the list it sits on)."""
        where = "in no zone" if b.zone is None else f"on {self.zones[b.zone].label}"
        if b.kind == FREE:
            what = f"free block at pfn {b.pfn} of order {b.order} ({mt_name(b.mt)} list)"
        elif b.kind == PCP:
            what = f"per-cpu page at pfn {b.pfn} (cpu {b.cpu} {mt_name(b.mt)} list)"
        else:
            what = f"allocated block at pfn {b.pfn} of order {b.order}"
        return f"{what} {where}"

    # ---- editing, for building broken states in tests ----------------------------------------
    def with_zone(self, i, **changes):
        zones = list(self.zones)
        zones[i] = replace(zones[i], **changes)
        return replace(self, zones=tuple(zones))

    def with_(self, **changes):
        return replace(self, **changes)


def mt_name(mt):
    return MIGRATETYPE_NAMES[mt] if 0 <= mt < len(MIGRATETYPE_NAMES) else f"migratetype {mt}"


def view_of(m):
    """The StateView of machine m (read only): its boot-time part and its frozen state, put together."""
    return view_from_frozen(static_view(m), m.freeze())


@dataclass(frozen=True)
class StaticView:
    """What a StateView takes from a machine that no operation changes after boot.

    zones: a ZoneView per populated zone with its geometry, limits and given values, its dynamic
    fields at their defaults; pcp_cpus: per zone, the CPUs of its pageset in the order a FrozenZone
    lists them; machine: a StateView with no zones, holding the machine-wide boot-time fields.
    """

    zones: tuple
    pcp_cpus: tuple
    machine: StateView
    nids: tuple = ()  # every node, in the order FrozenSysctls.totalreserve_pages lists them


def view_from_frozen(static, frozen):
    """The StateView of the state `frozen` (a Kernel419.freeze() value) on the machine `static` describes."""
    cached = dict(frozen.pcp_mt)
    sysctls = frozen.sysctls
    zones = []
    for s, cpus, fz, (watermark, reserve, _, per_cpu) in zip(static.zones, static.pcp_cpus, frozen.zones,
                                                            sysctls.zones):
        free = sorted((pfn, order, mt)
                      for order, per_mt in enumerate(fz.free_lists) if any(per_mt)
                      for mt, lst in enumerate(per_mt) for pfn in lst)
        zones.append(ZoneView(
            nid=s.nid,
            zone_idx=s.zone_idx,
            start_pfn=s.start_pfn,
            end_pfn=s.end_pfn,
            managed=s.managed,
            free=tuple(free),
            nr_free=fz.nr_free,
            nr_free_pages=fz.nr_free_pages,
            nr_free_cma_pages=fz.nr_free_cma_pages,
            nr_reserved_highatomic=fz.nr_reserved_highatomic,
            nr_isolate_pageblock=fz.nr_isolate_pageblock,
            pcp=tuple((cpu, lst, pfn, cached.get(pfn, -1))
                      for cpu, p in zip(cpus, fz.pcp) for lst, pages in enumerate(p.lists) for pfn in pages),
            pcp_counts=tuple((cpu, p.count) for cpu, p in zip(cpus, fz.pcp)),
            watermark=watermark,
            lowmem_reserve=reserve,
            pcp_limits=tuple((cpu, high, batch) for cpu, (high, batch) in zip(cpus, per_cpu)),
            given_watermark=s.given_watermark,
            given_lowmem_reserve=s.given_lowmem_reserve,
            given_pcp=s.given_pcp,
        ))
    t = static.machine
    return StateView(
        max_order=t.max_order,
        pageblock_order=t.pageblock_order,
        zones=tuple(zones),
        allocated=tuple((pfn, blk[0], blk[1]) for pfn, blk in frozen.allocated),  # frozen sorted by pfn
        mappings=tuple((task.tid, addr, pfn, order)
                       for task in frozen.tasks for addr, pfn, order in task.page_table if pfn != ZERO_PFN),
        wrprotected=tuple((task.tid, addr) for task in frozen.tasks for addr in task.wrprotected),
        cached=tuple((inode.ino, index, pfn) for inode in frozen.inodes for index, pfn in inode.pages),
        pageblocks=frozen.pageblock_flags,
        zonelists=t.zonelists,
        cpus=t.cpus,
        name=t.name,
        config=None if t.config is None else config_with_sysctls(t.config, sysctls),
        min_free_kbytes=sysctls.min_free_kbytes,
        totalreserve_pages=sysctls.totalreserve_pages[-1],
        node_totalreserve=tuple(zip(static.nids, sysctls.totalreserve_pages)),
    )


@functools.lru_cache(maxsize=64)
def config_with_sysctls(config, sysctls):
    """The machine's MachineConfig with the sysctls a state holds (a FrozenSysctls): what its limits follow."""
    user = sysctls.user_min_free_kbytes
    return replace(config, user_min_free_kbytes=None if user < 0 else user,
                   watermark_scale_factor=sysctls.watermark_scale_factor,
                   lowmem_reserve_ratio=sysctls.lowmem_reserve_ratio,
                   percpu_pagelist_fraction=sysctls.percpu_pagelist_fraction)


def once_per_machine(build):
    """build(m), memoized per machine (its boot-time facts never change); the machine is not kept alive."""
    cache = weakref.WeakKeyDictionary()

    def memo(m):
        value = cache.get(m)
        if value is None:
            value = cache[m] = build(m)
        return value

    return functools.update_wrapper(memo, build)  # named as build, so pickle finds it by name


@once_per_machine
def static_view(m):
    """The StaticView of machine m, built once per machine (its boot-time fields never change)."""
    return _static_view(m)


def _static_view(m):
    zones = []
    for z in m.zones():
        spec = m.zone_spec(z)
        zones.append(ZoneView(
            nid=z.nid,
            zone_idx=z.idx,
            start_pfn=z.zone_start_pfn,
            end_pfn=z.zone_end_pfn,
            managed=z.managed_pages,
            watermark=tuple(z.watermark),
            lowmem_reserve=tuple(z.lowmem_reserve),
            pcp_limits=tuple((cpu, z.pageset[cpu].high, z.pageset[cpu].batch) for cpu in z.pcp_cpus),
            given_watermark=_given(spec, "watermarks"),
            given_lowmem_reserve=_given(spec, "lowmem_reserve"),
            given_pcp=_given(spec, "pcp_high_batch"),
        ))
    zonelists = []
    for pgdat in m.node_data:
        lists = []
        for zl in pgdat.node_zonelists:
            lists.append(tuple((ref.zone.nid, ref.zone.idx) for ref in zl if ref.zone is not None))
        zonelists.append((pgdat.node_id, lists[0], lists[1]))
    machine = StateView(
        max_order=m.MAX_ORDER,
        pageblock_order=m.pageblock_order,
        zones=(),
        zonelists=tuple(zonelists),
        cpus=tuple(m.topology.cpus),
        name=m.topology.name,
        config=machine_config(m),
        min_free_kbytes=m.min_free_kbytes,
        totalreserve_pages=m.totalreserve_pages,
        node_totalreserve=tuple((p.node_id, p.totalreserve_pages) for p in m.node_data),
    )
    return StaticView(tuple(zones), tuple(z.pcp_cpus for z in m.zones()), machine,
                      tuple(p.node_id for p in m.node_data))


def _given(spec, name):
    value = None if spec is None else getattr(spec, name)
    return None if value is None else tuple(value)


@once_per_machine
def machine_config(m):
    """The MachineConfig of machine m: its topology's sysctls and its boot node's zonelist (built once)."""
    return _machine_config(m)


def _machine_config(m):
    t = m.topology
    boot = m.node_data[0].node_zonelists[0]
    return MachineConfig(
        user_min_free_kbytes=t.min_free_kbytes,
        watermark_scale_factor=t.watermark_scale_factor,
        lowmem_reserve_ratio=tuple(t.lowmem_reserve_ratio),
        percpu_pagelist_fraction=t.percpu_pagelist_fraction,
        configured_zones=tuple(sorted(t.configured_zones)),
        boot_zonelist=tuple((ref.zone.nid, ref.zone.idx) for ref in boot if ref.zone is not None),
        nids=tuple(p.node_id for p in m.node_data),
    )
