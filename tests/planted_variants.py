"""Planted variants of the 4.19 model as a user porting a patch might write them, each reachable in one situation.

Each is `Kernel419.variant(...)` overriding ONE kernel function with a plausible porting slip or a
historical-style mistake. None of them is caught by the default scenario (numa2-mixed: two nodes,
no CMA, no GFP_ATOMIC request, no isolation, no MPOL_PREFERRED, the idle environment): each needs a
situation that scenario never produces, and tests/planted_scenarios/ holds one small scenario per
variant in which the explorer catches it (tests/test_planted_variants.py pins the lengths).

1. cma-fallback-cached-movable   __rmqueue_cma_fallback    only with a CMA range in a zone
2. highatomic-count-if-moved     reserve_highatomic_pageblock  only when a HIGHATOMIC pageblock is reserved
3. isolate-drain-if-moved        set_migratetype_isolate   only when an isolated pageblock holds per-cpu pages
4. preferred-not-flags-local     policy_node               only with MPOL_PREFERRED naming a remote node
5. reclaim-memalloc-leak         __alloc_pages_direct_reclaim  only when direct reclaim reports progress
6. highatomic-multiblock-halfport  reserve_highatomic_pageblock  only with pageblock_order < MAX_ORDER - 1
7. vmstat-drain-whole-batch      drain_zone_pages          never: no operation reaches it

UNCAUGHT holds a plausible slip of situation 6 that no invariant of the 4.19 profile can catch (see
steal-head-pageblock-only): that profile states nothing about which pageblock types a fallback
leaves, so a mistake in the retyping of fallback stealing shows only when it also breaks the
HIGHATOMIC, ISOLATE or CMA accounting. The strict profile's freelist_hygiene (spec/hygiene.py)
catches it in one operation (tests/test_hygiene.py).
"""

from buddycheck.model import Kernel419
from buddycheck.model.buddy import list_move_free
from buddycheck.model.constants import MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE
from buddycheck.model.mempolicy import MPOL_F_LOCAL, MPOL_PREFERRED
from buddycheck.model.page_isolation import EBUSY, is_migrate_isolate_page

# ---- 1. CMA ---------------------------------------------------------------------------------------------

CmaFallbackCachedMovable = Kernel419.variant(
    "cma-fallback-cached-movable",
    "__rmqueue_cma_fallback() caches the request's MOVABLE type on a page taken from the CMA lists")


@CmaFallbackCachedMovable.override
def __rmqueue_cma_fallback(k, zone, order):
    """__rmqueue_cma_fallback() that records the page as MOVABLE, "the type it is handed out as".

    What is wrong: rmqueue() and rmqueue_bulk() read the cached type (get_pcppage_migratetype) to
    decide whether NR_FREE_CMA_PAGES drops; with MOVABLE cached, a page taken from the CMA lists
    leaves NR_FREE_PAGES but stays in NR_FREE_CMA_PAGES, so the CMA counter overstates the free CMA
    pages and every non-CMA watermark check subtracts too much. Caught by free_accounting
    (NR_FREE_CMA_PAGES = pages on the CMA free lists). Reachable only with a CMA pageblock: without
    one the CMA lists are empty and the fallback returns nothing.
    """
    page = k.__rmqueue_smallest(zone, order, MIGRATE_CMA)
    if page is not None:
        k.set_pcppage_migratetype(page, MIGRATE_MOVABLE)  # the slip: 4.19 keeps MIGRATE_CMA here
    return page


# ---- 2. HIGHATOMIC reserve --------------------------------------------------------------------------------

HighatomicCountIfMoved = Kernel419.variant(
    "highatomic-count-if-moved",
    "reserve_highatomic_pageblock() counts the reserve only when move_freepages_block() moved pages")


@HighatomicCountIfMoved.override
def reserve_highatomic_pageblock(k, page, zone, alloc_order):
    """reserve_highatomic_pageblock() with 6.10's "count after a successful move" read the wrong way.

    In 6.10 the reserve grows after `move_freepages_block(...) != -1`, where -1 means the pageblock
    leaves the zone; ported onto 4.19's move_freepages_block(), which returns the pages moved, the
    test becomes "some page moved". When the atomic allocation took the last free pages of its
    pageblock nothing moves, the pageblock still turns HIGHATOMIC, and nr_reserved_highatomic does
    not grow: the zone holds a HIGHATOMIC pageblock its reserve does not count, and a later unreserve
    can never give it back. Caught by highatomic_accounting (nr_reserved_highatomic >=
    pageblock_nr_pages x HIGHATOMIC pageblocks). Reachable only when an ALLOC_HARDER request of order
    > 0 succeeds in the slow path (a reservation).
    """
    max_managed = zone.managed_pages // 100 + k.pageblock_nr_pages
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = k.get_pageblock_migratetype(page)
    if mt not in (MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_CMA):
        k.set_pageblock_migratetype(page, MIGRATE_HIGHATOMIC)
        moved, _ = k.move_freepages_block(zone, page, MIGRATE_HIGHATOMIC)
        if moved:  # the slip: 4.19 counts the pageblock whatever was moved
            zone.nr_reserved_highatomic += k.pageblock_nr_pages


