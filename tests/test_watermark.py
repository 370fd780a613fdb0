"""Watermarks, lowmem_reserve, pcp sizing and the fast path's zone checks.

Every number is worked by hand from the 4.19 formulas; the derivation sits next to it.
"""

from dataclasses import dataclass, field

from conftest import RecordingEnv, event_kinds, fill, machine, set_current, topology, zone

import buddycheck.model.gfp as g
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model.constants import (
    ALLOC_CMA,
    ALLOC_HARDER,
    ALLOC_HIGH,
    ALLOC_OOM,
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    NODE_RECLAIM_FULL,
    NODE_RECLAIM_NOSCAN,
    NODE_RECLAIM_SOME,
    NODE_RECLAIM_SUCCESS,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_HIGHMEM,
    ZONE_MOVABLE,
    ZONE_NORMAL,
)
from buddycheck.model.mmzone import Zone

NOWAIT = g.GFP_NOWAIT | g.__GFP_NOWARN


# ---- boot: min_free_kbytes and __setup_per_zone_wmarks --------------------------------------------

def test_setup_per_zone_wmarks_worked_example():
    # One zone of 262144 managed pages: lowmem_kbytes = 262144 * 4 = 1048576,
    # isqrt(1048576 * 16) = 4096 = min_free_kbytes; pages_min = 4096 / 4 = 1024 = min;
    # gap = max(1024 >> 2, 262144 * 10 // 10000) = max(256, 262) = 262 -> low 1286, high 1548.
    m = Kernel419(Topology(nodes=(NodeSpec(0, (0,), (ZoneSpec(ZONE_NORMAL, 0, 262144),)),)))
    z = m.zone(0, ZONE_NORMAL)
    assert m.min_free_kbytes == 4096
    assert z.watermark == [1024, 1286, 1548]


def test_wmarks_split_pages_min_by_managed_share():
    # x86-64-1g: min_free_kbytes = isqrt(262144 * 4 * 16) = 4096, pages_min 1024, lowmem 262144 pages.
    # DMA (4096):    tmp = 1024 * 4096 // 262144 = 16, gap = max(4, 4) = 4            -> 16/20/24
    # DMA32 (258048): tmp = 1008, gap = max(252, 258048 * 10 // 10000 = 258) = 258      -> 1008/1266/1524
    m = Kernel419(preset("x86-64-1g"))
    assert m.min_free_kbytes == 4096
    assert m.zone(0, ZONE_DMA).watermark == [16, 20, 24]
    assert m.zone(0, ZONE_DMA32).watermark == [1008, 1266, 1524]


def test_init_per_zone_wmark_min_clamps_to_128_and_65536():
    # 16 pages: isqrt(16 * 4 * 16) = 32 < 128.
    m = machine((zone(ZONE_NORMAL, 0, 16, wm=None),), min_free_kbytes=None)
    assert m.min_free_kbytes == 128
    assert m.init_per_zone_wmark_min() == 128
    V = Kernel419.variant("huge-lowmem")

    @V.override
    def nr_free_zone_pages(k, offset):
        return 1 << 28  # 1 TiB of lowmem: isqrt(2^30 * 16) = 131072 > 65536

    m = V(topology((zone(ZONE_NORMAL, 0, 16),)))
    assert m.init_per_zone_wmark_min() == 65536


def test_init_per_zone_wmark_min_counts_zones_up_to_normal_only():
    # Normal 1024 + Movable 1024: lowmem_kbytes counts Normal only (gfp_zone(GFP_USER) = NORMAL):
    # isqrt(4096 * 16) = 256 (with Movable it would be isqrt(8192 * 16) = 362).
    # Watermarks: pages_min = 64; lowmem_pages = 2048 (Movable is not highmem on x86-64);
    # each zone: tmp = 64 * 1024 // 2048 = 32, gap = max(8, 1) = 8 -> 32/40/48.
    m = machine((zone(ZONE_NORMAL, 0, 1024, wm=None), zone(ZONE_MOVABLE, 1024, 1024, wm=None)),
                min_free_kbytes=None, max_order=11, pageblock_order=9)
    assert m.min_free_kbytes == 256
    assert m.zone(0, ZONE_NORMAL).watermark == [32, 40, 48]
    assert m.zone(0, ZONE_MOVABLE).watermark == [32, 40, 48]


