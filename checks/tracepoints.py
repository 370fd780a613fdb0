"""The kmem tracepoints' text (include/trace/events/kmem.h, 4.19), from a machine's recorded events.

One function per event prints what TP_printk prints; `trace_line` adds the event name as the trace
buffer shows it after its task/cpu/timestamp columns (which the model has no values for).
`record_tracepoints` runs a function on a machine with tracing on and returns the records
(model/tracepoints.py says where each fires).

`page=%p`: 4.19 prints the struct page address; the model has no memmap, so the address shown is
x86_64's vmemmap one (VMEMMAP_START + pfn * 64, 64-byte struct page), and "(null)" when there is no
page, as 4.19's %p prints NULL. 4.19 prints pfn in decimal.
"""

from buddycheck.model.gfp import format_gfp
from buddycheck.model.tracepoints import start_tracing, stop_tracing

VMEMMAP_START = 0xFFFFEA0000000000
STRUCT_PAGE_SIZE = 64


def _page(pfn):
    """%p of pfn_to_page(pfn), or of NULL for a missing page."""
    return "(null)" if pfn is None else f"{VMEMMAP_START + pfn * STRUCT_PAGE_SIZE:016x}"


def _page_pfn(pfn):
    """The page=... pfn=... pair; a missing page prints pfn 0, as the kernel's -1UL test does."""
    return f"page={_page(pfn)} pfn={0 if pfn is None else pfn}"


def show_gfp_flags(gfp):
    """show_gfp_flags(): the flag names joined by '|', or "none" for an empty mask."""
    return format_gfp(gfp) if gfp else "none"


def mm_page_alloc(page, order, gfp_flags, migratetype):
    return f"{_page_pfn(page)} order={order} migratetype={migratetype} gfp_flags={show_gfp_flags(gfp_flags)}"


def mm_page_free(page, order):
    return f"{_page_pfn(page)} order={order}"


def mm_page_alloc_zone_locked(page, order, migratetype):
    """The mm_page class: percpu_refill is order == 0 (rmqueue_bulk refilling a per-cpu list)."""
    return f"{_page_pfn(page)} order={order} migratetype={migratetype} percpu_refill={int(order == 0)}"


def mm_page_pcpu_drain(page, order, migratetype):
    return f"{_page_pfn(page)} order={order} migratetype={migratetype}"


def mm_page_alloc_extfrag(page, alloc_order, fallback_order, alloc_migratetype, fallback_migratetype,
                          change_ownership, pageblock_order):
    """fragmenting: the stolen block is smaller than a pageblock."""
    return (f"{_page_pfn(page)} alloc_order={alloc_order} fallback_order={fallback_order} "
            f"pageblock_order={pageblock_order} alloc_migratetype={alloc_migratetype} "
            f"fallback_migratetype={fallback_migratetype} fragmenting={int(fallback_order < pageblock_order)} "
            f"change_ownership={int(change_ownership)}")


FORMATS = {f.__name__: f for f in (mm_page_alloc, mm_page_free, mm_page_alloc_zone_locked, mm_page_pcpu_drain,
                                    mm_page_alloc_extfrag)}


def trace_line(record, pageblock_order):
    """'name: fields' for one TracepointRecord of a machine with that pageblock_order."""
    args = dict(record.args)
    if record.name == "mm_page_alloc_extfrag":
        args["pageblock_order"] = pageblock_order
    return f"{record.name}: {FORMATS[record.name](**args)}"


def record_tracepoints(m, step):
    """Run step(m) with the kmem events on; returns (step's result, the records in firing order)."""
    start_tracing(m)
    try:
        result = step(m)
    finally:
        records = stop_tracing(m)
    return result, records
