"""alloc_progress: an allocation fails (or reaches the OOM killer) only when 4.19's rules say it must.

The step invariants of spec/steps.py judge the page that was served; this one judges the allocations
that returned NULL or killed a task. It restates, from the state before and the request (never calling
the model's kernel functions), the attempts at the free lists that 4.19's __alloc_pages_nodemask
certainly makes before it may give up or call out_of_memory(), and claims the request must be served
if one of them certainly finds a page:

1. the fast path: get_page_from_freelist at the LOW mark, on the nodemask argument (the cpuset's
   mems_allowed in its place when there is none), classzone = the first zone of that walk;
2. __alloc_pages_slowpath's first attempt (label retry_cpuset): gfp_to_alloc_flags' MIN mark with
   ALLOC_HIGH (__GFP_HIGH), ALLOC_HARDER (__GFP_ATOMIC without __GFP_NOMEMALLOC, or an rt task outside
   interrupts), ALLOC_CMA (movable), ALLOC_CPUSET (not __GFP_ATOMIC), on the nodemask argument;
3. the attempt at label retry: __gfp_pfmemalloc_flags' ALLOC_NO_WATERMARKS (__GFP_MEMALLOC, PF_MEMALLOC)
   or ALLOC_OOM (an OOM victim) replace the flags, and the nodemask is dropped without ALLOC_CPUSET or
   with reserve flags. Skipped when a costly __GFP_NORETRY request's first compaction is deferred;
4. direct reclaim's second attempt, when the environment says reclaim made progress: after
   unreserve_highatomic_pageblock(ac, false) gave one HIGHATOMIC pageblock of the first zone holding
   more than one pageblock of reserve back to the request's migratetype, and drain_all_pages().

A zone of an attempt serves if it passes zone_watermark_fast() with the attempt's flags and classzone
(__zone_watermark_ok restated: the HIGH, HARDER and OOM discounts, the highatomic reserve for the
others, NR_FREE_CMA_PAGES without ALLOC_CMA, the classzone's lowmem_reserve, the order-0 shortcut and
the free-area test), or has ALLOC_NO_WATERMARKS; and rmqueue() then finds a page: order 0 on this CPU's
per-cpu list of the migratetype, else a free block of at least the order on the migratetype's list, its
fallbacks, CMA for movable requests, HIGHATOMIC under ALLOC_HARDER for order > 0 (order 0 refills the
per-cpu list through __rmqueue, which never takes HIGHATOMIC).

Sound over-approximations (never a claim 4.19 could break; see docs/invariants.md):
- the watermark must pass for 4.19's classzone (the first zone of the walk) and for gfp_zone (the
  classzone 5.8 computes), so that a later release's stricter lowmem_reserve is not judged a slip;
- the order-0 shortcut of zone_watermark_fast is taken as later releases have it (f27ce0e14088: the
  highatomic reserve is subtracted too, for requests without ALLOC_HARDER/ALLOC_OOM), which passes only
  where 4.19's passes: 4.19 letting order-0 requests into the reserve's share is not claimed;
- attempt 4 judges the state after the unreserve for every HIGHATOMIC block unreserve may pick first,
  and counts only free blocks that no per-cpu page can merge with when the drain frees it (a merge puts
  the block on the per-cpu page's list), with the counters before the drain (it only adds free pages);
- nothing after direct reclaim is claimed: the forced unreserve of should_reclaim_retry, the retries,
  __alloc_pages_may_oom's HIGH-mark attempt and __GFP_NOFAIL's last resorts depend on loops whose
  exits the environment steers; the model's reclaim and compaction free no pages, so they add nothing.
"""

from dataclasses import dataclass

