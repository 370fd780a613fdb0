"""Planted races: variants of 4.19 that are wrong only when another CPU runs between two sections."""

from buddycheck.model import Kernel419
from buddycheck.model.preempt import preempt_point

FreeOnePageTrustsStaleType = Kernel419.variant(
    "free-one-page-trusts-stale-type",
    "free_one_page frees under the migratetype read before zone->lock, without re-reading it when the zone has "
    "isolated pageblocks: a block freed while another CPU isolates its pageblock lands on a MOVABLE list")


@FreeOnePageTrustsStaleType.override
def free_one_page(k, zone, page, pfn, order, migratetype):
    """free_one_page() without the re-read of the pageblock under the lock."""
    k.__free_one_page(page, pfn, zone, order, migratetype)


RmqueueBulkDropsLock = Kernel419.variant(
    "rmqueue-bulk-drops-lock",
    "rmqueue_bulk releases zone->lock after each page of its batch and counts NR_FREE_PAGES only at the end: "
    "another CPU sees pages gone from the free lists but still counted free")


@RmqueueBulkDropsLock.override
def rmqueue_bulk(k, zone, order, count, lst, migratetype):
    """rmqueue_bulk() with the zone lock dropped and taken again between the pages of the batch."""
    i = 0
    while i < count:
        page = k.__rmqueue(zone, order, migratetype)
        if page is None:
            break
        i += 1
        lst.append(page)
        preempt_point(k, "spin_unlock(&zone->lock) inside the batch: rmqueue_bulk")
    zone.nr_free_pages -= i << order
    return i
