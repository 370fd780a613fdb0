"""The buddy free areas of the 4.19 model: expand, __rmqueue_smallest, fallback and stealing,
move_freepages_block, __free_one_page merging and list placement, the highatomic reserve.

Expected values are worked out by hand from 4.19's mm/page_alloc.c.
numa2: node 0 DMA32 is pfn 0..15, Normal 16..47; MAX_ORDER 4 (largest block 8 pages),
pageblock_order 2 (pageblocks of 4 pages; Normal holds pageblocks 4..11), grouping by mobility on.
At boot each zone's order-3 blocks are freed in ascending pfn order to the list head, so node 0
Normal's order-3 MOVABLE list is [40, 32, 24, 16].
"""

from helpers_state import (
    fill_allocated,
    free_lists,
    nr_free,
    one_zone_topology,
    set_allocated,
    set_free_lists,
    set_pageblocks,
    split_zone_topology,
)

from buddycheck.model import constants as C
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.gfp import GFP_ATOMIC, GFP_DMA, GFP_KERNEL
from buddycheck.model.machine import Kernel419
from buddycheck.model.page_alloc import AllocContext
from buddycheck.model.presets import preset

UNMOV, MOV, RECL = C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE
HATOMIC, CMA, ISO = C.MIGRATE_HIGHATOMIC, C.MIGRATE_CMA, C.MIGRATE_ISOLATE


def numa2_normal0():
    m = Kernel419(preset("numa2"))
    return m, m.zone(0, ZONE_NORMAL)


def core(pages=16, max_order=4):
    m = Kernel419(preset("buddy-core", pages=pages, max_order=max_order))
    return m, m.zones()[0]


# ---- boot ---------------------------------------------------------------------------------------

def test_boot_lists_are_head_inserted_in_ascending_pfn_order():
    m, z = numa2_normal0()
    assert free_lists(z, 3) == {MOV: [40, 32, 24, 16]}
    assert nr_free(z) == [0, 0, 0, 4]
    assert z.nr_free_pages == 32


def test_boot_unaligned_zone_uses_tail_placement_and_no_cross_zone_merge():
    # DMA 0..2, Normal 3..10, MAX_ORDER 3, pbo 2. Normal is freed as 3 (o0), 4 (o2), 8 (o1), 10 (o0).
    # pfn 3's buddy 2 is free but in DMA: no merge. pfn 10 (order 0 < MAX_ORDER-2 = 1): its parent
    # 10..11 has the order-1 buddy 8, which is free -> 10 goes to the TAIL behind 3.
    m = Kernel419(split_zone_topology(3, 8, 3, 2))
    dma, normal = m.zones()
    assert m.free_blocks(dma) == [(0, 1, MOV), (2, 0, MOV)]
    assert free_lists(normal, 0) == {MOV: [3, 10]}
    assert free_lists(normal, 1) == {MOV: [8]}
    assert free_lists(normal, 2) == {MOV: [4]}


# ---- expand -------------------------------------------------------------------------------------

def test_expand_keeps_lowest_pages_and_lists_upper_halves_at_head():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, UNMOV): [17], (1, UNMOV): [18]})
    before = z.nr_free_pages
    m.expand(z, 40, 0, 3, UNMOV)
    # 40..47 split: 44..47 (o2), 42..43 (o1), 41 (o0) become free; the caller keeps 40.
    assert free_lists(z, 2) == {UNMOV: [44]}
    assert free_lists(z, 1) == {UNMOV: [42, 18]}
    assert free_lists(z, 0) == {UNMOV: [41, 17]}
    assert nr_free(z) == [2, 2, 1, 0]
    assert {p: m.page_buddy[p] for p in (41, 42, 44)} == {41: 0, 42: 1, 44: 2}
    assert 40 not in m.page_buddy
    assert z.nr_free_pages == before  # expand never touches NR_FREE_PAGES


def test_expand_to_order_one_keeps_two_lowest_pages():
    m, z = numa2_normal0()
    set_free_lists(m, z, {})
    m.expand(z, 24, 1, 3, RECL)
    assert m.free_blocks(z) == [(26, 1, RECL), (28, 2, RECL)]
    assert 24 not in m.page_buddy and 25 not in m.page_buddy