from buddycheck.model.buddy import fallbacks
from buddycheck.model.constants import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HARDER,
    ALLOC_HIGH,
    ALLOC_NO_WATERMARKS,
    ALLOC_OOM,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MASK,
    ALLOC_WMARK_MIN,
    COMPACT_DEFERRED,
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    PAGE_ALLOC_COSTLY_ORDER,
)
from buddycheck.model.environment import IDLE
from buddycheck.model.errors import ModelError
from buddycheck.model.gfp import __GFP_ATOMIC as GFP_ATOMIC_BIT
from buddycheck.model.gfp import __GFP_DIRECT_RECLAIM as GFP_DIRECT_RECLAIM_BIT
from buddycheck.model.gfp import __GFP_HARDWALL as GFP_HARDWALL_BIT
from buddycheck.model.gfp import __GFP_HIGH as GFP_HIGH_BIT
from buddycheck.model.gfp import __GFP_HIGHMEM as GFP_HIGHMEM_BIT
from buddycheck.model.gfp import __GFP_MEMALLOC as GFP_MEMALLOC_BIT
from buddycheck.model.gfp import __GFP_NOFAIL as GFP_NOFAIL_BIT
from buddycheck.model.gfp import __GFP_NOMEMALLOC as GFP_NOMEMALLOC_BIT
from buddycheck.model.gfp import __GFP_NORETRY as GFP_NORETRY_BIT
from buddycheck.model.gfp import __GFP_WRITE as GFP_WRITE_BIT

from .steps import StepInvariant, watermark_ok
from .view import mt_name


@dataclass(frozen=True)
class Attempt:
    """One get_page_from_freelist() call 4.19 certainly makes: where it looks, with which flags, on which state."""

    label: str
    walk: tuple  # zone indexes of the view, in zonelist order
    classzone: int
    flags: int
    gfp: int  # the mask __cpuset_zone_allowed sees
    view: object  # the StateView the attempt sees
    safe: object = None  # None: every free block counts; else a predicate on (zone index, pfn, order)


def pfmemalloc_flags(request):
    """__gfp_pfmemalloc_flags(): NO_WATERMARKS for MEMALLOC or PF_MEMALLOC, ALLOC_OOM for an OOM victim."""
    if request.has(GFP_NOMEMALLOC_BIT):
        return 0
    if request.has(GFP_MEMALLOC_BIT):
        return ALLOC_NO_WATERMARKS
    if request.in_serving_softirq and request.pf_memalloc:
        return ALLOC_NO_WATERMARKS
    if not request.in_interrupt:
        if request.pf_memalloc:
            return ALLOC_NO_WATERMARKS
        if request.oom_victim:
            return ALLOC_OOM
    return 0


def slow_gfp(request):
    """The slow path's mask: the caller's (no __GFP_HARDWALL from prepare_alloc_pages), ATOMIC cleared with reclaim."""
    gfp = request.gfp
    if gfp & GFP_ATOMIC_BIT and gfp & GFP_DIRECT_RECLAIM_BIT:
        gfp &= ~GFP_ATOMIC_BIT
    return gfp


def slow_alloc_flags(request, gfp):
    """gfp_to_alloc_flags(), restated."""
    flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    if gfp & GFP_HIGH_BIT:
        flags |= ALLOC_HIGH
    if gfp & GFP_ATOMIC_BIT:
        if not gfp & GFP_NOMEMALLOC_BIT:
            flags |= ALLOC_HARDER
        flags &= ~ALLOC_CPUSET
    elif request.rt_task and not request.in_interrupt:
        flags |= ALLOC_HARDER
    if request.migratetype == MIGRATE_MOVABLE:
        flags |= ALLOC_CMA
    return flags


def walk_of(view, request, mask):
    """(zone indexes, classzone) of a zonelist walk under nodemask `mask` (None: every node)."""
    high = request.high_zoneidx
    zonelist = view.zonelist(request.nid, nofallback=request.thisnode)
    keys = [(nid, idx) for nid, idx in zonelist if idx <= high and (mask is None or nid in mask)]
    walk = tuple(zi for zi in (view.zone_index(nid, idx) for nid, idx in keys) if zi is not None)
    return walk, (keys[0][1] if keys else None)


def cpuset_allows(request, nid, gfp):
    """__cpuset_node_allowed(): interrupt, inside mems_allowed, an OOM victim, or no __GFP_HARDWALL (the root)."""
    if request.in_interrupt or request.mems_allowed is None or nid in request.mems_allowed:
        return True
    if request.oom_victim:
        return True
    return not gfp & GFP_HARDWALL_BIT


def usable_lists(request, flags):
    """The free lists rmqueue() may take a block of the request from (order 0 goes by the per-cpu refill)."""
    mt = request.migratetype
    lists = {mt, *fallbacks[mt]}
    if mt == MIGRATE_MOVABLE:
        lists.add(MIGRATE_CMA)
    if flags & ALLOC_HARDER and request.order > 0:
        lists.add(MIGRATE_HIGHATOMIC)
    return lists


