"""A machine running the 4.19 allocator: boot, the user-facing operations, freeze and thaw.

`Kernel419(topology)` boots a machine: zones are created, zonelists built,
all memory freed into buddy in aligned chunks (ascending pfn, as
__free_pages_memory does) onto MOVABLE pageblocks, then watermarks,
lowmem_reserve and per-cpu lists are set. Operations (`alloc`, `free`,
`drain`, `isolate`, `undo_isolate`, `sysctl`) return what the kernel would,
plus the events it caused; misuse raises a specific `ModelError` and leaves the state
untouched.

Variants: `Kernel419.variant(name)` returns a subclass; `@V.override`
replaces one kernel function by name and inherits the rest.

Abstracted away: WARN_ON_ONCE fires on every occurrence (an event per
operation, not once per boot); boot-time order-0 frees go straight into
buddy rather than through the boot pageset (the result is the same, since
that pageset spills every page at once); kswapd_order/kswapd_classzone_idx
are observations, reset by each operation.
"""

import itertools
import sys
from dataclasses import dataclass, field

from . import (  # noqa: F401  (registration)
    buddy,
    cpuset,
    filemap,
    fork,
    memory,
    mempolicy,
    migrate,
    page_alloc,
    page_isolation,
    pcp,
    shmem,
    slowpath,
    sysctl,
    vm_fault,
    watermark,
    zonelist,
)
from .arguments import check_whole, is_whole
from .constants import (
    MAX_NR_ZONES,
    MIGRATE_CMA,
    MIGRATE_MOVABLE,
)
from .environment import IDLE
from .errors import DoubleFree, InvalidOperation, NotAllocated, WrongOrder
from .frozen import FrozenMachine, FrozenPcp, FrozenSysctls, FrozenZone, build
from .gfp import __GFP_BITS_MASK as GFP_BITS_MASK
from .gfp import gfp_zone, gfpflags_to_migratetype
from .interleaving import run_concurrent
from .kernel import KERNEL_FUNCTIONS
from .memmap import MemoryMap
from .mempolicy_api import MempolicyOps
from .mmzone import PerCpuPages, PglistData, Zone
from .results import AllocResult, Event, OpResult, SyscallResult
from .start_state import start_free_state
from .state_check import check_state
from .stats import Stats
from .sysctl import check_sysctl_value, ctl_table
from .task import Task


def kcall(k, name):
    """The kernel function `name` of machine k; needed where Python would mangle a __name in a class."""
    return getattr(k, name)


@dataclass
class Current:
    """`current` and the execution context of one operation: CPU, task, interrupt state, task flags."""

    cpu: int
    task: Task | None
    all_nodes: frozenset
    in_interrupt: bool = False
    in_serving_softirq: bool = False
    pf_memalloc: bool = False
    memalloc_noio: bool = False
    memalloc_nofs: bool = False
    rt_task: bool = False
    oom_victim: bool = False
    pf_dumpcore: bool = False
    caps: frozenset = frozenset()
    trylocks_failed: set = field(default_factory=set)  # locks whose trylock the environment made fail (model/locks.py)

    def __post_init__(self):
        # in_interrupt() counts softirq context too
        if self.in_serving_softirq:
            self.in_interrupt = True

    def mems_allowed(self):
        return self.task.mems_allowed if self.task is not None else self.all_nodes


