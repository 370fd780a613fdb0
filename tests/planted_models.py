"""Deliberately broken models: each engine must catch every one, with a pinned counterexample length.

Each entry: the broken model (a variant overriding one kernel function), the scenario it is checked
on, and the invariant expected to catch it.
"""

from buddycheck.checks.ops import Alloc, AllocPages, SetMempolicy
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import ALLOC_CMA, ALLOC_HARDER, ALLOC_HIGH, ALLOC_OOM, ZONE_DMA32, ZONE_NORMAL
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_INTERLEAVE
from buddycheck.model.mmzone import has_isolate_pageblock
from buddycheck.model.nodemask import next_node_in

# ---- the broken models --------------------------------------------------------------------------------------

BuddyPlus = Kernel419.variant("buddy-plus", "__find_buddy_pfn adds 2^order instead of flipping the bit")


@BuddyPlus.override
def __find_buddy_pfn(k, page_pfn, order):
    return page_pfn + (1 << order)


ExpandUpper = Kernel419.variant("expand-upper", "expand keeps the upper half and lists the lower halves")


@ExpandUpper.override
def expand(k, zone, page, low, high, migratetype):
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        zone.free_area[high].free_list[migratetype].insert(0, page)
        zone.free_area[high].nr_free += 1
        k.page_buddy[page] = high
        page += size
    # the caller still hands out the original (lowest) pfn: the block it returns overlaps a listed half


MergeShort = Kernel419.variant("merge-short", "__free_one_page's merge loop stops one order short")


@MergeShort.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    from buddycheck.model.buddy import list_del_free

    if migratetype != 5:
        k.__mod_zone_freepage_state(zone, 1 << order, migratetype)
    while order < k.MAX_ORDER - 2:  # should be MAX_ORDER - 1 (pageblock_order = MAX_ORDER - 1 here)
        buddy = pfn ^ (1 << order)
        if not k.page_is_buddy(pfn, buddy, order) or has_isolate_pageblock(zone):
            break
        list_del_free(zone, buddy, order)
        zone.free_area[order].nr_free -= 1
        del k.page_buddy[buddy]
        pfn &= buddy
        order += 1
    k.page_buddy[pfn] = order
    zone.free_area[order].free_list[migratetype].insert(0, pfn)
    zone.free_area[order].nr_free += 1


InterleaveSkip = Kernel419.variant("interleave-skip", "interleave_nodes steps over one node of the mask")


@InterleaveSkip.override
def interleave_nodes(k, policy):
    me = k.current.task
    mx = k.topology.max_numnodes
    nxt = next_node_in(next_node_in(me.il_prev, policy.nodes, mx), policy.nodes, mx)
    if nxt < mx:
        me.il_prev = nxt
    return nxt


BindIgnored = Kernel419.variant("bind-ignored", "policy_nodemask never returns the BIND nodes")


@BindIgnored.override
def policy_nodemask(k, gfp, policy):
    return None


WmarkNoReserve = Kernel419.variant("wmark-no-lowmem-reserve", "__zone_watermark_ok ignores lowmem_reserve")


@WmarkNoReserve.override
def __zone_watermark_ok(k, z, order, mark, classzone_idx, alloc_flags, free_pages):
    min_ = mark
    harder = alloc_flags & (ALLOC_HARDER | ALLOC_OOM)
    free_pages -= (1 << order) - 1
    if alloc_flags & ALLOC_HIGH:
        min_ -= min_ // 2
    if not harder:
        free_pages -= z.nr_reserved_highatomic
    else:
        min_ -= min_ // 4
    if not (alloc_flags & ALLOC_CMA):
        free_pages -= z.nr_free_cma_pages
    if free_pages <= min_:  # lowmem_reserve[classzone_idx] left out
        return False
    if not order:
        return True
    return any(z.free_area[o].free_list[mt] for o in range(order, k.MAX_ORDER) for mt in (0, 1, 2))


@WmarkNoReserve.override
def zone_watermark_fast(k, z, order, mark, classzone_idx, alloc_flags):
    return k.__zone_watermark_ok(z, order, mark, classzone_idx, alloc_flags, z.nr_free_pages)


