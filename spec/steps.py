"""Step invariants: properties of one allocation (the state before, the request, the result, the state after).

A `StepInvariant` has the texts of a state invariant (name, meaning, kernel,
exceptions) and `check_step(before, request, result, after)` returning a list
of `Violation`s. `before` and `after` are StateViews, `request` a `Request`
(what was asked, in which context, and the classzone the release computes),
`result` anything with `page`, `nid` and `zone_idx` (the model's
AllocResult). `check_interleave(mask, choices)` judges a sequence of
interleave choices.

Their Z3 side is in spec/theorems.py, where a for-all statement is
meaningful: zone_eligibility is `gfp_zone_eligibility` plus the zonelist
part of `zonelist_nodemask`; nodemask_respect is `zonelist_nodemask` and
`policy_nodemask_cpuset`; interleave_fairness is `interleave_fairness`.
watermark_respect and fallback_order have no Z3 encoding: they are
arithmetic on one concrete state, and the symbolic question they would
answer ("can some state make the allocator break them") needs the whole
allocation path in Z3, which the project does not encode.

Abstracted away: which path (fast or slow) served the page is not known to a
step check; each check states what holds on every path, deriving what it
cannot see (the free count at the moment of the watermark check) from the
states before and after.
"""

from dataclasses import dataclass

from buddycheck.model.buddy import fallbacks
from buddycheck.model.constants import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HARDER,
    ALLOC_HIGH,
    ALLOC_OOM,
    ALLOC_WMARK_LOW,
    ALLOC_WMARK_MASK,
    MIGRATE_CMA,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_UNMOVABLE,
    ZONE_NAMES,
)
from buddycheck.model.errors import ModelError
from buddycheck.model.gfp import __GFP_ATOMIC as GFP_ATOMIC_BIT
from buddycheck.model.gfp import __GFP_HARDWALL as GFP_HARDWALL_BIT
from buddycheck.model.gfp import __GFP_HIGH as GFP_HIGH_BIT
from buddycheck.model.gfp import __GFP_MEMALLOC as GFP_MEMALLOC_BIT
from buddycheck.model.gfp import __GFP_MOVABLE as GFP_MOVABLE_BIT
from buddycheck.model.gfp import __GFP_NOFAIL as GFP_NOFAIL_BIT
from buddycheck.model.gfp import __GFP_NOMEMALLOC as GFP_NOMEMALLOC_BIT
from buddycheck.model.gfp import __GFP_RECLAIMABLE as GFP_RECLAIMABLE_BIT
from buddycheck.model.gfp import __GFP_THISNODE as GFP_THISNODE_BIT
from buddycheck.model.gfp import __GFP_WRITE as GFP_WRITE_BIT
from buddycheck.model.gfp import DEFAULT_CONFIGURED_ZONES, gfp_zone

from .view import mt_name
from .violation import Violation


