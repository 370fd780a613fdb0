"""The allocation fast path and the free path (mm/page_alloc.c, 4.19).

`__alloc_pages_nodemask` prepares an alloc_context, tries
`get_page_from_freelist` at the LOW watermark, and falls into
`__alloc_pages_slowpath` (model/slowpath.py). Frees go through
`__free_pages`: order 0 to the per-cpu lists, higher orders straight to buddy.

Abstracted away: struct page contents (refcount is 1 while allocated, so
__free_pages always frees; __GFP_ZERO, __GFP_COMP and pfmemalloc only
change page contents and are recorded, not simulated);
`_deferred_grow_zone` (boot-time only); the lockdep and might_sleep
annotations; trace points. Things outside the allocator that decide an
outcome (fault injection, node_reclaim, dirty limits, reclaim, compaction,
OOM) are answers of the machine's `env` (model/environment.py), explicit
choices for the checker.
"""

from .constants import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HARDER,
    ALLOC_NO_WATERMARKS,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MASK,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    NODE_RECLAIM_FULL,
    NODE_RECLAIM_NOSCAN,
    RECLAIM_DISTANCE,
)
from .gfp import (
    __GFP_ACCOUNT,
    __GFP_DIRECT_RECLAIM,
    __GFP_HARDWALL,
    __GFP_HIGHMEM,
    __GFP_NOFAIL,
    __GFP_WRITE,
    gfp_zone,
    gfp_zonelist,
    gfpflags_to_migratetype,
)
from .kernel import kernel_function
from .mmzone import has_isolate_pageblock
from .preempt import preempt_point
from .tracepoints import trace


class AllocContext:
    """struct alloc_context: zonelist, nodemask, preferred zoneref (a cursor), migratetype, high_zoneidx."""

    __slots__ = ("zonelist", "nodemask", "preferred_zoneref", "migratetype", "high_zoneidx", "spread_dirty_pages")

    def __init__(self):
        self.zonelist = None
        self.nodemask = None
        self.preferred_zoneref = 0
        self.migratetype = 0
        self.high_zoneidx = 0
        self.spread_dirty_pages = False

    @property
    def preferred_zone(self):
        return self.zonelist[self.preferred_zoneref].zone


@kernel_function
def ac_classzone_idx(k, ac):
    """ac_classzone_idx(): the zone index of the preferred zoneref (4.19; 5.8 uses high_zoneidx)."""
    return ac.zonelist[ac.preferred_zoneref].zone_idx


@kernel_function
def node_zonelist(k, nid, flags):
    """node_zonelist(): the node's FALLBACK or NOFALLBACK zonelist for these flags."""
    return k.pgdat(nid).node_zonelists[gfp_zonelist(flags)]


@kernel_function
def should_fail_alloc_page(k, gfp_mask, order):
    """should_fail_alloc_page(): fault injection, with the kernel's exemptions; the env decides the rest."""
    if order < 1:  # fail_page_alloc.min_order
        return False
    if gfp_mask & __GFP_NOFAIL:
        return False
    if gfp_mask & __GFP_HIGHMEM:  # ignore_gfp_highmem
        return False
    if gfp_mask & __GFP_DIRECT_RECLAIM:  # ignore_gfp_reclaim
        return False
    return bool(k.env.should_fail_alloc_page(k, gfp_mask, order))


@kernel_function
def prepare_alloc_pages(k, gfp_mask, order, preferred_nid, nodemask, ac, alloc_mask, alloc_flags):
    """prepare_alloc_pages(): fill the alloc_context; returns (ok, alloc_mask, alloc_flags)."""
    ac.high_zoneidx = gfp_zone(gfp_mask, k.topology.configured_zones)
    ac.zonelist = k.node_zonelist(preferred_nid, gfp_mask)
    ac.nodemask = nodemask
    ac.migratetype = gfpflags_to_migratetype(gfp_mask, k.page_group_by_mobility_disabled)
    if k.cpusets_enabled():
        alloc_mask |= __GFP_HARDWALL
        if ac.nodemask is None:
            ac.nodemask = k.cpuset_current_mems_allowed()  # a pointer to the task's mask, not a copy
        else:
            alloc_flags |= ALLOC_CPUSET
    if k.should_fail_alloc_page(gfp_mask, order):
        return False, alloc_mask, alloc_flags
    if ac.migratetype == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    return True, alloc_mask, alloc_flags


@kernel_function
def finalise_ac(k, gfp_mask, ac):
    """finalise_ac(): dirty spreading for __GFP_WRITE, and the preferred zoneref."""
    ac.spread_dirty_pages = bool(gfp_mask & __GFP_WRITE)
    ac.preferred_zoneref = k.first_zones_zonelist(ac.zonelist, ac.high_zoneidx, ac.nodemask)


@kernel_function
def zone_allows_reclaim(k, local_zone, zone):
    """zone_allows_reclaim(): the zone's node is within RECLAIM_DISTANCE of the local zone's node."""
    return k.topology.node_distance(local_zone.nid, zone.nid) <= RECLAIM_DISTANCE