def test_expand_same_order_does_nothing():
    m, z = numa2_normal0()
    set_free_lists(m, z, {})
    m.expand(z, 24, 2, 2, MOV)
    assert m.free_blocks(z) == []
    assert nr_free(z) == [0, 0, 0, 0]


# ---- __rmqueue_smallest ---------------------------------------------------------------------------

def test_rmqueue_smallest_takes_head_of_smallest_nonempty_list():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, MOV): [22, 18], (2, MOV): [28]})
    assert m.__rmqueue_smallest(z, 1, MOV) == 22
    assert free_lists(z, 1) == {MOV: [18]}
    assert free_lists(z, 2) == {MOV: [28]}
    assert m.pcp_mt[22] == MOV
    assert nr_free(z) == [0, 1, 1, 0]


def test_rmqueue_smallest_ignores_other_types_and_splits_larger_block():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, UNMOV): [17], (2, MOV): [24]})
    assert m.__rmqueue_smallest(z, 0, MOV) == 24
    assert m.free_blocks(z) == [(17, 0, UNMOV), (25, 0, MOV), (26, 1, MOV)]


def test_rmqueue_smallest_returns_none_when_nothing_large_enough():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [17], (1, MOV): [18]})
    assert m.__rmqueue_smallest(z, 2, MOV) is None
    assert m.__rmqueue_smallest(z, 0, UNMOV) is None
    assert m.free_blocks(z) == [(17, 0, MOV), (18, 1, MOV)]


def test_first_buddy_core_allocation_comes_from_list_head():
    # buddy-core boot: order-3 list [8, 0]; pcp high 0 batch 1 so one page is refilled and handed out.
    m, z = core()
    r = m.alloc(GFP_KERNEL)
    assert r.page == 8
    assert m.free_blocks(z) == [(0, 3, UNMOV), (9, 0, UNMOV), (10, 1, UNMOV), (12, 2, UNMOV)]
    assert z.nr_free_pages == 15


# ---- __rmqueue_fallback and steal_suitable_fallback -----------------------------------------------

def test_fallback_takes_largest_block_and_retypes_its_pageblocks():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [17], (3, MOV): [40]})
    fill_allocated(m, z, MOV)
    nfp = z.nr_free_pages
    assert m.__rmqueue(z, 0, UNMOV) == 40
    # order 3 >= pageblock_order: pageblocks 10 and 11 become UNMOVABLE, the block moves to UNMOVABLE
    # and the retried __rmqueue_smallest splits it there.
    assert m.pageblock_flags[4:12] == [MOV] * 6 + [UNMOV, UNMOV]
    assert m.free_blocks(z) == [(17, 0, MOV), (41, 0, UNMOV), (42, 1, UNMOV), (44, 2, UNMOV)]
    assert z.nr_free_pages == nfp  # __rmqueue itself does not account; rmqueue() does


def test_fallback_block_of_pageblock_order_retypes_one_pageblock():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(2, MOV): [44]})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 1, RECL) == 44
    assert m.pageblock_flags[10:12] == [MOV, RECL]
    assert m.free_blocks(z) == [(46, 1, RECL)]


def test_fallback_order_prefers_reclaimable_over_movable_for_unmovable():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(2, RECL): [20], (2, MOV): [24]})
    fill_allocated(m, z, MOV)
    set_pageblocks(m, {5: RECL})
    assert m.__rmqueue(z, 0, UNMOV) == 20
    assert m.free_blocks(z) == [(21, 0, UNMOV), (22, 1, UNMOV), (24, 2, MOV)]
    assert m.pageblock_flags[5] == UNMOV


def test_fallback_larger_order_beats_fallback_type_order():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(2, RECL): [20], (3, MOV): [24]})
    fill_allocated(m, z, MOV)
    set_pageblocks(m, {5: RECL})
    assert m.__rmqueue(z, 0, UNMOV) == 24
    assert (20, 2, RECL) in m.free_blocks(z)