@dataclass(frozen=True)
class Request:
    """One call of __alloc_pages_nodemask and its context.

    nid: the preferred node; nodemask: the nodemask argument (a BIND policy's nodes when policy_nodemask
    returned them), None for none; mems_allowed: the task's cpuset (None: every node); classzone: the
    classzone index the release computes (None: derive it from the zonelist, see watermark_respect).
    """

    gfp: int
    order: int
    nid: int
    nodemask: frozenset | None = None
    cpu: int = 0
    mems_allowed: frozenset | None = None
    cpusets_enabled: bool = False
    in_interrupt: bool = False
    in_serving_softirq: bool = False
    oom_victim: bool = False
    pf_memalloc: bool = False
    rt_task: bool = False
    dirty_ok: bool = True
    page_group_by_mobility_disabled: bool = False
    configured_zones: frozenset = DEFAULT_CONFIGURED_ZONES
    classzone: int | None = None

    # ---- what the flags and the context allow -------------------------------------------------------
    @property
    def high_zoneidx(self):
        return gfp_zone(self.gfp, self.configured_zones)

    @property
    def migratetype(self):
        if self.page_group_by_mobility_disabled:
            return MIGRATE_UNMOVABLE
        return (self.gfp & (GFP_MOVABLE_BIT | GFP_RECLAIMABLE_BIT)) >> 3

    @property
    def thisnode(self):
        return bool(self.gfp & GFP_THISNODE_BIT)

    def has(self, bit):
        return bool(self.gfp & bit)

    @property
    def may_ignore_watermarks(self):
        """ALLOC_NO_WATERMARKS is possible: __gfp_pfmemalloc_flags, or __GFP_NOFAIL's last resort in may_oom."""
        if self.has(GFP_NOFAIL_BIT):
            return True
        if self.has(GFP_NOMEMALLOC_BIT):
            return False
        if self.has(GFP_MEMALLOC_BIT):
            return True
        if self.in_serving_softirq and self.pf_memalloc:
            return True
        return not self.in_interrupt and self.pf_memalloc

    @property
    def may_use_reserves(self):
        """__gfp_pfmemalloc_flags() can be nonzero (NO_WATERMARKS or ALLOC_OOM): the slow path drops the nodemask."""
        if self.has(GFP_NOMEMALLOC_BIT):
            return False
        return self.may_ignore_watermarks or (not self.in_interrupt and self.oom_victim)

    def min_watermark_flags(self):
        """The alloc_flags sets without ALLOC_NO_WATERMARKS the request can reach (all use the MIN mark)."""
        base = ALLOC_CMA if self.migratetype == MIGRATE_MOVABLE else 0
        slow = base | (ALLOC_HIGH if self.has(GFP_HIGH_BIT) else 0)
        if (self.has(GFP_ATOMIC_BIT) and not self.has(GFP_NOMEMALLOC_BIT)) or (self.rt_task and not self.in_interrupt):
            slow |= ALLOC_HARDER
        out = [slow]
        if not self.has(GFP_NOMEMALLOC_BIT) and not self.in_interrupt and self.oom_victim:
            out.append(ALLOC_OOM)
        return out

    @property
    def may_be_harder(self):
        return any(f & ALLOC_HARDER for f in self.min_watermark_flags())


def request_of(m, gfp, order=0, cpu=0, nid=None, nodemask=None, task=None, **context):
    """The Request for m.alloc(gfp, order, cpu, nid, nodemask, task, **context), read off machine m (unchanged)."""
    t = m.tasks[0] if task is None else (task if not isinstance(task, int) else m.tasks[task])
    mems = frozenset(t.mems_allowed) if m.cpusets_on else None
    if nid is None:
        nid = m.topology.cpu_to_node(cpu)
    return Request(gfp=gfp & m.gfp_allowed_mask, order=order, nid=nid,
                   nodemask=None if nodemask is None else frozenset(nodemask), cpu=cpu, mems_allowed=mems,
                   cpusets_enabled=bool(m.cpusets_on),
                   page_group_by_mobility_disabled=m.page_group_by_mobility_disabled,
                   configured_zones=m.topology.configured_zones,
                   in_interrupt=context.get("in_interrupt", False),
                   in_serving_softirq=context.get("in_serving_softirq", False),
                   oom_victim=context.get("oom_victim", False), pf_memalloc=context.get("pf_memalloc", False),
                   rt_task=context.get("rt_task", False), dirty_ok=m.env.dirty_ok)


class StepInvariant:
    name = ""
    profile = "4.19"  # see spec/invariants.py StateInvariant: "4.19" or "strict"
    # reads of the states only their fixed shape (zones, zonelists), so an operation of a concurrent pair,
    # which has no before and after of its own, can be judged with the request alone
    judges_pairs = False
    meaning = ""
    kernel = ""
    exceptions = ()
    z3_side = ""

    def check_step(self, before, request, result, after):
        raise NotImplementedError

    def violation(self, message, **values):
        return Violation(self.name, message, values=values)

    def __repr__(self):
        return f"<step invariant {self.name}>"


