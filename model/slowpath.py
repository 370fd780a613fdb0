"""The allocation slow path (mm/page_alloc.c __alloc_pages_slowpath and helpers, 4.19).

Kept: the decision order, the flag recomputation (MIN watermark, HIGH,
HARDER, CMA, the pfmemalloc reserve flags that replace all others), the
nodemask drop, kswapd wakes, early compaction for costly or non-movable
high orders, direct reclaim with unreserve-and-drain, the retry rules with
MAX_RECLAIM_RETRIES and compaction priorities, the OOM gates, __GFP_NOFAIL's
cpuset fallback, and warn_alloc.

Explicit choices (answers of `k.env`): how many pages direct reclaim frees
(try_to_free_pages), the result of compaction (try_to_compact_pages), the
reclaimable pages of a zone, and whether out_of_memory() finds a victim.
Reclaim and compaction never move the model's pages; they only report
progress, as the env says.

Abstracted away: kswapd and kcompactd themselves (a wake is an event, with
the node's kswapd_order/classzone bookkeeping); sleeping (congestion_wait,
cond_resched, and schedule_timeout_uninterruptible after a failed trylock of
oom_lock, a choice: model/locks.py); ratelimiting of warn_alloc.
The cpuset cookie (read_mems_allowed_begin, model/cpuset.py) is taken at
retry_cpuset as in 4.19, and check_retry_cpuset retries when a cpuset update
ran since: only a concurrent pair can make it so (the interleaving decides
it, not the environment).
A __GFP_NOFAIL request that could loop forever stops after
MAX_SLOWPATH_ROUNDS rounds with a "livelock" event.
"""

from .constants import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HARDER,
    ALLOC_NO_WATERMARKS,
    ALLOC_OOM,
    ALLOC_WMARK_HIGH,
    ALLOC_WMARK_MASK,
    ALLOC_WMARK_MIN,
    COMPACT_COMPLETE,
    COMPACT_CONTENDED,
    COMPACT_CONTINUE,
    COMPACT_DEFERRED,
    COMPACT_INACTIVE,
    COMPACT_PARTIAL_SKIPPED,
    COMPACT_PRIO_SYNC_FULL,
    COMPACT_PRIO_SYNC_LIGHT,
    COMPACT_SKIPPED,
    COMPACT_SUCCESS,
    DEF_COMPACT_PRIORITY,
    INIT_COMPACT_PRIORITY,
    MAX_COMPACT_RETRIES,
    MAX_NR_ZONES,
    MAX_RECLAIM_RETRIES,
    MIGRATE_MOVABLE,
    PAGE_ALLOC_COSTLY_ORDER,
    WMARK_HIGH,
    WMARK_LOW,
    WMARK_MIN,
    ZONE_NORMAL,
)
from .gfp import (
    __GFP_ATOMIC,
    __GFP_DIRECT_RECLAIM,
    __GFP_FS,
    __GFP_HARDWALL,
    __GFP_HIGH,
    __GFP_IO,
    __GFP_KSWAPD_RECLAIM,
    __GFP_MEMALLOC,
    __GFP_NOFAIL,
    __GFP_NOMEMALLOC,
    __GFP_NORETRY,
    __GFP_NOWARN,
    __GFP_RETRY_MAYFAIL,
    __GFP_THISNODE,
    gfpflags_to_migratetype,
)
from .kernel import kernel_function
from .locks import OOM_LOCK, mutex_trylock, mutex_unlock
from .mmzone import managed_zone

MAX_SLOWPATH_ROUNDS = 64


@kernel_function
def current_gfp_context(k, flags):
    """current_gfp_context(): PF_MEMALLOC_NOIO clears IO|FS, PF_MEMALLOC_NOFS clears FS."""
    if k.current.memalloc_noio:
        flags &= ~(__GFP_IO | __GFP_FS)
    elif k.current.memalloc_nofs:
        flags &= ~__GFP_FS
    return flags