def test_highmem_zone_min_is_clamped_and_its_gap_uses_tmp():
    # x86-32: Normal 2048 and HighMem 2048 pages. lowmem_kbytes = 2048 * 4 = 8192 (HighMem is above
    # NORMAL), isqrt(131072) = 362 -> pages_min 90; lowmem_pages = 2048 (HighMem excluded).
    # Normal:  tmp = 90, gap = max(22, 2) = 22 -> 90/112/134.
    # HighMem: tmp = 90 * 2048 // 2048 = 90, min = clamp(2048 // 1024, 32, 128) = 32,
    #          gap = max(90 >> 2, 2) = 22 -> 32/54/76.
    configured = frozenset({ZONE_DMA, ZONE_NORMAL, ZONE_HIGHMEM, ZONE_MOVABLE})
    m = machine((zone(ZONE_NORMAL, 0, 2048, wm=None), zone(ZONE_HIGHMEM, 2048, 2048, wm=None)),
                configured_zones=configured, min_free_kbytes=None, max_order=11, pageblock_order=9)
    assert m.min_free_kbytes == 362
    assert m.zone(0, ZONE_NORMAL).watermark == [90, 112, 134]
    assert m.zone(0, ZONE_HIGHMEM).watermark == [32, 54, 76]


def test_watermark_scale_factor_widens_the_gap():
    # One zone of 4096 pages, min_free_kbytes 128 -> pages_min 32 = tmp; factor 1000:
    # gap = max(8, 4096 * 1000 // 10000 = 409) = 409 -> 32/441/850.
    m = machine((zone(ZONE_NORMAL, 0, 4096, wm=None),), min_free_kbytes=128, watermark_scale_factor=1000,
                max_order=11, pageblock_order=9)
    assert m.zone(0, ZONE_NORMAL).watermark == [32, 441, 850]


# ---- boot: lowmem_reserve and totalreserve_pages ------------------------------------------------

def two_node_reserve_machine(ratio=(256, 256, 32, 0, 0)):
    return machine(
        (zone(ZONE_DMA, 0, 64, lr=None), zone(ZONE_DMA32, 64, 512, lr=None), zone(ZONE_NORMAL, 576, 1024, lr=None)),
        (zone(ZONE_NORMAL, 2048, 2048, lr=None),),
        lowmem_reserve_ratio=ratio, max_order=11, pageblock_order=9)


def test_lowmem_reserve_is_computed_per_node():
    # Node 0: DMA.lr[DMA32] = 512 // 256 = 2, DMA.lr[NORMAL] = (1024 + 512) // 256 = 6 (and the same for
    # HIGHMEM/MOVABLE, which have no pages); DMA32.lr[NORMAL] = 1024 // 256 = 4.
    # Node 1's Normal never enters node 0's sums (it would give (1024 + 2048) // 256 = 12).
    m = two_node_reserve_machine()
    assert m.zone(0, ZONE_DMA).lowmem_reserve == [0, 2, 6, 6, 6]
    assert m.zone(0, ZONE_DMA32).lowmem_reserve == [0, 0, 4, 4, 4]
    assert m.zone(0, ZONE_NORMAL).lowmem_reserve == [0, 0, 0, 0, 0]
    assert m.zone(1, ZONE_NORMAL).lowmem_reserve == [0, 0, 0, 0, 0]
    # node 1's empty DMA32 zone still gets an entry: 2048 // 256
    assert m.zone(1, ZONE_DMA32).lowmem_reserve[ZONE_NORMAL] == 8


