"""The memory map: which pfns have a struct page and pageblock flags (mm/page_alloc.c, 4.19).

The model follows SPARSEMEM (x86-64's memory model): struct pages and pageblock flags (the
section's usemap) exist for every pfn of a present section, and sections are aligned and hold an
even number of MAX_ORDER blocks (x86-64: 2^15 pages, 32 blocks). The model takes the smallest such
section, 2 x MAX_ORDER_NR_PAGES, around each node's pfns: every MAX_ORDER block then has its buddy
in the map, which 4.19 reads without checking (unset_migratetype_isolate() looks at the pageblock of
the buddy of a MAX_ORDER-1 block; __free_one_page() at the struct page of a buddy past an unaligned
zone end). Pageblock flags are written only inside a zone (memmap_init_zone: "check here not to call
set_pageblock_migratetype() against pfn out of zone"), and move_freepages() walks only pfns of its
zone (its VM_BUG_ON that start and end lie in one zone).

A model that reads a struct page or a pageblock flag outside the map, writes a pageblock flag
outside every zone, or walks a zone's pages past the zone raises OutOfZoneAccess, which the
explorer reports as the violation `memory_map`.

Where it is checked, to keep the hot path cheap: at the accesses through a derived pfn, not on
every map access: get/set_pageblock_migratetype (every pageblock index), page_is_buddy (every
buddy pfn __free_one_page derives), move_freepages (the two ends of the walk). The per-page maps
written by expand() and the free lists only ever receive pfns inside a block already checked.
"""

import sys

from .errors import OutOfZoneAccess


class MemoryMap:
    """The pfns that have a struct page and pageblock flags, and the pfns some zone spans, as byte tables."""

    __slots__ = ("pages", "zoned", "spans")

    def __init__(self, spans, max_order):
        """spans: (start_pfn, end_pfn, label, nid) of every populated zone."""
        section = 1 << max_order  # two MAX_ORDER blocks
        top = max((-(-end // section) * section for _, end, _, _ in spans), default=0)
        self.pages = bytearray(top)
        self.zoned = bytearray(top)
        self.spans = tuple(spans)
        nodes = {}
        for start, end, _, nid in spans:
            lo, hi = nodes.get(nid, (start, end))
            nodes[nid] = (min(lo, start), max(hi, end))
            self.zoned[start:end] = b"\1" * (end - start)
        for start, end in nodes.values():
            lo, hi = start & ~(section - 1), -(-end // section) * section
            self.pages[lo:hi] = b"\1" * (hi - lo)

    def has_page(self, pfn):
        """The struct page (and the pageblock flags) of pfn exist."""
        return 0 <= pfn < len(self.pages) and self.pages[pfn]

    def in_zone(self, pfn):
        """Some zone spans pfn."""
        return 0 <= pfn < len(self.zoned) and self.zoned[pfn]

    def describe(self):
        return ", ".join(f"{label} {start}..{end - 1}" for start, end, label, _ in self.spans)


def out_of_zone(k, pfn, what, outside="the memory map"):
    """The OutOfZoneAccess for the kernel function that called this one, reading `what` of pfn."""
    frame = sys._getframe(1)
    function = frame.f_code.co_name
    caller = frame.f_back.f_code.co_name if frame.f_back is not None else None
    return OutOfZoneAccess(
        f"{function} (called from {caller}) {what} of pfn {pfn}, outside {outside} "
        f"(zones: {k.memmap.describe()})", pfn, function, caller)