def passes_watermark(z, order, flags, classzones, max_order, blocks):
    """zone_watermark_fast() for every classzone of `classzones`, the free-area test over `blocks` ((order, list))."""
    return all(passes_watermark_for(z, order, flags, cz, max_order, blocks) for cz in classzones)


def passes_watermark_for(z, order, flags, classzone, max_order, blocks):
    """zone_watermark_fast() with __zone_watermark_ok()'s free-area test over `blocks` ((order, list) pairs)."""
    mark = z.watermark[flags & ALLOC_WMARK_MASK]
    unusable = 0 if flags & ALLOC_CMA else z.nr_free_cma_pages
    if not flags & (ALLOC_HARDER | ALLOC_OOM):
        unusable += z.nr_reserved_highatomic  # the later shortcut's; 4.19's passes whenever this one does
    if order == 0 and z.nr_free_pages - unusable > mark + z.lowmem_reserve[classzone]:
        return True
    if not watermark_ok(z, order, mark, classzone, flags, z.nr_free_pages, z.nr_reserved_highatomic,
                        z.nr_free_cma_pages):
        return False
    if order == 0:
        return True
    usable = set(range(MIGRATE_PCPTYPES))
    if flags & ALLOC_CMA:
        usable.add(MIGRATE_CMA)
    if flags & (ALLOC_HARDER | ALLOC_OOM):
        usable.add(MIGRATE_HIGHATOMIC)
    return any(order <= o < max_order and lst in usable for o, lst in blocks)


def claimed_classzones(request, classzone):
    """The classzones a claim must hold for: the request's own, else 4.19's walk's and gfp_zone (5.8's choice).

    A release that computes the classzone as 5.8 does (ac->high_zoneidx) may ask a lower zone for a larger
    lowmem_reserve; a claim that holds under both never flags that choice.
    """
    if request.classzone is not None:
        return (request.classzone,)
    return (classzone, request.high_zoneidx)


def serving_zone(attempt, request):
    """The first zone of the attempt that certainly yields a page, or None."""
    view = attempt.view
    order = request.order
    lists = usable_lists(request, attempt.flags)
    classzones = claimed_classzones(request, attempt.classzone)
    for zi in attempt.walk:
        z = view.zones[zi]
        if attempt.flags & ALLOC_CPUSET and request.cpusets_enabled and \
                not cpuset_allows(request, z.nid, attempt.gfp):
            continue
        blocks = [(o, lst) for pfn, o, lst in z.free if attempt.safe is None or attempt.safe(zi, pfn, o)]
        if not attempt.flags & ALLOC_NO_WATERMARKS and \
                not passes_watermark(z, order, attempt.flags, classzones, view.max_order, blocks):
            continue
        if order == 0 and attempt.safe is None and \
                any(cpu == request.cpu and lst == request.migratetype for cpu, lst, _, _ in z.pcp):
            return zi
        if any(o >= order and lst in lists for o, lst in blocks):
            return zi
    return None


# ---- the attempts ------------------------------------------------------------------------------------
def fast_attempt(view, request):
    """get_page_from_freelist() of __alloc_pages_nodemask, or None when dirty spreading skips every zone."""
    if request.has(GFP_WRITE_BIT) and not request.dirty_ok:
        return None
    mask = request.nodemask
    flags = ALLOC_WMARK_LOW | (ALLOC_CMA if request.migratetype == MIGRATE_MOVABLE else 0)
    if request.cpusets_enabled and request.mems_allowed is not None:
        if mask is None:
            mask = request.mems_allowed
        else:
            flags |= ALLOC_CPUSET
    walk, classzone = walk_of(view, request, mask)
    if classzone is None:
        return None
    return Attempt("the fast path", walk, classzone, flags, request.gfp | GFP_HARDWALL_BIT, view)


def first_slow_attempt(view, request):
    gfp = slow_gfp(request)
    walk, classzone = walk_of(view, request, request.nodemask)
    if classzone is None:
        return None
    return Attempt("the slow path's first attempt", walk, classzone, slow_alloc_flags(request, gfp), gfp, view)