@kernel_function
def node_reclaim(k, pgdat, gfp_mask, order):
    """node_reclaim(): the env's answer (NOSCAN, FULL, SOME or SUCCESS); the model has no page cache."""
    return k.env.node_reclaim(k, pgdat, gfp_mask, order)


@kernel_function
def node_dirty_ok(k, pgdat):
    """node_dirty_ok(): the env's answer; the model has no dirty page cache."""
    return bool(k.env.node_dirty_ok(k, pgdat))


@kernel_function
def get_page_from_freelist(k, gfp_mask, order, alloc_flags, ac):
    """get_page_from_freelist(): the first zone from the preferred zoneref that passes every check."""
    last_pgdat_dirty_limit = None
    for _, zone in k.zonelist_cursor(ac.zonelist, ac.high_zoneidx, ac.nodemask, ac.preferred_zoneref):
        if k.scheduler is not None and k.cpusets_enabled():  # the walk reads current->mems_allowed without a lock
            preempt_point(k, "next zone of the walk, mems_allowed read unlocked: get_page_from_freelist")
        if k.cpusets_enabled() and (alloc_flags & ALLOC_CPUSET) and not k.__cpuset_zone_allowed(zone, gfp_mask):
            continue
        if ac.spread_dirty_pages:
            if last_pgdat_dirty_limit == zone.nid:
                continue
            if not k.node_dirty_ok(k.pgdat(zone.nid)):
                last_pgdat_dirty_limit = zone.nid
                continue
        mark = zone.watermark[alloc_flags & ALLOC_WMARK_MASK]
        if not k.zone_watermark_fast(zone, order, mark, k.ac_classzone_idx(ac), alloc_flags):
            if not (alloc_flags & ALLOC_NO_WATERMARKS):
                if k.node_reclaim_mode == 0 or not k.zone_allows_reclaim(ac.preferred_zone, zone):
                    continue
                ret = k.node_reclaim(k.pgdat(zone.nid), gfp_mask, order)
                if ret in (NODE_RECLAIM_NOSCAN, NODE_RECLAIM_FULL):
                    continue
                if not k.zone_watermark_ok(zone, order, mark, k.ac_classzone_idx(ac), alloc_flags):
                    continue
        # try_this_zone: the watermark was read without zone->lock, which rmqueue takes
        if k.scheduler is not None:
            preempt_point(k, "try_this_zone, before rmqueue: get_page_from_freelist")
        page = k.rmqueue(ac.preferred_zone, zone, order, gfp_mask, alloc_flags, ac.migratetype)
        if page is not None:
            k.prep_new_page(page, order, gfp_mask, alloc_flags)
            if order and (alloc_flags & ALLOC_HARDER):
                k.reserve_highatomic_pageblock(page, zone, order)
            return page
    return None


@kernel_function
def rmqueue(k, preferred_zone, zone, order, gfp_flags, alloc_flags, migratetype):
    """rmqueue(): order 0 from the pcp list; higher orders from buddy, HIGHATOMIC first for ALLOC_HARDER."""
    if order == 0:
        return k.rmqueue_pcplist(preferred_zone, zone, order, gfp_flags, migratetype)
    if (gfp_flags & __GFP_NOFAIL) and order > 1:
        k.warn_once("rmqueue: __GFP_NOFAIL with order > 1")
    page = None
    if alloc_flags & ALLOC_HARDER:
        page = k.__rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)
        if page is not None and k.tracepoints is not None:
            trace(k, "mm_page_alloc_zone_locked", page=page, order=order, migratetype=migratetype)
    if page is None:
        page = k.__rmqueue(zone, order, migratetype)
    if page is None:
        if k.scheduler is not None:
            preempt_point(k, "local_irq_restore: rmqueue")
        return None
    k.__mod_zone_freepage_state(zone, -(1 << order), k.get_pcppage_migratetype(page))
    k.stats.count_pgalloc(zone, 1 << order)
    k.zone_statistics(preferred_zone, zone)
    if k.scheduler is not None:
        preempt_point(k, "local_irq_restore: rmqueue", ((page, order),))
    return page


@kernel_function
def prep_new_page(k, page, order, gfp_flags, alloc_flags):
    """prep_new_page(): the block becomes allocated (refcount 1); pfmemalloc when NO_WATERMARKS was used."""
    k.allocated[page] = (order, gfpflags_to_migratetype(gfp_flags, k.page_group_by_mobility_disabled), None)
    k.pfmemalloc = bool(alloc_flags & ALLOC_NO_WATERMARKS)


@kernel_function
def zone_statistics(k, preferred_zone, z):
    """zone_statistics(): NUMA_HIT/MISS/FOREIGN and NUMA_LOCAL/OTHER, once per rmqueue success."""
    local = z.nid == k.numa_node_id()
    stats = k.stats
    if z.nid == preferred_zone.nid:
        stats.add(z, "numa_hit")
    else:
        stats.add(z, "numa_miss")
        stats.add(preferred_zone, "numa_foreign")
    stats.add(z, "numa_local" if local else "numa_other")