ThisnodeFallback = Kernel419.variant("thisnode-fallback", "__GFP_THISNODE gets the FALLBACK zonelist")


@ThisnodeFallback.override
def node_zonelist(k, nid, flags):
    return k.pgdat(nid).node_zonelists[0]


StealNrFree = Kernel419.variant("steal-nr-free", "a steal leaves nr_free one block too high")


@StealNrFree.override
def steal_suitable_fallback(k, zone, page, start_type, whole_block):
    order = k.page_buddy[page]
    Kernel419.steal_suitable_fallback(k, zone, page, start_type, whole_block)
    zone.free_area[order].nr_free += 1  # as if the block were counted again on its new list


# ---- the machines and scenarios they are checked on ------------------------------------------------------------

def buddy_core(pages, max_order, orders):
    return Scenario(f"buddy-core-{pages}", preset("buddy-core", pages=pages, max_order=max_order),
                    allocs=tuple(Alloc(G.GFP_KERNEL, o) for o in orders), depth=12,
                    params={"preset": "buddy-core", "pages": pages, "max_order": max_order})


def two_nodes():
    """Two nodes, one 8-page Normal zone each, zero watermarks, MAX_ORDER 3, one CPU each."""
    zone = dict(watermarks=(0, 0, 0), pcp_high_batch=(0, 1))
    return Topology(nodes=(NodeSpec(0, (0,), (ZoneSpec(ZONE_NORMAL, 0, 8, **zone),)),
                           NodeSpec(1, (1,), (ZoneSpec(ZONE_NORMAL, 8, 8, **zone),))),
                    max_order=3, pageblock_order=2, page_group_by_mobility_disabled=False)


def dma32_reserve():
    """One node: DMA32 of 8 pages below a Normal of 8 pages; DMA32 keeps 4 pages from Normal-class requests."""
    return Topology(nodes=(NodeSpec(0, (0,), (
        ZoneSpec(ZONE_DMA32, 0, 8, watermarks=(0, 0, 0), lowmem_reserve=(0, 0, 4, 4, 4), pcp_high_batch=(0, 1)),
        ZoneSpec(ZONE_NORMAL, 8, 8, watermarks=(0, 0, 0), pcp_high_batch=(0, 1)),
    )),), max_order=3, pageblock_order=2, page_group_by_mobility_disabled=False)


def policy_scenario(name, ops, depth=4):
    return Scenario(name, two_nodes(), extra_ops=tuple(ops), depth=depth)


PLANTED = {
    # name: (model, scenario factory, invariant that must catch it, shortest counterexample length)
    "buddy-plus": (BuddyPlus, lambda: buddy_core(8, 3, (0,)), "maximal_coalescing", 4),
    "expand-upper": (ExpandUpper, lambda: buddy_core(8, 3, (1,)), "no_overlap", 1),
    "merge-short": (MergeShort, lambda: buddy_core(8, 3, (0,)), "maximal_coalescing", 2),
    "interleave-skip": (InterleaveSkip, lambda: policy_scenario("interleave", [
        SetMempolicy(MPOL_INTERLEAVE, frozenset({0, 1})), AllocPages(G.GFP_KERNEL, 0, cpu=0)]),
        "interleave_fairness", 2),
    "bind-ignored": (BindIgnored, lambda: policy_scenario("bind", [
        SetMempolicy(MPOL_BIND, frozenset({1})), AllocPages(G.GFP_KERNEL, 0, cpu=0)]), "nodemask_respect", 2),
    "wmark-no-lowmem-reserve": (WmarkNoReserve, lambda: Scenario("reserve", dma32_reserve(), allocs=(
        Alloc(G.GFP_KERNEL, 2, cpu=0),), depth=6), "watermark_respect", 4),
    "thisnode-fallback": (ThisnodeFallback, lambda: Scenario("thisnode", two_nodes(), allocs=(
        Alloc(G.GFP_KERNEL | G.__GFP_THISNODE, 2, cpu=0),), depth=6), "nodemask_respect", 3),
    "steal-nr-free": (StealNrFree, lambda: Scenario("steal", two_nodes(), allocs=(
        Alloc(G.GFP_KERNEL, 0, cpu=0),), depth=4), "free_accounting", 1),
}