def test_lowmem_reserve_ratio_zero_gives_no_reserve_but_pages_still_accumulate():
    # DMA32 ratio 0: DMA32 reserves nothing, but DMA's sums still include DMA32's 512 pages.
    m = two_node_reserve_machine(ratio=(256, 0, 32, 0, 0))
    assert m.zone(0, ZONE_DMA32).lowmem_reserve == [0, 0, 0, 0, 0]
    assert m.zone(0, ZONE_DMA).lowmem_reserve == [0, 2, 6, 6, 6]


def test_normal_reserves_against_movable_with_its_ratio():
    # Normal 1024 + Movable 512, ratio 32: Normal.lr[MOVABLE] = 512 // 32 = 16.
    m = machine((zone(ZONE_NORMAL, 0, 1024, lr=None), zone(ZONE_MOVABLE, 1024, 512, lr=None)),
                max_order=11, pageblock_order=9)
    assert m.zone(0, ZONE_NORMAL).lowmem_reserve == [0, 0, 0, 0, 16]


def test_numa2_lowmem_reserve_and_totalreserve():
    # numa2: DMA32.lr[NORMAL] = 32 // 8 = 4. totalreserve per node = DMA32 min(16, 4 + high 3) +
    # Normal min(32, 0 + high 4) = 11; two nodes: 22.
    m = Kernel419(preset("numa2"))
    assert m.zone(0, ZONE_DMA32).lowmem_reserve == [0, 0, 4, 4, 4]
    assert [m.pgdat(n).totalreserve_pages for n in (0, 1)] == [11, 11]
    assert m.totalreserve_pages == 22


def test_totalreserve_is_capped_at_managed():
    # high 12 on an 8-page zone counts 8.
    m = machine((zone(ZONE_NORMAL, 0, 8, wm=(4, 8, 12)),))
    assert m.totalreserve_pages == 8


# ---- per-cpu list sizing (zone_batchsize / pageset_set_high_and_batch) -------------------------

def test_zone_batchsize():
    table = {  # managed pages: (zone_batchsize, pcp high, pcp batch)
        3977: (0, 0, 1),         # 3 // 4 = 0 -> 1 -> rounddown_pow2(1) - 1 = 0; batch max(1, 0)
        16384: (3, 18, 3),       # 16 // 4 = 4 -> rounddown_pow2(6) - 1 = 3
        65536: (15, 90, 15),     # 64 // 4 = 16 -> rounddown_pow2(24) - 1 = 15
        262144: (63, 378, 63),   # 256 // 4 = 64 -> rounddown_pow2(96) - 1 = 63
        4194304: (63, 378, 63),  # 4096 capped at 1 MiB = 256 pages -> 63
    }
    m = machine((zone(ZONE_NORMAL, 0, 16),))
    got = {}
    for managed in table:
        fake = Zone(7, ZONE_NORMAL, 0, managed, managed, 4)  # no ZoneSpec: limits computed
        batch = m.zone_batchsize(fake)
        m.pageset_set_high_and_batch(fake)
        got[managed] = (batch, fake.pcp_high, fake.pcp_batch)
    assert got == table


def test_percpu_pagelist_fraction():
    # high = managed // 8; batch = max(1, high // 4), capped at PAGE_SHIFT * 8 = 96.
    m = machine((zone(ZONE_NORMAL, 0, 16),), percpu_pagelist_fraction=8)
    small, large = Zone(7, ZONE_NORMAL, 0, 1024, 1024, 4), Zone(7, ZONE_NORMAL, 0, 4096, 4096, 4)
    m.pageset_set_high_and_batch(small)
    m.pageset_set_high_and_batch(large)
    assert (small.pcp_high, small.pcp_batch) == (128, 32)
    assert (large.pcp_high, large.pcp_batch) == (512, 96)


