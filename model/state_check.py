"""Is a frozen state one this machine can hold? `check_state(k, frozen)` raises StateMismatch naming what differs.

`Kernel419.restore()` calls it before changing anything, so another machine's state (other zones, CPUs,
MAX_ORDER or pageblocks) or a malformed value is refused and leaves the machine as it was. It checks the
shape (the zones, orders, migratetypes, CPUs' lists, pageblocks, tasks and the sysctls' limits this
machine has) and the type of every field, with pfns inside the machine's zones and node ids among its
nodes; not whether the state is reachable (the invariants of spec/ judge that).
"""

from .arguments import is_whole
from .constants import MIGRATE_PCPTYPES, MIGRATE_TYPES
from .errors import StateMismatch
from .filemap import Inode
from .frozen import FrozenMachine, FrozenPcp, FrozenSysctls, FrozenTask, FrozenZone


def _fail(what):
    raise StateMismatch(f"restore: {what}; the machine is unchanged")


def _sized(value, n, what, unit):
    if not isinstance(value, tuple):
        _fail(f"{what} is a {type(value).__name__}, not a tuple")
    if len(value) != n:
        _fail(f"{what} has {len(value)} {unit}, this machine has {n}")


def _whole(value, what, lo=0, hi=None):
    if not is_whole(value):
        _fail(f"{what} = {value!r} is not an integer")
    if value < lo or (hi is not None and value >= hi):
        _fail(f"{what} = {value!r} is outside {lo}..{'' if hi is None else hi - 1}")


def _pfns(k, values, what):
    """Every value a pfn of one of k's zones. Not necessarily the zone whose list holds it: a faulty model
    can put a page on another zone's list, and zone_containment (spec/) is the judge of that."""
    if not isinstance(values, tuple):
        _fail(f"{what} is a {type(values).__name__}, not a tuple")
    for pfn in values:
        _whole(pfn, what)
        if k.page_zone(pfn) is None:
            _fail(f"{what}: pfn {pfn} is in none of this machine's zones")


def _pairs_of_pfns(k, values, what):
    """(pfn, value) pairs, each pfn in one of k's zones; the values, in order."""
    if not isinstance(values, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in values):
        _fail(f"{what} must be a tuple of (pfn, value) pairs")
    for pfn, _ in values:
        if not is_whole(pfn) or k.page_zone(pfn) is None:
            _fail(f"{what}: pfn {pfn!r} is in none of this machine's zones")
    return [v for _, v in values]


def _zone_fits(k, z, zf):
    """The common case, answered with builtins only: every list in place, every pfn an int inside the zone."""
    if type(zf) is not FrozenZone:
        return False
    lists = [h for per in zf.free_lists for h in per] if type(zf.free_lists) is tuple and all(
        type(per) is tuple and len(per) == MIGRATE_TYPES for per in zf.free_lists) else None
    if lists is None or len(zf.free_lists) != k.MAX_ORDER or type(zf.pcp) is not tuple \
            or len(zf.pcp) != len(z.pcp_cpus):
        return False
    for pf in zf.pcp:
        if type(pf) is not FrozenPcp or type(pf.count) is not int or type(pf.lists) is not tuple \
                or len(pf.lists) != MIGRATE_PCPTYPES:
            return False
        lists.extend(pf.lists)
    if not all(type(h) is tuple for h in lists):
        return False
    pfns = [p for h in lists for p in h]
    counters = (*zf.nr_free, zf.nr_free_pages, zf.nr_free_cma_pages, zf.nr_reserved_highatomic,
                zf.nr_isolate_pageblock) if type(zf.nr_free) is tuple else ("not a tuple",)
    return (all(type(p) is int for p in pfns) and all(type(n) is int for n in counters)
            and len(zf.nr_free) == k.MAX_ORDER
            and ((not pfns or (min(pfns) >= z.zone_start_pfn and max(pfns) < z.zone_end_pfn))
                 or all(k.page_zone(p) is not None for p in pfns)))