def _served(view, result):
    if result is None or getattr(result, "page", None) is None:
        return None
    return view.zone_index(result.nid, result.zone_idx)


def _label(view, zi):
    return view.zones[zi].label


# ---- zone_eligibility --------------------------------------------------------------------------------
class ZoneEligibility(StepInvariant):
    name = "zone_eligibility"
    meaning = ("an allocation is served from a zone no higher than gfp_zone(gfp), from the zonelist of the node "
               "it was asked for (its own zones only, under __GFP_THISNODE)")
    kernel = ("prepare_alloc_pages sets high_zoneidx = gfp_zone(gfp) and zonelist = node_zonelist(preferred_nid, "
              "gfp); every zone loop walks that zonelist with for_next_zone_zonelist_nodemask(high_zoneidx)")
    exceptions = ("an invalid zone-modifier combination never reaches the allocator (the model raises "
                  "InvalidGfpZone, the kernel BUGs under CONFIG_DEBUG_VM)",)
    z3_side = "gfp_zone_eligibility, zonelist_nodemask"
    judges_pairs = True

    def check_step(self, before, request, result, after):
        zi = _served(before, result)
        if zi is None:
            return []
        out = []
        z = before.zones[zi]
        try:
            high = request.high_zoneidx
        except ModelError as e:
            return [self.violation(f"a page was served although gfp_zone rejects the request: {e}")]
        if z.zone_idx > high:
            out.append(self.violation(
                f"order-{request.order} page at pfn {result.page} came from {z.label}, above gfp_zone = "
                f"{ZONE_NAMES[high]}", pfn=result.page))
        zonelist = before.zonelist(request.nid, nofallback=request.thisnode)
        if zonelist and z.key not in zonelist:
            which = "NOFALLBACK" if request.thisnode else "FALLBACK"
            out.append(self.violation(
                f"order-{request.order} page at pfn {result.page} came from {z.label}, which is not in node "
                f"{request.nid}'s {which} zonelist", pfn=result.page))
        return out


# ---- nodemask_respect --------------------------------------------------------------------------------
class NodemaskRespect(StepInvariant):
    name = "nodemask_respect"
    meaning = ("an allocation under a nodemask (a BIND policy that applies), under __GFP_THISNODE, or under a "
               "cpuset hardwall comes from an allowed node")
    kernel = ("the zonelist iterators skip nodes off ac->nodemask; __GFP_THISNODE selects the NOFALLBACK "
              "zonelist; get_page_from_freelist asks __cpuset_zone_allowed under ALLOC_CPUSET")
    exceptions = (
        "the slow path drops the nodemask for requests without ALLOC_CPUSET (__GFP_ATOMIC) and for requests that "
        "may use the reserves (__gfp_pfmemalloc_flags: __GFP_MEMALLOC, PF_MEMALLOC, OOM victims)",
        "check_retry_cpuset drops a nodemask that misses the cpuset",
        "the cpuset binds only __GFP_HARDWALL requests outside interrupts, not OOM victims, not __GFP_ATOMIC "
        "(no ALLOC_CPUSET), not reserve users, and not __GFP_NOFAIL (its last resort ignores the cpuset); "
        "without __GFP_HARDWALL the nearest hardwall ancestor is the root, which allows every node",
    )
    z3_side = "zonelist_nodemask, policy_nodemask_cpuset"
    judges_pairs = True

    def check_step(self, before, request, result, after):
        if result is None or getattr(result, "page", None) is None:
            return []
        out = []
        node = result.nid
        if request.thisnode and node != request.nid:
            out.append(self.violation(f"__GFP_THISNODE request for node {request.nid} got pfn {result.page} on "
                                      f"node {node}", pfn=result.page))
        mask = request.nodemask
        dropped = (request.has(GFP_ATOMIC_BIT) or request.may_use_reserves
                   or (request.cpusets_enabled and request.mems_allowed is not None
                       and not (mask or frozenset()) & request.mems_allowed))
        if mask is not None and not dropped and node not in mask:
            out.append(self.violation(f"pfn {result.page} came from node {node}, outside the nodemask "
                                      f"{sorted(mask)}", pfn=result.page))
        hardwall = (request.cpusets_enabled and request.mems_allowed is not None and request.has(GFP_HARDWALL_BIT)
                    and not request.in_interrupt and not request.oom_victim and not request.has(GFP_ATOMIC_BIT)
                    and not request.may_use_reserves and not request.has(GFP_NOFAIL_BIT))
        if hardwall and node not in request.mems_allowed:
            out.append(self.violation(f"hardwall request got pfn {result.page} from node {node}, outside the "
                                      f"cpuset's mems_allowed {sorted(request.mems_allowed)}", pfn=result.page))
        return out


