"""CMA counting mutants from Bartlomiej Zolnierkiewicz's v3.7 CMA series.

CMA-WMARK re-introduces the bug fixed by d95ea5d18e69 "cma: fix watermark checking": the watermark
checks count free CMA pages for every request, although only MOVABLE requests (ALLOC_CMA) may use
them. An UNMOVABLE request then passes the check while the pages it can actually use are at or
below the min mark, and takes them. 4.19 subtracts NR_FREE_CMA_PAGES in __zone_watermark_ok() and
in the order-0 shortcut of zone_watermark_fast() for requests without ALLOC_CMA; the mutant
subtracts it in neither (zone_watermark_fast() came in 4.8, the mistake maps onto both checks).

CMA-ISO-COUNT re-introduces the bug fixed by the series' "mm: cma: fix counting of isolated pages"
(the mainline id is not verified here): isolated free pages stayed in NR_FREE_PAGES (and
NR_FREE_CMA_PAGES), so an isolated CMA area still counted as free memory in every watermark check.
The fix moves the pages out of the counters in set_migratetype_isolate(), back in
unset_migratetype_isolate(), and stops counting pages freed into an ISOLATE pageblock; the mutant
takes all three back.
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.buddy import is_migrate_isolate, list_del_free
from buddycheck.model.constants import (
    ALLOC_CMA,
    ALLOC_HARDER,
    ALLOC_HIGH,
    ALLOC_OOM,
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
    ZONE_NORMAL,
)
from buddycheck.model.kernel import KERNEL_FUNCTIONS
from buddycheck.model.page_isolation import EBUSY, is_migrate_isolate_page

# ---- CMA-WMARK -------------------------------------------------------------------------------------------

CmaWmark = Kernel419.variant(
    "cma-wmark", "watermark checks count free CMA pages for every request (before d95ea5d18e69)")


@CmaWmark.override
def __zone_watermark_ok(k, z, order, mark, classzone_idx, alloc_flags, free_pages):
    """__zone_watermark_ok() before d95ea5d18e69: NR_FREE_CMA_PAGES is never taken off the free pages.

    (The per-order free-list test is 4.19's: it came later and is not part of the mistake.)
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
    if free_pages <= min_ + z.lowmem_reserve[classzone_idx]:
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


@CmaWmark.override
def zone_watermark_fast(k, z, order, mark, classzone_idx, alloc_flags):
    """zone_watermark_fast() with the same mistake: the order-0 shortcut counts free CMA pages."""
    free_pages = z.nr_free_pages
    if not order and free_pages > mark + z.lowmem_reserve[classzone_idx]:
        return True
    return k.__zone_watermark_ok(z, order, mark, classzone_idx, alloc_flags, free_pages)


def cma_wmark_scenario():
    """Known-bugs entry 14: one zone of 6 pages, pageblocks of 2, the upper 4 pages CMA, min = low = high = 1."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 6, watermarks=(1, 1, 1), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1),
                    cma_pageblocks=(1, 2))
    topology = Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=2, pageblock_order=1,
                        page_group_by_mobility_disabled=False, name="cma-6")
    return Scenario("cma-wmark", topology, allocs=(Alloc(G.GFP_KERNEL, 0),), depth=2,
                    description="2 ordinary pages and 4 CMA pages; unmovable requests may use only the 2")


# ---- CMA-ISO-COUNT ---------------------------------------------------------------------------------------

CmaIsoCount = Kernel419.variant(
    "cma-iso-count", "isolated free pages stay in NR_FREE_PAGES (before 'mm: cma: fix counting of isolated pages')")


@CmaIsoCount.override
def set_migratetype_isolate(k, page, migratetype, skip_hwpoisoned_pages):
    """set_migratetype_isolate() before the fix: the moved pages stay in the free counters."""
    zone = k.page_zone(page)
    ret = -EBUSY
    if not is_migrate_isolate_page(k, page):
        if not k.has_unmovable_pages(zone, page, 0, migratetype, skip_hwpoisoned_pages):
            ret = 0
    if ret == 0:
        k.set_pageblock_migratetype(page, MIGRATE_ISOLATE)
        zone.nr_isolate_pageblock += 1
        k.move_freepages_block(zone, page, MIGRATE_ISOLATE)
    if ret == 0:
        k.drain_all_pages(zone)
    return ret


@CmaIsoCount.override
def unset_migratetype_isolate(k, page, migratetype):
    """unset_migratetype_isolate() before the fix: the pages come back without being counted again.

    (4.19's re-free of a pageblock-order block, from 3c605096d315, is kept: it frees the block
    through __free_pages(), which counts it, so __isolate_free_page() takes it off the counters.)
    """
    zone = k.page_zone(page)
    isolated_page = False
    order = None
    if not is_migrate_isolate_page(k, page):
        return
    if page in k.page_buddy:
        order = k.page_buddy[page]
        if order >= k.pageblock_order:
            buddy_pfn = k.__find_buddy_pfn(page, order)
            if not is_migrate_isolate_page(k, buddy_pfn):
                k.__mod_zone_freepage_state(zone, -(1 << order), migratetype)
                list_del_free(zone, page, order)
                zone.free_area[order].nr_free -= 1
                del k.page_buddy[page]
                isolated_page = True
    if not isolated_page:
        k.move_freepages_block(zone, page, migratetype)
    k.set_pageblock_migratetype(page, migratetype)
    zone.nr_isolate_pageblock -= 1
    if isolated_page:
        k.post_alloc_hook(page, order, G.__GFP_MOVABLE)
        k.__free_pages(page, order)


@CmaIsoCount.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    """__free_one_page() of 4.19 except that a page freed into an ISOLATE pageblock is counted as free."""
    if is_migrate_isolate(migratetype):
        k.__mod_zone_freepage_state(zone, 1 << order, migratetype)  # 4.19 counts every other page itself
    KERNEL_FUNCTIONS["__free_one_page"](k, page, pfn, zone, order, migratetype)


def cma_iso_count_scenario():
    """One zone of 4 pages, pageblocks of 2 (each a MAX_ORDER block), the upper pageblock CMA; CMA isolation."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 4, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1),
                    cma_pageblocks=(1,))
    topology = Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=2, pageblock_order=1,
                        page_group_by_mobility_disabled=False, name="cma-4")
    return Scenario("cma-iso-count", topology, allocs=(Alloc(G.GFP_HIGHUSER_MOVABLE, 0),),
                    isolations=((2, 4),), depth=1,
                    description="an ordinary pageblock and a CMA pageblock; the CMA one is isolated")
