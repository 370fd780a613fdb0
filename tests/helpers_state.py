"""Test helpers: small custom machines, hand-built zone states, and the accounting invariants.

Tests import this module as `from helpers_state import ...` (pytest puts tests/ on sys.path in
its default import mode, since tests/ is not a package).

Hand-built states replace a zone's free lists, PageBuddy map and counters wholesale so that a
test can set up exactly the lists a kernel rule is about; `set_allocated` marks the remaining
pages as allocated blocks (with the migratetype they were requested as, which is what the
model's move_freepages counts as movable).
"""

from collections import Counter

from buddycheck.model.constants import (
    MIGRATE_CMA,
    MIGRATE_ISOLATE,
    MIGRATE_TYPES,
    ZONE_DMA,
    ZONE_NORMAL,
)
from buddycheck.model.machine import Kernel419
from buddycheck.model.topology import NodeSpec, Topology, ZoneSpec

NO_RESERVE = (0, 0, 0, 0, 0)


def zone_spec(zone_type, start, pages, watermarks=(0, 0, 0), pcp=(0, 1), **kw):
    """A ZoneSpec with explicit limits (zero watermarks and reserves, boot-pageset pcp by default)."""
    return ZoneSpec(zone_type, start, pages, watermarks=watermarks, lowmem_reserve=NO_RESERVE,
                    pcp_high_batch=pcp, **kw)


def one_zone_topology(pages=16, max_order=4, pageblock_order=2, watermarks=(0, 0, 0), pcp=(0, 1),
                      mobility=True, cma_pageblocks=(), start=0, zone_type=ZONE_NORMAL):
    """One node, one CPU, one zone; grouping by mobility forced on (or off)."""
    zone = zone_spec(zone_type, start, pages, watermarks, pcp, cma_pageblocks=tuple(cma_pageblocks))
    return Topology(
        nodes=(NodeSpec(0, (0,), (zone,)),),
        max_order=max_order,
        pageblock_order=pageblock_order,
        page_group_by_mobility_disabled=not mobility,
        numa=False,
        min_free_kbytes=0,
        name="one-zone",
    )


def split_zone_topology(dma_pages=3, normal_pages=5, max_order=2, pageblock_order=1):
    """One node with DMA at pfn 0 and Normal right after it: the boundary need not be aligned."""
    return Topology(
        nodes=(NodeSpec(0, (0,), (
            zone_spec(ZONE_DMA, 0, dma_pages),
            zone_spec(ZONE_NORMAL, dma_pages, normal_pages),
        )),),
        max_order=max_order,
        pageblock_order=pageblock_order,
        page_group_by_mobility_disabled=False,
        numa=False,
        min_free_kbytes=0,
        name="split-zone",
    )


def boot(topology, cls=Kernel419):
    return cls(topology)


# ---- hand-built states ---------------------------------------------------------------------

def set_free_lists(m, zone, lists):
    """Replace zone's free lists by `lists` {(order, migratetype): [head pfn, ...] head first}.

    Also sets PageBuddy for those heads (and clears it for every other pfn of the zone), nr_free,
    NR_FREE_PAGES (pages on non-ISOLATE lists) and NR_FREE_CMA_PAGES (pages on CMA lists).
    Allocated blocks of the zone are forgotten; mark them again with set_allocated().
    """
    for pfn in range(zone.zone_start_pfn, zone.zone_end_pfn):
        m.page_buddy.pop(pfn, None)
        m.allocated.pop(pfn, None)
    for area in zone.free_area:
        area.free_list = [[] for _ in range(MIGRATE_TYPES)]
        area.nr_free = 0
    nr_free_pages = 0
    nr_cma = 0
    for (order, mt), pfns in lists.items():
        area = zone.free_area[order]
        area.free_list[mt] = list(pfns)
        area.nr_free += len(pfns)
        for pfn in pfns:
            m.page_buddy[pfn] = order
        if mt != MIGRATE_ISOLATE:
            nr_free_pages += len(pfns) << order
        if mt == MIGRATE_CMA:
            nr_cma += len(pfns) << order
    zone.nr_free_pages = nr_free_pages
    zone.nr_free_cma_pages = nr_cma


def set_allocated(m, blocks):
    """Mark blocks {head pfn: (order, migratetype)} as allocated (not charged to any task)."""
    for pfn, (order, mt) in blocks.items():
        m.allocated[pfn] = (order, mt, None)


def fill_allocated(m, zone, mt):
    """Mark every page of zone that is neither free nor on a pcp list as an allocated order-0 page."""
    acc = zone_accounting(m, zone)
    for pfn in range(zone.zone_start_pfn, zone.zone_start_pfn + zone.managed_pages):
        if pfn not in acc["free"] and pfn not in acc["pcp"] and pfn not in acc["allocated"]:
            m.allocated[pfn] = (0, mt, None)


def set_pageblocks(m, mts):
    """Set pageblock types {pageblock index: migratetype} directly (no mobility collapsing)."""
    for pb, mt in mts.items():
        m.pageblock_flags[pb] = mt