def _zone(k, z, zf, where):
    """Find what makes zf unfit for zone z (_zone_fits said it is) and say so."""
    if not isinstance(zf, FrozenZone):
        _fail(f"{where} is a {type(zf).__name__}, not a FrozenZone")
    _sized(zf.free_lists, k.MAX_ORDER, f"{where}.free_lists", "orders")
    for order, per_mt in enumerate(zf.free_lists):
        _sized(per_mt, MIGRATE_TYPES, f"{where}.free_lists[{order}]", "migratetypes")
        for mt, heads in enumerate(per_mt):
            _pfns(k, heads, f"{where}.free_lists[{order}][{mt}]")
    _sized(zf.nr_free, k.MAX_ORDER, f"{where}.nr_free", "orders")
    for order, n in enumerate(zf.nr_free):
        _whole(n, f"{where}.nr_free[{order}]", lo=-(2**63))  # a faulty model's count can go below 0
    for name in ("nr_free_pages", "nr_free_cma_pages", "nr_reserved_highatomic", "nr_isolate_pageblock"):
        _whole(getattr(zf, name), f"{where}.{name}", lo=-(2**63))
    _sized(zf.pcp, len(z.pcp_cpus), f"{where}.pcp", "CPUs")
    for cpu, pf in zip(z.pcp_cpus, zf.pcp):
        if not isinstance(pf, FrozenPcp):
            _fail(f"{where}.pcp of cpu {cpu} is a {type(pf).__name__}, not a FrozenPcp")
        _whole(pf.count, f"{where}.pcp of cpu {cpu}: count", lo=-(2**63))
        _sized(pf.lists, MIGRATE_PCPTYPES, f"{where}.pcp of cpu {cpu}: lists", "lists")
        for t, lst in enumerate(pf.lists):
            _pfns(k, lst, f"{where}.pcp of cpu {cpu}: list {t}")
    _fail(f"{where} does not fit this machine's zone")


def _task(k, tf, where):
    if not isinstance(tf, FrozenTask):
        _fail(f"{where} is a {type(tf).__name__}, not a FrozenTask")
    _whole(tf.tid, f"{where}.tid")
    if not isinstance(tf.mems_allowed, tuple) or not tf.mems_allowed:
        _fail(f"{where}.mems_allowed = {tf.mems_allowed!r}: must be a non-empty tuple of node ids")
    for nid in tf.mems_allowed:
        if not is_whole(nid) or nid not in k.topology.node_ids:
            _fail(f"{where}.mems_allowed: node {nid!r} is not a node of this machine {list(k.topology.node_ids)}")
    _whole(tf.il_prev, f"{where}.il_prev")
    if tf.memcg_limit is not None:
        _whole(tf.memcg_limit, f"{where}.memcg_limit")
    _whole(tf.memcg_usage, f"{where}.memcg_usage")
    if not isinstance(tf.vmas, tuple):
        _fail(f"{where}.vmas is a {type(tf.vmas).__name__}, not a tuple")
    if tf.mems_allowed_seq != 0 or not is_whole(tf.mems_allowed_seq):
        _fail(f"{where}.mems_allowed_seq = {tf.mems_allowed_seq!r}: must be 0, a state between operations has no "
              f"cpuset update under way")


def _inodes(k, inodes):
    """Files and shmem objects: Inode values, distinct inode numbers, (index, pfn) cache entries inside the zones."""
    if not isinstance(inodes, tuple):
        _fail(f"inodes is a {type(inodes).__name__}, not a tuple of Inode")
    for i, inode in enumerate(inodes):
        where = f"inodes[{i}]"
        if not isinstance(inode, Inode):
            _fail(f"{where} is a {type(inode).__name__}, not an Inode")
        _whole(inode.ino, f"{where}.ino")
        _whole(inode.size, f"{where}.size")
        if not isinstance(inode.policy, tuple) or not isinstance(inode.pages, tuple):
            _fail(f"{where}: policy and pages must be tuples")
        for entry in inode.pages:
            if not isinstance(entry, tuple) or len(entry) != 2:
                _fail(f"{where}.pages: {entry!r} is not (index, pfn)")
            _whole(entry[0], f"{where}.pages: index", hi=inode.size)
            _whole(entry[1], f"{where}.pages: pfn", hi=k.topology.max_pfn)
    inos = [inode.ino for inode in inodes]
    if inos != sorted(set(inos)):
        _fail(f"inode numbers {inos}: must be distinct and ascending")


def _limits(values, n, what):
    """A tuple of n integers (watermarks, a lowmem_reserve, a (high, batch) pair)."""
    _sized(values, n, what, "values")
    for i, v in enumerate(values):
        _whole(v, f"{what}[{i}]", lo=-(2**63))