def test_boot_sets_every_cpus_pageset_from_the_zone():
    m = Kernel419(preset("x86-64-1g"))  # two CPUs; DMA 4096 -> 0/1, DMA32 258048 -> 378/63
    for zone_idx, expected in ((ZONE_DMA, (0, 1)), (ZONE_DMA32, (378, 63))):
        z = m.zone(0, zone_idx)
        assert {cpu: (p.high, p.batch) for cpu, p in z.pageset.items()} == {0: expected, 1: expected}


# ---- __zone_watermark_ok ----------------------------------------------------------------------

def wm_machine(**kw):
    """One Normal zone of 32 pages in four 8-page pageblocks, each one free order-3 block."""
    return machine((zone(ZONE_NORMAL, 0, 32, **kw),), pageblock_order=3)


# (alloc_flags, the discounted mark for mark = 101): order 0 passes exactly when free > it.
DISCOUNTS = [
    (0, 101),
    (ALLOC_HIGH, 51),                   # 101 - 101 // 2
    (ALLOC_HARDER, 76),                 # 101 - 101 // 4
    (ALLOC_HIGH | ALLOC_HARDER, 39),    # GFP_ATOMIC: 101 - 50 = 51, then 51 - 51 // 4 = 39
    (ALLOC_OOM, 51),                    # 101 - 101 // 2
    (ALLOC_HIGH | ALLOC_OOM, 26),       # 51 - 51 // 2
    (ALLOC_HARDER | ALLOC_OOM, 51),     # OOM takes the half, not the quarter
]


def test_watermark_discounts_stack():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    got = {}
    for flags, threshold in DISCOUNTS:
        got[flags] = (m.__zone_watermark_ok(z, 0, 101, ZONE_NORMAL, flags, threshold + 1),
                      m.__zone_watermark_ok(z, 0, 101, ZONE_NORMAL, flags, threshold))
    assert got == {flags: (True, False) for flags, _ in DISCOUNTS}
    # the slow path's flags for GFP_ATOMIC are exactly HIGH | HARDER
    set_current(m)
    atomic = m.gfp_to_alloc_flags(g.GFP_ATOMIC)
    assert m.__zone_watermark_ok(z, 0, 101, ZONE_NORMAL, atomic, 40)
    assert not m.__zone_watermark_ok(z, 0, 101, ZONE_NORMAL, atomic, 39)


def test_order_subtracts_all_but_one_page_of_the_request():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    # order 2: free - 3 must exceed 10
    assert m.__zone_watermark_ok(z, 2, 10, ZONE_NORMAL, 0, 14)
    assert not m.__zone_watermark_ok(z, 2, 10, ZONE_NORMAL, 0, 13)


def test_lowmem_reserve_of_the_classzone_is_added():
    m = wm_machine(lr=(0, 0, 0, 0, 7))
    z = m.zone(0, ZONE_NORMAL)
    assert m.__zone_watermark_ok(z, 0, 10, ZONE_NORMAL, 0, 11)
    assert not m.__zone_watermark_ok(z, 0, 10, ZONE_MOVABLE, 0, 17)  # 17 <= 10 + 7
    assert m.__zone_watermark_ok(z, 0, 10, ZONE_MOVABLE, 0, 18)


def test_highatomic_reserve_subtracted_only_without_harder_or_oom():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    m.reserve_highatomic_pageblock(0, z, 1)  # limit 32 // 100 + 8 = 8 > 0: reserves pageblock 0
    assert z.nr_reserved_highatomic == 8
    assert not m.__zone_watermark_ok(z, 0, 10, ZONE_NORMAL, 0, 18)  # 18 - 8 <= 10
    assert m.__zone_watermark_ok(z, 0, 10, ZONE_NORMAL, 0, 19)
    assert m.__zone_watermark_ok(z, 0, 10, ZONE_NORMAL, ALLOC_HARDER, 9)  # min 10 - 2 = 8, nothing subtracted
    assert m.__zone_watermark_ok(z, 0, 10, ZONE_NORMAL, ALLOC_OOM, 6)  # min 10 - 5 = 5