def compaction_gives_up(request, env):
    """A costly __GFP_NORETRY request whose first compaction is deferred goes to nopage before label retry."""
    gfp = slow_gfp(request)
    return (bool(gfp & GFP_DIRECT_RECLAIM_BIT) and request.order > PAGE_ALLOC_COSTLY_ORDER
            and not pfmemalloc_flags(request) and bool(gfp & GFP_NORETRY_BIT)
            and env.compact_result == COMPACT_DEFERRED)


def retry_attempt(view, request):
    gfp = slow_gfp(request)
    flags = slow_alloc_flags(request, gfp)
    reserve = pfmemalloc_flags(request)
    if reserve:
        flags = reserve
    mask = None if (not flags & ALLOC_CPUSET or reserve) else request.nodemask
    walk, classzone = walk_of(view, request, mask)
    if classzone is None:
        return None
    label = "the slow path's attempt with the reserves" if reserve else "the slow path's retry"
    return Attempt(label, walk, classzone, flags, gfp, view), mask


def unreserve_candidates(view, request, walk):
    """The states unreserve_highatomic_pageblock(ac, false) may leave: one per HIGHATOMIC block it may pick.

    The first zone of the walk with more than one pageblock of reserve and a free HIGHATOMIC block, its
    lowest order with one; which block heads the list the view does not say, so every one of them.
    """
    pageblock_pages = 1 << view.pageblock_order
    for zi in walk:
        z = view.zones[zi]
        if z.nr_reserved_highatomic <= pageblock_pages:
            continue
        ha = [(pfn, o) for pfn, o, lst in z.free if lst == MIGRATE_HIGHATOMIC]
        if not ha:
            continue
        low = min(o for _, o in ha)
        out = []
        for pfn, _ in sorted(p for p in ha if p[1] == low):
            start = pfn & ~(pageblock_pages - 1)
            end = start + pageblock_pages
            if start < z.start_pfn or end > z.end_pfn:
                return []  # move_freepages_block() refuses a pageblock across the zone's edge: no claim
            reserved = z.nr_reserved_highatomic
            if view.pageblock_mt(pfn) == MIGRATE_HIGHATOMIC:
                reserved -= min(pageblock_pages, reserved)
            free = tuple(sorted((p, o, request.migratetype if start <= p < end else lst) for p, o, lst in z.free))
            out.append(view.with_zone(zi, free=free, nr_reserved_highatomic=reserved))
        return out
    return []


def drain_safe(view):
    """A predicate: the free block cannot merge with a per-cpu page that drain_all_pages() frees."""
    top = view.max_order - 1
    pcp_heads = {(zi, pfn >> top) for zi, z in enumerate(view.zones) for _, _, pfn, _ in z.pcp}

    def safe(zi, pfn, order):
        return (zi, pfn >> top) not in pcp_heads
    return safe


def certain_attempts(view, request, env=IDLE):
    """The attempts 4.19 certainly makes before it may fail or call the OOM killer, each a list of alternatives.

    An entry is a list of Attempts of which 4.19 makes one (the view cannot say which); the request
    must be served if every alternative of some entry serves.
    """
    out = []
    fast = fast_attempt(view, request)
    if fast is not None:
        out.append([fast])
    if request.order >= view.max_order:
        return out
    first = first_slow_attempt(view, request)
    if first is None:
        return out
    out.append([first])
    if compaction_gives_up(request, env):
        return out
    retry = retry_attempt(view, request)
    if retry is None:
        return out
    attempt, _ = retry
    out.append([attempt])
    if not slow_gfp(request) & GFP_DIRECT_RECLAIM_BIT or request.pf_memalloc or not env.reclaim_progress:
        return out
    states = unreserve_candidates(view, request, attempt.walk)
    if states:
        out.append([Attempt("direct reclaim's attempt after unreserving a HIGHATOMIC pageblock", attempt.walk,
                            attempt.classzone, attempt.flags, attempt.gfp, s, drain_safe(s)) for s in states])
    return out


def fault_injected(request, env):
    """should_fail_alloc_page(), restated: the env's fault attribute, with the kernel's exemptions."""
    return (request.order >= 1 and not request.has(GFP_NOFAIL_BIT) and not request.has(GFP_HIGHMEM_BIT)
            and not request.has(GFP_DIRECT_RECLAIM_BIT) and bool(env.fail_alloc))


