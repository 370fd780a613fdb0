"""The buddy free areas (mm/page_alloc.c, 4.19): taking blocks out, splitting, falling back, merging.

Free lists hold head pfns; index 0 is the list head. "add" inserts at the
head, "add_tail" appends, "move" removes and inserts at the head of the
target list, and allocation takes the head, as the kernel's list_head does.
PageBuddy and the block order live in `k.page_buddy` (pfn -> order).

Abstracted away: debug guard pages (CONFIG_DEBUG_PAGEALLOC), page poisoning
and the check_new_page()/bad_page() debug checks on allocation (pages are
always in the expected state here); CONFIG_HOLES_IN_ZONE (pfn_valid_within
is always true; a pfn outside every zone has no PageBuddy; a read past the
memory map raises OutOfZoneAccess, model/memmap.py); the "movable"
test of move_freepages() uses the migratetype an allocated page was asked
for (MOVABLE counts as PageLRU/__PageMovable), every page of a higher-order
block counted, since the model has no LRU.

Locking: everything here runs under zone->lock (rmqueue, rmqueue_bulk, free_one_page and
free_pcppages_bulk take it), so the fallback and steal path reads pageblock flags only under the
lock and has no preemption point. reserve_highatomic_pageblock and unreserve_highatomic_pageblock
take the lock themselves: their points (model/preempt.py) lie before it and after it.
"""

from .constants import (
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_PCPTYPES,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
)
from .kernel import kernel_function
from .memmap import out_of_zone
from .mmzone import has_isolate_pageblock, zone_spans_pfn
from .preempt import preempt_point
from .tracepoints import trace

# The order in which other free lists are tried; HIGHATOMIC, CMA and ISOLATE are never sources.
fallbacks = {
    MIGRATE_UNMOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
    MIGRATE_RECLAIMABLE: (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),
    MIGRATE_MOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
    MIGRATE_HIGHATOMIC: (),
    MIGRATE_CMA: (),
    MIGRATE_ISOLATE: (),
}


def is_migrate_isolate(mt):
    return mt == MIGRATE_ISOLATE


def is_migrate_cma(mt):
    return mt == MIGRATE_CMA


def is_migrate_highatomic(mt):
    return mt == MIGRATE_HIGHATOMIC


@kernel_function
def __find_buddy_pfn(k, page_pfn, order):
    """__find_buddy_pfn(): the pfn of the buddy of the aligned block at page_pfn."""
    return page_pfn ^ (1 << order)


@kernel_function
def get_pageblock_migratetype(k, pfn):
    """get_pageblock_migratetype()/get_pfnblock_migratetype(): the pageblock's type."""
    if not k.memmap.has_page(pfn):
        raise out_of_zone(k, pfn, "read the pageblock flags")
    return k.pageblock_flags[pfn >> k.pageblock_order]


@kernel_function
def set_pageblock_migratetype(k, pfn, migratetype):
    """set_pageblock_migratetype(): pcp types collapse to UNMOVABLE when grouping by mobility is off."""
    if k.page_group_by_mobility_disabled and migratetype < MIGRATE_PCPTYPES:
        migratetype = MIGRATE_UNMOVABLE
    if not k.memmap.in_zone(pfn):
        raise out_of_zone(k, pfn, "wrote the pageblock flags", "every zone")
    k.pageblock_flags[pfn >> k.pageblock_order] = migratetype


@kernel_function
def set_pcppage_migratetype(k, pfn, migratetype):
    """set_pcppage_migratetype(): cache the migratetype in page->index."""
    k.pcp_mt[pfn] = migratetype


@kernel_function
def get_pcppage_migratetype(k, pfn):
    """get_pcppage_migratetype(): the cached migratetype of page->index."""
    return k.pcp_mt[pfn]


@kernel_function
def __mod_zone_freepage_state(k, zone, nr_pages, migratetype):
    """__mod_zone_freepage_state(): NR_FREE_PAGES, and NR_FREE_CMA_PAGES for a CMA migratetype."""
    zone.nr_free_pages += nr_pages
    if is_migrate_cma(migratetype):
        zone.nr_free_cma_pages += nr_pages


