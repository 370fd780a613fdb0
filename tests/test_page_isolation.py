"""Page isolation (mm/page_isolation.c, 4.19): start_isolate_page_range, undo_isolate_page_range and their helpers.

Machines used:
- preset "numa2": pageblock_order 2 (4-page blocks), MAX_ORDER 4 (free blocks up to order 3 = 8 pages), grouping by
  mobility on, per-cpu lists high 4 batch 2. Node 0: DMA32 pfn 0..15, Normal pfn 16..47. At boot every zone is
  free in order-3 MOVABLE blocks.
- `tiny()`: one Normal zone of 8 pages, pageblock_order 1 (2-page blocks), MAX_ORDER 3 (blocks up to order 2),
  watermarks (0, 0, 0), so pageblock_order < MAX_ORDER - 1 and __free_one_page's isolation check is live. At boot
  the free lists hold order-2 blocks at 4 (list head) and 0.
"""

import pytest

from buddycheck.model import InvalidOperation, Kernel419, NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model.constants import (
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_MOVABLE,
    MIGRATE_UNMOVABLE,
    ZONE_MOVABLE,
    ZONE_NORMAL,
)
from buddycheck.model.gfp import __GFP_DMA32, __GFP_MOVABLE, __GFP_NOWARN, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_NOWAIT
from buddycheck.model.pcp import drain_all_pages as base_drain_all_pages

EBUSY = 16
ISO = MIGRATE_ISOLATE
MOV = MIGRATE_MOVABLE
# No direct reclaim: a failed request returns NULL at once instead of walking the reclaim/OOM retry loop.
NOWAIT_MOVABLE = GFP_NOWAIT | __GFP_MOVABLE | __GFP_NOWARN


def tiny(pcp_high_batch=(0, 1), cma_pageblocks=(), zone_type=ZONE_NORMAL, extra_zones=()):
    zone = ZoneSpec(zone_type, 0, 8, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5,
                    pcp_high_batch=pcp_high_batch, cma_pageblocks=cma_pageblocks)
    return Topology(
        nodes=(NodeSpec(0, (0,), (zone,) + tuple(extra_zones)),),
        max_order=3,
        pageblock_order=1,
        page_group_by_mobility_disabled=False,
        numa=False,
        min_free_kbytes=0,
        name="tiny",
    )


def pageblock_types(m, start, end):
    return [m.get_pageblock_migratetype(pfn) for pfn in range(start, end, m.pageblock_nr_pages)]


def normal0(m):
    return m.zone(0, ZONE_NORMAL)


# ---- set_migratetype_isolate: what isolating moves and counts ---------------------------------------------------

def test_isolating_moves_free_blocks_to_isolate_list_and_uncounts_them():
    # set_migratetype_isolate: move_freepages_block(zone, page, MIGRATE_ISOLATE), then
    # __mod_zone_freepage_state(zone, -moved, old type). numa2's Normal zone of node 0 is four free order-3
    # MOVABLE blocks (32 pages); the range 24..31 holds the one at 24, so exactly 8 pages leave NR_FREE_PAGES.
    m = Kernel419(preset("numa2"))
    z = normal0(m)
    assert z.nr_free_pages == 32
    r = m.isolate(24, 32)
    assert r.value == 0
    assert m.free_blocks(z) == [(16, 3, MOV), (24, 3, ISO), (32, 3, MOV), (40, 3, MOV)]
    assert z.nr_free_pages == 32 - 8
    assert pageblock_types(m, 24, 32) == [ISO, ISO]
    assert z.nr_isolate_pageblock == 2
    assert z.free_area[3].nr_free == 4  # moving between lists leaves nr_free alone


def test_isolating_moves_only_buddy_blocks_and_drains_the_pcp_onto_isolate():
    # numa2, node 0 Normal. alloc(0, MOVABLE) refills the pcp with a batch of 2 from block 40 (pfn 40, 41) and
    # returns 40; alloc(1, MOVABLE) takes 42..43. Block 40..43 then has no buddy page, block 44..47 has the
    # free order-2 block at 44. Isolating 40..47 moves exactly that block: NR_FREE_PAGES drops by 4 (28 -> 24).
    # drain_all_pages(zone) after the lock puts pcp page 41 into buddy; free_pcppages_bulk re-reads the pageblock
    # type because the zone has isolated blocks, so 41 lands on the ISOLATE list, not counted.
    m = Kernel419(preset("numa2"))
    z = normal0(m)
    assert m.alloc(GFP_HIGHUSER_MOVABLE, 0).page == 40
    assert m.alloc(GFP_HIGHUSER_MOVABLE, 1).page == 42
    assert z.nr_free_pages == 28
    assert m.pcp_pages(z) == [(0, MOV, 41)]
    assert m.isolate(40, 48).value == 0
    assert z.nr_free_pages == 24
    assert m.pcp_pages(z) == []
    assert m.free_blocks(z) == [(16, 3, MOV), (24, 3, MOV), (32, 3, MOV), (41, 0, ISO), (44, 2, ISO)]