def test_free_cma_pages_excluded_without_alloc_cma():
    # Pageblock 0 (pfns 0-7) is CMA: 8 of the 32 free pages are CMA pages.
    m = wm_machine(cma_pageblocks=(0,))
    z = m.zone(0, ZONE_NORMAL)
    assert z.nr_free_cma_pages == 8 and z.nr_free_pages == 32
    assert m.__zone_watermark_ok(z, 0, 23, ZONE_NORMAL, 0, 32)  # 24 > 23
    assert not m.__zone_watermark_ok(z, 0, 24, ZONE_NORMAL, 0, 32)
    assert m.__zone_watermark_ok(z, 0, 31, ZONE_NORMAL, ALLOC_CMA, 32)


def retype_all_free_blocks(m, z, mt):
    for pfn in range(0, 32, 8):
        m.set_pageblock_migratetype(pfn, mt)
        m.move_freepages_block(z, pfn, mt)


def test_high_order_never_counts_isolated_blocks():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    retype_all_free_blocks(m, z, MIGRATE_ISOLATE)
    for flags in (0, ALLOC_HARDER, ALLOC_OOM, ALLOC_CMA, ALLOC_HIGH | ALLOC_HARDER | ALLOC_CMA):
        assert not m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, flags, 1000)
    assert m.__zone_watermark_ok(z, 0, 0, ZONE_NORMAL, 0, 1000)  # order 0 never looks at the lists


def test_high_order_counts_highatomic_blocks_only_with_harder_or_oom():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    retype_all_free_blocks(m, z, MIGRATE_HIGHATOMIC)
    assert not m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, 0, 1000)
    assert not m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, ALLOC_CMA | ALLOC_HIGH, 1000)
    assert m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, ALLOC_HARDER, 1000)
    assert m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, ALLOC_OOM, 1000)


def test_high_order_counts_cma_blocks_only_with_alloc_cma():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    retype_all_free_blocks(m, z, MIGRATE_CMA)
    assert not m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, 0, 1000)
    assert not m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, ALLOC_HARDER, 1000)
    assert m.__zone_watermark_ok(z, 1, 0, ZONE_NORMAL, ALLOC_CMA, 1000)


def test_high_order_needs_a_free_block_of_at_least_that_order():
    # 12 pages: an order-3 block at 0 and an order-2 block at 8. Take the order-3 block.
    m = machine((zone(ZONE_NORMAL, 0, 12),), pageblock_order=3)
    z = m.zone(0, ZONE_NORMAL)
    r = m.alloc(g.GFP_HIGHUSER_MOVABLE, order=3)
    assert r.page == 0
    assert not m.__zone_watermark_ok(z, 3, 0, ZONE_NORMAL, 0, 1000)
    assert m.__zone_watermark_ok(z, 2, 0, ZONE_NORMAL, 0, 1000)


# ---- zone_watermark_fast ------------------------------------------------------------------------

def test_zone_watermark_fast_order0_shortcut_skips_the_highatomic_subtraction():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    m.reserve_highatomic_pageblock(0, z, 1)
    assert z.nr_free_pages == 32 and z.nr_reserved_highatomic == 8
    assert m.zone_watermark_fast(z, 0, 30, ZONE_NORMAL, 0)      # shortcut: 32 > 30
    assert not m.zone_watermark_ok(z, 0, 30, ZONE_NORMAL, 0)    # full check: 32 - 8 <= 30
    # order > 0 has no shortcut: 32 - 1 - 8 = 23
    assert m.zone_watermark_fast(z, 1, 22, ZONE_NORMAL, 0)
    assert not m.zone_watermark_fast(z, 1, 23, ZONE_NORMAL, 0)


