"""Text pictures of machine states: per zone, its pages, free lists, pageblocks and per-cpu lists.

`machine_picture` gives each populated zone four lines, each starting with the zone's label so a
changed line reads on its own (checks/printing.py prints only the lines a step changed):

1. the block map (one character per page, see `zone_map`), NR_FREE_PAGES, the min/low/high
   watermarks, nr_free per order, the pages on per-cpu lists and the allocated pages;
2. the free lists: every free block by order and migratetype list, head first (list order decides
   which block the next allocation takes);
3. the pageblock types, ISOLATE, CMA and HIGHATOMIC in capitals;
4. the per-cpu lists of every CPU, head first.

A zone above LARGE_ZONE_PAGES pages is summarised as /proc/pagetypeinfo does instead: no block map,
free blocks counted per type and order, pageblocks counted per type and per-cpu pages counted per
list, so a picture stays small on any topology.
"""

from buddycheck.model.constants import (
    MIGRATE_CMA,
    MIGRATE_HIGHATOMIC,
    MIGRATE_ISOLATE,
    MIGRATE_PCPTYPES,
    MIGRATE_TYPES,
    MIGRATETYPE_NAMES,
    WMARK_HIGH,
    WMARK_LOW,
    WMARK_MIN,
)

FREE, PCP, ALLOCATED, UNMANAGED, LOST, OVERLAP = ".", "p", "A", " ", "?", "X"
LARGE_ZONE_PAGES = 256
# a pageblock's type in one short word; the types that change what the allocator may do in capitals
PAGEBLOCK_NAMES = {mt: MIGRATETYPE_NAMES[mt][:3] for mt in range(MIGRATE_TYPES)}
PAGEBLOCK_NAMES.update({MIGRATE_HIGHATOMIC: "HIGHATOMIC", MIGRATE_CMA: "CMA", MIGRATE_ISOLATE: "ISOLATE"})
PCP_NAMES = tuple(MIGRATETYPE_NAMES[t][:3] for t in range(MIGRATE_PCPTYPES))


def zone_map(m, zone):
    """One character per page, '|' before each block.

    '.' free in buddy, 'p' on a per-cpu list, 'A' allocated, ' ' not managed, '?' managed but in
    no list and no allocation (a lost page), 'X' claimed by more than one block (an overlap).
    """
    base = zone.zone_start_pfn
    owners = [0] * zone.spanned_pages
    cells = [UNMANAGED if i >= zone.managed_pages else LOST for i in range(zone.spanned_pages)]
    starts = set()

    def claim(pfn, npages, char):
        starts.add(pfn)
        for p in range(pfn, pfn + npages):
            if 0 <= p - base < len(cells):
                owners[p - base] += 1
                cells[p - base] = OVERLAP if owners[p - base] > 1 else char

    for pfn, order, _ in m.free_blocks(zone):
        claim(pfn, 1 << order, FREE)
    for _, _, pfn in m.pcp_pages(zone):
        claim(pfn, 1, PCP)
    for pfn, (order, _, _) in m.allocated.items():
        if m.page_zone(pfn) is zone:
            claim(pfn, 1 << order, ALLOCATED)
    out = []
    for i, c in enumerate(cells):
        if i and base + i in starts:
            out.append("|")
        out.append(c)
    return "".join(out)


def is_large(zone):
    return zone.spanned_pages > LARGE_ZONE_PAGES


def zone_summary(m, zone):
    """NR_FREE_PAGES, the watermarks, nr_free per order, per-cpu and allocated pages, reserves."""
    per_order = " ".join(f"o{o}:{a.nr_free}" for o, a in enumerate(zone.free_area))
    pcp = sum(p.count for p in zone.pageset.values())
    alloc = sum(1 << o for pfn, (o, _, _) in m.allocated.items() if m.page_zone(pfn) is zone)
    wmark = f"min {zone.watermark[WMARK_MIN]} low {zone.watermark[WMARK_LOW]} high {zone.watermark[WMARK_HIGH]}"
    extra = ""
    if zone.nr_reserved_highatomic:
        extra += f" highatomic {zone.nr_reserved_highatomic}"
    if zone.nr_isolate_pageblock:
        extra += f" isolated-blocks {zone.nr_isolate_pageblock}"
    return f"NR_FREE {zone.nr_free_pages} ({wmark}) ({per_order}) pcp {pcp} allocated {alloc}{extra}"


def free_lists_line(zone):
    """Every non-empty free list, head first; a large zone: blocks per type and order."""
    if is_large(zone):
        parts = []
        for mt in range(MIGRATE_TYPES):
            counts = [len(area.free_list[mt]) for area in zone.free_area]
            if any(counts):
                parts.append(f"{MIGRATETYPE_NAMES[mt]} " + " ".join(map(str, counts)))
        return "free blocks per order: " + ("; ".join(parts) or "none")
    parts = [f"o{order}/{MIGRATETYPE_NAMES[mt]} " + " ".join(map(str, lst))
             for order, area in enumerate(zone.free_area) for mt, lst in enumerate(area.free_list) if lst]
    return "free lists: " + ("; ".join(parts) or "none")


def pageblocks_line(m, zone):
    """Each pageblock's type in pfn order; a large zone: pageblocks per type."""
    types = [m.get_pageblock_migratetype(pfn) for pfn in pageblock_starts(m, zone)]
    if is_large(zone):
        return "pageblocks: " + " ".join(f"{MIGRATETYPE_NAMES[mt]} {types.count(mt)}"
                                         for mt in range(MIGRATE_TYPES) if types.count(mt))
    return "pageblocks: " + " ".join(PAGEBLOCK_NAMES[mt] for mt in types)


def pcp_line(zone):
    """Each CPU's non-empty per-cpu lists, head first; a large zone: their lengths."""
    parts = []
    for cpu, pcp in sorted(zone.pageset.items()):
        lists = [f"{PCP_NAMES[t]}[{len(lst) if is_large(zone) else ' '.join(map(str, lst))}]"
                 for t, lst in enumerate(pcp.lists) if lst]
        if lists:
            parts.append(f"cpu{cpu} " + " ".join(lists))
    return "pcp lists: " + ("; ".join(parts) or "empty")


def pageblock_starts(m, zone):
    """The first pfn of every pageblock the zone overlaps."""
    nr = m.pageblock_nr_pages
    start = zone.zone_start_pfn
    return [start, *range(start - start % nr + nr, zone.zone_end_pfn, nr)]


def zone_picture(m, zone, indent="  "):
    """The zone's four lines (see the module docstring)."""
    label = f"node {zone.nid} {zone.name:<7} {zone.zone_start_pfn:>4}..{zone.zone_end_pfn - 1:<4}"
    pages = f"{zone.spanned_pages} pages" if is_large(zone) else zone_map(m, zone)
    short = f"node {zone.nid} {zone.name:<7}"
    return [f"{indent}{label} [{pages}] {zone_summary(m, zone)}",
            f"{indent}{short} {free_lists_line(zone)}",
            f"{indent}{short} {pageblocks_line(m, zone)}",
            f"{indent}{short} {pcp_line(zone)}"]


def machine_picture(m, indent="  "):
    return "\n".join(line for zone in m.zones() for line in zone_picture(m, zone, indent))