def test_can_steal_fallback_table_numa2():
    m, _ = numa2_normal0()  # pageblock_order 2: pageblock_order // 2 == 1
    assert m.can_steal_fallback(2, MOV) is True
    assert m.can_steal_fallback(1, MOV) is True
    assert m.can_steal_fallback(0, MOV) is False
    assert m.can_steal_fallback(0, UNMOV) is True
    assert m.can_steal_fallback(0, RECL) is True


def test_can_steal_fallback_large_pageblock_and_mobility_off():
    m = Kernel419(one_zone_topology(pages=32, max_order=5, pageblock_order=4))
    assert [m.can_steal_fallback(o, MOV) for o in range(5)] == [False, False, True, True, True]
    m.page_group_by_mobility_disabled = True
    assert m.can_steal_fallback(0, MOV) is True


def test_can_steal_uses_candidate_order_not_request_order():
    # MOVABLE order-0 request; the only fallback is the UNMOVABLE order-1 block 18 of pageblock 4.
    # can_steal_fallback(1, MOVABLE) is True, so the whole pageblock is tried: 2 free pages >= half
    # of 4 -> pageblock 4 becomes MOVABLE. With the request order (0) it would be a single-page steal.
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, UNMOV): [18]})
    set_pageblocks(m, {4: UNMOV})
    set_allocated(m, {16: (0, UNMOV), 17: (0, UNMOV)})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, MOV) == 18
    assert m.pageblock_flags[4] == MOV
    assert m.free_blocks(z) == [(19, 0, MOV)]


def test_order0_candidate_for_movable_is_single_page_steal():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, UNMOV): [19]})
    set_pageblocks(m, {4: UNMOV})
    set_allocated(m, {16: (0, UNMOV), 17: (0, UNMOV), 18: (0, UNMOV)})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, MOV) == 19
    assert m.pageblock_flags[4] == UNMOV  # single_page: the block is moved, the pageblock is not claimed


def test_movable_find_smallest_branch():
    # pageblock_order 4: can_steal_fallback(1, MOVABLE) is False, and the order-1 candidate is larger
    # than the request, so the search restarts from the request order and steals the order-0 page 5.
    m = Kernel419(one_zone_topology(pages=32, max_order=5, pageblock_order=4))
    z = m.zones()[0]
    set_free_lists(m, z, {(1, UNMOV): [2], (0, UNMOV): [5]})
    set_pageblocks(m, {0: UNMOV})
    fill_allocated(m, z, UNMOV)
    assert m.__rmqueue(z, 0, MOV) == 5
    assert m.free_blocks(z) == [(2, 1, UNMOV)]
    assert m.pageblock_flags[0] == UNMOV


def test_movable_largest_stealable_block_then_smaller_page_of_that_pageblock_handed_out():
    # Order-2 candidate 4 can steal (2 >= 4//2): move_freepages_block moves 1 (o0) and 4 (o2) to
    # MOVABLE; 5 free + 0 alike < 8 so the pageblock stays UNMOVABLE; the retry hands out page 1.
    m = Kernel419(one_zone_topology(pages=32, max_order=5, pageblock_order=4))
    z = m.zones()[0]
    set_free_lists(m, z, {(2, UNMOV): [4], (0, UNMOV): [1]})
    set_pageblocks(m, {0: UNMOV})
    fill_allocated(m, z, UNMOV)
    assert m.__rmqueue(z, 0, MOV) == 1
    assert m.free_blocks(z) == [(4, 2, MOV)]
    assert m.pageblock_flags[0] == UNMOV


def test_stolen_pageblock_hands_out_smaller_buddy_not_the_stolen_block():
    # Largest-first picks 18 (o1); the whole pageblock 16..19 moves (17 o0 too); 3 free >= 2 claims it;
    # the smallest-first retry then hands out 17, not 18.
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [17], (1, MOV): [18]})
    set_allocated(m, {16: (0, MOV)})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, UNMOV) == 17
    assert m.free_blocks(z) == [(18, 1, UNMOV)]
    assert m.pageblock_flags[4] == UNMOV