# ---- watermark_respect -------------------------------------------------------------------------------
def watermark_ok(z, order, mark, classzone, alloc_flags, free_pages, reserved_highatomic, free_cma):
    """__zone_watermark_ok()'s free-page test (the per-order free-area test is left to the caller)."""
    min_ = mark
    harder = alloc_flags & (ALLOC_HARDER | ALLOC_OOM)
    free_pages -= (1 << order) - 1
    if alloc_flags & ALLOC_HIGH:
        min_ -= min_ // 2
    if not harder:
        free_pages -= reserved_highatomic
    elif alloc_flags & ALLOC_OOM:
        min_ -= min_ // 2
    else:
        min_ -= min_ // 4
    if not (alloc_flags & ALLOC_CMA):
        free_pages -= free_cma
    return free_pages > min_ + z.lowmem_reserve[classzone]


def classzone_candidates(view, request):
    """The classzone indexes the release can compute for this request (ac_classzone_idx on each path).

    4.19 takes the zone index of the first zone of the walk (preferred_zoneref): with the nodemask, with
    mems_allowed in its place (the fast path under cpusets), or with no mask (the slow path's reset).
    """
    if request.classzone is not None:
        return [request.classzone]
    high = request.high_zoneidx
    zonelist = view.zonelist(request.nid, nofallback=request.thisnode)
    out = []
    masks = [request.nodemask, None]
    if request.cpusets_enabled and request.nodemask is None and request.mems_allowed is not None:
        masks.append(request.mems_allowed)
    for mask in masks:
        for nid, idx in zonelist:
            if idx <= high and (mask is None or nid in mask):
                out.append(idx)
                break
    return sorted(set(out)) or [high]


