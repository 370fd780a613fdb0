"""Planted variants for the configuration and memory-map checks: one porting slip each.

Each is `Kernel419.variant(...)` overriding ONE kernel function. The three boot-formula slips break
config_consistency in the machine's initial state (length 0); the two memory-map slips make the model
write a pageblock flag outside every zone or walk pfns past its zone, which the explorer reports as
`memory_map`.
tests/test_config_invariants.py and tests/test_memory_map.py pin where each is caught.

1. wmark-low-half-min        __setup_per_zone_wmarks      low = min + min/2 instead of min + tmp/4
2. lowmem-ratio-upper-zone   setup_per_zone_lowmem_reserve  divides by the upper zone's ratio
3. pcp-fraction-batch-zero   pageset_set_high_and_batch    batch = high/4 without the max(1, ...)
4. pageblock-range-one-more  change_pageblock_range        retypes one pageblock past the block
5. move-block-past-zone-end  move_freepages_block          no check that the pageblock ends in the zone
"""

from buddycheck.model import Kernel419
from buddycheck.model.constants import MAX_NR_ZONES, PAGE_SHIFT, WMARK_HIGH, WMARK_LOW, WMARK_MIN
from buddycheck.model.topology import zone_is_highmem
from buddycheck.model.watermark import all_zones

# ---- 1. watermarks -------------------------------------------------------------------------------------------

WmarkLowHalfMin = Kernel419.variant(
    "wmark-low-half-min", "__setup_per_zone_wmarks() spaces low and high by min/2 instead of tmp/4")


