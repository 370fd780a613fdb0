"""Page isolation of a pageblock range and its undo (mm/page_isolation.c, 4.19).

`start_isolate_page_range` turns each pageblock of an aligned range into
MIGRATE_ISOLATE: free blocks found in the pageblock move to the ISOLATE
lists and leave NR_FREE_PAGES, pages freed into it later stay there (see
free_one_page, free_pcppages_bulk and __free_one_page), and the allocator
never takes from those lists. A block holding an unmovable page cannot be
isolated; on such a failure the blocks already isolated by the call are
given back. `undo_isolate_page_range` returns every isolated pageblock of a
range to a migratetype, freeing a pageblock-sized free block again so that
it can merge with a free buddy it was kept apart from while isolated.

The 4.19 signatures are kept: `set_migratetype_isolate(page, migratetype,
skip_hwpoisoned_pages)`, `start_isolate_page_range(start, end, migratetype,
skip_hwpoisoned_pages)` (5.0 turned the last argument into an int of flags,
SKIP_HWPOISON | REPORT_FAILURE), `undo_isolate_page_range(start, end,
migratetype)`, `has_unmovable_pages(zone, page, count, migratetype,
skip_hwpoisoned_pages)`. `__isolate_free_page` and `post_alloc_hook` live in
mm/page_alloc.c; they are here because only the undo path uses them.

Abstracted away: the callers (memory offlining, alloc_contig_range and CMA,
which also align the range to MAX_ORDER_NR_PAGES and then migrate and test
the pages); test_pages_isolated() and alloc_migrate_target(); hwpoison
(no page is ever poisoned, so skip_hwpoisoned_pages changes nothing);
hugetlb pages (PageHuge is never true); the memory-isolate notifier chain
(no balloon driver is registered, so pages_found is 0); the zone lock and
IRQ state (each pageblock's locked part is one atomic section of a concurrent pair, ended by a
preemption point after the unlock; drain_all_pages(zone) runs after the locked part, as in
4.19); the dump_page() and tracepoint output.
Memory sections: a pfn in some zone is online and has a struct page; a pfn
outside every zone has none (pfn_to_online_page() returns NULL), and
has_unmovable_pages() reads a pfn outside every zone, like a zone pfn past
the managed pages, as a PG_reserved page.
"""

from .buddy import is_migrate_cma, is_migrate_highatomic, is_migrate_isolate, list_del_free
from .constants import ALLOC_CMA, MIGRATE_ISOLATE, MIGRATE_MOVABLE, WMARK_MIN, ZONE_MOVABLE
from .errors import InvalidOperation
from .gfp import __GFP_MOVABLE as GFP_MOVABLE_BIT
from .gfp import gfpflags_to_migratetype
from .kernel import kernel_function
from .preempt import preempt_point

EBUSY = 16


def is_migrate_isolate_page(k, pfn):
    """is_migrate_isolate_page(): the page's pageblock is MIGRATE_ISOLATE."""
    return is_migrate_isolate(k.get_pageblock_migratetype(pfn))


def page_reserved(k, pfn):
    """PageReserved(): a pfn outside every zone, or a zone pfn the boot never gave to buddy (past managed)."""
    zone = k.page_zone(pfn)
    if zone is None:
        return True
    return pfn >= zone.zone_start_pfn + zone.managed_pages


def check_pageblock_aligned(k, name, start_pfn, end_pfn):
    """The BUG_ON(!IS_ALIGNED(...)) of both range functions, as an error raised before any change."""
    nr = k.pageblock_nr_pages
    if start_pfn % nr or end_pfn % nr:
        raise InvalidOperation(
            f"{name}: pfn {start_pfn}..{end_pfn} is not aligned to pageblocks of {nr} pages (the kernel's BUG_ON)")


@kernel_function
def pfn_to_online_page(k, pfn):
    """pfn_to_online_page(): the page of pfn if its memory is online (here: it lies in a zone), else None."""
    if k.page_zone(pfn) is None:
        return None
    return pfn