class WatermarkRespect(StepInvariant):
    name = "watermark_respect"
    meaning = ("without ALLOC_NO_WATERMARKS, a page comes only from a zone that passed, when it was chosen, the "
               "watermark its flags demand: at least the MIN mark with the request's HIGH/HARDER/OOM discounts "
               "and the lowmem_reserve of the classzone the release computes")
    kernel = ("get_page_from_freelist checks zone_watermark_fast (and zone_watermark_ok after node_reclaim) "
              "before rmqueue; the slow path lowers the mark to MIN (gfp_to_alloc_flags) and only "
              "__gfp_pfmemalloc_flags grants ALLOC_NO_WATERMARKS")
    exceptions = (
        "exempt: requests that may use ALLOC_NO_WATERMARKS (__GFP_MEMALLOC, PF_MEMALLOC, and __GFP_NOFAIL, whose "
        "last resort in __alloc_pages_may_oom ignores watermarks)",
        "the order-0 shortcut of zone_watermark_fast neither subtracts the highatomic reserve nor discounts; a "
        "zone passes if either test passes",
        "the check judges the state at the moment of the check, which a step does not see: the free count is "
        "bounded from the state after (order > 0: exactly NR_FREE_PAGES after + 2^order; order 0: NR_FREE_PAGES "
        "after + this CPU's per-cpu pages after + 1, since a refill moves pages between the two), and the "
        "highatomic reserve from below by the reserve after minus the pageblock this allocation may reserve. "
        "So a refill may leave the zone below its mark by up to a batch: the kernel checks before it refills",
        "the classzone is the request's (the release computes it; 4.19 takes the first zone of the walk, 5.8 "
        "gfp_zone); without one, the lowest lowmem_reserve over the classzones the 4.19 walk can produce",
    )

    def check_step(self, before, request, result, after):
        zi = _served(after, result)
        if zi is None or request.may_ignore_watermarks:
            return []
        z = after.zones[zi]
        if request.order > 0:
            free_upper = z.nr_free_pages + (1 << request.order)
        else:
            pcp = sum(1 for cpu, _, _, _ in z.pcp if cpu == request.cpu)
            free_upper = z.nr_free_pages + pcp + 1
        ha_lower = z.nr_reserved_highatomic
        if request.order > 0 and request.may_be_harder:
            ha_lower = max(0, ha_lower - (1 << after.pageblock_order))
        cma = z.nr_free_cma_pages
        mark = z.watermark[0]
        for cz in classzone_candidates(after, request):
            for flags in request.min_watermark_flags():
                if watermark_ok(z, request.order, mark, cz, flags, free_upper, ha_lower, cma):
                    return []
                if request.order == 0:
                    not_cma = 0 if flags & ALLOC_CMA else cma
                    if free_upper - not_cma > mark + z.lowmem_reserve[cz]:
                        return []
        return [self.violation(
            f"order-{request.order} page at pfn {result.page} came from {z.label}, which had at most "
            f"{free_upper} free pages at the check (highatomic reserve >= {ha_lower}, CMA {cma}) against min "
            f"{mark} + lowmem_reserve {[z.lowmem_reserve[cz] for cz in classzone_candidates(after, request)]}",
            pfn=result.page, free_upper=free_upper)]


# ---- fallback_order ----------------------------------------------------------------------------------
def can_serve(view, zi, request):
    """Whether rmqueue in the fast path (no ALLOC_HARDER) would find a page in zone zi of view."""
    z = view.zones[zi]
    mt = request.migratetype
    order = request.order
    if order == 0 and any(cpu == request.cpu and lst == mt for cpu, lst, _, _ in z.pcp):
        return True
    lists = {mt, *fallbacks[mt]}
    if mt == MIGRATE_MOVABLE:
        lists.add(MIGRATE_CMA)
    return any(o >= order and lst in lists for _, o, lst in z.free)


def fast_path_walk(view, request):
    """(zone index, classzone, alloc_flags, nodemask) of the fast path's zone walk, in order."""
    high = request.high_zoneidx
    zonelist = view.zonelist(request.nid, nofallback=request.thisnode)
    mask = request.nodemask
    flags = ALLOC_WMARK_LOW | (ALLOC_CMA if request.migratetype == MIGRATE_MOVABLE else 0)
    if request.cpusets_enabled and request.mems_allowed is not None:
        if mask is None:
            mask = request.mems_allowed
        else:
            flags |= ALLOC_CPUSET
    walk = [view.zone_index(nid, idx) for nid, idx in zonelist if idx <= high and (mask is None or nid in mask)]
    walk = [zi for zi in walk if zi is not None]
    classzone = view.zones[walk[0]].zone_idx if walk else high
    return walk, classzone, flags


def fast_watermark_ok(z, order, mark, classzone, flags, max_order):
    """zone_watermark_fast() on a zone view, with its free-area test."""
    cma = 0 if flags & ALLOC_CMA else z.nr_free_cma_pages
    if order == 0 and z.nr_free_pages - cma > mark + z.lowmem_reserve[classzone]:
        return True
    if not watermark_ok(z, order, mark, classzone, flags, z.nr_free_pages, z.nr_reserved_highatomic,
                        z.nr_free_cma_pages):
        return False
    if order == 0:
        return True
    usable = set(range(MIGRATE_PCPTYPES)) | ({MIGRATE_CMA} if flags & ALLOC_CMA else set())
    return any(o >= order and o < max_order and mt in usable for _, o, mt in z.free)


