"""A booted machine moved to a given free state: the start of a check from a real machine's memory.

`start_free_state(k, free, allocated, pageblocks)` takes a machine just booted (every managed page
free, nothing allocated, per-cpu lists empty) to the state where exactly the `free` blocks are free,
the `allocated` blocks are allocated and the pageblocks have the given migratetypes
(model/procfs_free_state.py computes them from /proc/buddyinfo and /proc/pagetypeinfo).

It goes the way alloc_contig_range() does in 4.19, with the kernel functions of the model: every free
block of the zone is taken off the free lists whole (as __isolate_free_page() takes it, without its
watermark check: nothing is being allocated against a watermark) with NR_FREE_PAGES lowered through
__mod_zone_freepage_state(); the pageblocks are retyped with set_pageblock_migratetype() (a HighAtomic
one adds pageblock_nr_pages to nr_reserved_highatomic, as reserve_highatomic_pageblock() does); each
block that must be free is handed back through __free_one_page(), the kernel's own free path, which
lists it, marks it PageBuddy and counts it; each other block is recorded as allocated as
post_alloc_hook() records one (its order, its pageblock's migratetype, no memcg owner), so a free in the
search or in a trace can name it. Freeing through the kernel's path rather than writing the free lists
means the counters, the list placement and PageBuddy are the model's own; the price is that a layout
with two free buddies would be merged, which is refused (the layout is not a state 4.19 leaves).

The arguments are plain tuples so that the call prints as a line of a replayable program.
"""

from .constants import MIGRATE_HIGHATOMIC
from .errors import InvalidOperation


def _take_all_free(k, zone):
    """Every free block of the zone off its list, as __isolate_free_page() takes one."""
    for order, area in enumerate(zone.free_area):
        for mt, lst in enumerate(area.free_list):
            for pfn in lst:
                del k.page_buddy[pfn]  # rmv_page_order()
                k.__mod_zone_freepage_state(zone, -(1 << order), mt)
            area.nr_free -= len(lst)
            area.free_list[mt] = []


def _check_cover(k, free, allocated):
    """Every managed page in exactly one block, each block aligned and inside one zone's managed pages."""
    owner = {}
    for pfn, order, *_ in (*free, *allocated):
        zone = k.page_zone(pfn)
        if zone is None or pfn % (1 << order) or not 0 <= order < k.MAX_ORDER \
                or pfn + (1 << order) > zone.zone_start_pfn + zone.managed_pages:
            raise InvalidOperation(f"start state: block at pfn {pfn} of order {order} is not an aligned block "
                                   "inside one zone's managed pages")
        for p in range(pfn, pfn + (1 << order)):
            if p in owner:
                raise InvalidOperation(f"start state: pfn {p} is in the block at pfn {owner[p]} and the one at {pfn}")
            owner[p] = pfn
    for zone in k.populated_zones:
        for p in range(zone.zone_start_pfn, zone.zone_start_pfn + zone.managed_pages):
            if p not in owner:
                raise InvalidOperation(f"start state: managed pfn {p} of {zone.label()} is in no block")


def start_free_state(k, free, allocated, pageblocks):
    """Move the just-booted machine k to the free state given as (pfn, order, migratetype) blocks free and
    allocated and (pfn, migratetype) pageblocks; see the module docstring."""
    if k.allocated or any(p.count for z in k.populated_zones for p in z.pageset.values()):
        raise InvalidOperation("start state: the machine is not as booted (pages are allocated or on per-cpu lists)")
    _check_cover(k, free, allocated)
    for zone in k.populated_zones:
        _take_all_free(k, zone)
    for pfn, mt in pageblocks:
        zone = k.page_zone(pfn)
        if zone is None:
            raise InvalidOperation(f"start state: pageblock at pfn {pfn} is in no zone")
        if mt == MIGRATE_HIGHATOMIC and k.get_pageblock_migratetype(pfn) != MIGRATE_HIGHATOMIC:
            zone.nr_reserved_highatomic += k.pageblock_nr_pages
        k.set_pageblock_migratetype(pfn, mt)
    for pfn, order, mt in free:
        k.__free_one_page(pfn, pfn, k.page_zone(pfn), order, mt)
    for pfn, order, mt in allocated:
        k.allocated[pfn] = (order, mt, None)
    merged = sorted(set(free) - {(pfn, order, mt) for z in k.populated_zones for pfn, order, mt in k.free_blocks(z)})
    if merged:
        pfn, order, _ = merged[0]
        raise InvalidOperation(f"start state: the free block at pfn {pfn} of order {order} merged with its buddy "
                               "(two free buddies: not a state 4.19 leaves)")