@kernel_function
def has_unmovable_pages(k, zone, page, count, migratetype, skip_hwpoisoned_pages):
    """has_unmovable_pages(): whether the pageblock starting at page holds more than count unmovable pages.

    The 4.19 rule, mm/page_alloc.c, in the model's terms:
    - a CMA request (migratetype CMA) on a CMA pageblock is never refused; any other request scans the
      block, a CMA block included;
    - the scan walks pageblock_nr_pages pfns from page. A PG_reserved pfn (see page_reserved) is
      unmovable at once. A pfn with refcount 0 is skipped: a free buddy block is skipped whole, and
      a page on a per-cpu list or a tail page of an allocated block of order > 0 is skipped alone
      (only the head of an allocated block holds a reference, non-compound or compound alike);
    - the head of an allocated block is movable when it was allocated MOVABLE (the model's stand-in
      for PageLRU / __PageMovable, as in move_freepages); otherwise it counts, and the block is
      unmovable once more than count pages were counted. count is 0 in every 4.19 caller here, so
      one allocated non-MOVABLE head anywhere in the block refuses it.
    An unmovable verdict in ZONE_MOVABLE fires the kernel's WARN_ON_ONCE.
    """
    if is_migrate_cma(migratetype) and is_migrate_cma(k.get_pageblock_migratetype(page)):
        return False
    pfn = page
    found = 0
    it = 0
    while it < k.pageblock_nr_pages:
        check = pfn + it
        if page_reserved(k, check):
            return _unmovable(k, zone)
        block = k.allocated.get(check)
        if block is None:  # page_ref_count() == 0
            order = k.page_buddy.get(check)
            if order is not None:
                it += (1 << order) - 1
            it += 1
            continue
        if block[1] == MIGRATE_MOVABLE:  # PageLRU / __PageMovable
            it += 1
            continue
        found += 1
        if found > count:
            return _unmovable(k, zone)
        it += 1
    return False


def _unmovable(k, zone):
    if zone.idx == ZONE_MOVABLE:
        k.warn_once("has_unmovable_pages: unmovable page in ZONE_MOVABLE")
    return True


@kernel_function
def set_migratetype_isolate(k, page, migratetype, skip_hwpoisoned_pages):
    """set_migratetype_isolate(): make page's pageblock MIGRATE_ISOLATE; 0, or -EBUSY (already isolated, unmovable).

    Under the zone lock: an already isolated block is refused (someone else isolated it); so is one
    with unmovable pages. Otherwise the block becomes ISOLATE, nr_isolate_pageblock grows, the free
    blocks whose heads lie in the pageblock move to the ISOLATE lists, and NR_FREE_PAGES (and
    NR_FREE_CMA_PAGES for a CMA block) drops by the pages moved, under the block's old type. After
    the lock, drain_all_pages(zone) pushes per-cpu pages back to buddy, where they follow the new type.
    """
    zone = k.page_zone(page)
    ret = -EBUSY
    if not is_migrate_isolate_page(k, page):
        pages_found = 0  # memory_isolate_notify(MEM_ISOLATE_COUNT): no notifier registered
        if not k.has_unmovable_pages(zone, page, pages_found, migratetype, skip_hwpoisoned_pages):
            ret = 0
    if ret == 0:
        mt = k.get_pageblock_migratetype(page)
        k.set_pageblock_migratetype(page, MIGRATE_ISOLATE)
        zone.nr_isolate_pageblock += 1
        nr_pages, _ = k.move_freepages_block(zone, page, MIGRATE_ISOLATE)
        k.__mod_zone_freepage_state(zone, -nr_pages, mt)
    if k.scheduler is not None:
        preempt_point(k, "spin_unlock_irqrestore(&zone->lock): set_migratetype_isolate")
    if ret == 0:
        k.drain_all_pages(zone)
    return ret


@kernel_function
def __isolate_free_page(k, page, order):
    """__isolate_free_page(): take a free block off buddy as if allocated; its size, or 0 below the watermark.

    Outside an ISOLATE pageblock the order-0 check against min + 2^order must pass (with ALLOC_CMA,
    classzone 0) and NR_FREE_PAGES drops; inside one nothing is counted. A block of at least half a
    pageblock retypes every pageblock it covers to MOVABLE, except ISOLATE, CMA and HIGHATOMIC ones.
    """
    zone = k.page_zone(page)
    mt = k.get_pageblock_migratetype(page)
    if not is_migrate_isolate(mt):
        watermark = zone.watermark[WMARK_MIN] + (1 << order)
        if not k.zone_watermark_ok(zone, 0, watermark, 0, ALLOC_CMA):
            return 0
        k.__mod_zone_freepage_state(zone, -(1 << order), mt)
    list_del_free(zone, page, order)
    zone.free_area[order].nr_free -= 1
    del k.page_buddy[page]  # rmv_page_order()
    if order >= k.pageblock_order - 1:
        endpage = page + (1 << order) - 1
        pfn = page
        while pfn < endpage:
            block_mt = k.get_pageblock_migratetype(pfn)
            if not (is_migrate_isolate(block_mt) or is_migrate_cma(block_mt) or is_migrate_highatomic(block_mt)):
                k.set_pageblock_migratetype(pfn, MIGRATE_MOVABLE)
            pfn += k.pageblock_nr_pages
    return 1 << order