def test_zone_watermark_fast_shortcut_still_excludes_cma():
    m = wm_machine(cma_pageblocks=(0,))
    z = m.zone(0, ZONE_NORMAL)
    assert not m.zone_watermark_fast(z, 0, 24, ZONE_NORMAL, 0)  # 32 - 8 CMA <= 24
    assert m.zone_watermark_fast(z, 0, 24, ZONE_NORMAL, ALLOC_CMA)


def test_zone_watermark_fast_falls_back_to_the_discounted_check():
    m = wm_machine()
    z = m.zone(0, ZONE_NORMAL)
    # shortcut fails (32 <= 40), the full check with ALLOC_HIGH passes (32 > 20)
    assert m.zone_watermark_fast(z, 0, 40, ZONE_NORMAL, ALLOC_HIGH)
    assert not m.zone_watermark_fast(z, 0, 40, ZONE_NORMAL, 0)


# ---- the lowmem_reserve worked example (Documentation: DMA with 1355 free pages) ------------------

def dma_example(second_node=True):
    """Node 0: DMA of 1355 pages, min 4, lowmem_reserve[NORMAL] 2004, and a Normal zone that is never
    above its watermarks (16 pages, every mark 16). Optionally a node 1 with room."""
    dma = zone(ZONE_DMA, 0, 1355, wm=(4, 5, 6), lr=(0, 0, 2004, 2004, 2004))
    normal = zone(ZONE_NORMAL, 2048, 16, wm=(16, 16, 16))
    nodes = [(dma, normal)]
    if second_node:
        nodes.append((zone(ZONE_NORMAL, 4096, 64),))
    return machine(*nodes)


def test_dma_zone_is_skipped_for_a_normal_classzone():
    m = dma_example()
    dma = m.zone(0, ZONE_DMA)
    assert dma.nr_free_pages == 1355
    assert not m.__zone_watermark_ok(dma, 0, 4, ZONE_NORMAL, 0, 1355)  # 1355 <= 4 + 2004
    assert m.__zone_watermark_ok(dma, 0, 4, ZONE_DMA, 0, 1355)
    r = m.alloc(g.GFP_KERNEL, cpu=0)  # N0 Normal fails, N0 DMA is skipped, N1 Normal serves
    assert (r.ok, r.nid, r.zone_idx) == (True, 1, ZONE_NORMAL)
    assert dma.nr_free_pages == 1355


def test_dma_request_may_use_the_dma_zone():
    m = dma_example()
    r = m.alloc(g.GFP_KERNEL | g.__GFP_DMA, cpu=0)
    assert (r.ok, r.nid, r.zone_idx) == (True, 0, ZONE_DMA)


def test_normal_request_fails_with_1355_dma_pages_free():
    m = dma_example(second_node=False)
    r = m.alloc(g.GFP_KERNEL | g.__GFP_NOWARN, cpu=0)
    assert not r.ok
    assert m.zone(0, ZONE_DMA).nr_free_pages == 1355


# ---- fast path: LOW watermark, then MIN in the slow path ---------------------------------------

def low_min_machine():
    # 16 pages; min 4, low 14, high 15.
    return machine((zone(ZONE_NORMAL, 0, 16, wm=(4, 14, 15)),))


def test_fast_path_uses_low_and_slow_path_uses_min():
    m = low_min_machine()
    z = m.zone(0, ZONE_NORMAL)
    # 16 > 14 and 15 > 14: two fast-path pages, no kswapd
    for _ in range(2):
        r = m.alloc(g.GFP_KERNEL)
        assert r.ok and r.events == ()
    assert z.nr_free_pages == 14
    # 14 fails LOW; the slow path wakes kswapd (14 <= high 15, node unbalanced) and passes MIN (14 > 4)
    r = m.alloc(g.GFP_KERNEL)
    assert r.ok
    assert [(e.kind, dict(e.detail)) for e in r.events] == [
        ("kswapd_wake", {"nid": 0, "order": 0, "classzone": ZONE_NORMAL})]
    # the slow path keeps serving down to min: 13 .. 5 -> 9 more pages, then 4 <= 4 fails
    assert len(fill(m, NOWAIT)) == 9
    assert z.nr_free_pages == 4


