"""HIGHATOMIC reserve mutants from Minchan Kim's v4.10 series on highatomic pageblocks.

HA-DOUBLE-DEC re-introduces the bug fixed by 4855e4a7f29d "mm: prevent double decrease of
nr_reserved_highatomic": unreserve_highatomic_pageblock() took pageblock_nr_pages off the zone's
reserve for every page it found on a HIGHATOMIC free list, even when that page's pageblock had
already been given back. A page freed to a per-cpu list while its pageblock was HIGHATOMIC keeps
HIGHATOMIC as its cached type; after the pageblock is unreserved, a drain puts the page on the
HIGHATOMIC list again, and the next unreserve finds it and decrements the counter a second time for
the same pageblock. 4.19 decrements only if the pageblock is still HIGHATOMIC.

HA-STEAL re-introduces the bug fixed by the sibling 88ed365ea227 "mm: don't steal highatomic
pageblock": steal_suitable_fallback() could claim a whole HIGHATOMIC pageblock for another type when
a page of it sat on a normal free list (freed from a per-cpu list under a type cached before the
reservation), without taking it off nr_reserved_highatomic. 4.19 never claims a HIGHATOMIC pageblock
(it moves the single block).

Both are caught by the HIGHATOMIC accounting invariants of spec/invariants.py:
highatomic_accounting, nr_reserved_highatomic >= pageblock_nr_pages x HIGHATOMIC pageblocks (always,
in 4.19), and highatomic_reserve_exact, the equality (within its exceptions: no HIGHATOMIC pageblock
isolated, no larger-than-pageblock free block covering one).
"""

from buddycheck.checks.ops import Alloc, Drain, Free
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.buddy import list_move_free
from buddycheck.model.constants import MIGRATE_HIGHATOMIC, MIGRATE_MOVABLE, ZONE_NORMAL
from buddycheck.model.environment import Environment

# ---- HA-DOUBLE-DEC ---------------------------------------------------------------------------------------

HaDoubleDec = Kernel419.variant(
    "ha-double-dec",
    "unreserve_highatomic_pageblock() decrements for any page on a HIGHATOMIC list (before 4855e4a7f29d)")


@HaDoubleDec.override
def unreserve_highatomic_pageblock(k, ac, force):
    """unreserve_highatomic_pageblock() before 4855e4a7f29d: the reserve shrinks whatever the page's pageblock."""
    for zone in k.zonelist_zones(ac.zonelist, ac.high_zoneidx, ac.nodemask):
        if not force and zone.nr_reserved_highatomic <= k.pageblock_nr_pages:
            continue
        for order in range(k.MAX_ORDER):
            lst = zone.free_area[order].free_list[MIGRATE_HIGHATOMIC]
            if not lst:
                continue
            page = lst[0]
            zone.nr_reserved_highatomic -= min(k.pageblock_nr_pages, zone.nr_reserved_highatomic)
            k.set_pageblock_migratetype(page, ac.migratetype)
            moved, _ = k.move_freepages_block(zone, page, ac.migratetype)
            if moved:
                return True
    return False


# Direct reclaim reports progress: __alloc_pages_direct_reclaim() then unreserves (not forced: only a
# zone with more than one reserved pageblock gives one back) and drains the per-cpu lists.
RECLAIMS = Environment(reclaim_progress=1)
# No progress, but plenty of reclaimable pages: should_reclaim_retry() keeps retrying until
# no_progress_loops passes MAX_RECLAIM_RETRIES and then unreserves with force, pageblock by pageblock.
STALLS = Environment(reclaimable_pages=64)


def ha_double_dec_topology():
    """One Normal zone of 128 pages (1% of it is 1 page, so two 4-page pageblocks may be reserved).

    MAX_ORDER 6, pageblock_order 2, min 12, low = high = 14: GFP_ATOMIC order-1 requests fail the
    fast path's LOW mark and pass the slow path's discounted MIN (so they reserve), and once the setup
    has left fewer than 13 pages free an order-0 GFP_KERNEL request fails every watermark and goes
    to direct reclaim.
    """
    zone = ZoneSpec(ZONE_NORMAL, 0, 128, watermarks=(12, 14, 14), lowmem_reserve=(0,) * 5, pcp_high_batch=(4, 1))
    return Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=6, pageblock_order=2,
                    page_group_by_mobility_disabled=False, name="highatomic-128")


def ha_double_dec_scenario():
    """Known-bugs entry 17 on a zone large enough for 4.19 to reserve two pageblocks.

    Setup (not part of the counterexample): 112 pages allocated in large MOVABLE blocks (with
    __GFP_MEMALLOC, past the watermarks), leaving pfns 16..31; pfn 16 allocated order-0 UNMOVABLE
    (its pageblock X = 16..19 becomes UNMOVABLE); two GFP_ATOMIC order-1 allocations reserve X
    (taking 18, 19) and Y = 20..23 (taking 20, 21); a third takes 22, 23 from Y's HIGHATOMIC list.
    Then nr_reserved_highatomic = 8, pfn 17 is free on the HIGHATOMIC list and Y has no free page.
    The search may free pfn 16 (to the per-cpu list, cached HIGHATOMIC), drain, and make order-0
    GFP_KERNEL requests whose reclaim reports progress (RECLAIMS) or stalls (STALLS).
    """
    big = G.GFP_HIGHUSER_MOVABLE | G.__GFP_MEMALLOC
    setup = (Alloc(big, 5), Alloc(big, 5), Alloc(big, 5), Alloc(big, 4), Alloc(G.GFP_KERNEL, 0),
             Alloc(G.GFP_ATOMIC, 1), Alloc(G.GFP_ATOMIC, 1), Alloc(G.GFP_ATOMIC, 1))
    return Scenario("ha-double-dec", ha_double_dec_topology(), setup=setup, free_cpus=(),
                    allocs=(Alloc(G.GFP_KERNEL, 0, env=RECLAIMS), Alloc(G.GFP_KERNEL, 0, env=STALLS)),
                    extra_ops=(Free(16),), drains=(Drain(),), depth=3,
                    description="two HIGHATOMIC pageblocks, a page of one of them parked on the per-cpu list")


# ---- HA-STEAL --------------------------------------------------------------------------------------------

HaSteal = Kernel419.variant(
    "ha-steal", "steal_suitable_fallback() may claim a HIGHATOMIC pageblock (before 88ed365ea227)")


@HaSteal.override
def steal_suitable_fallback(k, zone, page, start_type, whole_block):
    """steal_suitable_fallback() before 88ed365ea227: a HIGHATOMIC pageblock is stolen like any other."""
    current_order = k.page_buddy[page]
    old_block_type = k.get_pageblock_migratetype(page)
    single_page = False
    if current_order >= k.pageblock_order:
        k.change_pageblock_range(page, current_order, start_type)
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


def ha_steal_scenario():
    """One Normal zone of one 4-page pageblock (MAX_ORDER 3, pageblock_order 2): min 0, low 2; pcp high 4."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 4, watermarks=(0, 2, 2), lowmem_reserve=(0,) * 5, pcp_high_batch=(4, 1))
    topology = Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=3, pageblock_order=2,
                        page_group_by_mobility_disabled=False, name="highatomic-4")
    return Scenario("ha-steal", topology,
                    allocs=(Alloc(G.GFP_KERNEL, 0), Alloc(G.GFP_HIGHUSER_MOVABLE, 0), Alloc(G.GFP_ATOMIC, 1)),
                    drains=(Drain(),), depth=5,
                    description="one pageblock reserved HIGHATOMIC while one of its pages sits on a per-cpu list")
