"""WMARK-NEG: the order-0 watermark shortcut passes when the unusable free pages exceed the free pages.

Fix: 9282012fc0aa "page_alloc: fix invalid watermark check on a negative value" (Jaewon Kim, v6.0;
it fixes f27ce0e14088 "page_alloc: consider highatomic reserve in watermark fast", about v5.10).
The mistake lives in code 4.19 lacks: 4.19's zone_watermark_fast() takes only free CMA pages off
NR_FREE_PAGES (for requests without ALLOC_CMA). f27ce0e14088 made it take off every "unusable" free
page, the highatomic reserve included (for requests without ALLOC_HARDER), and kept the difference
in a signed long that was then compared with the unsigned mark + lowmem_reserve: a negative
difference became a huge unsigned value and the shortcut passed.

In 4.19's terms the mutant is 4.19's zone_watermark_fast() with f27ce0e14088's shortcut:
usable = NR_FREE_PAGES - nr_reserved_highatomic (no ALLOC_HARDER/ALLOC_OOM) - NR_FREE_CMA_PAGES (no
ALLOC_CMA), compared as an unsigned long. Where usable >= 0 it is stricter than 4.19 (it also
subtracts the reserve), so every difference it makes in the checker's eyes is the negative case.
What went wrong: with nr_reserved_highatomic above the free pages, order-0 requests passed the
check and drained the last free pages without reclaim.

Smallest scenario: 4 pages in two pageblocks of 2, min 1 and low 3. An order-0 GFP_KERNEL
allocation, then a GFP_ATOMIC order-1 one that fails the LOW mark, passes the slow path's
discounted MIN mark and reserves its pageblock as HIGHATOMIC (nr_reserved_highatomic = 2 with 1
free page left); a last order-0 GFP_KERNEL allocation sees 1 - 2 = -1 usable pages, which the
mutant reads as 2^64 - 1 > 3: it takes the last free page, below min (watermark_respect).
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.constants import ALLOC_CMA, ALLOC_HARDER, ALLOC_OOM, ZONE_NORMAL

ULONG_MASK = (1 << 64) - 1

WmarkNeg = Kernel419.variant(
    "wmark-neg", "zone_watermark_fast() compares a negative usable-page count as unsigned (before 9282012fc0aa)")


@WmarkNeg.override
def zone_watermark_fast(k, z, order, mark, classzone_idx, alloc_flags):
    """zone_watermark_fast() as f27ce0e14088 left it: free minus unusable pages, compared as an unsigned long."""
    free_pages = z.nr_free_pages
    unusable = 0
    if not (alloc_flags & (ALLOC_HARDER | ALLOC_OOM)):
        unusable += z.nr_reserved_highatomic
    if not (alloc_flags & ALLOC_CMA):
        unusable += z.nr_free_cma_pages
    fast_free = free_pages - unusable
    if not order and (fast_free & ULONG_MASK) > mark + z.lowmem_reserve[classzone_idx]:
        return True
    return k.__zone_watermark_ok(z, order, mark, classzone_idx, alloc_flags, free_pages)


def wmark_neg_scenario():
    """One zone of 4 pages, pageblocks of 2 (MAX_ORDER 2), watermarks min 1, low 3, high 3."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 4, watermarks=(1, 3, 3), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    topology = Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=2, pageblock_order=1,
                        page_group_by_mobility_disabled=False, name="wmark-4")
    return Scenario("wmark-neg", topology, allocs=(Alloc(G.GFP_KERNEL, 0), Alloc(G.GFP_ATOMIC, 1)), depth=3,
                    description="a HIGHATOMIC reserve larger than what is free")