def test_claim_threshold_not_reached_with_movable_neighbours():
    # UNMOVABLE from a MOVABLE pageblock: free 1, movable 3, alike = 4 - (1 + 3) = 0 -> 1 < 2, no claim.
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [16]})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, UNMOV) == 16
    assert m.pageblock_flags[4] == MOV


def test_claim_threshold_counts_non_movable_pages_as_alike():
    # free 1, movable 1 (pfn 19), alike = 4 - 2 = 2 -> 3 >= 2: the pageblock becomes UNMOVABLE.
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [16]})
    set_allocated(m, {17: (0, UNMOV), 18: (0, RECL)})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, UNMOV) == 16
    assert m.pageblock_flags[4] == UNMOV


def test_claim_threshold_exactly_half_from_free_pages():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, MOV): [16]})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, UNMOV) == 16  # free 2 + alike 0 == 2 == half a pageblock
    assert m.pageblock_flags[4] == UNMOV
    assert m.free_blocks(z) == [(17, 0, UNMOV)]


def test_reclaimable_from_unmovable_block_has_no_alike_pages():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, UNMOV): [16]})
    set_pageblocks(m, {4: UNMOV})
    fill_allocated(m, z, UNMOV)
    assert m.__rmqueue(z, 0, RECL) == 16  # old type UNMOVABLE: alike 0, free 1 < 2
    assert m.pageblock_flags[4] == UNMOV


def test_reclaimable_from_movable_block_counts_unmovable_neighbours():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [16]})
    fill_allocated(m, z, UNMOV)
    assert m.__rmqueue(z, 0, RECL) == 16  # alike = 4 - (1 + 0) = 3
    assert m.pageblock_flags[4] == RECL


def test_movable_claim_counts_movable_allocated_pages():
    # pageblock_order 3 (half = 4). Pageblock 0: order-2 MOVABLE block at 0 (4 movable pages),
    # 4 and 5 UNMOVABLE, 6..7 free (o1, UNMOVABLE list). free 2 + movable 4 = 6 >= 4 -> claimed.
    m = Kernel419(one_zone_topology(pages=16, max_order=4, pageblock_order=3))
    z = m.zones()[0]
    set_free_lists(m, z, {(1, UNMOV): [6]})
    set_pageblocks(m, {0: UNMOV})
    set_allocated(m, {0: (2, MOV), 4: (0, UNMOV), 5: (0, UNMOV)})
    fill_allocated(m, z, UNMOV)
    assert m.__rmqueue(z, 0, MOV) == 6
    assert m.pageblock_flags[0] == MOV
    assert m.free_blocks(z) == [(7, 0, MOV)]


def test_movable_no_claim_without_movable_pages():
    m = Kernel419(one_zone_topology(pages=16, max_order=4, pageblock_order=3))
    z = m.zones()[0]
    set_free_lists(m, z, {(1, UNMOV): [6]})
    set_pageblocks(m, {0: UNMOV})
    set_allocated(m, {0: (2, UNMOV)})
    fill_allocated(m, z, UNMOV)
    assert m.__rmqueue(z, 0, MOV) == 6  # free 2 + movable 0 < 4, but the pages did move
    assert m.pageblock_flags[0] == UNMOV
    assert m.free_blocks(z) == [(7, 0, MOV)]


def test_highatomic_pageblock_is_never_claimed():
    # A block on the MOVABLE list inside a HIGHATOMIC pageblock: single_page, the pageblock keeps its
    # type and the other free page (16) of the pageblock is not moved.
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [16], (1, MOV): [18]})
    set_pageblocks(m, {4: HATOMIC})
    set_allocated(m, {17: (0, UNMOV)})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, UNMOV) == 18
    assert m.pageblock_flags[4] == HATOMIC
    assert m.free_blocks(z) == [(16, 0, MOV), (19, 0, UNMOV)]


