"""Isolation mutants from Joonsoo Kim's v3.18 series on free-page counting under memory isolation.

ISO-MERGE-ORDER re-introduces the bug fixed by 3c605096d315 "mm/page_alloc: restrict max order of
merging on isolated pageblock": __free_one_page() merges a block past pageblock_order with a buddy
whatever the buddy's pageblock, so a free block of an ISOLATE pageblock and one of a normal
pageblock become one block on one list. Pageblocks are isolated one at a time; when
start_isolate_page_range() has isolated A = {0,1} and drains the per-cpu lists, pfn 0 comes back
as ISOLATE and merges with B's free {2,3}, still MOVABLE and counted in NR_FREE_PAGES, into one
block on the ISOLATE list: two pages leave the free lists that NR_FREE_PAGES counts without leaving
the counter (free_accounting, after alloc, free to the per-cpu list, isolate).

ISO-MERGE-BUDDY re-introduces the bug fixed by d9dddbf55667 "mm/page_alloc: prevent merging between
isolated and other pageblocks" (Vlastimil Babka, v4.6): 3c605096d315 capped the merge order only when
the page being freed was ISOLATE, so a page freed into a normal pageblock still merged past
pageblock_order with a free buddy of an ISOLATE pageblock (CMA stress tests saw free and CMA counts
above the totals). 4.19 looks at the buddy's pageblock too. The mutant is __free_one_page() as
3c605096d315 left it.

ISO-UNDO-NO-MERGE takes back the other half of the same commit: unset_migratetype_isolate() that
only moves the free pages back to the new type, as before 3c605096d315, while __free_one_page()
keeps refusing the merges. Buddies kept apart while a pageblock was isolated then stay apart for
good. It is a partial revert of the fix (a half-ported patch), not a bug that shipped.
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.buddy import is_migrate_isolate, list_del_free
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.page_isolation import is_migrate_isolate_page

# ---- ISO-MERGE-ORDER -------------------------------------------------------------------------------------

IsoMergeOrder = Kernel419.variant(
    "iso-merge-order",
    "__free_one_page() merges up to MAX_ORDER-1 whatever the buddy's pageblock (before 3c605096d315)")


def free_one_page_merging_up_to(k, page, pfn, zone, order, migratetype, max_order):
    """__free_one_page() as it was before d9dddbf55667: merge while below max_order-1, looking at no
    buddy's pageblock, then list the block at the head or, under 4.19's tail rule, at the tail."""
    if not is_migrate_isolate(migratetype):
        k.__mod_zone_freepage_state(zone, 1 << order, migratetype)
    buddy_pfn = None
    while order < max_order - 1:
        buddy_pfn = k.__find_buddy_pfn(pfn, order)
        buddy = page + (buddy_pfn - pfn)
        if not k.page_is_buddy(page, buddy, order):
            break
        list_del_free(zone, buddy, order)
        zone.free_area[order].nr_free -= 1
        del k.page_buddy[buddy]
        combined_pfn = buddy_pfn & pfn
        page = page + (combined_pfn - pfn)
        pfn = combined_pfn
        order += 1
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


@IsoMergeOrder.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    """__free_one_page() before 3c605096d315: merge with free buddies up to MAX_ORDER-1, isolation or not."""
    free_one_page_merging_up_to(k, page, pfn, zone, order, migratetype, k.MAX_ORDER)


def isolation_topology():
    """One Normal zone of 4 pages, MAX_ORDER 3 (one 4-page block), pageblock_order 1, per-cpu high 4, batch 1."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 4, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(4, 1))
    return Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=3, pageblock_order=1,
                    page_group_by_mobility_disabled=False, name="iso-4")


def isolation_scenario(name, depth):
    """Known-bugs entry 2's machine: pageblocks A = {0,1} and B = {2,3} in one 4-page block.

    The isolation range is the whole 4-page block, aligned as 4.19's callers align it. The moment
    the bugs need, A isolated and B not, is inside start_isolate_page_range(): after it isolates A
    it drains the per-cpu lists, and a page of A freed there goes to buddy as ISOLATE while B is
    still MOVABLE.
    """
    return Scenario(name, isolation_topology(),
                    allocs=(Alloc(G.GFP_HIGHUSER_MOVABLE, 0), Alloc(G.GFP_HIGHUSER_MOVABLE, 1)),
                    isolations=((0, 4),), depth=depth,
                    description="pageblocks {0,1} and {2,3} of one 4-page block, isolated together, pages on pcp")


# ---- ISO-MERGE-BUDDY -------------------------------------------------------------------------------------

IsoMergeBuddy = Kernel419.variant(
    "iso-merge-buddy",
    "__free_one_page() caps merging only for an ISOLATE page, not an ISOLATE buddy (before d9dddbf55667)")


@IsoMergeBuddy.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    """__free_one_page() between 3c605096d315 and d9dddbf55667: only an ISOLATE page stops at pageblock_order."""
    max_order = min(k.MAX_ORDER, k.pageblock_order + 1) if is_migrate_isolate(migratetype) else k.MAX_ORDER
    free_one_page_merging_up_to(k, page, pfn, zone, order, migratetype, max_order)


# ---- ISO-UNDO-NO-MERGE -----------------------------------------------------------------------------------

IsoUndoNoMerge = Kernel419.variant(
    "iso-undo-no-merge", "unset_migratetype_isolate() only moves the free pages back (half of 3c605096d315 reverted)")


@IsoUndoNoMerge.override
def unset_migratetype_isolate(k, page, migratetype):
    """unset_migratetype_isolate() before 3c605096d315: move the pageblock's free pages back, no re-free."""
    zone = k.page_zone(page)
    if not is_migrate_isolate_page(k, page):
        return
    nr_pages, _ = k.move_freepages_block(zone, page, migratetype)
    k.__mod_zone_freepage_state(zone, nr_pages, migratetype)
    k.set_pageblock_migratetype(page, migratetype)
    zone.nr_isolate_pageblock -= 1


