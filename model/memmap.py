"""The memory map: which pfns have a struct page and which pageblocks have flags (mm/page_alloc.c, 4.19).

4.19 allocates struct pages for each node's pfns rounded out to MAX_ORDER_NR_PAGES
(alloc_node_mem_map: "the node_mem_map endpoints must be [MAX_ORDER] aligned for the buddy
allocator to function correctly"; SPARSEMEM sections are larger still), so __free_one_page may
read the struct page of a buddy past an unaligned zone end, and the bound `order < MAX_ORDER - 2`
of its next-order look keeps that buddy inside the MAX_ORDER block. Pageblock flags exist only for
the pageblocks a zone spans (usemap_size(); memmap_init_zone: "bitmap is created for zone's valid
pfn range. but memmap can be created for invalid pages (for alignment)").

A model that reads a struct page outside the map, a pageblock flag of a pageblock no zone spans,
or walks a zone's pages past the zone (move_freepages' VM_BUG_ON that start and end lie in one
zone) raises OutOfZoneAccess, which the explorer reports as the violation `memory_map`.

Where it is checked, to keep the hot path cheap: at the reads of a derived pfn, not on every map
access: get/set_pageblock_migratetype (every pageblock index), page_is_buddy (every buddy pfn
__free_one_page derives), move_freepages (the two ends of the walk). The per-page maps written by
expand() and the free lists only ever receive pfns inside a block already checked.
"""

import sys

from .errors import OutOfZoneAccess


class MemoryMap:
    """The pfns that have a struct page and the pageblocks that have flags, as byte tables."""

    __slots__ = ("pages", "pageblocks", "spans", "pageblock_order")

    def __init__(self, spans, max_order, pageblock_order):
        """spans: (start_pfn, end_pfn, label, nid) of every populated zone."""
        group = 1 << (max_order - 1)
        top = max((-(-end // group) * group for _, end, _, _ in spans), default=0)
        self.pages = bytearray(top)
        self.pageblocks = bytearray((top >> pageblock_order) + 1)
        self.spans = tuple(spans)
        self.pageblock_order = pageblock_order
        nodes = {}
        for start, end, _, nid in spans:
            lo, hi = nodes.get(nid, (start, end))
            nodes[nid] = (min(lo, start), max(hi, end))
        for start, end in nodes.values():  # alloc_node_mem_map: the node's pfns, MAX_ORDER-aligned
            lo, hi = start & ~(group - 1), -(-end // group) * group
            self.pages[lo:hi] = b"\1" * (hi - lo)
        for start, end, _, _ in spans:  # usemap_size: the pageblocks each zone spans
            first, last = start >> pageblock_order, (end - 1) >> pageblock_order
            self.pageblocks[first:last + 1] = b"\1" * (last + 1 - first)

    def has_page(self, pfn):
        return 0 <= pfn < len(self.pages) and self.pages[pfn]

    def has_pageblock(self, pfn):
        pb = pfn >> self.pageblock_order
        return 0 <= pfn and pb < len(self.pageblocks) and self.pageblocks[pb]

    def describe(self):
        return ", ".join(f"{label} {start}..{end - 1}" for start, end, label, _ in self.spans)


def out_of_zone(k, pfn, what, outside="the memory map"):
    """The OutOfZoneAccess for the kernel function that called this one, reading `what` of pfn."""
    frame = sys._getframe(1)
    function = frame.f_code.co_name
    caller = frame.f_back.f_code.co_name if frame.f_back is not None else None
    return OutOfZoneAccess(
        f"{function} (called from {caller}) read {what} of pfn {pfn}, outside {outside} "
        f"(zones: {k.memmap.describe()})", pfn, function, caller)