# ---- 3. isolation ----------------------------------------------------------------------------------------

IsolateDrainIfMoved = Kernel419.variant(
    "isolate-drain-if-moved",
    "set_migratetype_isolate() drains the per-cpu lists only when it moved free pages")


@IsolateDrainIfMoved.override
def set_migratetype_isolate(k, page, migratetype, skip_hwpoisoned_pages):
    """set_migratetype_isolate() that skips drain_all_pages() when the pageblock had no free page in buddy.

    A tempting optimisation ("nothing was moved, nothing to drain"), but pages of the pageblock can
    sit on per-cpu lists, taken there by a refill (rmqueue_bulk) or freed there; they stay on the
    per-cpu lists of an ISOLATE pageblock and the next allocation hands them out. Caught by
    migratetype_consistency (no per-cpu page lies in an ISOLATE pageblock). Reachable only when the
    isolated range holds per-cpu pages and no free buddy page: a range that allocations reach
    early, isolated after they took its pages.
    """
    zone = k.page_zone(page)
    ret = -EBUSY
    nr_pages = 0
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
    if ret == 0 and nr_pages:  # the slip: 4.19 drains whenever the pageblock was isolated
        k.drain_all_pages(zone)
    return ret


# ---- 4. MPOL_PREFERRED -----------------------------------------------------------------------------------

PreferredNotFlagsLocal = Kernel419.variant(
    "preferred-not-flags-local", "policy_node() tests `!policy->flags & MPOL_F_LOCAL` (a precedence slip)")


def c_not(value):
    """C's logical not: 1 for 0, else 0."""
    return 0 if value else 1


@PreferredNotFlagsLocal.override
def policy_node(k, gfp, policy, nd):
    """policy_node() with `!policy->flags & MPOL_F_LOCAL` for `!(policy->flags & MPOL_F_LOCAL)`.

    `!` binds tighter than `&`: the test is (!flags) & MPOL_F_LOCAL, which is 0 for every flags value
    (MPOL_F_LOCAL is bit 1, !flags is 0 or 1). So the preferred node is never used: a task's
    `set_mempolicy(MPOL_PREFERRED, {1})` on a node-0 CPU allocates from node 0 while node 1 has free
    pages. The task's default policy (preferred_node_policy of the local node) and local PREFERRED
    both want the local node anyway, so only MPOL_PREFERRED naming a remote node shows it. Caught by
    fallback_order, which walks the zonelist of the preferred node.
    """
    if policy.mode == MPOL_PREFERRED and c_not(policy.flags) & MPOL_F_LOCAL:  # the slip
        nd = policy.preferred_node
    return nd


# ---- 5. environment: reclaim progress --------------------------------------------------------------------

ReclaimMemallocLeak = Kernel419.variant(
    "reclaim-memalloc-leak", "__alloc_pages_direct_reclaim() restores PF_MEMALLOC only when reclaim made no progress")


@ReclaimMemallocLeak.override
def __alloc_pages_direct_reclaim(k, gfp_mask, order, alloc_flags, ac):
    """__alloc_pages_direct_reclaim() with __perform_reclaim() inlined and its restore on one path only.

    4.19's __perform_reclaim() sets PF_MEMALLOC (memalloc_noreclaim_save) around try_to_free_pages()
    and restores it right after. Here the restore sits on the early "no progress" return, so after
    reclaim that freed something the task keeps PF_MEMALLOC: the slow path's next round gets
    ALLOC_NO_WATERMARKS from __gfp_pfmemalloc_flags() and an ordinary GFP_KERNEL request empties the
    zone below its min watermark. Caught by watermark_respect. Reachable only when reclaim reports
    progress and the slow path retries (reclaimable pages, or an OOM kill).
    """
    noreclaim_flag = k.current.pf_memalloc
    k.current.pf_memalloc = True  # memalloc_noreclaim_save()
    progress = k.env.try_to_free_pages(k, ac, order, gfp_mask)
    if not progress:
        k.current.pf_memalloc = noreclaim_flag  # memalloc_noreclaim_restore(), on this path only
        return None, 0
    drained = False
    while True:
        page = k.get_page_from_freelist(gfp_mask, order, alloc_flags, ac)
        if page is not None or drained:
            return page, progress
        k.unreserve_highatomic_pageblock(ac, False)
        k.drain_all_pages(None)
        drained = True


# ---- 6. pageblock_order < MAX_ORDER - 1 ----------------------------------------------------------------