def test_highatomic_cma_isolate_lists_are_never_fallback_sources():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(3, HATOMIC): [16], (3, CMA): [24], (3, ISO): [32]})
    fill_allocated(m, z, MOV)
    for mt in (UNMOV, RECL):
        assert m.__rmqueue(z, 0, mt) is None
    assert m.__rmqueue_fallback(z, 0, MOV) is False


def test_movable_uses_cma_before_fallback():
    m = Kernel419(one_zone_topology(pages=16, max_order=3, pageblock_order=2, cma_pageblocks=(1,)))
    z = m.zones()[0]
    set_free_lists(m, z, {(2, CMA): [4], (2, UNMOV): [8]})
    fill_allocated(m, z, MOV)
    assert m.__rmqueue(z, 0, MOV) == 4
    assert m.free_blocks(z) == [(5, 0, CMA), (6, 1, CMA), (8, 2, UNMOV)]
    assert m.__rmqueue(z, 0, UNMOV) == 8  # CMA is never taken for other types


def test_steal_at_zone_boundary_moves_single_page():
    # Normal is 3..10; pfn 10's pageblock 8..11 ends outside the zone: move_freepages_block moves
    # nothing, so the steal falls back to single_page and the pageblock keeps its type.
    m = Kernel419(split_zone_topology(3, 8, 3, 2))
    _, normal = m.zones()
    set_free_lists(m, normal, {(0, MOV): [10]})
    fill_allocated(m, normal, MOV)
    assert m.__rmqueue(normal, 0, UNMOV) == 10
    assert m.pageblock_flags[2] == MOV


# ---- move_freepages_block -------------------------------------------------------------------------

def test_move_freepages_block_start_outside_zone_starts_at_page():
    m = Kernel419(split_zone_topology(3, 8, 3, 2))
    _, normal = m.zones()
    # pageblock 0..3 starts in DMA: the walk starts at pfn 3 itself.
    assert m.move_freepages_block(normal, 3, UNMOV) == (1, 0)
    assert free_lists(normal, 0) == {MOV: [10], UNMOV: [3]}
    assert m.move_freepages_block(normal, 5, UNMOV) == (4, 0)
    assert free_lists(normal, 2) == {UNMOV: [4]}


def test_move_freepages_block_end_outside_zone_moves_nothing():
    m = Kernel419(split_zone_topology(3, 8, 3, 2))
    dma, normal = m.zones()
    before = (m.free_blocks(dma), m.free_blocks(normal))
    assert m.move_freepages_block(normal, 10, UNMOV) == (0, 0)  # pageblock 8..11, zone ends at 10
    assert m.move_freepages_block(dma, 2, UNMOV) == (0, 0)  # pageblock 0..3, DMA ends at 2
    assert (m.free_blocks(dma), m.free_blocks(normal)) == before


def test_move_freepages_block_counts_movable_pages():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, MOV): [18]})
    set_allocated(m, {16: (0, MOV), 17: (0, UNMOV)})
    assert m.move_freepages_block(z, 17, UNMOV) == (2, 1)
    assert free_lists(z, 1) == {UNMOV: [18]}
    set_free_lists(m, z, {(1, MOV): [18]})
    set_allocated(m, {16: (1, MOV)})  # every page of a MOVABLE order-1 block counts
    assert m.move_freepages_block(z, 18, RECL) == (2, 2)


def test_move_freepages_block_ascending_pfns_each_to_head():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(0, MOV): [20, 22], (0, UNMOV): [16]})
    set_allocated(m, {21: (0, MOV), 23: (0, RECL)})
    nfp = z.nr_free_pages
    assert m.move_freepages_block(z, 23, UNMOV) == (2, 1)
    assert free_lists(z, 0) == {UNMOV: [22, 20, 16]}
    assert nr_free(z) == [3, 0, 0, 0]
    assert z.nr_free_pages == nfp


# ---- __free_one_page ----------------------------------------------------------------------------

def test_free_merges_up_to_max_order_minus_one():
    m, z = core()
    assert m.alloc(GFP_KERNEL, 3).page == 8
    assert m.alloc(GFP_KERNEL, 0).page == 0
    m.free(8)
    assert free_lists(z, 3) == {UNMOV: [8]}
    m.free(0)  # pcp high 0: spilled at once; merges 1, 2, 4 up to order 3, never with 8 (order 4)
    assert free_lists(z, 3) == {UNMOV: [0, 8]}
    assert nr_free(z) == [0, 0, 0, 2]
    assert z.nr_free_pages == 16