def list_del_free(zone, pfn, order):
    """list_del(&page->lru) for a free block: remove it from whichever list of its order holds it."""
    for lst in zone.free_area[order].free_list:
        if pfn in lst:
            lst.remove(pfn)
            return
    raise AssertionError(f"pfn {pfn} of order {order} is PageBuddy but on no free list of {zone.label()}")


def list_move_free(zone, pfn, order, migratetype):
    """list_move(): take a free block off its list and add it at the head of migratetype's list."""
    list_del_free(zone, pfn, order)
    zone.free_area[order].free_list[migratetype].insert(0, pfn)


@kernel_function
def expand(k, zone, page, low, high, migratetype):
    """expand(): split a block of order high down to low; upper halves go to the list heads."""
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        half = page + size
        area = zone.free_area[high]
        area.free_list[migratetype].insert(0, half)
        area.nr_free += 1
        k.page_buddy[half] = high  # set_page_order()


@kernel_function
def __rmqueue_smallest(k, zone, order, migratetype):
    """__rmqueue_smallest(): the head of the smallest non-empty list of migratetype at order or above."""
    for current_order in range(order, k.MAX_ORDER):
        area = zone.free_area[current_order]
        lst = area.free_list[migratetype]
        if not lst:
            continue
        page = lst.pop(0)
        del k.page_buddy[page]  # rmv_page_order()
        area.nr_free -= 1
        k.expand(zone, page, order, current_order, migratetype)
        k.set_pcppage_migratetype(page, migratetype)
        return page
    return None


@kernel_function
def __rmqueue_cma_fallback(k, zone, order):
    """__rmqueue_cma_fallback(): MOVABLE requests may take from the CMA lists."""
    return k.__rmqueue_smallest(zone, order, MIGRATE_CMA)


def allocated_page_is_movable(k, pfn):
    """PageLRU(page) || __PageMovable(page), read as: the covering allocation asked for MOVABLE."""
    for order in range(k.MAX_ORDER):
        head = pfn & ~((1 << order) - 1)
        block = k.allocated.get(head)
        if block is not None and block[0] >= order:
            return block[1] == MIGRATE_MOVABLE
    return False


@kernel_function
def move_freepages(k, zone, start_pfn, end_pfn, migratetype):
    """move_freepages(): move every free block in [start, end] to migratetype's lists.

    Returns (pages_moved, num_movable).
    """
    if not (zone_spans_pfn(zone, start_pfn) and zone_spans_pfn(zone, end_pfn)):  # the kernel's VM_BUG_ON
        bad = end_pfn if zone_spans_pfn(zone, start_pfn) else start_pfn
        raise out_of_zone(k, bad, f"read the struct page (walking pfns {start_pfn}..{end_pfn})", zone.label())
    pages_moved = 0
    num_movable = 0
    pfn = start_pfn
    while pfn <= end_pfn:
        order = k.page_buddy.get(pfn)
        if order is None:
            if allocated_page_is_movable(k, pfn):
                num_movable += 1
            pfn += 1
            continue
        list_move_free(zone, pfn, order, migratetype)
        pfn += 1 << order
        pages_moved += 1 << order
    return pages_moved, num_movable


@kernel_function
def move_freepages_block(k, zone, page, migratetype):
    """move_freepages_block(): move_freepages() over page's pageblock, never crossing the zone.

    Returns (pages_moved, num_movable); (0, 0) when the block's end lies outside the zone.
    """
    start_pfn = page & ~(k.pageblock_nr_pages - 1)
    end_pfn = start_pfn + k.pageblock_nr_pages - 1
    if not zone_spans_pfn(zone, start_pfn):
        start_pfn = page
    if not zone_spans_pfn(zone, end_pfn):
        return 0, 0
    return k.move_freepages(zone, start_pfn, end_pfn, migratetype)


@kernel_function
def change_pageblock_range(k, page, start_order, migratetype):
    """change_pageblock_range(): retype every pageblock of a block of order >= pageblock_order."""
    for i in range(1 << (start_order - k.pageblock_order)):
        k.set_pageblock_migratetype(page + i * k.pageblock_nr_pages, migratetype)