def free_lists(zone, order):
    """The zone's free lists of one order as {migratetype: [pfns]} without the empty ones."""
    return {mt: list(lst) for mt, lst in enumerate(zone.free_area[order].free_list) if lst}


def nr_free(zone):
    return [area.nr_free for area in zone.free_area]


# ---- accounting and invariants ---------------------------------------------------------------

def zone_accounting(m, zone):
    """Pages of one zone by where they are: free (pfn -> (head, order, mt)), pcp (pfn -> (cpu, list)),
    allocated (pfn -> head). Raises AssertionError if one source names a page twice."""
    free = {}
    for order, area in enumerate(zone.free_area):
        for mt, lst in enumerate(area.free_list):
            for head in lst:
                for pfn in range(head, head + (1 << order)):
                    assert pfn not in free, f"pfn {pfn} is in two free blocks ({free[pfn]} and {(head, order, mt)})"
                    free[pfn] = (head, order, mt)
    pcp = {}
    for cpu, p in zone.pageset.items():
        for t, lst in enumerate(p.lists):
            for pfn in lst:
                assert pfn not in pcp, f"pfn {pfn} is on two per-cpu lists ({pcp[pfn]} and {(cpu, t)})"
                pcp[pfn] = (cpu, t)
    allocated = {}
    for head, (order, _mt, _owner) in m.allocated.items():
        if m.page_zone(head) is not zone:
            continue
        for pfn in range(head, head + (1 << order)):
            assert pfn not in allocated, f"pfn {pfn} is in two allocated blocks ({allocated[pfn]} and {head})"
            allocated[pfn] = head
    return {"free": free, "pcp": pcp, "allocated": allocated}


def check_invariants(m):
    """Every accounting rule of the 4.19 allocator that must hold between operations."""
    buddy_seen = {}
    for zone in m.populated_zones:
        where = zone.label()
        acc = zone_accounting(m, zone)
        free, pcp, allocated = acc["free"], acc["pcp"], acc["allocated"]
        places = Counter(list(free)) + Counter(list(pcp)) + Counter(list(allocated))
        doubles = sorted(pfn for pfn, n in places.items() if n > 1)
        assert not doubles, f"{where}: pfns {doubles} are in more than one place (free/pcp/allocated)"
        lo, hi = zone.zone_start_pfn, zone.zone_start_pfn + zone.managed_pages
        outside = sorted(pfn for pfn in places if not lo <= pfn < hi)
        assert not outside, f"{where}: pfns {outside} lie outside the managed range {lo}..{hi - 1}"
        assert len(places) == zone.managed_pages, (
            f"{where}: free {len(free)} + pcp {len(pcp)} + allocated {len(allocated)} != managed {zone.managed_pages}")
        for order, area in enumerate(zone.free_area):
            listed = sum(len(lst) for lst in area.free_list)
            assert area.nr_free == listed, f"{where}: nr_free[{order}] = {area.nr_free} but {listed} blocks listed"
            for lst in area.free_list:
                for head in lst:
                    assert head % (1 << order) == 0, f"{where}: block at pfn {head} of order {order} is not aligned"
                    assert lo <= head and head + (1 << order) <= hi, (
                        f"{where}: block at pfn {head} of order {order} leaves the zone")
                    buddy_seen[head] = order
        expected_free = sum(len(lst) << order for order, area in enumerate(zone.free_area)
                            for mt, lst in enumerate(area.free_list) if mt != MIGRATE_ISOLATE)
        assert zone.nr_free_pages == expected_free, (
            f"{where}: NR_FREE_PAGES = {zone.nr_free_pages}, but the non-isolate lists hold {expected_free} pages")
        expected_cma = sum(len(area.free_list[MIGRATE_CMA]) << order for order, area in enumerate(zone.free_area))
        assert zone.nr_free_cma_pages == expected_cma, (
            f"{where}: NR_FREE_CMA_PAGES = {zone.nr_free_cma_pages}, CMA lists hold {expected_cma} pages")
        for cpu, p in zone.pageset.items():
            listed = sum(len(lst) for lst in p.lists)
            assert p.count == listed, f"{where}: cpu {cpu} pcp count {p.count} but {listed} pages listed"
        for pfn in pcp:
            assert pfn in m.pcp_mt, f"{where}: pcp page {pfn} has no cached migratetype"
        pb = m.pageblock_nr_pages
        assert zone.nr_reserved_highatomic >= 0 and zone.nr_reserved_highatomic % pb == 0, (
            f"{where}: nr_reserved_highatomic = {zone.nr_reserved_highatomic}")
        limit = zone.managed_pages // 100 + pb
        assert zone.nr_reserved_highatomic < limit + pb, (
            f"{where}: nr_reserved_highatomic = {zone.nr_reserved_highatomic} exceeds the limit {limit}")
    assert m.page_buddy == buddy_seen, (
        f"PageBuddy map {sorted(m.page_buddy.items())} != free list heads {sorted(buddy_seen.items())}")


def page_sets(m, zone):
    """(free pages, pcp pages, allocated pages) of a zone as sets."""
    acc = zone_accounting(m, zone)
    return set(acc["free"]), set(acc["pcp"]), set(acc["allocated"])