@kernel_function
def gfp_to_alloc_flags(k, gfp_mask):
    """gfp_to_alloc_flags(): MIN watermark and CPUSET, plus HIGH, HARDER and CMA as the flags say."""
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & __GFP_HIGH  # ALLOC_HIGH has the same value
    if gfp_mask & __GFP_ATOMIC:
        if not (gfp_mask & __GFP_NOMEMALLOC):
            alloc_flags |= ALLOC_HARDER
        alloc_flags &= ~ALLOC_CPUSET
    elif k.current.rt_task and not k.current.in_interrupt:
        alloc_flags |= ALLOC_HARDER
    if gfpflags_to_migratetype(gfp_mask, k.page_group_by_mobility_disabled) == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    return alloc_flags


@kernel_function
def __gfp_pfmemalloc_flags(k, gfp_mask):
    """__gfp_pfmemalloc_flags(): NO_WATERMARKS for MEMALLOC or PF_MEMALLOC, ALLOC_OOM for an OOM victim."""
    cur = k.current
    if gfp_mask & __GFP_NOMEMALLOC:
        return 0
    if gfp_mask & __GFP_MEMALLOC:
        return ALLOC_NO_WATERMARKS
    if cur.in_serving_softirq and cur.pf_memalloc:
        return ALLOC_NO_WATERMARKS
    if not cur.in_interrupt:
        if cur.pf_memalloc:
            return ALLOC_NO_WATERMARKS
        if cur.oom_victim:
            return ALLOC_OOM
    return 0


@kernel_function
def gfp_pfmemalloc_allowed(k, gfp_mask):
    """gfp_pfmemalloc_allowed(): the request may use the memory reserves."""
    return bool(k.__gfp_pfmemalloc_flags(gfp_mask))


@kernel_function
def pgdat_balanced(k, pgdat, order, classzone_idx):
    """pgdat_balanced(): some managed zone up to classzone passes the high watermark with no flags."""
    mark_ok_seen = False
    for i in range(classzone_idx + 1):
        zone = pgdat.node_zones[i]
        if not managed_zone(zone):
            continue
        mark_ok_seen = True
        if k.zone_watermark_ok(zone, order, zone.watermark[WMARK_HIGH], classzone_idx, 0):
            return True
    return not mark_ok_seen


@kernel_function
def wakeup_kswapd(k, zone, gfp_flags, order, classzone_idx):
    """wakeup_kswapd(): record the request on the node; wake kswapd unless the node is balanced."""
    if not managed_zone(zone):
        return
    if not k.cpuset_zone_allowed(zone, gfp_flags):
        return
    pgdat = k.pgdat(zone.nid)
    if pgdat.kswapd_classzone_idx == MAX_NR_ZONES:
        pgdat.kswapd_classzone_idx = classzone_idx
    else:
        pgdat.kswapd_classzone_idx = max(pgdat.kswapd_classzone_idx, classzone_idx)
    pgdat.kswapd_order = max(pgdat.kswapd_order, order)
    if k.pgdat_balanced(pgdat, order, classzone_idx):
        if not (gfp_flags & __GFP_DIRECT_RECLAIM):
            k.event("kcompactd_wake", nid=zone.nid, order=order, classzone=classzone_idx)
        return
    k.event("kswapd_wake", nid=zone.nid, order=order, classzone=classzone_idx)


@kernel_function
def wake_all_kswapds(k, order, gfp_mask, ac):
    """wake_all_kswapds(): wake each node of the zonelist once, with high_zoneidx as classzone."""
    last_pgdat = None
    for zone in k.zonelist_zones(ac.zonelist, ac.high_zoneidx, ac.nodemask):
        if last_pgdat != zone.nid:
            k.wakeup_kswapd(zone, gfp_mask, order, ac.high_zoneidx)
        last_pgdat = zone.nid


