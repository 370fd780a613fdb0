"""ZONE-XMERGE: page_is_buddy() without the zone test, on a machine whose zone boundary is not aligned.

Fix: "[PATCH] zone handle unaligned zone boundaries" (Andy Whitcroft, 2.6.17; the mainline id
cb2b95e1c6b5 is unverified). 4.19 has the fix: page_is_buddy() compares page_zone_id() of the page
and its buddy. The mutant drops that comparison, as the buddy allocator did when it assumed every
zone boundary was MAX_ORDER-aligned.

What went wrong: a free page merged with its buddy in the neighbouring zone; the merged block sat on
one zone's free list with pages of the other, and allocations got pages of the wrong zone.

In the model the boot frees already show it: the DMA zone [0, 3) frees pfn 2 as an order-0 block,
then the Normal zone [3, 8) frees pfn 3, whose buddy is pfn 2, and the two merge into the order-1
block {2, 3} on Normal's list. No topology avoids this: wherever a boundary is unaligned at some
order, both sides hold a free block of that order at boot and they are buddies, so the booted
machine itself is the counterexample (length 0, zone_containment: the block {2, 3} reaches below
Normal's first pfn; conservation also fails, Normal holding 6 pages of its 5).

The mutant also restates __free_one_page(), changing nothing in its logic: the model's list helper
(model/buddy.py list_del_free) looks for the buddy on the freeing zone's lists, which is exact only
while page_is_buddy() keeps merges inside one zone. The kernel's list_del() unlinks the buddy from
whichever list holds it, and the freeing zone's nr_free drops, and that is what the restated
function does.
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.buddy import is_migrate_isolate
from buddycheck.model.constants import ZONE_DMA, ZONE_NORMAL
from buddycheck.model.mmzone import has_isolate_pageblock

ZoneXmerge = Kernel419.variant("zone-xmerge", "page_is_buddy() without the page_zone_id() test (before 2.6.17)")


@ZoneXmerge.override
def page_is_buddy(k, page, buddy, order):
    """page_is_buddy() before "zone handle unaligned zone boundaries": PageBuddy and the order only."""
    return k.page_buddy.get(buddy) == order


def list_del_any_zone(k, pfn, order):
    """list_del(&page->lru) of a free block, from whichever zone's list holds it."""
    for zone in k.populated_zones:
        for lst in zone.free_area[order].free_list:
            if pfn in lst:
                lst.remove(pfn)
                return
    raise AssertionError(f"pfn {pfn} of order {order} is PageBuddy but on no free list")


@ZoneXmerge.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    """__free_one_page() of 4.19, with a list_del that follows the buddy into another zone's list."""
    max_order = min(k.MAX_ORDER, k.pageblock_order + 1)
    if not is_migrate_isolate(migratetype):
        k.__mod_zone_freepage_state(zone, 1 << order, migratetype)
    buddy_pfn = None
    while True:
        merged_to_limit = True
        while order < max_order - 1:
            buddy_pfn = k.__find_buddy_pfn(pfn, order)
            buddy = page + (buddy_pfn - pfn)
            if not k.page_is_buddy(page, buddy, order):
                merged_to_limit = False
                break
            list_del_any_zone(k, buddy, order)
            zone.free_area[order].nr_free -= 1
            del k.page_buddy[buddy]
            combined_pfn = buddy_pfn & pfn
            page = page + (combined_pfn - pfn)
            pfn = combined_pfn
            order += 1
        if not merged_to_limit or max_order >= k.MAX_ORDER:
            break
        if has_isolate_pageblock(zone):
            buddy_pfn = k.__find_buddy_pfn(pfn, order)
            buddy = page + (buddy_pfn - pfn)
            buddy_mt = k.get_pageblock_migratetype(buddy)
            if migratetype != buddy_mt and (is_migrate_isolate(migratetype) or is_migrate_isolate(buddy_mt)):
                break
        max_order += 1
    k.page_buddy[page] = order
    to_tail = False
    if order < k.MAX_ORDER - 2 and buddy_pfn is not None:
        combined_pfn = buddy_pfn & pfn
        higher_page = page + (combined_pfn - pfn)
        buddy_pfn = k.__find_buddy_pfn(combined_pfn, order + 1)
        higher_buddy = higher_page + (buddy_pfn - combined_pfn)
        if k.page_is_buddy(higher_page, higher_buddy, order + 1):
            to_tail = True
    if to_tail:
        zone.free_area[order].free_list[migratetype].append(page)
    else:
        zone.free_area[order].free_list[migratetype].insert(0, page)
    zone.free_area[order].nr_free += 1


def zone_xmerge_scenario():
    """One node, MAX_ORDER 2, pageblock_order 0: DMA = pfn [0, 3), Normal = pfn [3, 8)."""
    zone = dict(watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    topology = Topology(
        nodes=(NodeSpec(0, (0,), (ZoneSpec(ZONE_DMA, 0, 3, **zone), ZoneSpec(ZONE_NORMAL, 3, 5, **zone))),),
        max_order=2, pageblock_order=0, page_group_by_mobility_disabled=False, name="unaligned-dma")
    return Scenario("zone-xmerge", topology, allocs=(Alloc(G.GFP_DMA, 1), Alloc(G.GFP_KERNEL, 0)), depth=0,
                    description="DMA [0,3) and Normal [3,8): a zone boundary that is not aligned to order 1")