def test_isolating_a_cma_block_uncounts_free_cma_pages_too():
    # __mod_zone_freepage_state(zone, -moved, mt) uses the block's OLD type: for a CMA block NR_FREE_CMA_PAGES
    # drops as well. tiny() with pageblocks 2 and 3 (pfn 4..7) CMA: the order-2 block at 4 is on the CMA list.
    m = Kernel419(tiny(cma_pageblocks=(2, 3)))
    z = m.zones()[0]
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (8, 4)
    assert m.isolate(4, 8).value == 0
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (4, 0)
    assert m.free_blocks(z) == [(0, 2, MOV), (4, 2, ISO)]


def test_second_isolation_of_the_same_block_is_ebusy_and_changes_nothing():
    # 4.19 set_migratetype_isolate: a pageblock that is already MIGRATE_ISOLATE is refused with -EBUSY (someone
    # else isolated it). The failure is at the first block of the range, so nothing is undone and no drain runs.
    m = Kernel419(preset("numa2"))
    m.alloc(GFP_HIGHUSER_MOVABLE, 0)  # leaves a page on cpu 0's pcp list: a drain would change the state
    assert m.isolate(24, 32).value == 0
    before = m.freeze()
    r = m.isolate(24, 32)
    assert r.value == -EBUSY
    assert r.events == ()
    assert m.freeze() == before
    r = m.isolate(28, 32)  # second pageblock alone: also already isolated
    assert r.value == -EBUSY
    assert m.freeze() == before


# ---- has_unmovable_pages ---------------------------------------------------------------------------------------

def test_block_with_an_unmovable_page_cannot_be_isolated():
    # has_unmovable_pages (4.19): an allocated head page that is neither on the LRU nor __PageMovable counts as
    # unmovable, and with count 0 one such page refuses the block. GFP_KERNEL asks for UNMOVABLE. On numa2 it
    # is served from node 0 Normal by stealing block 40 (fallback from MOVABLE), returning pfn 40.
    m = Kernel419(preset("numa2"))
    r = m.alloc(GFP_KERNEL, 0)
    assert r.page == 40
    assert m.get_pageblock_migratetype(40) == MIGRATE_UNMOVABLE
    before = m.freeze()
    res = m.isolate(40, 44)
    assert res.value == -EBUSY
    assert m.freeze() == before  # refused under the lock: no type change, no move, no drain


def test_tail_pages_of_an_unmovable_block_do_not_count():
    # has_unmovable_pages skips pages with refcount 0; only the head of a (non-compound or compound) allocated
    # block holds a reference. An order-3 UNMOVABLE block covers two pageblocks of numa2: the second holds only
    # tail pages and can be isolated, the first holds the head and cannot.
    m = Kernel419(preset("numa2"))
    head = m.alloc(GFP_KERNEL, 3).page
    assert head == 40
    assert m.isolate(head + 4, head + 8).value == 0
    assert m.isolate(head, head + 4).value == -EBUSY


def test_movable_allocations_do_not_block_isolation():
    # has_unmovable_pages: PageLRU / __PageMovable pages are skipped (the model reads a MOVABLE request as such).
    m = Kernel419(preset("numa2"))
    page = m.alloc(GFP_HIGHUSER_MOVABLE, 1).page
    block = page & ~3
    assert m.isolate(block, block + 4).value == 0


def test_reserved_pages_refuse_isolation_and_warn_in_zone_movable():
    # Pages a zone spans but the boot never gave to buddy are PG_reserved: has_unmovable_pages treats them as
    # unmovable at once, and in ZONE_MOVABLE the verdict fires WARN_ON_ONCE(zone_idx(zone) == ZONE_MOVABLE).
    # Zone Movable here: pfn 8..15, 6 managed pages, so pfn 14 and 15 (pageblock 7) are reserved.
    movable = ZoneSpec(ZONE_MOVABLE, 8, 8, managed=6, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5,
                       pcp_high_batch=(0, 1))
    m = Kernel419(tiny(extra_zones=(movable,)))
    before = m.freeze()
    r = m.isolate(14, 16)
    assert r.value == -EBUSY
    assert [e.kind for e in r.events] == ["warning"]
    assert m.freeze() == before
    assert m.isolate(12, 14).value == 0  # the managed pageblock next to it is fine


