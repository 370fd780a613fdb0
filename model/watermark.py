"""Watermarks, lowmem_reserve and per-cpu list sizing (mm/page_alloc.c, 4.19).

Boot-time computations (`init_per_zone_wmark_min`, `__setup_per_zone_wmarks`,
`setup_per_zone_lowmem_reserve`, `calculate_totalreserve_pages`,
`zone_batchsize`) run once when a machine is built, unless the topology gives
the values. The checks (`__zone_watermark_ok`, `zone_watermark_ok`,
`zone_watermark_fast`) run on every allocation.

They read the sysctls from the machine (k.min_free_kbytes, k.watermark_scale_factor,
k.sysctl_lowmem_reserve_ratio, k.percpu_pagelist_fraction), which boot sets from the topology and
the handlers of model/sysctl.py change at run time, calling these again.

Abstracted away: `zone_watermark_ok_safe` (counters are exact here, so it equals
`zone_watermark_ok`); deferred struct page init.
"""

from math import isqrt

from .constants import (
    ALLOC_CMA,
    ALLOC_HARDER,
    ALLOC_HIGH,
    ALLOC_OOM,
    MAX_NR_ZONES,
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
    PAGE_SHIFT,
    PAGE_SIZE,
    WMARK_HIGH,
    WMARK_LOW,
    WMARK_MIN,
    ZONE_NORMAL,
)
from .kernel import kernel_function
from .topology import zone_is_highmem


def all_zones(k):
    """for_each_zone(): every zone of every node, lowest node and zone first."""
    for pgdat in k.node_data:
        yield from pgdat.node_zones


@kernel_function
def nr_free_zone_pages(k, offset):
    """nr_free_zone_pages(): sum of managed - high watermark over the local zonelist's zones <= offset."""
    total = 0
    for z in k.zonelist_zones(k.node_data[0].node_zonelists[0], offset, None):
        size = z.managed_pages
        high = z.watermark[WMARK_HIGH]
        if size > high:
            total += size - high
    return total


@kernel_function
def init_per_zone_wmark_min(k):
    """init_per_zone_wmark_min(): min_free_kbytes = sqrt(lowmem_kbytes * 16), clamped to 128..65536."""
    lowmem_kbytes = k.nr_free_zone_pages(ZONE_NORMAL) * (PAGE_SIZE >> 10)
    value = isqrt(lowmem_kbytes * 16)
    return min(max(value, 128), 65536)


