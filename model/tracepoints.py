"""The kmem tracepoints the page allocator fires (include/trace/events/kmem.h, 4.19), as records.

A machine records nothing until `start_tracing(k)`; from then on each tracepoint appends a
`TracepointRecord` to `k.tracepoints` with the arguments the kernel passes to the trace call, in
the order it fires them. The records are observations, never state: tracing changes no decision.
`checks/tracepoints.py` prints them in the kernel's text formats.

Fired where 4.19 fires them: mm_page_alloc at the end of __alloc_pages_nodemask (page None on
failure), mm_page_free in free_pages_prepare, mm_page_alloc_zone_locked in __rmqueue (page None when
it found nothing) and after rmqueue's MIGRATE_HIGHATOMIC attempt, mm_page_pcpu_drain for each page
free_pcppages_bulk merges, mm_page_alloc_extfrag after __rmqueue_fallback stole.
"""

from typing import NamedTuple


class TracepointRecord(NamedTuple):
    """One tracepoint hit: the event name and its TP_ARGS by name."""

    name: str
    args: dict


def start_tracing(k):
    """Enable the kmem events on machine k (an empty buffer); returns the buffer."""
    k.tracepoints = []
    return k.tracepoints


def stop_tracing(k):
    """Disable the kmem events; returns what was recorded."""
    records, k.tracepoints = k.tracepoints or [], None
    return records


def trace(k, name, **args):
    """trace_<name>(): record the hit; callers test `k.tracepoints is not None` first, so that with
    tracing off (every search) not even the arguments are built."""
    k.tracepoints.append(TracepointRecord(name, args))