class FallbackOrder(StepInvariant):
    name = "fallback_order"
    meaning = "the page comes from the first zone of the zonelist walk that passes every check"
    kernel = ("get_page_from_freelist walks the zonelist from the preferred zoneref and takes the first zone "
              "that passes the cpuset, dirty and watermark checks and yields a page from rmqueue")
    exceptions = (
        "judged against the fast path on the state before: if a zone earlier in its walk passes every check "
        "and can yield a page, the fast path takes it (or an earlier one), so no path may serve a later zone",
        "zones skipped by dirty spreading (__GFP_WRITE while node_dirty_ok is false) are not judged",
        "a zone that fails the watermark may still be used after node_reclaim succeeds; that only widens the "
        "choice, never reorders it",
    )

    def check_step(self, before, request, result, after):
        zi = _served(before, result)
        if zi is None:
            return []
        if request.has(GFP_WRITE_BIT) and not request.dirty_ok:
            return []
        walk, classzone, flags = fast_path_walk(before, request)
        for y in walk:
            if y == zi:
                return []
            z = before.zones[y]
            if flags & ALLOC_CPUSET and not (request.in_interrupt or request.oom_victim
                                             or z.nid in request.mems_allowed):
                continue
            mark = z.watermark[flags & ALLOC_WMARK_MASK]
            if fast_watermark_ok(z, request.order, mark, classzone, flags, before.max_order) and \
                    can_serve(before, y, request):
                return [self.violation(
                    f"order-{request.order} {mt_name(request.migratetype)} page at pfn {result.page} came from "
                    f"{_label(before, zi)}, but {z.label} comes first in node {request.nid}'s zonelist walk and "
                    f"passes every check (NR_FREE_PAGES {z.nr_free_pages}, low mark {mark})",
                    pfn=result.page, zone=z.label)]
        return []


# ---- interleave_fairness -----------------------------------------------------------------------------
class InterleaveFairness:
    name = "interleave_fairness"
    meaning = "for a task interleaving over a mask m, any |m| consecutive interleave choices name each node once"
    kernel = "interleave_nodes(): next_node_in(current->il_prev, nodes), and il_prev takes the result"
    exceptions = ("only choices made while the mask stays the same are judged: a rebind changes the mask and "
                  "restarts the count",)
    z3_side = "interleave_fairness"

    def check(self, mask, choices):
        """Violations for every window of |mask| consecutive choices that is not a permutation of mask."""
        mask = frozenset(mask)
        n = len(mask)
        out = []
        for c in choices:
            if c not in mask:
                out.append(Violation(self.name, f"choice {c} is not in the mask {sorted(mask)}",
                                          values={"node": c}))
        if n == 0:
            return out
        for start in range(0, max(0, len(choices) - n + 1)):
            window = choices[start:start + n]
            if frozenset(window) != mask:
                missing = sorted(mask - set(window))
                out.append(Violation(self.name, f"choices {start}..{start + n - 1} are {list(window)}: node(s) "
                                                f"{missing} of the mask {sorted(mask)} missing",
                                     values={"start": start}))
        return out


STEP_INVARIANTS = (ZoneEligibility(), NodemaskRespect(), WatermarkRespect(), FallbackOrder())
INTERLEAVE_FAIRNESS = InterleaveFairness()


def check_step(before, request, result, after, invariants=STEP_INVARIANTS):
    out = []
    for inv in invariants:
        out.extend(inv.check_step(before, request, result, after))
    return out


def check_interleave(mask, choices):
    return INTERLEAVE_FAIRNESS.check(mask, choices)