@kernel_function
def post_alloc_hook(k, page, order, gfp_flags):
    """post_alloc_hook(): the block becomes an allocated page with one reference (refcount 1)."""
    k.allocated[page] = (order, gfpflags_to_migratetype(gfp_flags, k.page_group_by_mobility_disabled), None)


@kernel_function
def unset_migratetype_isolate(k, page, migratetype):
    """unset_migratetype_isolate(): give page's ISOLATE pageblock back to migratetype (no-op if not isolated).

    A free block of order >= pageblock_order at page, whose buddy's pageblock is not isolated, is taken
    out with __isolate_free_page() and, after the lock, freed again with __free_pages() so that it can
    merge with that buddy (__free_one_page refused the merge while the block was isolated); the free
    adds it to NR_FREE_PAGES and counts PGFREE. Otherwise the free blocks in the pageblock move to
    migratetype's lists and are added back to NR_FREE_PAGES. Then the pageblock takes migratetype and
    nr_isolate_pageblock shrinks.
    """
    zone = k.page_zone(page)
    isolated_page = False
    order = None
    if not is_migrate_isolate_page(k, page):
        return
    if page in k.page_buddy:  # PageBuddy(page)
        order = k.page_buddy[page]
        if order >= k.pageblock_order:
            buddy_pfn = k.__find_buddy_pfn(page, order)
            # pfn_valid_within() is always true here (no CONFIG_HOLES_IN_ZONE)
            if not is_migrate_isolate_page(k, buddy_pfn):
                k.__isolate_free_page(page, order)
                isolated_page = True
    if not isolated_page:
        nr_pages, _ = k.move_freepages_block(zone, page, migratetype)
        k.__mod_zone_freepage_state(zone, nr_pages, migratetype)
    k.set_pageblock_migratetype(page, migratetype)
    zone.nr_isolate_pageblock -= 1
    if k.scheduler is not None:
        preempt_point(k, "spin_unlock_irqrestore(&zone->lock): unset_migratetype_isolate",
                      ((page, order),) if isolated_page else ())
    if isolated_page:
        k.post_alloc_hook(page, order, GFP_MOVABLE_BIT)
        k.__free_pages(page, order)


@kernel_function
def __first_valid_page(k, pfn, nr_pages):
    """__first_valid_page(): the first online page among nr_pages pfns from pfn, or None."""
    for i in range(nr_pages):
        page = k.pfn_to_online_page(pfn + i)
        if page is not None:
            return page
    return None


@kernel_function
def start_isolate_page_range(k, start_pfn, end_pfn, migratetype, skip_hwpoisoned_pages):
    """start_isolate_page_range(): isolate every pageblock of [start, end); 0, or -EBUSY after undoing.

    Pageblocks with no online page are skipped. On the first pageblock that cannot be isolated the
    earlier pageblocks of the range are given back to migratetype (looked up with
    pfn_to_online_page() on each pageblock's first pfn) and -EBUSY is returned.
    """
    check_pageblock_aligned(k, "start_isolate_page_range", start_pfn, end_pfn)
    nr = k.pageblock_nr_pages
    undo_pfn = None
    for pfn in range(start_pfn, end_pfn, nr):
        page = k.__first_valid_page(pfn, nr)
        if page is not None and k.set_migratetype_isolate(page, migratetype, skip_hwpoisoned_pages):
            undo_pfn = pfn
            break
    if undo_pfn is None:
        return 0
    for pfn in range(start_pfn, undo_pfn, nr):
        page = k.pfn_to_online_page(pfn)
        if page is None:
            continue
        k.unset_migratetype_isolate(page, migratetype)
    return -EBUSY


@kernel_function
def undo_isolate_page_range(k, start_pfn, end_pfn, migratetype):
    """undo_isolate_page_range(): give every isolated pageblock of [start, end) back to migratetype; 0."""
    check_pageblock_aligned(k, "undo_isolate_page_range", start_pfn, end_pfn)
    nr = k.pageblock_nr_pages
    for pfn in range(start_pfn, end_pfn, nr):
        page = k.__first_valid_page(pfn, nr)
        if page is None or not is_migrate_isolate_page(k, page):
            continue
        k.unset_migratetype_isolate(page, migratetype)
    return 0