@kernel_function
def __alloc_pages_direct_reclaim(k, gfp_mask, order, alloc_flags, ac):
    """__alloc_pages_direct_reclaim(): reclaim (env), retry once more after unreserve and drain.

    Returns (page, did_some_progress).
    """
    progress = k.env.try_to_free_pages(k, ac, order, gfp_mask)
    if not progress:
        return None, 0
    drained = False
    while True:
        page = k.get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
        if page is not None or drained:
            return page, progress
        k.unreserve_highatomic_pageblock(ac, False)
        k.drain_all_pages(None)
        drained = True


@kernel_function
def __alloc_pages_direct_compact(k, gfp_mask, order, alloc_flags, ac, prio):
    """__alloc_pages_direct_compact(): compaction (env) then one freelist attempt.

    Returns (page, compact_result); compact_result is None for order 0 (not written).
    """
    if not order:
        return None, None
    compact_result = k.env.try_to_compact_pages(k, ac, order, gfp_mask, alloc_flags, prio)
    if compact_result <= COMPACT_INACTIVE:
        return None, compact_result
    k.stats.compactstall += 1
    page = k.get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
    return page, compact_result


def compaction_withdrawn(result):
    """compaction_withdrawn(): compaction did not run to a verdict."""
    return result in (COMPACT_SKIPPED, COMPACT_DEFERRED, COMPACT_CONTENDED, COMPACT_PARTIAL_SKIPPED)


@kernel_function
def __compaction_suitable(k, zone, order, alloc_flags, classzone_idx, wmark_target):
    """__compaction_suitable() (mm/compaction.c): SUCCESS if the order already fits, SKIPPED if order 0 cannot.

    Compaction needs order-0 free pages above min (low for costly orders) plus a gap of 2 << order
    to have migration targets.
    """
    watermark = zone.watermark[alloc_flags & ALLOC_WMARK_MASK]
    if k.zone_watermark_ok(zone, order, watermark, classzone_idx, alloc_flags):
        return COMPACT_SUCCESS
    watermark = zone.watermark[WMARK_LOW] if order > PAGE_ALLOC_COSTLY_ORDER else zone.watermark[WMARK_MIN]
    watermark += 2 << order  # compact_gap()
    if not k.__zone_watermark_ok(zone, 0, watermark, classzone_idx, ALLOC_CMA, wmark_target):
        return COMPACT_SKIPPED
    return COMPACT_CONTINUE


@kernel_function
def compaction_zonelist_suitable(k, ac, order, alloc_flags):
    """compaction_zonelist_suitable() (mm/compaction.c): some zone has room for compaction to work.

    Only a share of the reclaimable pages (reclaimable / order) is counted on top of the free ones.
    """
    for zone in k.zonelist_zones(ac.zonelist, ac.high_zoneidx, ac.nodemask):
        available = k.env.zone_reclaimable_pages(k, zone) // order
        available += zone.nr_free_pages
        if k.__compaction_suitable(zone, order, alloc_flags, k.ac_classzone_idx(ac), available) != COMPACT_SKIPPED:
            return True
    return False


@kernel_function
def should_compact_retry(k, ac, order, alloc_flags, compact_result, state):
    """should_compact_retry(): retry on progress up to a bound, then raise compaction priority."""
    if not order:
        return False
    if compact_result == COMPACT_SUCCESS:
        state.compaction_retries += 1
    if compact_result != COMPACT_COMPLETE:
        if compaction_withdrawn(compact_result):
            return k.compaction_zonelist_suitable(ac, order, alloc_flags)
        max_retries = MAX_COMPACT_RETRIES
        if order > PAGE_ALLOC_COSTLY_ORDER:
            max_retries //= 4
        if state.compaction_retries <= max_retries:
            return True
    # check_priority
    min_priority = COMPACT_PRIO_SYNC_LIGHT if order > PAGE_ALLOC_COSTLY_ORDER else COMPACT_PRIO_SYNC_FULL
    if state.compact_priority > min_priority:
        state.compact_priority -= 1
        state.compaction_retries = 0
        return True
    return False


