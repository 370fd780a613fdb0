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

Only page_is_buddy() is overridden: as in the kernel, __free_one_page() unlinks the buddy from the
list that holds it (the other zone's) and decrements the freeing zone's nr_free.
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.constants import ZONE_DMA, ZONE_NORMAL

ZoneXmerge = Kernel419.variant("zone-xmerge", "page_is_buddy() without the page_zone_id() test (before 2.6.17)")


@ZoneXmerge.override
def page_is_buddy(k, page, buddy, order):
    """page_is_buddy() before "zone handle unaligned zone boundaries": PageBuddy and the order only."""
    return k.page_buddy.get(buddy) == order


def zone_xmerge_scenario():
    """One node, MAX_ORDER 2, pageblock_order 0: DMA = pfn [0, 3), Normal = pfn [3, 8)."""
    zone = dict(watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    topology = Topology(
        nodes=(NodeSpec(0, (0,), (ZoneSpec(ZONE_DMA, 0, 3, **zone), ZoneSpec(ZONE_NORMAL, 3, 5, **zone))),),
        max_order=2, pageblock_order=0, page_group_by_mobility_disabled=False, name="unaligned-dma")
    return Scenario("zone-xmerge", topology, allocs=(Alloc(G.GFP_DMA, 1), Alloc(G.GFP_KERNEL, 0)), depth=0,
                    description="DMA [0,3) and Normal [3,8): a zone boundary that is not aligned to order 1")