def test_buddy_in_other_zone_never_merges():
    # DMA 0..2 and Normal 3..7, MAX_ORDER 2: pfns 2 and 3 are order-0 buddies in different zones.
    m = Kernel419(split_zone_topology(3, 5, 2, 1))
    dma, normal = m.zones()
    set_free_lists(m, dma, {})
    set_allocated(m, {0: (1, MOV), 2: (0, MOV)})
    set_free_lists(m, normal, {(1, MOV): [4, 6]})
    set_allocated(m, {3: (0, MOV)})
    m.free(2)
    m.free(3)
    assert m.page_is_buddy(3, 2, 0) is False
    assert m.free_blocks(dma) == [(2, 0, MOV)]
    assert m.free_blocks(normal) == [(3, 0, MOV), (4, 1, MOV), (6, 1, MOV)]
    assert (dma.nr_free_pages, normal.nr_free_pages) == (1, 5)
    r = m.alloc(GFP_DMA, 1)  # no order-1 block in DMA: it must fail, never hand out {2, 3}
    assert r.page is None


def test_free_to_tail_when_parent_buddy_is_free():
    # Freeing 0: buddy 1 is allocated; the parent 0..1's buddy 2..3 is a free order-1 block -> tail.
    m, z = core()
    set_free_lists(m, z, {(1, UNMOV): [2], (0, UNMOV): [5]})
    set_allocated(m, {0: (0, UNMOV), 1: (0, UNMOV), 4: (0, UNMOV), 6: (1, UNMOV), 8: (3, UNMOV)})
    m.free(0)
    assert free_lists(z, 0) == {UNMOV: [5, 0]}


def test_free_to_head_when_parent_buddy_not_free():
    m, z = core()
    set_free_lists(m, z, {(0, UNMOV): [5]})
    set_allocated(m, {0: (0, UNMOV), 1: (0, UNMOV), 2: (1, UNMOV), 4: (0, UNMOV), 6: (1, UNMOV),
                      8: (3, UNMOV)})
    m.free(0)
    assert free_lists(z, 0) == {UNMOV: [0, 5]}


def test_free_to_tail_at_order_one():
    m, z = core(pages=32)
    set_free_lists(m, z, {(2, UNMOV): [4], (1, UNMOV): [18]})
    set_allocated(m, {0: (1, UNMOV), 2: (1, UNMOV), 8: (3, UNMOV), 16: (1, UNMOV), 20: (2, UNMOV),
                      24: (3, UNMOV)})
    m.free(0)  # order 1 < MAX_ORDER-2 = 2, and the parent 0..3's buddy 4..7 is free
    assert free_lists(z, 1) == {UNMOV: [18, 0]}


def test_no_tail_placement_from_order_max_order_minus_two():
    # Order 2 is not < MAX_ORDER-2 = 2: head, although the parent's buddy 8..15 is free.
    m, z = core(pages=32)
    set_free_lists(m, z, {(3, UNMOV): [8], (2, UNMOV): [16]})
    set_allocated(m, {0: (2, UNMOV), 4: (2, UNMOV), 20: (2, UNMOV), 24: (3, UNMOV)})
    m.free(0)
    assert free_lists(z, 2) == {UNMOV: [0, 16]}


def test_merged_block_goes_to_freed_pages_migratetype_list():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, UNMOV): [16]})
    set_allocated(m, {18: (1, MOV), 20: (2, MOV)})
    fill_allocated(m, z, MOV)
    nfp = z.nr_free_pages
    m.free(18)  # pageblock 4 is MOVABLE: the merged order-2 block 16 lands on the MOVABLE list
    assert free_lists(z, 2) == {MOV: [16]}
    assert free_lists(z, 1) == {}
    assert z.nr_free_pages == nfp + 2