@kernel_function
def should_reclaim_retry(k, gfp_mask, order, ac, alloc_flags, did_some_progress, state):
    """should_reclaim_retry(): retry while some zone could meet min with its reclaimable pages."""
    if did_some_progress and order <= PAGE_ALLOC_COSTLY_ORDER:
        state.no_progress_loops = 0
    else:
        state.no_progress_loops += 1
    if state.no_progress_loops > MAX_RECLAIM_RETRIES:
        return k.unreserve_highatomic_pageblock(ac, True)
    for zone in k.zonelist_zones(ac.zonelist, ac.high_zoneidx, ac.nodemask):
        reclaimable = k.env.zone_reclaimable_pages(k, zone)
        available = reclaimable + zone.nr_free_pages
        min_wmark = zone.watermark[WMARK_MIN]
        if k.__zone_watermark_ok(zone, order, min_wmark, k.ac_classzone_idx(ac), alloc_flags, available):
            return True
    return False


@kernel_function
def __alloc_pages_cpuset_fallback(k, gfp_mask, order, alloc_flags, ac):
    """__alloc_pages_cpuset_fallback(): try within the cpuset first, then without it."""
    page = k.get_page_from_freelist(gfp_mask, order, alloc_flags | ALLOC_CPUSET, ac)
    if page is None:
        page = k.get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
    return page


@kernel_function
def __alloc_pages_may_oom(k, gfp_mask, order, ac):
    """__alloc_pages_may_oom(): a last HIGH-watermark attempt, then the OOM killer unless a gate says no.

    Returns (page, did_some_progress). All of it runs under oom_lock, taken with a trylock: when
    another task holds it, that task is killing on everyone's behalf, so the caller claims progress
    and goes back to retry without a page (model/locks.py).
    """
    if not mutex_trylock(k, OOM_LOCK):
        return None, 1
    page, progress = may_oom_locked(k, gfp_mask, order, ac)
    mutex_unlock(k, OOM_LOCK)
    return page, progress


def may_oom_locked(k, gfp_mask, order, ac):
    """__alloc_pages_may_oom() between mutex_trylock(&oom_lock) and mutex_unlock(&oom_lock) (its `out:`)."""
    page = k.get_page_from_freelist((gfp_mask | __GFP_HARDWALL) & ~__GFP_DIRECT_RECLAIM, order,
                                    ALLOC_WMARK_HIGH | ALLOC_CPUSET, ac)
    if page is not None:
        return page, 0
    if k.current.pf_dumpcore:
        return None, 0
    if order > PAGE_ALLOC_COSTLY_ORDER:
        return None, 0
    if gfp_mask & __GFP_RETRY_MAYFAIL:
        return None, 0
    if ac.high_zoneidx < ZONE_NORMAL:
        return None, 0
    if (k.gfp_allowed_mask & (__GFP_IO | __GFP_FS)) != (__GFP_IO | __GFP_FS):  # pm_suspended_storage()
        return None, 0
    if gfp_mask & __GFP_THISNODE:
        return None, 0
    progress = 0
    killed = k.out_of_memory(ac, order, gfp_mask)
    if killed or (gfp_mask & __GFP_NOFAIL):
        progress = 1
        if gfp_mask & __GFP_NOFAIL:
            if not killed:
                k.warn_once("__alloc_pages_may_oom: __GFP_NOFAIL without an OOM victim")
            page = k.__alloc_pages_cpuset_fallback(gfp_mask, order, ALLOC_NO_WATERMARKS, ac)
    return page, progress