# ---- start_isolate_page_range: failure part-way -------------------------------------------------------------------

def test_failure_part_way_undoes_the_earlier_blocks():
    # start_isolate_page_range on numa2 pfn 32..47: block 32 (holding the free order-3 block at 32) and block 36
    # (its tail, no buddy head) are isolated; block 40 holds the UNMOVABLE page 40 -> -EBUSY, and blocks 32 and 36
    # are given back to MOVABLE.
    # Undo of block 32 (unset_migratetype_isolate): its free block has order 3 >= pageblock_order and its buddy,
    # pfn 40, is in a block that is not isolated, so it is taken out with __isolate_free_page and freed again with
    # __free_pages: PGFREE grows by 8 and NR_FREE_PAGES gets the 8 pages back.
    # Not undone: the drain_all_pages(zone) run after block 32 was isolated emptied cpu 0's pcp list; page 41
    # went to buddy on block 40's (UNMOVABLE) list and is counted, so NR_FREE_PAGES ends 1 higher than before.
    m = Kernel419(preset("numa2"))
    z = normal0(m)
    assert m.alloc(GFP_KERNEL, 0).page == 40
    assert m.pcp_pages(z) == [(0, MIGRATE_UNMOVABLE, 41)]
    blocks_before = m.free_blocks(z)
    free_before = z.nr_free_pages
    types_before = pageblock_types(m, 16, 48)
    pgfree_before = m.stats.pgfree
    r = m.isolate(32, 48)
    assert r.value == -EBUSY
    assert pageblock_types(m, 16, 48) == types_before
    assert z.nr_isolate_pageblock == 0
    assert m.pcp_pages(z) == []
    assert z.nr_free_pages == free_before + 1
    assert m.free_blocks(z) == sorted(blocks_before + [(41, 0, MIGRATE_UNMOVABLE)])
    assert m.stats.pgfree - pgfree_before == 8


def test_unaligned_range_is_a_kernel_bug_on():
    # start/undo_isolate_page_range BUG_ON an unaligned pfn; the model raises before changing anything.
    m = Kernel419(preset("numa2"))
    before = m.freeze()
    with pytest.raises(InvalidOperation):
        m.start_isolate_page_range(26, 32, MOV, False)
    with pytest.raises(InvalidOperation):
        m.undo_isolate_page_range(24, 30, MOV)
    assert m.freeze() == before


def test_undo_of_a_range_that_is_not_isolated_changes_nothing():
    # undo_isolate_page_range skips pageblocks that are not MIGRATE_ISOLATE.
    m = Kernel419(preset("numa2"))
    m.alloc(GFP_HIGHUSER_MOVABLE, 0)
    before = m.freeze()
    m.undo_isolate(16, 48)
    assert m.freeze() == before


# ---- freeing into and allocating from isolated blocks --------------------------------------------------------------

def test_pages_freed_into_an_isolated_block_stay_isolated_and_uncounted():
    # tiny() with pcp high 4, batch 1. alloc(0) refills the pcp with one page: the order-2 block at 4 splits,
    # 4 is returned, 5 (order 0) and 6 (order 1) stay free; alloc(1) takes 6. Isolating 4..7 moves pfn 5
    # (NR_FREE 5 -> 4).
    # free(4): free_unref_page caches ISOLATE and free_unref_page_commit sends an ISOLATE page straight to
    #   free_one_page, bypassing the pcp; __free_one_page with mt ISOLATE adds nothing to NR_FREE_PAGES, merges
    #   4 with 5 and, since both pageblocks are ISOLATE, the isolation check lets nothing stop it; 6 is allocated.
    # free(6) (order 1): __free_pages_ok -> free_one_page re-reads the type (ISOLATE), merges into order 2 at 4.
    m = Kernel419(tiny(pcp_high_batch=(4, 1)))
    z = m.zones()[0]
    assert m.alloc(NOWAIT_MOVABLE, 0).page == 4
    assert m.alloc(NOWAIT_MOVABLE, 1).page == 6
    assert m.free_blocks(z) == [(0, 2, MOV), (5, 0, MOV)]
    assert z.nr_free_pages == 5
    assert m.isolate(4, 8).value == 0
    assert m.free_blocks(z) == [(0, 2, MOV), (5, 0, ISO)]
    assert z.nr_free_pages == 4
    m.free(4)
    assert m.pcp_pages(z) == []
    assert m.free_blocks(z) == [(0, 2, MOV), (4, 1, ISO)]
    assert z.nr_free_pages == 4
    m.free(6)
    assert m.free_blocks(z) == [(0, 2, MOV), (4, 2, ISO)]
    assert z.nr_free_pages == 4