def test_free_one_page_isolate_not_counted_and_cma_counted():
    m, z = numa2_normal0()
    set_free_lists(m, z, {})
    m.__free_one_page(16, 16, z, 2, ISO)
    assert z.nr_free_pages == 0
    assert free_lists(z, 2) == {ISO: [16]}
    m.__free_one_page(24, 24, z, 1, CMA)
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (2, 2)
    m.__free_one_page(26, 26, z, 1, MOV)  # merges with 24 (CMA list) onto the MOVABLE list
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (4, 2)
    assert free_lists(z, 2) == {ISO: [16], MOV: [24]}


def test_no_merge_across_isolated_pageblock_beyond_pageblock_order():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(2, MOV): [20]})
    set_allocated(m, {16: (2, MOV)})
    fill_allocated(m, z, MOV)
    set_pageblocks(m, {4: ISO})
    z.nr_isolate_pageblock = 1
    m.free(16)  # free_one_page re-reads the pageblock: ISOLATE; the buddy pageblock 5 is MOVABLE
    assert free_lists(z, 2) == {ISO: [16], MOV: [20]}
    assert free_lists(z, 3) == {}
    assert z.nr_free_pages == 4


def test_free_into_normal_pageblock_next_to_isolated_one_does_not_merge():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(2, ISO): [16]})
    set_allocated(m, {20: (2, MOV)})
    fill_allocated(m, z, MOV)
    set_pageblocks(m, {4: ISO})
    z.nr_isolate_pageblock = 1
    m.free(20)
    assert free_lists(z, 2) == {ISO: [16], MOV: [20]}
    assert z.nr_free_pages == 4


def test_merge_across_pageblocks_without_isolation():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(2, MOV): [20]})
    set_allocated(m, {16: (2, MOV)})
    fill_allocated(m, z, MOV)
    m.free(16)
    assert free_lists(z, 3) == {MOV: [16]}
    assert z.nr_free_pages == 8


# ---- highatomic reserve -------------------------------------------------------------------------

def atomic_topology():
    # One 16-page zone, MAX_ORDER 3, pageblock_order 2; LOW 16 makes every fast path fail, so
    # GFP_ATOMIC reaches the slow path (MIN 2, ALLOC_HIGH|ALLOC_HARDER) where reserve happens.
    return one_zone_topology(pages=16, max_order=3, pageblock_order=2, watermarks=(2, 16, 16))


def test_reserve_highatomic_after_order1_atomic_allocation():
    m = Kernel419(atomic_topology())
    z = m.zones()[0]
    r = m.alloc(GFP_ATOMIC, 1)
    # Fallback steals the order-2 head 12 (pageblock 3 -> UNMOVABLE), keeps 12..13, lists 14 (o1).
    # Then reserve: limit 16 // 100 + 4 = 4 > 0, pageblock 3 -> HIGHATOMIC, 14 moves to HIGHATOMIC.
    assert r.page == 12
    assert z.nr_reserved_highatomic == 4
    assert m.pageblock_flags[:4] == [MOV, MOV, MOV, HATOMIC]
    assert free_lists(z, 1) == {HATOMIC: [14]}
    assert free_lists(z, 2) == {MOV: [8, 4, 0]}
    assert z.nr_free_pages == 14


def test_highatomic_serves_only_order_above_zero_with_alloc_harder():
    m = Kernel419(atomic_topology())
    z = m.zones()[0]
    m.alloc(GFP_ATOMIC, 1)
    snap = m.freeze()
    # Order 0, even GFP_ATOMIC, goes through the pcp refill (__rmqueue): steals MOVABLE block 8.
    assert m.alloc(GFP_ATOMIC, 0).page == 8
    assert free_lists(z, 1)[HATOMIC] == [14]
    m.restore(snap)
    # Order 1 without ALLOC_HARDER: not from the reserve either.
    assert m.alloc(GFP_KERNEL, 1).page == 8
    assert free_lists(z, 1)[HATOMIC] == [14]
    assert z.nr_reserved_highatomic == 4
    m.restore(snap)
    # Order 1 with ALLOC_HARDER: the HIGHATOMIC list is tried first; the limit (4) is reached.
    assert m.alloc(GFP_ATOMIC, 1).page == 14
    assert z.nr_reserved_highatomic == 4
    assert m.pageblock_flags[2] == MOV


