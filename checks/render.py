"""Text pictures of machine states: one line per zone, one character per page."""

from buddycheck.model.constants import MIGRATETYPE_NAMES

FREE, PCP, ALLOCATED, UNMANAGED, LOST, OVERLAP = ".", "p", "A", " ", "?", "X"


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


def zone_summary(m, zone):
    per_order = " ".join(f"o{o}:{a.nr_free}" for o, a in enumerate(zone.free_area))
    pcp = sum(p.count for p in zone.pageset.values())
    alloc = sum(1 << o for pfn, (o, _, _) in m.allocated.items() if m.page_zone(pfn) is zone)
    extra = ""
    if zone.nr_reserved_highatomic:
        extra += f" highatomic {zone.nr_reserved_highatomic}"
    if zone.nr_isolate_pageblock:
        extra += f" isolated-blocks {zone.nr_isolate_pageblock}"
    return f"NR_FREE {zone.nr_free_pages} ({per_order}) pcp {pcp} allocated {alloc}{extra}"


def machine_picture(m, indent="  "):
    lines = []
    for zone in m.zones():
        label = f"node {zone.nid} {zone.name:<7} {zone.zone_start_pfn:>4}..{zone.zone_end_pfn - 1:<4}"
        lines.append(f"{indent}{label} [{zone_map(m, zone)}] {zone_summary(m, zone)}")
    return "\n".join(lines)


def pageblock_picture(m, zone):
    nr = m.pageblock_nr_pages
    first = zone.zone_start_pfn - zone.zone_start_pfn % nr
    names = []
    for pfn in range(first, zone.zone_end_pfn, nr):
        names.append(MIGRATETYPE_NAMES[m.get_pageblock_migratetype(pfn)][:3])
    return " ".join(names)