class Kernel419(MempolicyOps):
    """The Linux 4.19 page allocator on one machine."""

    NAME = "4.19"
    DESCRIPTION = "Linux 4.19 (stable, with the mpol_rebind_nodemask fix 29b190fa774d)"
    BASE = None  # the model a variant is judged against (`variant()` sets it; None: 4.19)
    # What an operation writes that is not state: nothing the allocator decides later depends on it,
    # so freeze() leaves it out (tests/test_frozen_complete.py checks that everything else is frozen).
    # stats: vmstat counters; events, observed, fail_reason, last_ac, pfmemalloc: what the current
    # operation did; current: its execution context, set by each operation; _node_states_cache:
    # node_states() memoized, a fact of the boot; tracepoints: the kmem events recorded while tracing.
    OBSERVATIONS = frozenset({"stats", "events", "observed", "fail_reason", "last_ac", "pfmemalloc", "current",
                              "_node_states_cache", "tracepoints"})
    # Attributes only part of which is state, with the method that returns that part: pcp_mt mirrors
    # page->index, which the allocator reads only while the page is on a per-cpu list (a value left
    # behind by a page that went on is overwritten before it is read again).
    PARTLY_STATE = {"pcp_mt": "live_pcp_mt"}
    # the Scheduler running a concurrent pair (model/interleaving.py); None: preemption points do nothing.
    # Each machine also sets it in __init__: a test of an instance attribute is about three times cheaper.
    scheduler = None

    def __init__(self, topology, env=IDLE):
        self.topology = topology
        self.env = env
        self.MAX_ORDER = topology.max_order
        self.pageblock_order = topology.pageblock_order
        self.pageblock_nr_pages = 1 << topology.pageblock_order
        self.gfp_allowed_mask = GFP_BITS_MASK if topology.gfp_allowed_mask is None else topology.gfp_allowed_mask
        self.cpusets_on = topology.cpusets_enabled
        self.stats = Stats()
        self.events = []
        self.tracepoints = None  # kmem tracepoint records while tracing is on (model/tracepoints.py)
        self.scheduler = None
        self.observed = []  # what the current operation did that neither its result nor the state shows
        self.fail_reason = None
        self.last_ac = None
        self.pfmemalloc = False
        self.page_buddy = {}
        self.pcp_mt = {}
        self.allocated = {}
        self.tasks = {}
        self.inodes = {}  # inode number -> Inode: files and shmem objects (model/filemap.py)
        self.node_load = {}
        self.policy_zone = 0
        self.page_group_by_mobility_disabled = False
        self.totalreserve_pages = 0
        # the vm sysctls the allocator reads (model/sysctl.py writes them at run time)
        self.watermark_scale_factor = topology.watermark_scale_factor
        self.sysctl_lowmem_reserve_ratio = list(topology.lowmem_reserve_ratio)
        self.percpu_pagelist_fraction = topology.percpu_pagelist_fraction
        self.node_reclaim_mode = topology.node_reclaim_mode
        self.user_min_free_kbytes = -1 if topology.min_free_kbytes is None else topology.min_free_kbytes
        self.numa_zonelist_order = "Node"  # 4.19 builds node-ordered zonelists only
        self._boot()

    # ---- construction ------------------------------------------------------------------
    def _boot(self):
        t = self.topology
        self.node_data = []
        self._zone_specs = {}
        self._pfn_zone = [None] * t.max_pfn
        # the root cpuset's mems: the nodes with memory (N_MEMORY)
        nodes_all = frozenset(n.nid for n in t.nodes if any(z.pages for z in n.zones))
        for node in t.nodes:
            zones = []
            by_type = {z.zone_type: z for z in node.zones}
            for idx in range(MAX_NR_ZONES):
                spec = by_type.get(idx)
                if spec is None:
                    zone = Zone(node.nid, idx, 0, 0, 0, self.MAX_ORDER)
                else:
                    zone = Zone(node.nid, idx, spec.start_pfn, spec.pages, spec.managed_pages, self.MAX_ORDER)
                    self._zone_specs[(node.nid, idx)] = spec
                    for pfn in range(spec.start_pfn, spec.end_pfn):
                        self._pfn_zone[pfn] = zone
                zones.append(zone)
            pgdat = PglistData(node.nid, zones, tuple(node.cpus))
            pgdat.kswapd_order = 0
            pgdat.kswapd_classzone_idx = MAX_NR_ZONES
            self.node_data.append(pgdat)
        self._pgdat_by_nid = {p.node_id: p for p in self.node_data}
        self.populated_zones = [z for p in self.node_data for z in p.node_zones if z.present_pages]
        # 4.19 computes watermarks and lowmem_reserve for every zone, populated or not
        self._unpopulated_zones = [z for p in self.node_data for z in p.node_zones if not z.present_pages]
        self.build_all_zonelists()
        self.memmap = MemoryMap([(z.zone_start_pfn, z.zone_end_pfn, z.label(), z.nid) for z in self.populated_zones],
                                self.MAX_ORDER)
        npb = (t.max_pfn >> self.pageblock_order) + 1
        self.pageblock_flags = [MIGRATE_MOVABLE] * npb
        for zone in self.populated_zones:
            spec = self.zone_spec(zone)
            for pfn in range(zone.zone_start_pfn, zone.zone_end_pfn, 1):
                if pfn % self.pageblock_nr_pages == 0 or pfn == zone.zone_start_pfn:
                    self.set_pageblock_migratetype(pfn, MIGRATE_MOVABLE)
            for pb in spec.cma_pageblocks:
                self.pageblock_flags[pb] = MIGRATE_CMA
        for zone in self.populated_zones:
            self._free_boot_memory(zone)
        self.min_free_kbytes = t.min_free_kbytes if t.min_free_kbytes is not None else self.init_per_zone_wmark_min()
        kcall(self, "__setup_per_zone_wmarks")()
        self.setup_per_zone_lowmem_reserve()
        self.calculate_totalreserve_pages()
        for zone in self.populated_zones:
            self.pageset_set_high_and_batch(zone)
            for cpu in t.cpus:
                zone.pageset[cpu] = PerCpuPages(zone.pcp_high, zone.pcp_batch)
        self.tasks[0] = Task(0, nodes_all)
        self._all_nodes = nodes_all
        self._cpus = frozenset(t.cpus)
        self._cpu_node = {cpu: node.nid for node in t.nodes for cpu in node.cpus}
        for zone in self.populated_zones:
            zone.pcp_cpus = tuple(sorted(zone.pageset))
        self._frozen_sysctls = self._freeze_sysctls()

    def _free_boot_memory(self, zone):
        """free_all_bootmem()/__free_pages_memory(), then init_cma_reserved_pageblock() for CMA.

        Memory outside CMA pageblocks is freed in the largest aligned chunks, ascending; each CMA
        pageblock is then freed on its own at pageblock_order with type CMA, as the CMA areas are
        handed to buddy after boot memory.
        """
        start = zone.zone_start_pfn
        end = zone.zone_start_pfn + zone.managed_pages
        cma = sorted(pb << self.pageblock_order for pb in self.zone_spec(zone).cma_pageblocks)
        segments, cursor = [], start
        for pb_start in cma:
            segments.append((cursor, pb_start))
            cursor = pb_start + self.pageblock_nr_pages
        segments.append((cursor, end))
        for seg_start, seg_end in segments:
            self._free_range_in_chunks(zone, seg_start, seg_end)
        for pb_start in cma:
            kcall(self, "__free_one_page")(pb_start, pb_start, zone, self.pageblock_order, MIGRATE_CMA)

    def _free_range_in_chunks(self, zone, start, end):
        while start < end:
            order = self.MAX_ORDER - 1
            if start:
                order = min(order, (start & -start).bit_length() - 1)
            while start + (1 << order) > end:
                order -= 1
            mt = self.get_pageblock_migratetype(start)
            kcall(self, "__free_one_page")(start, start, zone, order, mt)
            start += 1 << order

    # ---- lookups used by the kernel functions -----------------------------------------
    def pgdat(self, nid):
        """NODE_DATA(nid)."""
        return self._pgdat_by_nid[nid]

    def zone_spec(self, zone):
        return self._zone_specs.get((zone.nid, zone.idx))

    def page_zone(self, pfn):
        """page_zone(): the zone a pfn belongs to (None for a pfn in no zone)."""
        if 0 <= pfn < len(self._pfn_zone):
            return self._pfn_zone[pfn]
        return None

    def page_zone_id(self, pfn):
        """page_zone_id(): node and zone of a pfn, as one comparable value."""
        zone = self.page_zone(pfn)
        return None if zone is None else (zone.nid, zone.idx)

    def numa_node_id(self):
        """numa_node_id(): the node of the current CPU."""
        return self._cpu_node[self.current.cpu]

    zonelist_zones = zonelist.zonelist_zones
    zonelist_cursor = zonelist.zonelist_cursor

    def event(self, kind, **detail):
        self.events.append(Event(kind, tuple(detail.items())))

    def observe(self, what):
        """Note that the current operation did `what` (a kernel function's name): for sometimes-goals only.

        Unlike an event it is not part of the result: the kernel has no tracepoint there.
        """
        self.observed.append(what)

    def warn_once(self, message):
        """WARN_ON_ONCE(): recorded as an event each time it fires."""
        self.event("warning", message=message)

    # ---- variants -------------------------------------------------------------------------
    @classmethod
    def variant(cls, name, description=""):
        """A subclass that inherits every kernel function; replace some with @Variant.override.

        The variant's BASE, the model its check is judged against, is the class it derives from; a
        variant may set another (`V.BASE = Kernel419_0`).
        """
        module = sys._getframe(1).f_globals.get("__name__", cls.__module__)
        return type(name.replace("-", "_").replace(".", "_"), (cls,),
                    {"NAME": name, "DESCRIPTION": description, "__module__": module, "BASE": cls})

    @classmethod
    def base_model(cls):
        """The model this one is judged against: its BASE, else 4.19 (which is its own base)."""
        return cls.BASE or Kernel419

    @classmethod
    def override(cls, fn):
        """Replace the kernel function of the same name in this variant (a typo is an error)."""
        name = fn.__name__
        if name not in KERNEL_FUNCTIONS:
            raise AttributeError(f"{cls.__name__}: there is no kernel function {name!r} to override")
        setattr(cls, name, fn)
        return fn

    # ---- the operations ---------------------------------------------------------------------
    def _begin(self, cpu, task=None, **flags):
        check_whole(cpu, "cpu")
        if cpu not in self._cpus:
            raise InvalidOperation(f"cpu {cpu} does not exist (cpus: {list(self.topology.cpus)})")
        if task is None:
            task = self.tasks[0]
        elif not isinstance(task, Task):
            if not is_whole(task) or task not in self.tasks:
                raise InvalidOperation(f"task {task} does not exist (tasks: {sorted(self.tasks)})")
            task = self.tasks[task]
        self.current = Current(cpu=cpu, task=task, all_nodes=self._all_nodes, **flags)
        self.events = []
        self.observed = []
        self.fail_reason = None
        for p in self.node_data:
            p.kswapd_order = 0
            p.kswapd_classzone_idx = MAX_NR_ZONES

    def _alloc_result(self, page, order, gfp):
        events = tuple(self.events)
        if page is None:
            return AllocResult(None, order, gfp, reason=self.fail_reason or "no page", events=events)
        zone = self.page_zone(page)
        return AllocResult(page, order, gfp, zone.nid, zone.idx, events=events)

    def alloc(self, gfp, order=0, cpu=0, nid=None, nodemask=None, task=None, **context):
        """__alloc_pages_nodemask() on behalf of a task running on cpu (preferred node: cpu's node)."""
        self._check_order_arg(order)
        self._begin(cpu, task, **context)
        if nid is None:
            nid = self.numa_node_id()
        elif not is_whole(nid) or nid not in self._pgdat_by_nid:
            raise InvalidOperation(f"node {nid} does not exist (nodes: {list(self.topology.node_ids)})")
        mask = None if nodemask is None else frozenset(check_whole(n, "nodemask: node") for n in nodemask)
        self.validate_gfp(gfp)
        page = kcall(self, "__alloc_pages_nodemask")(gfp, order, nid, mask)
        return self._alloc_result(page, order, gfp)

    def validate_gfp(self, gfp):
        """Raise the errors gfp_zone() and gfpflags_to_migratetype() would, before any state changes."""
        if not is_whole(gfp) or gfp < 0:
            raise InvalidOperation(f"gfp mask {gfp!r} must be a non-negative integer")
        masked = gfp & self.gfp_allowed_mask
        gfp_zone(masked, self.topology.configured_zones)
        gfpflags_to_migratetype(masked)

    def alloc_pages_node(self, nid, gfp, order=0, cpu=0, **context):
        """alloc_pages_node(): __alloc_pages_nodemask() on nid's zonelist, no policy, no nodemask."""
        return self.alloc(gfp, order, cpu=cpu, nid=nid, **context)

    def _check_order_arg(self, order):
        if not is_whole(order) or order < 0:
            raise InvalidOperation(f"order {order!r} must be a non-negative integer")

    def check_free(self, page, order=None):
        """The kernel's free_pages_check()/bad_page() verdict, as an exception, before anything changes."""
        check_whole(page, "free: pfn")
        block = self.allocated.get(page)
        if block is None:
            if self.page_zone(page) is None:
                raise NotAllocated(f"free of pfn {page}: no zone holds this pfn")
            for o in range(self.MAX_ORDER):
                head = page & ~((1 << o) - 1)
                held = self.allocated.get(head)
                if held is not None and held[0] >= o and head != page:
                    raise NotAllocated(f"free of pfn {page}: it is inside the order-{held[0]} block at pfn {head}")
                if self.page_buddy.get(head, -1) >= o:
                    raise DoubleFree(f"free of pfn {page}: the page is already free (in buddy block at pfn {head})")
            if any(page in lst for z in self.populated_zones for p in z.pageset.values() for lst in p.lists):
                raise DoubleFree(f"free of pfn {page}: the page is already free (on a per-cpu list)")
            raise NotAllocated(f"free of pfn {page}: the page is not allocated")
        if order is not None and order != block[0]:
            raise WrongOrder(f"free of pfn {page} with order {order}: it was allocated with order {block[0]}")
        return block[0]

    def free(self, page, order=None, cpu=0, task=None):
        """__free_pages(page, order); order defaults to the order the block was allocated with."""
        self._check_order_arg(0 if order is None else order)
        order = self.check_free(page, order)
        mapped = self.mapped_pfns().get(page)
        if mapped:
            tid, addr = mapped[0]
            raise InvalidOperation(f"free of pfn {page}: task {tid} maps it at {addr:#x} (munmap frees it)")
        cached = self.page_cache_pfns().get(page)
        if cached:
            raise InvalidOperation(f"free of pfn {page}: inode {cached[0]} caches it at index {cached[1]} "
                                   "(only a shmem object's eviction frees it)")
        self._begin(cpu, task)
        kcall(self, "__free_pages")(page, order)
        return OpResult(f"free pfn {page} order {order}", events=tuple(self.events))

    def drain(self, cpu=None):
        """drain_all_pages(NULL), or drain_pages(cpu) for one CPU."""
        self._begin(self.topology.cpus[0] if cpu is None else cpu)
        if cpu is None:
            self.drain_all_pages(None)
        else:
            self.drain_pages(cpu)
        return OpResult("drain" + ("" if cpu is None else f" cpu {cpu}"), events=tuple(self.events))

    def concurrent(self, first, second, schedule=()):
        """Run two operations as if on two CPUs at once: `first` and `second` are callables, each making one
        call of this machine's API (`lambda: m.alloc(...)`), or operation values (anything with
        `apply(machine)`, as checks/ops/ has them); the schedule picks, at each decision, which of them (0 or
        1) runs the next atomic section (model/interleaving.py). Returns a ConcurrentResult."""
        return run_concurrent(self, self._runnable(first), self._runnable(second), schedule)

    def _runnable(self, operation):
        """A callable running `operation` (a callable already, or a value with apply(machine)) on this machine."""
        apply = getattr(operation, "apply", None)
        return operation if apply is None else (lambda: apply(self))

    def isolate(self, start_pfn, end_pfn, cpu=0, migratetype=MIGRATE_MOVABLE):
        """start_isolate_page_range(start, end, migratetype, false): isolate whole pageblocks; 0 or -EBUSY.

        The function's own contract is pageblock alignment, which is what is checked here. 4.19's
        callers (alloc_contig_range, offlining) align to MAX_ORDER_NR_PAGES; a narrower range reaches
        states those callers never produce (a free block larger than the range escapes isolation).
        """
        self._check_isolation_range(start_pfn, end_pfn)
        self._begin(cpu)
        ret = self.start_isolate_page_range(start_pfn, end_pfn, migratetype, False)
        return OpResult(f"isolate pfn {start_pfn}..{end_pfn - 1}", ret, events=tuple(self.events))

    def undo_isolate(self, start_pfn, end_pfn, cpu=0, migratetype=MIGRATE_MOVABLE):
        """undo_isolate_page_range(start, end, migratetype): MOVABLE, or CMA for the CMA path."""
        self._check_isolation_range(start_pfn, end_pfn)
        self._begin(cpu)
        self.undo_isolate_page_range(start_pfn, end_pfn, migratetype)
        return OpResult(f"undo isolate pfn {start_pfn}..{end_pfn - 1}", events=tuple(self.events))

    def _check_isolation_range(self, start_pfn, end_pfn):
        check_whole(start_pfn, "isolation range: start_pfn")
        check_whole(end_pfn, "isolation range: end_pfn")
        nr = self.pageblock_nr_pages
        if start_pfn % nr or end_pfn % nr or not start_pfn < end_pfn:
            raise InvalidOperation(
                f"isolation range pfn {start_pfn}..{end_pfn}: "
                f"must be non-empty and aligned to pageblocks of {nr} pages")
        for pfn in range(start_pfn, end_pfn, nr):
            if self.page_zone(pfn) is None:
                raise InvalidOperation(f"isolation range pfn {start_pfn}..{end_pfn}: pfn {pfn} is in no zone")

    def start_free_state(self, free, allocated, pageblocks):
        """The just-booted machine moved to a given free state: blocks free and allocated, pageblock types
        (model/start_state.py; from a real machine's /proc/buddyinfo, model/procfs_free_state.py)."""
        start_free_state(self, free, allocated, pageblocks)
        return OpResult(f"start from {len(free)} free and {len(allocated)} allocated blocks")

    def sysctl(self, name, value):
        """A write of /proc/sys/vm/<name>: its handler's return, 0 or -errno (model/sysctl.py).

        An integer sysctl takes an int, lowmem_reserve_ratio a list of ints, numa_zonelist_order a
        string; an unknown name or a value of the wrong type is refused before anything changes.
        """
        table = ctl_table(name)
        check_sysctl_value(table, value)
        self._begin(self.topology.cpus[0])
        ret = getattr(self, table.proc_handler)(table, value)
        self._frozen_sysctls = self._freeze_sysctls()
        shown = list(value) if isinstance(value, tuple) else value
        return SyscallResult(f"sysctl vm.{name} = {shown!r}", ret, events=tuple(self.events))

    def sysctl_value(self, name):
        """What a read of /proc/sys/vm/<name> shows (a list for lowmem_reserve_ratio)."""
        value = getattr(self, ctl_table(name).data)
        return list(value) if isinstance(value, list) else value

    # ---- observation ------------------------------------------------------------------------
    def zones(self):
        """Every populated zone, lowest node and zone first."""
        return list(self.populated_zones)

    def zone(self, nid, zone_idx):
        """The struct zone of node nid and zone index zone_idx (populated or not)."""
        if not is_whole(nid) or nid not in self._pgdat_by_nid:
            raise InvalidOperation(f"node {nid!r} does not exist (nodes: {list(self.topology.node_ids)})")
        if not is_whole(zone_idx) or not 0 <= zone_idx < MAX_NR_ZONES:
            raise InvalidOperation(f"zone index {zone_idx!r}: must be an integer 0..{MAX_NR_ZONES - 1}")
        return self.pgdat(nid).node_zones[zone_idx]

    def free_blocks(self, zone):
        """(pfn, order, migratetype) of every block on the zone's free lists."""
        out = []
        for order, area in enumerate(zone.free_area):
            for mt, lst in enumerate(area.free_list):
                out.extend((pfn, order, mt) for pfn in lst)
        return sorted(out)

    def pcp_pages(self, zone):
        """(cpu, pcp list type, pfn) of every page on the zone's per-cpu lists."""
        return [(cpu, t, pfn)
                for cpu, p in sorted(zone.pageset.items()) for t, lst in enumerate(p.lists) for pfn in lst]

    # ---- freeze and thaw -----------------------------------------------------------------------
    def live_pcp_mt(self):
        """The part of pcp_mt that is state: (pfn, cached migratetype) of every page on a per-cpu list, sorted."""
        on_pcp = []
        for z in self.populated_zones:
            for p in z.pageset.values():
                for lst in p.lists:
                    on_pcp.extend(lst)
        pcp_mt = self.pcp_mt
        return tuple(sorted([(pfn, pcp_mt[pfn]) for pfn in on_pcp]))

    def _freeze_sysctls(self):
        """The sysctls and the limits computed from them, as a FrozenSysctls (rebuilt after boot and each write)."""
        zones = tuple((tuple(z.watermark), tuple(z.lowmem_reserve), (z.pcp_high, z.pcp_batch),
                       tuple((z.pageset[cpu].high, z.pageset[cpu].batch) for cpu in z.pcp_cpus))
                      for z in self.populated_zones)
        unpopulated = tuple((tuple(z.watermark), tuple(z.lowmem_reserve)) for z in self._unpopulated_zones)
        reserve = tuple(p.totalreserve_pages for p in self.node_data) + (self.totalreserve_pages,)
        return FrozenSysctls(self.min_free_kbytes, self.user_min_free_kbytes, self.watermark_scale_factor,
                             tuple(self.sysctl_lowmem_reserve_ratio), self.percpu_pagelist_fraction,
                             self.node_reclaim_mode, zones, unpopulated, reserve)

    def _restore_sysctls(self, fs):
        self.min_free_kbytes, self.user_min_free_kbytes = fs.min_free_kbytes, fs.user_min_free_kbytes
        self.watermark_scale_factor = fs.watermark_scale_factor
        self.sysctl_lowmem_reserve_ratio = list(fs.lowmem_reserve_ratio)
        self.percpu_pagelist_fraction, self.node_reclaim_mode = fs.percpu_pagelist_fraction, fs.node_reclaim_mode
        for z, (marks, lowmem_reserve, (high, batch), per_cpu) in zip(self.populated_zones, fs.zones):
            z.watermark, z.lowmem_reserve = list(marks), list(lowmem_reserve)
            z.pcp_high, z.pcp_batch = high, batch
            for cpu, (cpu_high, cpu_batch) in zip(z.pcp_cpus, per_cpu):
                z.pageset[cpu].high, z.pageset[cpu].batch = cpu_high, cpu_batch
        for z, (marks, lowmem_reserve) in zip(self._unpopulated_zones, fs.unpopulated):
            z.watermark, z.lowmem_reserve = list(marks), list(lowmem_reserve)
        *per_node, self.totalreserve_pages = fs.totalreserve_pages
        for p, pages in zip(self.node_data, per_node):
            p.totalreserve_pages = pages
        self._frozen_sysctls = fs

    def seqcounts_at_rest(self):
        """Every task's mems_allowed_seq back to 0: no reader holds a cookie (model/cpuset.py says why)."""
        for task in self.tasks.values():
            task.mems_allowed_seq = 0

    def freeze(self):
        """The whole dynamic state as one immutable, hashable FrozenMachine (observations excluded)."""
        zones = []
        for z in self.populated_zones:
            pcps = []
            for cpu in z.pcp_cpus:
                p = z.pageset[cpu]
                pcps.append(build(FrozenPcp, (p.count, tuple(map(tuple, p.lists)))))
            areas = z.free_area
            zones.append(build(FrozenZone, (
                tuple([tuple(map(tuple, area.free_list)) for area in areas]),  # a list builds faster here
                tuple([area.nr_free for area in areas]),
                z.nr_free_pages, z.nr_free_cma_pages, z.nr_reserved_highatomic, z.nr_isolate_pageblock,
                tuple(pcps),
            )))
        pcp_mt = self.live_pcp_mt()
        tasks = tuple([self.tasks[t].freeze() for t in sorted(self.tasks)])
        return build(FrozenMachine, (
            tuple(zones),
            tuple(sorted(self.page_buddy.items())),
            pcp_mt,
            tuple(sorted(self.allocated.items())),
            tuple(self.pageblock_flags),
            tasks,
            self.cpusets_on,
            self._frozen_sysctls,
            tuple([self.inodes[i] for i in sorted(self.inodes)]),
        ))

    def restore(self, frozen, current=None):
        """Thaw: make this machine's dynamic state equal to a frozen value (observations kept).

        `current`, when given, must be what `freeze()` returns for the machine right now: only the
        parts that differ from it are rebuilt (the explorer restores one state many times), and the
        caller vouches that `frozen` came from this machine. Without it the state is checked first
        (model/state_check.py): another machine's state or a malformed one raises StateMismatch, naming
        what differs, and the machine is left unchanged.
        """
        full = current is None
        if full:
            check_state(self, frozen)
        zones = frozen.zones
        for z, zf, zc in zip(self.populated_zones, zones, _NO_ZONES if full else current.zones):
            if zf == zc:
                continue
            free_lists = zf.free_lists
            old_lists = _NO_ZONES if zc is None else zc.free_lists
            for area, area_lists, old_area_lists, n in zip(z.free_area, free_lists, old_lists, zf.nr_free):
                if area_lists != old_area_lists:
                    area.free_list = list(map(list, area_lists))
                area.nr_free = n
            z.nr_free_pages, z.nr_free_cma_pages = zf.nr_free_pages, zf.nr_free_cma_pages
            z.nr_reserved_highatomic, z.nr_isolate_pageblock = zf.nr_reserved_highatomic, zf.nr_isolate_pageblock
            pcps = zf.pcp
            if zc is None or pcps != zc.pcp:
                pageset = z.pageset
                for cpu, pf in zip(z.pcp_cpus, pcps):
                    p = pageset[cpu]
                    p.count = pf.count
                    p.lists = list(map(list, pf.lists))
        if full or frozen.page_buddy != current.page_buddy:
            self.page_buddy = dict(frozen.page_buddy)
        if full or frozen.pcp_mt != current.pcp_mt:
            self.pcp_mt = dict(frozen.pcp_mt)
        if full or frozen.allocated != current.allocated:
            self.allocated = dict(frozen.allocated)
        if full or frozen.pageblock_flags != current.pageblock_flags:
            self.pageblock_flags = list(frozen.pageblock_flags)
        if full or frozen.tasks != current.tasks:
            self.tasks = {t.tid: Task.thaw(t) for t in frozen.tasks}
        if full or frozen.inodes != current.inodes:
            self.inodes = {inode.ino: inode for inode in frozen.inodes}
        self.cpusets_on = frozen.cpusets_on
        if full or (frozen.sysctls is not self._frozen_sysctls and frozen.sysctls != self._frozen_sysctls):
            self._restore_sysctls(frozen.sysctls)

    def copy(self):
        """A new machine of the same class, topology and env, in this machine's state."""
        other = type(self)(self.topology, self.env)
        other.restore(self.freeze())
        return other


# without `current`, restore() compares each zone and each order's lists with None: all are rebuilt
_NO_ZONES = itertools.repeat(None)


def _install_kernel_functions(cls):
    for name, fn in KERNEL_FUNCTIONS.items():
        if hasattr(cls, name):
            raise RuntimeError(f"kernel function {name} would hide {cls.__name__}.{name}")
        setattr(cls, name, fn)


_install_kernel_functions(Kernel419)
