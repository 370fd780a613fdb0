"""A later kernel's merge refusal ported to 4.19, and a port of it that gets the types wrong.

- LaterMerge: __free_one_page as 1dd214b8f21c ("mm: page_alloc: avoid merging non-fallbackable
  pageblocks with others", v5.18) made it: one merge loop up to MAX_ORDER-1 that, at order >=
  pageblock_order, stops (goto done_merging) when migratetype != buddy_mt and either type is not
  migratetype_is_mergeable() (CMA, HIGHATOMIC, ISOLATE). 4.19 stops only for ISOLATE. The variant
  declares the strict profile (PROFILE): maximal_coalescing, which calls every unmerged pair of free
  buddies a violation, would be a false alarm for it; it is judged by maximal_coalescing_strict.
- LaterMergeHighatomicMixes: the same port with migratetype_is_mergeable() written `mt <=
  MIGRATE_PCPTYPES`: MIGRATE_HIGHATOMIC equals MIGRATE_PCPTYPES, so a HIGHATOMIC block still merges
  with a buddy of another type, where the later kernel refuses. It derives from LaterMerge (its base
  and profile); no_mixed_merge catches it.
"""

from buddycheck.model import Kernel419
from buddycheck.model.buddy import is_migrate_isolate, list_del_free
from buddycheck.model.constants import MIGRATE_PCPTYPES
from buddycheck.spec.invariants import PROFILE_STRICT


def later_free_one_page(k, page, pfn, zone, order, migratetype, mergeable):
    """__free_one_page() of 5.18+ on 4.19's lists and counters; `mergeable` is migratetype_is_mergeable()."""
    if not is_migrate_isolate(migratetype):
        k.__mod_zone_freepage_state(zone, 1 << order, migratetype)
    buddy_pfn = None
    while order < k.MAX_ORDER - 1:
        buddy_pfn = k.__find_buddy_pfn(pfn, order)
        buddy = page + (buddy_pfn - pfn)
        if not k.page_is_buddy(page, buddy, order):
            break  # goto done_merging
        if order >= k.pageblock_order:
            buddy_mt = k.get_pageblock_migratetype(buddy)
            if migratetype != buddy_mt and (not mergeable(migratetype) or not mergeable(buddy_mt)):
                break  # goto done_merging
        list_del_free(k.page_zone(buddy), buddy, order)
        zone.free_area[order].nr_free -= 1
        del k.page_buddy[buddy]  # rmv_page_order()
        combined_pfn = buddy_pfn & pfn
        page = page + (combined_pfn - pfn)
        pfn = combined_pfn
        order += 1
    # done_merging: as 4.19 (set_page_order, the tail placement when the next buddy is free)
    k.page_buddy[page] = order
    to_tail = False
    if order < k.MAX_ORDER - 2 and buddy_pfn is not None:
        combined_pfn = buddy_pfn & pfn
        higher_page = page + (combined_pfn - pfn)
        buddy_pfn = k.__find_buddy_pfn(combined_pfn, order + 1)
        higher_buddy = higher_page + (buddy_pfn - combined_pfn)
        to_tail = k.page_is_buddy(higher_page, higher_buddy, order + 1)
    if to_tail:
        zone.free_area[order].free_list[migratetype].append(page)
    else:
        zone.free_area[order].free_list[migratetype].insert(0, page)
    zone.free_area[order].nr_free += 1


def migratetype_is_mergeable(mt):
    """migratetype_is_mergeable() (include/linux/mmzone.h, 5.18+)."""
    return mt < MIGRATE_PCPTYPES


LaterMerge = Kernel419.variant(
    "later-merge",
    "__free_one_page refuses, at order >= pageblock_order, merges across non-mergeable types (1dd214b8f21c)")
LaterMerge.PROFILE = PROFILE_STRICT


@LaterMerge.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    """__free_one_page() with the merge refusal of 1dd214b8f21c (v5.18)."""
    later_free_one_page(k, page, pfn, zone, order, migratetype, migratetype_is_mergeable)


LaterMergeHighatomicMixes = LaterMerge.variant(  # judged against LaterMerge, the port it slips from
    "later-merge-highatomic-mixes", "LaterMerge with migratetype_is_mergeable() off by one: HIGHATOMIC mixes")


@LaterMergeHighatomicMixes.override
def __free_one_page(k, page, pfn, zone, order, migratetype):  # noqa: F811 (one override per variant)
    """__free_one_page() of 1dd214b8f21c with `mt <= MIGRATE_PCPTYPES`: HIGHATOMIC counts as mergeable."""
    later_free_one_page(k, page, pfn, zone, order, migratetype, lambda mt: mt <= MIGRATE_PCPTYPES)