@kernel_function
def __setup_per_zone_wmarks(k):
    """__setup_per_zone_wmarks(): min/low/high from min_free_kbytes and watermark_scale_factor."""
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
        gap = max(tmp >> 2, z.managed_pages * k.watermark_scale_factor // 10000)
        z.watermark[WMARK_LOW] = z.watermark[WMARK_MIN] + gap
        z.watermark[WMARK_HIGH] = z.watermark[WMARK_MIN] + 2 * gap


@kernel_function
def setup_per_zone_lowmem_reserve(k):
    """setup_per_zone_lowmem_reserve(): per node, reserve[j] of lower zones = pages above // ratio.

    A ratio below 1 is written back to the sysctl as 0 (for every zone type but the highest).
    """
    ratio = k.sysctl_lowmem_reserve_ratio
    for pgdat in k.node_data:
        zones = pgdat.node_zones
        for j in range(MAX_NR_ZONES):
            zones[j].lowmem_reserve[j] = 0
            acc = zones[j].managed_pages
            for idx in range(j - 1, -1, -1):
                if ratio[idx] < 1:
                    ratio[idx] = 0
                    zones[idx].lowmem_reserve[j] = 0
                else:
                    zones[idx].lowmem_reserve[j] = acc // ratio[idx]
                acc += zones[idx].managed_pages
    for z in all_zones(k):
        spec = k.zone_spec(z)
        if spec is not None and spec.lowmem_reserve is not None:
            z.lowmem_reserve = list(spec.lowmem_reserve)


@kernel_function
def calculate_totalreserve_pages(k):
    """calculate_totalreserve_pages(): per node, sum of min(managed, max reserve + high watermark)."""
    total = 0
    for pgdat in k.node_data:
        pgdat.totalreserve_pages = 0
        for z in pgdat.node_zones:
            reserve = max(z.lowmem_reserve[z.idx:] or [0]) + z.watermark[WMARK_HIGH]
            reserve = min(reserve, z.managed_pages)
            pgdat.totalreserve_pages += reserve
        total += pgdat.totalreserve_pages
    k.totalreserve_pages = total


def rounddown_pow_of_two(n):
    return 1 << (n.bit_length() - 1)


@kernel_function
def zone_batchsize(k, zone):
    """zone_batchsize(): about a quarter of 1/1024 of the zone, capped at 1 MiB, then 2^n - 1."""
    batch = zone.managed_pages // 1024
    if batch * PAGE_SIZE > 1024 * 1024:
        batch = (1024 * 1024) // PAGE_SIZE
    batch //= 4
    if batch < 1:
        batch = 1
    batch = rounddown_pow_of_two(batch + batch // 2) - 1
    return batch


@kernel_function
def pageset_set_high_and_batch(k, zone):
    """pageset_set_high_and_batch(): high = 6 * batch, or from percpu_pagelist_fraction."""
    spec = k.zone_spec(zone)
    if spec is not None and spec.pcp_high_batch is not None:
        zone.pcp_high, zone.pcp_batch = spec.pcp_high_batch
        return
    fraction = k.percpu_pagelist_fraction
    if fraction:
        high = zone.managed_pages // fraction
        batch = max(1, high // 4)
        if high // 4 > PAGE_SHIFT * 8:
            batch = PAGE_SHIFT * 8
        zone.pcp_high, zone.pcp_batch = high, batch
        return
    batch = k.zone_batchsize(zone)
    zone.pcp_high, zone.pcp_batch = 6 * batch, max(1, batch)


@kernel_function
def __zone_watermark_ok(k, z, order, mark, classzone_idx, alloc_flags, free_pages):
    """__zone_watermark_ok(): free pages above mark + lowmem_reserve, and a usable block of order or more.

    An order >= MAX_ORDER fails both tests (no free area of that order exists); it is answered first, before
    1 << order, which in Python is a number of order bits: an order of 10**12 would exhaust memory where C's
    shift stays one word. The verdict is the kernel's for every order.
    """
    if order >= k.MAX_ORDER:
        return False
    min_ = mark
    alloc_harder = alloc_flags & (ALLOC_HARDER | ALLOC_OOM)
    free_pages -= (1 << order) - 1
    if alloc_flags & ALLOC_HIGH:
        min_ -= min_ // 2
    if not alloc_harder:
        free_pages -= z.nr_reserved_highatomic
    elif alloc_flags & ALLOC_OOM:
        min_ -= min_ // 2
    else:
        min_ -= min_ // 4
    if not (alloc_flags & ALLOC_CMA):
        free_pages -= z.nr_free_cma_pages
    if free_pages <= min_ + z.lowmem_reserve[classzone_idx]:
        return False
    if not order:
        return True
    for o in range(order, k.MAX_ORDER):
        area = z.free_area[o]
        if not area.nr_free:
            continue
        for mt in (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE):
            if area.free_list[mt]:
                return True
        if (alloc_flags & ALLOC_CMA) and area.free_list[MIGRATE_CMA]:
            return True
        if alloc_harder and area.free_list[MIGRATE_HIGHATOMIC]:
            return True
    return False


@kernel_function
def zone_watermark_ok(k, z, order, mark, classzone_idx, alloc_flags):
    """zone_watermark_ok(): __zone_watermark_ok() with NR_FREE_PAGES."""
    return k.__zone_watermark_ok(z, order, mark, classzone_idx, alloc_flags, z.nr_free_pages)


@kernel_function
def zone_watermark_fast(k, z, order, mark, classzone_idx, alloc_flags):
    """zone_watermark_fast(): the order-0 shortcut (no highatomic, no discounts), else the full check."""
    free_pages = z.nr_free_pages
    cma_pages = 0
    if not (alloc_flags & ALLOC_CMA):
        cma_pages = z.nr_free_cma_pages
    if not order and (free_pages - cma_pages) > mark + z.lowmem_reserve[classzone_idx]:
        return True
    return k.__zone_watermark_ok(z, order, mark, classzone_idx, alloc_flags, free_pages)


def wmark_pages(zone, i):
    """min_wmark_pages()/low_wmark_pages()/high_wmark_pages()."""
    return zone.watermark[i]


__all__ = ["wmark_pages", "WMARK_MIN", "WMARK_LOW", "WMARK_HIGH"]