@pytest.mark.parametrize("gfp_type", [0, __GFP_MOVABLE, 0x10], ids=["unmovable", "movable", "reclaimable"])
def test_allocations_never_return_a_page_of_an_isolated_block(gfp_type):
    # The ISOLATE lists are never a source: __rmqueue_smallest is asked for the request's type, and fallbacks[]
    # lists no ISOLATE (nor CMA/HIGHATOMIC). numa2, DMA32 of node 0 (pfn 0..15): isolate 0..7 (one MAX_ORDER
    # block), then allocate DMA32 pages of every order until NULL. Pages come from node 0 DMA32 8..15 and node 1
    # DMA32 48..63, never from 0..7, and the isolated block is still whole on the ISOLATE list.
    m = Kernel419(preset("numa2"))
    dma32 = m.zone(0, 1)
    assert m.isolate(0, 8).value == 0
    gfp = GFP_NOWAIT | __GFP_NOWARN | __GFP_DMA32 | gfp_type
    got = []
    for order in (3, 2, 1, 0):
        while True:
            r = m.alloc(gfp, order)
            if not r.ok:
                break
            got.append((r.page, order))
    assert got  # the search did allocate
    # every block lies in 8..15 or 48..63: none overlaps the isolated pfn 0..7
    assert all(8 <= page and page + (1 << order) <= 16 or 48 <= page and page + (1 << order) <= 64
               for page, order in got)
    assert (0, 3, ISO) in m.free_blocks(dma32)


def test_pcp_page_freed_before_isolation_is_drained_onto_the_isolate_list():
    # PCP-STALE-ISOLATE, the 4.19 behaviour. tiny() with pcp high 4, batch 2:
    # alloc(0) refills cpu 0's pcp with 4 and 5 and returns 4; free(4) puts it back with the cached type MOVABLE.
    # isolate(4..5) moves no buddy page (both are on the pcp), then drain_all_pages(zone): free_pcppages_bulk sees
    # has_isolate_pageblock() and re-reads the pageblock type instead of the stale cached MOVABLE, so 4 and 5 go
    # to the ISOLATE list (merged to order 1) and NR_FREE_PAGES stays at 6 (8 minus the 2 taken by the refill).
    m = Kernel419(tiny(pcp_high_batch=(4, 2)))
    z = m.zones()[0]
    assert m.alloc(NOWAIT_MOVABLE, 0).page == 4
    m.free(4)
    assert sorted(m.pcp_pages(z)) == [(0, MOV, 4), (0, MOV, 5)]
    assert m.isolate(4, 6).value == 0
    assert m.pcp_pages(z) == []
    assert m.free_blocks(z) == [(0, 2, MOV), (4, 1, ISO), (6, 1, MOV)]
    assert z.nr_free_pages == 6
    # and no allocation returns 4 or 5: the 6 counted pages are 0..3 and 6..7; the last refill leaves pfn 3 on
    # the pcp and NR_FREE_PAGES at 0, where the order-0 watermark (free > min = 0) fails.
    got = []
    while (r := m.alloc(NOWAIT_MOVABLE, 0)).ok:
        got.append(r.page)
    assert sorted(got + [pfn for _, _, pfn in m.pcp_pages(z)]) == [0, 1, 2, 3, 6, 7]
    assert m.free_blocks(z) == [(4, 1, ISO)]


NoDrain = Kernel419.variant("isolate-without-drain", "drain_all_pages(zone) does nothing; drain_all_pages(NULL) drains")


@NoDrain.override
def drain_all_pages(k, zone):
    if zone is None:
        base_drain_all_pages(k, zone)