@kernel_function
def memcg_kmem_charge(k, page, gfp, order):
    """memcg_kmem_charge(): charge the current task's memory cgroup; -ENOMEM past its limit.

    memcg_kmem_bypass() skips the charge in interrupt context; try_charge() forces it past the
    limit for __GFP_NOFAIL, OOM victims and PF_MEMALLOC tasks.
    """
    cur = k.current
    task = cur.task
    if task is None or cur.in_interrupt:
        return 0
    nr_pages = 1 << order
    if task.memcg_limit is not None and task.memcg_usage + nr_pages > task.memcg_limit:
        forced = (gfp & __GFP_NOFAIL) or cur.oom_victim or cur.pf_memalloc
        if not forced:
            return -12
    task.memcg_usage += nr_pages
    order_, mt, _ = k.allocated[page]
    k.allocated[page] = (order_, mt, task.tid)
    return 0


@kernel_function
def memcg_kmem_uncharge(k, page, order):
    """memcg_kmem_uncharge(): return the block's pages to the charged task's cgroup."""
    owner = k.allocated[page][2]
    if owner is not None and owner in k.tasks:
        k.tasks[owner].memcg_usage -= 1 << order


@kernel_function
def __alloc_pages_nodemask(k, gfp_mask, order, preferred_nid, nodemask):
    """__alloc_pages_nodemask(): the heart of the zoned buddy allocator."""
    alloc_flags = ALLOC_WMARK_LOW
    gfp_mask &= k.gfp_allowed_mask
    alloc_mask = gfp_mask
    ac = AllocContext()
    ok, alloc_mask, alloc_flags = k.prepare_alloc_pages(
        gfp_mask, order, preferred_nid, nodemask, ac, alloc_mask, alloc_flags
    )
    if not ok:
        k.fail_reason = "should_fail_alloc_page"
        return None
    k.last_ac = ac
    k.finalise_ac(gfp_mask, ac)
    # 4.19 has no early MAX_ORDER check: such an order fails every watermark check here (answered before
    # 1 << order is computed, model/watermark.py) and __alloc_pages_slowpath refuses it with a warning.
    page = k.get_page_from_freelist(alloc_mask, order, alloc_flags, ac)
    if page is None:
        alloc_mask = k.current_gfp_context(gfp_mask)
        ac.spread_dirty_pages = False
        ac.nodemask = nodemask
        page = k.__alloc_pages_slowpath(alloc_mask, order, ac)
    if page is not None and k.topology.memcg_kmem_enabled and (gfp_mask & __GFP_ACCOUNT):
        if k.memcg_kmem_charge(page, gfp_mask, order) != 0:
            k.__free_pages(page, order)
            k.fail_reason = "memcg_kmem_charge: over the cgroup's limit"
            page = None
    if k.tracepoints is not None:  # tracing off: not even the arguments are built
        trace(k, "mm_page_alloc", page=page, order=order, gfp_flags=alloc_mask, migratetype=ac.migratetype)
    return page


@kernel_function
def free_one_page(k, zone, page, pfn, order, migratetype):
    """free_one_page(): under the zone lock; re-read the pageblock type if isolation is involved."""
    if has_isolate_pageblock(zone) or migratetype == MIGRATE_ISOLATE:
        migratetype = k.get_pageblock_migratetype(pfn)
    k.__free_one_page(page, pfn, zone, order, migratetype)


@kernel_function
def free_pages_prepare(k, page, order):
    """free_pages_prepare(): uncharge kmemcg and clear the allocation (refcount reached 0)."""
    if k.tracepoints is not None:  # tracing off: not even the arguments are built
        trace(k, "mm_page_free", page=page, order=order)
    if k.topology.memcg_kmem_enabled:
        k.memcg_kmem_uncharge(page, order)
    del k.allocated[page]


@kernel_function
def __free_pages_ok(k, page, order):
    """__free_pages_ok(): a block of order > 0 goes straight back to buddy."""
    k.free_pages_prepare(page, order)
    migratetype = k.get_pageblock_migratetype(page)
    # read without zone->lock: free_one_page re-reads it under the lock when isolation is involved
    if k.scheduler is not None:
        preempt_point(k, "get_pfnblock_migratetype, before local_irq_save: __free_pages_ok", ((page, order),))
    k.stats.pgfree += 1 << order
    k.free_one_page(k.page_zone(page), page, page, order, migratetype)


@kernel_function
def __free_pages(k, page, order):
    """__free_pages(): the last reference is dropped; order 0 via the pcp lists."""
    if order == 0:
        k.free_pages_prepare(page, 0)
        k.free_unref_page(page)
    else:
        k.__free_pages_ok(page, order)