class AllocProgress(StepInvariant):
    name = "alloc_progress"
    meaning = ("an allocation returns NULL or reaches the OOM killer only if none of the attempts 4.19 certainly "
               "makes first (the fast path at LOW, the slow path at MIN with HIGH/HARDER/CMA, the retry with the "
               "reserves or without the nodemask, direct reclaim after unreserving a HIGHATOMIC pageblock) finds a "
               "zone the request may use that passes its watermark and holds a page rmqueue takes; a PREFERRED "
               "or LOCAL policy falls back along the whole zonelist, only BIND restricts the nodes")
    kernel = ("__alloc_pages_nodemask, __alloc_pages_slowpath, get_page_from_freelist, zone_watermark_fast / "
              "__zone_watermark_ok, gfp_to_alloc_flags, __gfp_pfmemalloc_flags, __alloc_pages_direct_reclaim, "
              "unreserve_highatomic_pageblock, rmqueue / __rmqueue; alloc_pages_current for the policy")
    exceptions = (
        "fault injection (should_fail_alloc_page: order >= 1 without NOFAIL, HIGHMEM or DIRECT_RECLAIM)",
        "order >= MAX_ORDER: only the fast path is judged (it finds no block that large)",
        "a memory cgroup that refuses the charge (memcg_kmem_charge frees the page it was served)",
        "__GFP_WRITE while node_dirty_ok is false: the fast path skips every zone, the slow path is judged",
        "a costly __GFP_NORETRY request whose first compaction is deferred stops before the retry label",
        "nothing after direct reclaim is claimed: costly orders, __GFP_NORETRY, __GFP_RETRY_MAYFAIL and "
        "__GFP_NOFAIL decide what follows from loops the environment steers; the forced unreserve of "
        "should_reclaim_retry, the OOM path's HIGH-mark attempt and __GFP_NOFAIL's last resorts are not judged",
        "per-cpu pages a drain would release are not counted: other CPUs' lists and other migratetypes' lists "
        "serve nobody before drain_all_pages, and after it only blocks no drained page merges with are counted",
        "unreserve_highatomic_pageblock may pick any HIGHATOMIC block of the lowest order: the claim holds only "
        "if every pick serves",
        "AllocVma (alloc_pages_vma) is not judged",
    )
    z3_side = ""

    def check_step(self, before, request, result, after, env=IDLE, memcg_refused=False):
        """Violations for a failed (or OOM-killing) allocation that one of 4.19's certain attempts serves."""
        failed = result is None or getattr(result, "page", None) is None
        killed = any(getattr(e, "kind", None) == "oom_kill" for e in getattr(result, "events", ()) or ())
        if not failed and not killed:
            return []
        if failed and memcg_refused and not killed:
            return []
        if fault_injected(request, env):
            return []
        try:
            attempts = certain_attempts(before, request, env)
        except ModelError:
            return []  # an invalid zone combination never reaches the allocator
        for alternatives in attempts:
            served = [serving_zone(a, request) for a in alternatives]
            if all(zi is not None for zi in served):
                first = alternatives[0]
                return [self._violation(first.view, request, first, served[0], killed and not failed)]
        return []

    def _violation(self, view, request, attempt, zi, killed):
        z = view.zones[zi]
        what = "reached the OOM killer" if killed else "returned NULL"
        remote = ""
        if request.nodemask is None and not request.thisnode and z.nid != request.nid:
            remote = (f"; a request preferring node {request.nid} without a nodemask (PREFERRED, LOCAL, default "
                      "policy) falls back to every node of its zonelist, only BIND restricts the nodes")
        return self.violation(
            f"order-{request.order} {mt_name(request.migratetype)} request {what}, but {attempt.label} (alloc_flags "
            f"{attempt.flags:#x}, classzone {attempt.classzone}) finds {z.label} above its watermark "
            f"(NR_FREE_PAGES {z.nr_free_pages}, min {z.watermark[0]}, lowmem_reserve "
            f"{z.lowmem_reserve[attempt.classzone]}, highatomic reserve {z.nr_reserved_highatomic}) with a page "
            f"rmqueue takes{remote}", zone=z.label)


ALLOC_PROGRESS = AllocProgress()
PROGRESS_INVARIANTS = (ALLOC_PROGRESS,)