def test_reserve_highatomic_direct_and_limit():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, MOV): [18], (2, MOV): [20]})
    set_allocated(m, {16: (1, UNMOV)})
    fill_allocated(m, z, MOV)
    nfp = z.nr_free_pages
    m.reserve_highatomic_pageblock(16, z, 1)
    assert z.nr_reserved_highatomic == 4
    assert m.pageblock_flags[4] == HATOMIC
    assert free_lists(z, 1) == {HATOMIC: [18]}
    assert z.nr_free_pages == nfp
    m.reserve_highatomic_pageblock(20, z, 1)  # limit: 32 // 100 + 4 = 4 already reserved
    assert z.nr_reserved_highatomic == 4
    assert m.pageblock_flags[5] == MOV
    assert free_lists(z, 2) == {MOV: [20]}


def test_reserve_highatomic_skips_isolate_cma_and_highatomic_blocks():
    m, z = numa2_normal0()
    set_free_lists(m, z, {})
    fill_allocated(m, z, MOV)
    set_pageblocks(m, {4: ISO, 5: CMA, 6: HATOMIC})
    for pfn in (16, 20, 24):
        m.reserve_highatomic_pageblock(pfn, z, 1)
    assert z.nr_reserved_highatomic == 0
    assert m.pageblock_flags[4:7] == [ISO, CMA, HATOMIC]


def test_unreserve_highatomic_respects_force_and_retypes():
    m = Kernel419(atomic_topology())
    z = m.zones()[0]
    m.alloc(GFP_ATOMIC, 1)
    ac = m.last_ac
    assert ac.migratetype == UNMOV
    nfp = z.nr_free_pages
    assert m.unreserve_highatomic_pageblock(ac, False) is False  # 4 <= pageblock_nr_pages: keep it
    assert z.nr_reserved_highatomic == 4
    assert m.unreserve_highatomic_pageblock(ac, True) is True
    assert z.nr_reserved_highatomic == 0
    assert m.pageblock_flags[3] == UNMOV
    assert free_lists(z, 1) == {UNMOV: [14]}
    assert z.nr_free_pages == nfp
    assert m.unreserve_highatomic_pageblock(ac, True) is False  # nothing left on HIGHATOMIC lists


def hand_ac(m, migratetype):
    ac = AllocContext()
    ac.zonelist = m.node_zonelist(0, GFP_KERNEL)
    ac.high_zoneidx = ZONE_NORMAL
    ac.nodemask = None
    ac.migratetype = migratetype
    return ac


def test_unreserve_without_force_when_more_than_one_pageblock_reserved():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, HATOMIC): [18], (2, HATOMIC): [20]})
    fill_allocated(m, z, MOV)
    set_pageblocks(m, {4: HATOMIC, 5: HATOMIC})
    z.nr_reserved_highatomic = 8
    assert m.unreserve_highatomic_pageblock(hand_ac(m, MOV), False) is True
    # orders are scanned from 0: the order-1 head 18 (pageblock 4) is given back first
    assert z.nr_reserved_highatomic == 4
    assert m.pageblock_flags[4:6] == [MOV, HATOMIC]
    assert m.free_blocks(z) == [(18, 1, MOV), (20, 2, HATOMIC)]


def test_unreserve_block_not_in_highatomic_pageblock_keeps_counter():
    m, z = numa2_normal0()
    set_free_lists(m, z, {(1, HATOMIC): [18]})
    fill_allocated(m, z, MOV)
    set_pageblocks(m, {4: UNMOV})
    z.nr_reserved_highatomic = 4
    assert m.unreserve_highatomic_pageblock(hand_ac(m, RECL), True) is True
    assert z.nr_reserved_highatomic == 4
    assert m.pageblock_flags[4] == RECL
    assert free_lists(z, 1) == {RECL: [18]}