def test_alloc_flags_ladder_below_min():
    # After GFP_NOWAIT stops at min (free 4): __GFP_HIGH and GFP_ATOMIC go to 4 - 2 = 2
    # (ATOMIC: 2 - 2 // 4 = 2), an rt task's HARDER alone to 4 - 1 = 3, __GFP_MEMALLOC to 0.
    m = low_min_machine()
    z = m.zone(0, ZONE_NORMAL)
    fill(m, NOWAIT)
    assert z.nr_free_pages == 4
    assert len(fill(m, NOWAIT, rt_task=True)) == 1
    assert len(fill(m, g.GFP_ATOMIC | g.__GFP_NOWARN)) == 1  # 3 -> 2
    assert len(fill(m, NOWAIT | g.__GFP_HIGH)) == 0
    r = m.alloc(NOWAIT | g.__GFP_MEMALLOC)
    assert r.ok and m.pfmemalloc
    r = m.alloc(NOWAIT | g.__GFP_MEMALLOC)
    assert r.ok and z.nr_free_pages == 0
    assert not m.alloc(NOWAIT | g.__GFP_MEMALLOC).ok


def test_kswapd_wake_classzone_is_high_zoneidx_while_checks_use_the_preferred_zone():
    m = low_min_machine()
    for _ in range(2):  # 16 -> 14: the next request needs the slow path
        assert m.alloc(NOWAIT).ok
    r = m.alloc(g.GFP_HIGHUSER_MOVABLE)
    wake = [dict(e.detail) for e in r.events if e.kind == "kswapd_wake"]
    assert wake == [{"nid": 0, "order": 0, "classzone": ZONE_MOVABLE}]
    assert m.last_ac.high_zoneidx == ZONE_MOVABLE
    assert m.ac_classzone_idx(m.last_ac) == ZONE_NORMAL


def test_no_kswapd_wake_without_kswapd_reclaim():
    m = low_min_machine()
    for _ in range(2):
        assert m.alloc(NOWAIT).ok
    r = m.alloc(g.__GFP_DIRECT_RECLAIM | g.__GFP_IO | g.__GFP_FS)
    assert r.ok and "kswapd_wake" not in event_kinds(r)


# ---- classzone: the preferred zoneref's index, not gfp_zone --------------------------------------

def classzone_machine(dma32_reserve):
    """DMA32 (16 free pages, marks 0) below a Normal zone that never passes (16 pages, marks 16)."""
    return machine((zone(ZONE_DMA32, 0, 16, lr=dma32_reserve), zone(ZONE_NORMAL, 16, 16, wm=(16, 16, 16))))


def test_classzone_is_preferred_zone_index_not_gfp_zone():
    # gfp_zone(GFP_HIGHUSER_MOVABLE) = MOVABLE, but the first eligible zone is Normal: classzone 2.
    # DMA32 reserves 100 pages against MOVABLE and none against NORMAL, so it serves the request.
    m = classzone_machine((0, 0, 0, 0, 100))
    r = m.alloc(g.GFP_HIGHUSER_MOVABLE | g.__GFP_NOWARN)
    assert (r.ok, r.zone_idx) == (True, ZONE_DMA32)
    assert (m.last_ac.high_zoneidx, m.ac_classzone_idx(m.last_ac)) == (ZONE_MOVABLE, ZONE_NORMAL)


def test_classzone_reserve_of_the_preferred_zone_blocks_the_lower_zone():
    m = classzone_machine((0, 0, 100, 0, 0))
    r = m.alloc(g.GFP_HIGHUSER_MOVABLE | g.__GFP_NOWARN)
    assert not r.ok
    assert m.zone(0, ZONE_DMA32).nr_free_pages == 16