@kernel_function
def can_steal_fallback(k, order, start_mt):
    """can_steal_fallback(): whether a fallback may claim the rest of the pageblock."""
    if order >= k.pageblock_order:
        return True
    if (
        order >= k.pageblock_order // 2
        or start_mt == MIGRATE_RECLAIMABLE
        or start_mt == MIGRATE_UNMOVABLE
        or k.page_group_by_mobility_disabled
    ):
        return True
    return False


@kernel_function
def steal_suitable_fallback(k, zone, page, start_type, whole_block):
    """steal_suitable_fallback(): move the block (or its whole pageblock) to start_type's lists."""
    current_order = k.page_buddy[page]
    old_block_type = k.get_pageblock_migratetype(page)
    single_page = False
    if is_migrate_highatomic(old_block_type):
        single_page = True
    elif current_order >= k.pageblock_order:
        k.change_pageblock_range(page, current_order, start_type)
        k.observe("steal_suitable_fallback")
        single_page = True
    elif not whole_block:
        single_page = True
    if not single_page:
        free_pages, movable_pages = k.move_freepages_block(zone, page, start_type)
        if start_type == MIGRATE_MOVABLE:
            alike_pages = movable_pages
        elif old_block_type == MIGRATE_MOVABLE:
            alike_pages = k.pageblock_nr_pages - (free_pages + movable_pages)
        else:
            alike_pages = 0
        if free_pages:
            if free_pages + alike_pages >= (1 << (k.pageblock_order - 1)) or k.page_group_by_mobility_disabled:
                k.set_pageblock_migratetype(page, start_type)
                k.observe("steal_suitable_fallback")
            return
    list_move_free(zone, page, current_order, start_type)


@kernel_function
def find_suitable_fallback(k, area, order, migratetype, only_stealable):
    """find_suitable_fallback(): the first fallback type with a free block here.

    Returns (fallback_mt or -1, can_steal).
    """
    if area.nr_free == 0:
        return -1, False
    can_steal = False
    for fallback_mt in fallbacks[migratetype]:
        if not area.free_list[fallback_mt]:
            continue
        if k.can_steal_fallback(order, migratetype):
            can_steal = True
        if not only_stealable:
            return fallback_mt, can_steal
        if can_steal:
            return fallback_mt, can_steal
    return -1, can_steal


@kernel_function
def __rmqueue_fallback(k, zone, order, start_migratetype):
    """__rmqueue_fallback(): steal the largest suitable block of another type (smallest for MOVABLE)."""
    found = None
    for current_order in range(k.MAX_ORDER - 1, order - 1, -1):
        area = zone.free_area[current_order]
        fallback_mt, can_steal = k.find_suitable_fallback(area, current_order, start_migratetype, False)
        if fallback_mt == -1:
            continue
        if not can_steal and start_migratetype == MIGRATE_MOVABLE and current_order > order:
            break  # find_smallest
        found = (area, fallback_mt, can_steal)
        break
    else:
        return False
    if found is None:
        for current_order in range(order, k.MAX_ORDER):
            area = zone.free_area[current_order]
            fallback_mt, can_steal = k.find_suitable_fallback(area, current_order, start_migratetype, False)
            if fallback_mt != -1:
                found = (area, fallback_mt, can_steal)
                break
        assert found is not None, "__rmqueue_fallback: find_smallest found nothing (the kernel's VM_BUG_ON)"
    area, fallback_mt, can_steal = found
    page = area.free_list[fallback_mt][0]
    k.steal_suitable_fallback(zone, page, start_migratetype, can_steal)
    if k.tracepoints is not None:  # tracing off: not even the arguments are built
        trace(k, "mm_page_alloc_extfrag", page=page, alloc_order=order, fallback_order=current_order,
              alloc_migratetype=start_migratetype, fallback_migratetype=fallback_mt,
              change_ownership=start_migratetype == k.get_pageblock_migratetype(page))
    return True


@kernel_function
def __rmqueue(k, zone, order, migratetype):
    """__rmqueue(): smallest block of the type, then CMA for MOVABLE, then fallback and retry."""
    while True:
        page = k.__rmqueue_smallest(zone, order, migratetype)
        if page is None:
            if migratetype == MIGRATE_MOVABLE:
                page = k.__rmqueue_cma_fallback(zone, order)
            if page is None and k.__rmqueue_fallback(zone, order, migratetype):
                continue
        if k.tracepoints is not None:  # tracing off: not even the arguments are built
            trace(k, "mm_page_alloc_zone_locked", page=page, order=order, migratetype=migratetype)
        return page