@WmarkLowHalfMin.override
def __setup_per_zone_wmarks(k):
    """__setup_per_zone_wmarks() with the gap between the watermarks taken from min: min/2, not tmp/4.

    What is wrong: kswapd wakes at low and sleeps at high; twice the gap makes it reclaim earlier and
    longer than 4.19. Caught by config_consistency in the initial state of any machine whose computed
    min has tmp/4 above the watermark_scale_factor term.
    """
    t = k.topology
    pages_min = k.min_free_kbytes >> (PAGE_SHIFT - 10)
    lowmem_pages = sum(z.managed_pages for z in all_zones(k) if not zone_is_highmem(z.idx, t.configured_zones))
    for z in all_zones(k):
        spec = k.zone_spec(z)
        if spec is not None and spec.watermarks is not None:
            z.watermark = list(spec.watermarks)
            continue
        tmp = pages_min * z.managed_pages // lowmem_pages if lowmem_pages else 0
        if zone_is_highmem(z.idx, t.configured_zones):
            z.watermark[WMARK_MIN] = min(max(z.managed_pages // 1024, 32), 128)
        else:
            z.watermark[WMARK_MIN] = tmp
        gap = max(z.watermark[WMARK_MIN] // 2, z.managed_pages * k.watermark_scale_factor // 10000)  # the slip
        z.watermark[WMARK_LOW] = z.watermark[WMARK_MIN] + gap
        z.watermark[WMARK_HIGH] = z.watermark[WMARK_MIN] + 2 * gap


# ---- 2. lowmem_reserve ---------------------------------------------------------------------------------------

LowmemRatioUpperZone = Kernel419.variant(
    "lowmem-ratio-upper-zone", "setup_per_zone_lowmem_reserve() divides by the ratio of the upper zone j")


@LowmemRatioUpperZone.override
def setup_per_zone_lowmem_reserve(k):
    """setup_per_zone_lowmem_reserve() indexing sysctl_lowmem_reserve_ratio by j (the upper zone).

    What is wrong: the ratio belongs to the lower zone being protected (ratio[idx]); with the default
    ratios (256, 256, 32) DMA32 keeps 1/32 of Normal instead of 1/256 from Normal requests.
    """
    ratio = k.sysctl_lowmem_reserve_ratio
    for pgdat in k.node_data:
        zones = pgdat.node_zones
        for j in range(MAX_NR_ZONES):
            zones[j].lowmem_reserve[j] = 0
            acc = zones[j].managed_pages
            for idx in range(j - 1, -1, -1):
                if ratio[j] < 1:  # the slip: ratio[idx]
                    zones[idx].lowmem_reserve[j] = 0
                else:
                    zones[idx].lowmem_reserve[j] = acc // ratio[j]
                acc += zones[idx].managed_pages
    for z in all_zones(k):
        spec = k.zone_spec(z)
        if spec is not None and spec.lowmem_reserve is not None:
            z.lowmem_reserve = list(spec.lowmem_reserve)


# ---- 3. per-cpu batch ----------------------------------------------------------------------------------------

PcpFractionBatchZero = Kernel419.variant(
    "pcp-fraction-batch-zero", "pageset_set_high() takes batch = high / 4, dropping max(1UL, ...)")


@PcpFractionBatchZero.override
def pageset_set_high_and_batch(k, zone):
    """pageset_set_high_and_batch() whose percpu_pagelist_fraction path lets batch reach 0.

    What is wrong: a zone with fewer than 4 * fraction pages gets batch 0, so rmqueue_bulk() refills
    nothing and free_pcppages_bulk() spills nothing: the per-cpu list never drains at high.
    """
    spec = k.zone_spec(zone)
    if spec is not None and spec.pcp_high_batch is not None:
        zone.pcp_high, zone.pcp_batch = spec.pcp_high_batch
        return
    fraction = k.percpu_pagelist_fraction
    if fraction:
        high = zone.managed_pages // fraction
        batch = high // 4  # the slip: max(1UL, high / 4)
        if high // 4 > PAGE_SHIFT * 8:
            batch = PAGE_SHIFT * 8
        zone.pcp_high, zone.pcp_batch = high, batch
        return
    batch = k.zone_batchsize(zone)
    zone.pcp_high, zone.pcp_batch = 6 * batch, max(1, batch)


# ---- 4. change_pageblock_range ------------------------------------------------------------------------------

PageblockRangeOneMore = Kernel419.variant(
    "pageblock-range-one-more", "change_pageblock_range() retypes one pageblock past the block")


@PageblockRangeOneMore.override
def change_pageblock_range(k, page, start_order, migratetype):
    """change_pageblock_range() with its count-down loop ported as `<=`: one pageblock too many.

    What is wrong: stealing a free block of order >= pageblock_order retypes the pageblock after
    it, which belongs to an allocation or another free block; for the block that ends the zone, that
    pageblock lies outside every zone and its flags do not exist.
    """
    for i in range((1 << (start_order - k.pageblock_order)) + 1):  # the slip: one more than 2^(order - pbo)
        k.set_pageblock_migratetype(page + i * k.pageblock_nr_pages, migratetype)


# ---- 5. move_freepages_block at a zone end -------------------------------------------------------------------

MoveBlockPastZoneEnd = Kernel419.variant(
    "move-block-past-zone-end", "move_freepages_block() without the check that the pageblock ends inside the zone")


@MoveBlockPastZoneEnd.override
def move_freepages_block(k, zone, page, migratetype):
    """move_freepages_block() that clamps the start to the zone but not the end.

    What is wrong: on a zone whose end is not pageblock-aligned, the last pageblock's walk runs past
    the zone's last pfn (move_freepages' VM_BUG_ON, and struct pages of another zone or none).
    """
    start_pfn = page & ~(k.pageblock_nr_pages - 1)
    end_pfn = start_pfn + k.pageblock_nr_pages - 1
    if not (zone.zone_start_pfn <= start_pfn < zone.zone_end_pfn):
        start_pfn = page
    return k.move_freepages(zone, start_pfn, end_pfn, migratetype)


VARIANTS = {cls.NAME: cls for cls in (WmarkLowHalfMin, LowmemRatioUpperZone, PcpFractionBatchZero,
                                      PageblockRangeOneMore, MoveBlockPastZoneEnd)}
__all__ = ["VARIANTS"]
