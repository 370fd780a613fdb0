"""Planted variants that make a servable request fail: each one is caught by alloc_progress alone.

Each is `Kernel419.variant(...)` overriding ONE kernel function with a plausible slip; every step and
state invariant that judges served pages holds on them, since the slip only ever turns a page 4.19
would serve into a NULL (tests/test_progress.py pins the scenario and the length of each).

1. watermark-largest-lowmem-reserve  __zone_watermark_ok      a request whose classzone is a lower zone
2. reclaim-drain-without-unreserve   __alloc_pages_direct_reclaim  a second HIGHATOMIC pageblock reserved
3. preferred-as-bind                 policy_nodemask          MPOL_PREFERRED on a full preferred node
4. atomic-without-harder             gfp_to_alloc_flags       GFP_ATOMIC between 3/4 of min and min
"""

from buddycheck.model import Kernel419
from buddycheck.model.constants import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HARDER,
    ALLOC_HIGH,
    ALLOC_OOM,
    ALLOC_WMARK_MIN,
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
)
from buddycheck.model.gfp import __GFP_ATOMIC, __GFP_HIGH, __GFP_NOMEMALLOC, gfp_zone, gfpflags_to_migratetype
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_F_LOCAL, MPOL_F_MOF, MPOL_PREFERRED

# ---- 1. the watermark ------------------------------------------------------------------------------------

WatermarkLargestLowmemReserve = Kernel419.variant(
    "watermark-largest-lowmem-reserve",
    "__zone_watermark_ok() keeps the zone's largest lowmem_reserve, whatever the classzone")


@WatermarkLargestLowmemReserve.override
def __zone_watermark_ok(k, z, order, mark, classzone_idx, alloc_flags, free_pages):
    """__zone_watermark_ok() that protects a lower zone as if every request could use a higher zone.

    What is wrong: lowmem_reserve[classzone] is what a request whose classzone lies above z must leave
    in z; a request whose classzone is z itself (or a lower zone) owes nothing. Taking the largest entry
    off by one in the wrong direction makes a DMA32-only request fail in a DMA32 zone that is above its
    min mark. Nothing served breaks, so only alloc_progress sees it.
    """
    min_ = mark
    alloc_harder = alloc_flags & (ALLOC_HARDER | ALLOC_OOM)
    free_pages -= (1 << order) - 1
    if alloc_flags & ALLOC_HIGH:
        min_ -= min_ // 2
    if not alloc_harder:
        free_pages -= z.nr_reserved_highatomic
    elif alloc_flags & ALLOC_OOM:
        min_ -= min_ // 2
    else:
        min_ -= min_ // 4
    if not (alloc_flags & ALLOC_CMA):
        free_pages -= z.nr_free_cma_pages
    if free_pages <= min_ + max(z.lowmem_reserve):  # the slip: 4.19 takes z.lowmem_reserve[classzone_idx]
        return False
    if not order:
        return True
    for o in range(order, k.MAX_ORDER):
        area = z.free_area[o]
        if not area.nr_free:
            continue
        for mt in (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE):
            if area.free_list[mt]:
                return True
        if (alloc_flags & ALLOC_CMA) and area.free_list[MIGRATE_CMA]:
            return True
        if alloc_harder and area.free_list[MIGRATE_HIGHATOMIC]:
            return True
    return False


# ---- 2. the reserve the slow path releases ---------------------------------------------------------------

ReclaimDrainWithoutUnreserve = Kernel419.variant(
    "reclaim-drain-without-unreserve",
    "__alloc_pages_direct_reclaim() drains the per-cpu lists but no longer unreserves a HIGHATOMIC pageblock")


@ReclaimDrainWithoutUnreserve.override
def __alloc_pages_direct_reclaim(k, gfp_mask, order, alloc_flags, ac):
    """__alloc_pages_direct_reclaim() that gives up with the highatomic reserve untouched.

    What is wrong: when reclaim made progress and the allocation still fails, 4.19 releases one
    HIGHATOMIC pageblock of a zone that holds more than one (unreserve_highatomic_pageblock(ac, false))
    before its second attempt; without it a kernel request fails while a reserved pageblock it may have
    is free. Reachable only with two pageblocks reserved and reclaim progress.
    """
    progress = k.env.try_to_free_pages(k, ac, order, gfp_mask)
    if not progress:
        return None, 0
    drained = False
    while True:
        page = k.get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
        if page is not None or drained:
            return page, progress
        k.drain_all_pages(None)  # the slip: 4.19 calls unreserve_highatomic_pageblock(ac, false) first
        drained = True


# ---- 3. MPOL_PREFERRED -----------------------------------------------------------------------------------

PreferredAsBind = Kernel419.variant(
    "preferred-as-bind", "policy_nodemask() returns a PREFERRED policy's node as a nodemask, as for BIND")


@PreferredAsBind.override
def policy_nodemask(k, gfp, policy):
    """policy_nodemask() that restricts a PREFERRED policy to its node.

    What is wrong: MPOL_PREFERRED names where to start, and the allocation falls back along the
    preferred node's zonelist; only MPOL_BIND passes a nodemask. With the preferred node full, the
    allocation fails although the other node has free pages.
    """
    if policy.mode == MPOL_PREFERRED and not (policy.flags & (MPOL_F_LOCAL | MPOL_F_MOF)):  # a task's own policy
        return frozenset({policy.preferred_node})  # the slip: 4.19 returns NULL for PREFERRED
    if (policy.mode == MPOL_BIND
            and k.apply_policy_zone(policy, gfp_zone(gfp, k.topology.configured_zones))
            and k.cpuset_nodemask_valid_mems_allowed(policy.nodes)):
        return policy.nodes
    return None


# ---- 4. ALLOC_HARDER -------------------------------------------------------------------------------------

AtomicWithoutHarder = Kernel419.variant(
    "atomic-without-harder", "gfp_to_alloc_flags() drops ALLOC_HARDER for __GFP_ATOMIC requests")


@AtomicWithoutHarder.override
def gfp_to_alloc_flags(k, gfp_mask):
    """gfp_to_alloc_flags() that grants ALLOC_HARDER to real-time tasks only.

    What is wrong: an atomic request may go a quarter below the min mark (and use the HIGHATOMIC
    reserve); without ALLOC_HARDER a GFP_ATOMIC request fails in a zone between 3/4 of min and min.
    """
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & __GFP_HIGH
    if gfp_mask & __GFP_ATOMIC:
        if not (gfp_mask & __GFP_NOMEMALLOC):
            pass  # the slip: 4.19 sets ALLOC_HARDER here
        alloc_flags &= ~ALLOC_CPUSET
    elif k.current.rt_task and not k.current.in_interrupt:
        alloc_flags |= ALLOC_HARDER
    if gfpflags_to_migratetype(gfp_mask, k.page_group_by_mobility_disabled) == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    return alloc_flags


VARIANTS = {v.NAME: v for v in (WatermarkLargestLowmemReserve, ReclaimDrainWithoutUnreserve, PreferredAsBind,
                                AtomicWithoutHarder)}