# ---- node_reclaim ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReclaimingEnv(RecordingEnv):
    """node_reclaim() frees the pages in `cache` (the page cache it reclaimed) before it answers."""

    cache: list = field(default_factory=list, compare=False, hash=False)

    def node_reclaim(self, k, pgdat, gfp_mask, order):
        free_pages = getattr(k, "__free_pages")
        while self.cache:
            free_pages(self.cache.pop(), 0)
        return super().node_reclaim(k, pgdat, gfp_mask, order)


def node_reclaim_machine(mode):
    """Two 8-page nodes; node 0 has low = high = 6 and two pages in use (free 6: it fails LOW)."""
    m = machine((zone(ZONE_NORMAL, 0, 8, wm=(0, 6, 6)),), (zone(ZONE_NORMAL, 8, 8),), node_reclaim_mode=mode)
    used = [m.alloc(NOWAIT | g.__GFP_THISNODE, nid=0).page for _ in range(2)]
    assert m.zone(0, ZONE_NORMAL).nr_free_pages == 6
    return m, used


def test_node_reclaim_not_called_when_mode_is_zero():
    m, _ = node_reclaim_machine(0)
    m.env = RecordingEnv(node_reclaim_result=NODE_RECLAIM_SUCCESS)
    r = m.alloc(NOWAIT, cpu=0)
    assert (r.ok, r.nid) == (True, 1)
    assert m.env.calls("node_reclaim") == []


def test_node_reclaim_noscan_or_full_skips_the_zone_without_a_recheck():
    # Even though the reclaim freed a page (node 0 now has 7 > low 6), the zone is passed over.
    for result in (NODE_RECLAIM_NOSCAN, NODE_RECLAIM_FULL):
        m, used = node_reclaim_machine(1)
        m.env = ReclaimingEnv(node_reclaim_result=result, cache=[used[0]])
        r = m.alloc(NOWAIT, cpu=0)
        assert (result, r.ok, r.nid) == (result, True, 1)
        assert m.env.calls("node_reclaim") == [0]
        assert m.zone(0, ZONE_NORMAL).nr_free_pages == 7


def test_node_reclaim_some_or_success_rechecks_the_watermark():
    for result in (NODE_RECLAIM_SOME, NODE_RECLAIM_SUCCESS):
        # reclaim freed a page: 7 > 6 on the re-check, the local zone serves
        m, used = node_reclaim_machine(1)
        m.env = ReclaimingEnv(node_reclaim_result=result, cache=[used[0]])
        r = m.alloc(NOWAIT, cpu=0)
        assert (result, r.ok, r.nid) == (result, True, 0)
        assert m.env.calls("node_reclaim") == [0]
        # reclaim freed nothing: 6 <= 6 on the re-check, the zone is skipped
        m, _ = node_reclaim_machine(1)
        m.env = RecordingEnv(node_reclaim_result=result)
        r = m.alloc(NOWAIT, cpu=0)
        assert (result, r.ok, r.nid) == (result, True, 1)
        assert m.env.calls("node_reclaim") == [0]


def test_node_reclaim_only_within_reclaim_distance():
    # Both nodes fail LOW (8 <= 8); node 1 is asked only if node_distance(0, 1) <= RECLAIM_DISTANCE (30).
    # The slow path then takes a page from node 0 at MIN 0 without asking again.
    for remote, asked in ((40, [0]), (30, [0, 1])):
        env = RecordingEnv()
        m = machine((zone(ZONE_NORMAL, 0, 8, wm=(0, 8, 8)),), (zone(ZONE_NORMAL, 8, 8, wm=(0, 8, 8)),),
                    node_reclaim_mode=1, distances=((10, remote), (remote, 10)), env=env)
        r = m.alloc(NOWAIT, cpu=0)
        assert (r.ok, r.nid) == (True, 0)
        assert (remote, env.calls("node_reclaim")) == (remote, asked)