@kernel_function
def out_of_memory(k, ac, order, gfp_mask):
    """out_of_memory(): true (as if progress) for requests without __GFP_FS; otherwise the env picks a victim."""
    if gfp_mask and not (gfp_mask & __GFP_FS):
        return True
    killed = bool(k.env.out_of_memory(k, ac, order, gfp_mask))
    if killed:
        k.event("oom_kill", order=order)
    return killed


class SlowpathState:
    """The slow path's loop counters (locals in the kernel)."""

    __slots__ = ("compaction_retries", "no_progress_loops", "compact_priority")

    def __init__(self):
        self.compaction_retries = 0
        self.no_progress_loops = 0
        self.compact_priority = DEF_COMPACT_PRIORITY


@kernel_function
def warn_alloc(k, gfp_mask, nodemask, msg):
    """warn_alloc(): an allocation-failure report unless __GFP_NOWARN."""
    if gfp_mask & __GFP_NOWARN:
        return
    k.event("warn_alloc", message=msg)


@kernel_function
def check_retry_cpuset(k, cpuset_mems_cookie, ac):
    """check_retry_cpuset(): retry when the nodemask no longer meets the cpuset (dropping it), or the cpuset
    changed since the cookie was taken."""
    if k.cpusets_enabled() and ac.nodemask is not None and not k.cpuset_nodemask_valid_mems_allowed(ac.nodemask):
        ac.nodemask = None
        return True
    if k.read_mems_allowed_retry(cpuset_mems_cookie):
        k.observe("read_mems_allowed_retry")
        return True
    return False