HighatomicMultiblockHalfport = Kernel419.variant(
    "highatomic-multiblock-halfport",
    "reserve_highatomic_pageblock() retypes every pageblock of a large block but counts one")


@HighatomicMultiblockHalfport.override
def reserve_highatomic_pageblock(k, page, zone, alloc_order):  # noqa: F811  (each variant has its own)
    """reserve_highatomic_pageblock() with half of 6.10's handling of blocks larger than a pageblock.

    6.10 reserves an allocation of order >= pageblock_order with change_pageblock_range() and adds
    1 << order to the reserve. The port takes the retyping and keeps 4.19's `+= pageblock_nr_pages`:
    an ALLOC_HARDER allocation spanning several pageblocks turns all of them HIGHATOMIC and counts
    one, so the reserve understates the HIGHATOMIC pageblocks. Caught by highatomic_accounting.
    Reachable only when an order above pageblock_order exists (pageblock_order < MAX_ORDER - 1) and
    such a block is reserved: one MAX_ORDER block then holds several HIGHATOMIC pageblocks.
    """
    max_managed = zone.managed_pages // 100 + k.pageblock_nr_pages
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = k.get_pageblock_migratetype(page)
    if mt not in (MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_CMA):
        zone.nr_reserved_highatomic += k.pageblock_nr_pages  # the slip: 6.10 adds 1 << alloc_order here
        if alloc_order >= k.pageblock_order:
            k.change_pageblock_range(page, alloc_order, MIGRATE_HIGHATOMIC)
        else:
            k.set_pageblock_migratetype(page, MIGRATE_HIGHATOMIC)
            k.move_freepages_block(zone, page, MIGRATE_HIGHATOMIC)


# ---- 7. unreachable -------------------------------------------------------------------------------------

VmstatDrainWholeBatch = Kernel419.variant(
    "vmstat-drain-whole-batch", "drain_zone_pages() frees a whole batch whatever the per-cpu count")


@VmstatDrainWholeBatch.override
def drain_zone_pages(k, zone, pcp):
    """drain_zone_pages() without its min(pcp->count, batch).

    With fewer pages listed than a batch, free_pcppages_bulk() is asked for more pages than the
    lists hold and spins over empty lists (the model's loop never ends, as the kernel's would not).
    4.19 calls drain_zone_pages() only from refresh_cpu_vm_stats(), the vmstat timer, which the model
    does not run: no scenario operation reaches it, so no exploration can catch this variant
    (tests/test_pcp.py calls the function directly).
    """
    to_drain = pcp.batch  # the slip: 4.19 takes min(pcp->count, batch)
    if to_drain > 0:
        k.free_pcppages_bulk(zone, to_drain, pcp)


# ---- a slip of situation 6 that no invariant catches ----------------------------------------------------

StealHeadPageblockOnly = Kernel419.variant(
    "steal-head-pageblock-only",
    "steal_suitable_fallback() retypes only the first pageblock of a free block larger than a pageblock")


@StealHeadPageblockOnly.override
def steal_suitable_fallback(k, zone, page, start_type, whole_block):
    """steal_suitable_fallback() with set_pageblock_migratetype() where 4.19 calls change_pageblock_range().

    Written on a configuration where pageblock_order = MAX_ORDER - 1, the two calls do the same
    (a free block is never larger than one pageblock); with pageblock_order < MAX_ORDER - 1 a stolen
    block of a higher order keeps its later pageblocks in the old type, although expand() puts their
    halves on the new type's lists. Fragmentation suffers, but no invariant of spec/ states which type
    a pageblock should have after a fallback (migratetype_consistency exempts free blocks outside
    ISOLATE from matching their pageblock), so nothing catches it: tests/test_planted_variants.py shows
    the divergence from 4.19 and the clean exploration.
    """
    current_order = k.page_buddy[page]
    old_block_type = k.get_pageblock_migratetype(page)
    single_page = False
    if old_block_type == MIGRATE_HIGHATOMIC:
        single_page = True
    elif current_order >= k.pageblock_order:
        k.set_pageblock_migratetype(page, start_type)  # the slip: 4.19 retypes every pageblock of the block
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
            return
    list_move_free(zone, page, current_order, start_type)


UNCAUGHT = {"steal-head-pageblock-only": StealHeadPageblockOnly}

VARIANTS = {
    "cma-fallback-cached-movable": CmaFallbackCachedMovable,
    "highatomic-count-if-moved": HighatomicCountIfMoved,
    "isolate-drain-if-moved": IsolateDrainIfMoved,
    "preferred-not-flags-local": PreferredNotFlagsLocal,
    "reclaim-memalloc-leak": ReclaimMemallocLeak,
    "highatomic-multiblock-halfport": HighatomicMultiblockHalfport,
    "vmstat-drain-whole-batch": VmstatDrainWholeBatch,
}