def _sysctls(k, fs):
    """The sysctls and the limits computed from them, shaped as this machine's zones, CPUs and nodes."""
    if not isinstance(fs, FrozenSysctls):
        _fail(f"sysctls is a {type(fs).__name__}, not a FrozenSysctls")
    for name in ("min_free_kbytes", "user_min_free_kbytes", "watermark_scale_factor", "percpu_pagelist_fraction",
                 "node_reclaim_mode"):
        _whole(getattr(fs, name), f"sysctls.{name}", lo=-(2**31))
    _limits(fs.lowmem_reserve_ratio, len(k.sysctl_lowmem_reserve_ratio), "sysctls.lowmem_reserve_ratio")
    _sized(fs.zones, len(k.populated_zones), "sysctls.zones", "populated zones")
    for z, entry in zip(k.populated_zones, fs.zones):
        where = f"sysctls of {z.label()}"
        _sized(entry, 4, where, "fields")
        watermark, reserve, zone_pcp, per_cpu = entry
        _limits(watermark, 3, f"{where}: watermark")
        _limits(reserve, len(z.lowmem_reserve), f"{where}: lowmem_reserve")
        _limits(zone_pcp, 2, f"{where}: pcp high, batch")
        _sized(per_cpu, len(z.pcp_cpus), f"{where}: per-cpu high, batch", "CPUs")
        for cpu, pair in zip(z.pcp_cpus, per_cpu):
            _limits(pair, 2, f"{where}: cpu {cpu} high, batch")
    _sized(fs.unpopulated, len(k._unpopulated_zones), "sysctls.unpopulated", "unpopulated zones")
    for z, entry in zip(k._unpopulated_zones, fs.unpopulated):
        _sized(entry, 2, f"sysctls of {z.label()}", "fields")
        _limits(entry[0], 3, f"sysctls of {z.label()}: watermark")
        _limits(entry[1], len(z.lowmem_reserve), f"sysctls of {z.label()}: lowmem_reserve")
    _limits(fs.totalreserve_pages, len(k.node_data) + 1, "sysctls.totalreserve_pages")


def check_state(k, frozen):
    """Raise StateMismatch unless machine k (booted) can hold the frozen state `frozen`."""
    if not isinstance(frozen, FrozenMachine):
        _fail(f"a {type(frozen).__name__} is not a frozen state (FrozenMachine, from freeze())")
    _sized(frozen.zones, len(k.populated_zones), "zones", "populated zones")
    for z, zf in zip(k.populated_zones, frozen.zones):
        if not _zone_fits(k, z, zf):
            _zone(k, z, zf, z.label())
    for order in _pairs_of_pfns(k, frozen.page_buddy, "page_buddy"):
        _whole(order, "page_buddy: order", hi=k.MAX_ORDER)
    for mt in _pairs_of_pfns(k, frozen.pcp_mt, "pcp_mt"):
        _whole(mt, "pcp_mt: migratetype", hi=MIGRATE_TYPES)
    for block in _pairs_of_pfns(k, frozen.allocated, "allocated"):
        if not isinstance(block, tuple) or len(block) != 3:
            _fail(f"allocated: {block!r} is not (order, migratetype, memcg owner)")
        _whole(block[0], "allocated: order", hi=k.MAX_ORDER)
    _sized(frozen.pageblock_flags, len(k.pageblock_flags), "pageblock_flags", "pageblocks")
    if not all(type(mt) is int and 0 <= mt < MIGRATE_TYPES for mt in frozen.pageblock_flags):
        for i, mt in enumerate(frozen.pageblock_flags):
            _whole(mt, f"pageblock_flags[{i}]", hi=MIGRATE_TYPES)
    if not isinstance(frozen.tasks, tuple) or not frozen.tasks:
        _fail(f"tasks = {frozen.tasks!r}: must be a non-empty tuple of FrozenTask")
    for i, tf in enumerate(frozen.tasks):
        _task(k, tf, f"tasks[{i}]")
    tids = [t.tid for t in frozen.tasks]
    if len(set(tids)) != len(tids) or 0 not in tids:
        _fail(f"task ids {tids}: must be distinct and include task 0")
    _inodes(k, frozen.inodes)
    if not isinstance(frozen.cpusets_on, bool):
        _fail(f"cpusets_on = {frozen.cpusets_on!r} is not true or false")
    if type(frozen.sysctls) is not FrozenSysctls or frozen.sysctls != k._frozen_sysctls:  # its own values pass at once
        _sysctls(k, frozen.sysctls)