def test_free_pcppages_bulk_rereads_the_type_of_a_stale_pcp_page():
    # The same scenario with the drain inside set_migratetype_isolate switched off: after isolation the pcp
    # still holds 4 and 5 with the stale cached type MOVABLE. A later drain (free_pcppages_bulk with
    # has_isolate_pageblock() true) still puts them on the ISOLATE list: the re-read, not the isolation's own
    # drain, is what keeps them out of the allocator.
    m = NoDrain(tiny(pcp_high_batch=(4, 2)))
    z = m.zones()[0]
    assert m.alloc(NOWAIT_MOVABLE, 0).page == 4
    m.free(4)
    assert m.isolate(4, 6).value == 0
    assert sorted(m.pcp_pages(z)) == [(0, MOV, 4), (0, MOV, 5)]
    assert (m.get_pcppage_migratetype(4), m.get_pcppage_migratetype(5)) == (MOV, MOV)
    m.drain()
    assert m.free_blocks(z) == [(0, 2, MOV), (4, 1, ISO), (6, 1, MOV)]
    assert z.nr_free_pages == 6


# ---- __free_one_page's merge limit and the undo that lifts it -----------------------------------------------------

def fill_tiny_with_order1():
    """tiny() with every page allocated as four MOVABLE order-1 blocks: 4 and 6 first (the order-2 block at 4 is
    the list head at boot), then 0 and 2."""
    m = Kernel419(tiny())
    pages = [m.alloc(NOWAIT_MOVABLE, 1).page for _ in range(4)]
    assert pages == [4, 6, 0, 2]
    assert m.zones()[0].nr_free_pages == 0
    return m


@pytest.mark.parametrize("isolated", [0, 2], ids=["lower-block", "upper-block"])
@pytest.mark.parametrize("free_order", [(0, 2), (2, 0)], ids=["free-0-first", "free-2-first"])
def test_no_merge_across_an_isolate_and_a_normal_pageblock(isolated, free_order):
    # __free_one_page with pageblock_order (1) < MAX_ORDER - 1 (2): merging stops at pageblock_order, and the
    # step to order 2 is taken only if the zone has no isolated block, or neither side is ISOLATE, or both are.
    # Isolate one of the pageblocks {0,1} / {2,3}, then free both order-1 blocks: they stay apart, the isolated
    # one on the ISOLATE list and uncounted. Without isolation they merge into order 2 at 0 (4 pages counted).
    m = fill_tiny_with_order1()
    control = fill_tiny_with_order1()
    z, cz = m.zones()[0], control.zones()[0]
    assert m.isolate(isolated, isolated + 2).value == 0
    for page in free_order:
        m.free(page)
        control.free(page)
    other = 2 - isolated
    assert m.free_blocks(z) == sorted([(isolated, 1, ISO), (other, 1, MOV)])
    assert z.nr_free_pages == 2
    assert control.free_blocks(cz) == [(0, 2, MOV)]
    assert cz.nr_free_pages == 4


@pytest.mark.parametrize("isolated", [0, 2], ids=["lower-block", "upper-block"])
def test_undo_frees_the_isolated_block_again_so_it_merges(isolated):
    # unset_migratetype_isolate: the isolated block's free page has order 1 >= pageblock_order and its buddy's
    # pageblock is not isolated, so __isolate_free_page takes it out (no count change: its block is ISOLATE),
    # and after the pageblock is MOVABLE again __free_pages (order 1 -> __free_pages_ok, PGFREE += 2) frees it:
    # it merges with the free buddy into order 2 at 0. Free lists and NR_FREE_PAGES then equal the machine that
    # never isolated, as they do once the rest is freed.
    m = fill_tiny_with_order1()
    control = fill_tiny_with_order1()
    z, cz = m.zones()[0], control.zones()[0]
    assert m.isolate(isolated, isolated + 2).value == 0
    for page in (0, 2):
        m.free(page)
        control.free(page)
    pgfree = m.stats.pgfree
    m.undo_isolate(isolated, isolated + 2)
    assert m.stats.pgfree - pgfree == 2
    assert z.nr_isolate_pageblock == 0
    assert pageblock_types(m, 0, 8) == [MOV] * 4
    assert m.free_blocks(z) == control.free_blocks(cz) == [(0, 2, MOV)]
    assert z.nr_free_pages == cz.nr_free_pages == 4
    for page in (4, 6):
        m.free(page)
        control.free(page)
    assert m.free_blocks(z) == control.free_blocks(cz) == [(0, 2, MOV), (4, 2, MOV)]
    assert z.nr_free_pages == cz.nr_free_pages == 8