@kernel_function
def __alloc_pages_slowpath(k, gfp_mask, order, ac):
    """__alloc_pages_slowpath(): wake kswapd, lower the watermark, reclaim, compact, retry, OOM.

    The kernel's labels (retry_cpuset, retry, nopage) are the values of `goto`.
    """
    can_direct_reclaim = bool(gfp_mask & __GFP_DIRECT_RECLAIM)
    costly_order = order > PAGE_ALLOC_COSTLY_ORDER
    if order >= k.MAX_ORDER:
        if not (gfp_mask & __GFP_NOWARN):
            k.warn_once(f"__alloc_pages_slowpath: order {order} >= MAX_ORDER {k.MAX_ORDER}")
        k.fail_reason = "order >= MAX_ORDER"
        return None
    if (gfp_mask & (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM)) == (__GFP_ATOMIC | __GFP_DIRECT_RECLAIM):
        k.warn_once("__alloc_pages_slowpath: __GFP_ATOMIC with __GFP_DIRECT_RECLAIM")
        gfp_mask &= ~__GFP_ATOMIC

    goto = "retry_cpuset"
    rounds = 0
    while True:
        rounds += 1
        if rounds > MAX_SLOWPATH_ROUNDS:
            k.event("livelock", order=order, rounds=MAX_SLOWPATH_ROUNDS)
            k.fail_reason = f"livelock: still retrying after {MAX_SLOWPATH_ROUNDS} rounds of the slow path"
            return None

        if goto == "retry_cpuset":
            goto = "retry"
            state = SlowpathState()
            compact_result = None
            did_some_progress = 0
            cpuset_mems_cookie = k.read_mems_allowed_begin()
            alloc_flags = k.gfp_to_alloc_flags(gfp_mask)
            ac.preferred_zoneref = k.first_zones_zonelist(ac.zonelist, ac.high_zoneidx, ac.nodemask)
            if ac.preferred_zone is None:
                k.fail_reason = "no zone in the zonelist is eligible"
                goto = "nopage"
            else:
                if gfp_mask & __GFP_KSWAPD_RECLAIM:
                    k.wake_all_kswapds(order, gfp_mask, ac)
                page = k.get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
                if page is not None:
                    return page
                if (can_direct_reclaim and (costly_order or (order > 0 and ac.migratetype != MIGRATE_MOVABLE))
                        and not k.gfp_pfmemalloc_allowed(gfp_mask)):
                    page, compact_result = k.__alloc_pages_direct_compact(gfp_mask, order, alloc_flags, ac,
                                                                          INIT_COMPACT_PRIORITY)
                    if page is not None:
                        return page
                    if costly_order and (gfp_mask & __GFP_NORETRY):
                        if compact_result == COMPACT_DEFERRED:
                            k.fail_reason = "costly __GFP_NORETRY request with compaction deferred"
                            goto = "nopage"
                        state.compact_priority = INIT_COMPACT_PRIORITY

        if goto == "retry":
            goto = "nopage"
            if gfp_mask & __GFP_KSWAPD_RECLAIM:
                k.wake_all_kswapds(order, gfp_mask, ac)
            reserve_flags = k.__gfp_pfmemalloc_flags(gfp_mask)
            if reserve_flags:
                alloc_flags = reserve_flags
            if not (alloc_flags & ALLOC_CPUSET) or reserve_flags:
                ac.nodemask = None
                ac.preferred_zoneref = k.first_zones_zonelist(ac.zonelist, ac.high_zoneidx, ac.nodemask)
            page = k.get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
            if page is not None:
                return page
            if not can_direct_reclaim:
                k.fail_reason = "no zone passes its watermark and the request may not reclaim"
            elif k.current.pf_memalloc:
                k.fail_reason = "a PF_MEMALLOC task may not reclaim recursively"
            else:
                page, did_some_progress = k.__alloc_pages_direct_reclaim(gfp_mask, order, alloc_flags, ac)
                if page is not None:
                    return page
                page, compact_result = k.__alloc_pages_direct_compact(gfp_mask, order, alloc_flags, ac,
                                                                      state.compact_priority)
                if page is not None:
                    return page
                if gfp_mask & __GFP_NORETRY:
                    k.fail_reason = "__GFP_NORETRY after one round of reclaim and compaction"
                elif costly_order and not (gfp_mask & __GFP_RETRY_MAYFAIL):
                    k.fail_reason = "a costly order without __GFP_RETRY_MAYFAIL"
                elif k.should_reclaim_retry(gfp_mask, order, ac, alloc_flags, did_some_progress > 0, state):
                    goto = "retry"
                elif did_some_progress > 0 and k.should_compact_retry(ac, order, alloc_flags, compact_result,
                                                                       state):
                    goto = "retry"
                elif k.check_retry_cpuset(cpuset_mems_cookie, ac):
                    goto = "retry_cpuset"
                else:
                    page, did_some_progress = k.__alloc_pages_may_oom(gfp_mask, order, ac)
                    if page is not None:
                        return page
                    if k.current.oom_victim and (alloc_flags == ALLOC_OOM or (gfp_mask & __GFP_NOMEMALLOC)):
                        k.fail_reason = "an OOM victim may not dig deeper into the reserves"
                    elif did_some_progress:
                        state.no_progress_loops = 0
                        goto = "retry"
                    else:
                        k.fail_reason = "out of memory and the OOM killer may not or cannot help"
            if goto != "nopage":
                continue

        # nopage
        if k.check_retry_cpuset(cpuset_mems_cookie, ac):
            goto = "retry_cpuset"
            continue
        if gfp_mask & __GFP_NOFAIL:
            if not can_direct_reclaim:
                k.warn_once("__alloc_pages_slowpath: __GFP_NOFAIL without __GFP_DIRECT_RECLAIM")
            else:
                if k.current.pf_memalloc:
                    k.warn_once("__alloc_pages_slowpath: __GFP_NOFAIL from a PF_MEMALLOC task")
                if costly_order:
                    k.warn_once("__alloc_pages_slowpath: __GFP_NOFAIL with a costly order")
                page = k.__alloc_pages_cpuset_fallback(gfp_mask, order, ALLOC_HARDER, ac)
                if page is not None:
                    return page
                goto = "retry"
                continue
        # fail
        k.warn_alloc(gfp_mask, ac.nodemask, f"page allocation failure: order:{order}")
        return None
