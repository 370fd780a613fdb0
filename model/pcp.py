"""Per-cpu page lists, order 0 only (mm/page_alloc.c, 4.19).

Each (zone, CPU) has three lists (UNMOVABLE, MOVABLE, RECLAIMABLE), a count,
high and batch. Allocation takes the list head, a refill appends at the tail,
a free pushes at the head, and draining takes from the tail. A page's cached
migratetype (page->index) records where in buddy it came from, or its
pageblock's type when freed.

drain_all_pages() takes pcpu_drain_mutex with a trylock, a choice (model/locks.py).
Abstracted away: IRQ disabling (the code between local_irq_save and
local_irq_restore is one atomic section of a concurrent pair, ended by a
preemption point, model/preempt.py) and the drain work queues (a drain runs
synchronously on every CPU, each CPU's drain one section); bulkfree_pcp_prepare()/check_pcp_refill()
debug checks (pages are never bad); drain_zone_pages() from the vmstat timer
is available as an operation but never runs by itself.
"""

from .constants import MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES
from .kernel import kernel_function
from .locks import PCPU_DRAIN_MUTEX, mutex_lock, mutex_trylock, mutex_unlock
from .mmzone import has_isolate_pageblock
from .preempt import preempt_point
from .tracepoints import trace


@kernel_function
def rmqueue_bulk(k, zone, order, count, lst, migratetype):
    """rmqueue_bulk(): take up to count blocks from buddy onto the tail of a pcp list."""
    i = 0
    alloced = 0
    while i < count:
        page = k.__rmqueue(zone, order, migratetype)
        if page is None:
            break
        i += 1
        lst.append(page)
        alloced += 1
        if k.get_pcppage_migratetype(page) == MIGRATE_CMA:
            zone.nr_free_cma_pages -= 1 << order
    zone.nr_free_pages -= i << order
    return alloced


@kernel_function
def __rmqueue_pcplist(k, zone, migratetype, pcp, lst):
    """__rmqueue_pcplist(): refill an empty list by one batch, then take its head."""
    if not lst:
        pcp.count += k.rmqueue_bulk(zone, 0, pcp.batch, lst, migratetype)
        if not lst:
            return None
    page = lst.pop(0)
    pcp.count -= 1
    return page


@kernel_function
def rmqueue_pcplist(k, preferred_zone, zone, order, gfp_flags, migratetype):
    """rmqueue_pcplist(): an order-0 page from this CPU's list of the requested type."""
    pcp = zone.pageset[k.current.cpu]
    lst = pcp.lists[migratetype]
    page = k.__rmqueue_pcplist(zone, migratetype, pcp, lst)
    if page is not None:
        k.stats.count_pgalloc(zone, 1 << order)
        k.zone_statistics(preferred_zone, zone)
    if k.scheduler is not None:
        preempt_point(k, "local_irq_restore: rmqueue_pcplist", () if page is None else ((page, 0),))
    return page


@kernel_function
def free_pcppages_bulk(k, zone, count, pcp):
    """free_pcppages_bulk(): round-robin over the lists from the tail, then merge each page into buddy."""
    migratetype = 0
    batch_free = 0
    head = []
    while count:
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == MIGRATE_PCPTYPES:
                migratetype = 0
            lst = pcp.lists[migratetype]
            if lst:
                break
        if batch_free == MIGRATE_PCPTYPES:
            batch_free = count
        while True:
            page = lst.pop()
            pcp.count -= 1
            head.append(page)
            count -= 1
            batch_free -= 1
            if not count or not batch_free or not lst:
                break
    isolated_pageblocks = has_isolate_pageblock(zone)
    for page in head:
        mt = k.get_pcppage_migratetype(page)
        if isolated_pageblocks:
            mt = k.get_pageblock_migratetype(page)
        k.__free_one_page(page, page, zone, 0, mt)
        if k.tracepoints is not None:  # tracing off: not even the arguments are built
            trace(k, "mm_page_pcpu_drain", page=page, order=0, migratetype=mt)


@kernel_function
def free_unref_page_commit(k, page, pfn):
    """free_unref_page_commit(): push on this CPU's list (HIGHATOMIC/CMA ride MOVABLE), spill a batch at high."""
    zone = k.page_zone(page)
    migratetype = k.get_pcppage_migratetype(page)
    k.stats.pgfree += 1
    if migratetype >= MIGRATE_PCPTYPES:
        if migratetype == MIGRATE_ISOLATE:
            k.free_one_page(zone, page, pfn, 0, migratetype)
            return
        migratetype = MIGRATE_MOVABLE
    pcp = zone.pageset[k.current.cpu]
    pcp.lists[migratetype].insert(0, page)
    pcp.count += 1
    if pcp.count >= pcp.high:
        k.free_pcppages_bulk(zone, pcp.batch, pcp)


@kernel_function
def free_unref_page(k, page):
    """free_unref_page(): cache the pageblock's type in the page, then commit it to the pcp list."""
    pfn = page
    migratetype = k.get_pageblock_migratetype(pfn)
    k.set_pcppage_migratetype(page, migratetype)
    # the pageblock was read without zone->lock: another CPU may retype it before the list is chosen
    if k.scheduler is not None:
        preempt_point(k, "get_pfnblock_migratetype, before local_irq_save: free_unref_page", ((page, 0),))
    k.free_unref_page_commit(page, pfn)


@kernel_function
def drain_pages_zone(k, cpu, zone):
    """drain_pages_zone(): give all of one CPU's pages of a zone back to buddy."""
    pcp = zone.pageset[cpu]
    if pcp.count:
        k.free_pcppages_bulk(zone, pcp.count, pcp)
    if k.scheduler is not None:
        preempt_point(k, "local_irq_restore: drain_pages_zone")


@kernel_function
def drain_pages(k, cpu):
    """drain_pages(): drain one CPU's lists in every zone."""
    for pgdat in k.node_data:
        for zone in pgdat.node_zones:
            if cpu in zone.pageset:
                k.drain_pages_zone(cpu, zone)


@kernel_function
def drain_all_pages(k, zone):
    """drain_all_pages(): drain every CPU's lists, of one zone or (zone None) of all zones.

    Under pcpu_drain_mutex, taken with a trylock: when another drain holds it, a drain of all zones
    gives up (that drain does the work) and a drain of one zone waits for it (model/locks.py).
    """
    if not mutex_trylock(k, PCPU_DRAIN_MUTEX):
        if zone is None:
            return
        mutex_lock(k, PCPU_DRAIN_MUTEX, "mutex_lock(&pcpu_drain_mutex): drain_all_pages")
    for cpu in k.topology.cpus:
        if zone is None:
            k.drain_pages(cpu)
        elif cpu in zone.pageset:
            k.drain_pages_zone(cpu, zone)
    mutex_unlock(k, PCPU_DRAIN_MUTEX)


@kernel_function
def drain_zone_pages(k, zone, pcp):
    """drain_zone_pages(): the vmstat timer's drain of at most one batch."""
    to_drain = min(pcp.count, pcp.batch)
    if to_drain > 0:
        k.free_pcppages_bulk(zone, to_drain, pcp)