def test_isolated_neighbours_merge_and_undo_of_the_whole_range_restores():
    # Both pageblocks of the order-2 block at 0 isolated: mt and the buddy's type are both ISOLATE, so
    # __free_one_page merges across them (onto the ISOLATE list, uncounted). undo_isolate_page_range(0, 4):
    # block 0's free page (order 2, buddy 4 in a MOVABLE block) is isolated and freed again; block 2 then has
    # no free head and only changes type. End: as if never isolated.
    m = fill_tiny_with_order1()
    z = m.zones()[0]
    assert m.isolate(0, 4).value == 0
    m.free(0)
    m.free(2)
    assert m.free_blocks(z) == [(0, 2, ISO)]
    assert z.nr_free_pages == 0
    m.undo_isolate(0, 4)
    assert m.free_blocks(z) == [(0, 2, MOV)]
    assert z.nr_free_pages == 4
    assert z.nr_isolate_pageblock == 0


def test_undo_of_part_of_an_isolated_range_counts_the_rest():
    # Where 4.19 does not keep the counts exact: with both pageblocks of the free order-2 block at 0 isolated,
    # undoing only pageblock 0 frees the whole order-2 block again (free_one_page re-reads block 0's new type,
    # MOVABLE) and __free_one_page adds 4 pages to NR_FREE_PAGES, two of which lie in pageblock 2, still ISOLATE.
    m = fill_tiny_with_order1()
    z = m.zones()[0]
    assert m.isolate(0, 4).value == 0
    m.free(0)
    m.free(2)
    m.undo_isolate(0, 2)
    assert pageblock_types(m, 0, 4) == [MOV, ISO]
    assert z.nr_isolate_pageblock == 1
    assert m.free_blocks(z) == [(0, 2, MOV)]
    assert z.nr_free_pages == 4


def test_pageblock_range_smaller_than_a_free_block_moves_nothing():
    # move_freepages_block only moves free blocks whose head lies in the pageblock. numa2: isolating pfn 28..31,
    # the upper pageblock of the free order-3 block at 24, moves nothing and leaves NR_FREE_PAGES alone; the
    # pageblock is ISOLATE but its pages stay on the MOVABLE list, where an order-3 request finds them. 4.19's
    # callers (alloc_contig_range, memory offlining) align ranges to MAX_ORDER_NR_PAGES, which avoids this.
    m = Kernel419(preset("numa2"))
    z = normal0(m)
    assert m.isolate(28, 32).value == 0
    assert m.get_pageblock_migratetype(28) == ISO
    assert z.nr_free_pages == 32
    assert (24, 3, MOV) in m.free_blocks(z)


def test_cma_range_isolated_and_undone_with_migrate_cma_stays_cma():
    # The CMA caller (alloc_contig_range(..., MIGRATE_CMA)) passes MIGRATE_CMA to both calls. Undo of block 4
    # (free order 2 >= pageblock_order, buddy 0 not isolated) frees the block again after block 4 is CMA; block 6
    # is still isolated, so free_one_page re-reads block 4's type, CMA, and NR_FREE_CMA_PAGES gets 4 back.
    m = Kernel419(tiny(cma_pageblocks=(2, 3)))
    z = m.zones()[0]
    assert m.start_isolate_page_range(4, 8, MIGRATE_CMA, False) == 0
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (4, 0)
    assert m.undo_isolate_page_range(4, 8, MIGRATE_CMA) == 0
    assert pageblock_types(m, 0, 8) == [MOV, MOV, MIGRATE_CMA, MIGRATE_CMA]
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (8, 4)
    assert m.free_blocks(z) == [(0, 2, MOV), (4, 2, MIGRATE_CMA)]


def test_cma_range_undone_with_migrate_movable_becomes_movable():
    # undo_isolate_page_range sets the pageblocks to the migratetype it is given, whatever they were before:
    # the machine's undo_isolate passes MIGRATE_MOVABLE (the memory-offlining caller's choice), so CMA blocks
    # come back MOVABLE and their free pages leave NR_FREE_CMA_PAGES for good.
    m = Kernel419(tiny(cma_pageblocks=(2, 3)))
    z = m.zones()[0]
    assert m.isolate(4, 8).value == 0
    m.undo_isolate(4, 8)
    assert pageblock_types(m, 0, 8) == [MOV] * 4
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (8, 0)
    assert m.free_blocks(z) == [(0, 2, MOV), (4, 2, MOV)]