@kernel_function
def page_is_buddy(k, page, buddy, order):
    """page_is_buddy(): buddy is a free block of exactly this order in the same zone."""
    if not k.memmap.has_page(buddy):
        raise out_of_zone(k, buddy, "read the struct page")
    if k.page_buddy.get(buddy) != order:
        return False
    if k.page_zone_id(page) != k.page_zone_id(buddy):
        return False
    return True


@kernel_function
def __free_one_page(k, page, pfn, zone, order, migratetype):
    """__free_one_page(): merge with free buddies (pageblock-limited while isolating), then list it."""
    max_order = min(k.MAX_ORDER, k.pageblock_order + 1)
    if not is_migrate_isolate(migratetype):
        k.__mod_zone_freepage_state(zone, 1 << order, migratetype)
    buddy_pfn = None
    while True:  # continue_merging
        merged_to_limit = True
        while order < max_order - 1:
            buddy_pfn = k.__find_buddy_pfn(pfn, order)
            buddy = page + (buddy_pfn - pfn)
            if not k.page_is_buddy(page, buddy, order):
                merged_to_limit = False
                break
            # list_del() unlinks the buddy from whatever list holds it: its own zone's list
            list_del_free(k.page_zone(buddy), buddy, order)
            zone.free_area[order].nr_free -= 1
            del k.page_buddy[buddy]  # rmv_page_order()
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
    # done_merging
    k.page_buddy[page] = order  # set_page_order()
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


@kernel_function
def reserve_highatomic_pageblock(k, page, zone, alloc_order):
    """reserve_highatomic_pageblock(): turn the page's pageblock into a HIGHATOMIC reserve, within limit.

    The limit is read first without zone->lock and read again under it, where the pageblock's type is read.
    """
    max_managed = zone.managed_pages // 100 + k.pageblock_nr_pages
    if zone.nr_reserved_highatomic >= max_managed:
        return
    if k.scheduler is not None:
        preempt_point(k, "spin_lock_irqsave(&zone->lock), after the unlocked limit check: "
                         "reserve_highatomic_pageblock")
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = k.get_pageblock_migratetype(page)
    if not is_migrate_highatomic(mt) and not is_migrate_isolate(mt) and not is_migrate_cma(mt):
        zone.nr_reserved_highatomic += k.pageblock_nr_pages
        k.observe("reserve_highatomic_pageblock")
        k.set_pageblock_migratetype(page, MIGRATE_HIGHATOMIC)
        k.move_freepages_block(zone, page, MIGRATE_HIGHATOMIC)


@kernel_function
def unreserve_highatomic_pageblock(k, ac, force):
    """unreserve_highatomic_pageblock(): give one HIGHATOMIC pageblock back to ac.migratetype."""
    for zone in k.zonelist_zones(ac.zonelist, ac.high_zoneidx, ac.nodemask):
        if not force and zone.nr_reserved_highatomic <= k.pageblock_nr_pages:
            continue
        if k.scheduler is not None:
            preempt_point(k, "spin_lock_irqsave(&zone->lock), after the unlocked reserve check: "
                             "unreserve_highatomic_pageblock")
        for order in range(k.MAX_ORDER):
            lst = zone.free_area[order].free_list[MIGRATE_HIGHATOMIC]
            if not lst:
                continue
            page = lst[0]
            if is_migrate_highatomic(k.get_pageblock_migratetype(page)):
                zone.nr_reserved_highatomic -= min(k.pageblock_nr_pages, zone.nr_reserved_highatomic)
                k.observe("unreserve_highatomic_pageblock")
            k.set_pageblock_migratetype(page, ac.migratetype)
            moved, _ = k.move_freepages_block(zone, page, ac.migratetype)
            if moved:
                if k.scheduler is not None:
                    preempt_point(k, "spin_unlock_irqrestore(&zone->lock): unreserve_highatomic_pageblock")
                return True
        if k.scheduler is not None:
            preempt_point(k, "spin_unlock_irqrestore(&zone->lock): unreserve_highatomic_pageblock")
    return False
