"""A short built-in scenario run through the model, printed step by step."""

from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G

from .render import machine_picture


def tour_steps():
    """(description, function of the machine) pairs on preset numa2."""
    return [
        ("cpu 0 allocates an order-0 GFP_KERNEL page (per-cpu refill, fallback steal)",
         lambda m: m.alloc(G.GFP_KERNEL, 0, cpu=0)),
        ("cpu 0 allocates an order-2 GFP_HIGHUSER_MOVABLE block",
         lambda m: m.alloc(G.GFP_HIGHUSER_MOVABLE, 2, cpu=0)),
        ("cpu 1 allocates an order-3 GFP_ATOMIC block (the fast path: no ALLOC_HARDER, no highatomic reserve)",
         lambda m: m.alloc(G.GFP_ATOMIC, 3, cpu=1)),
        ("cpu 0 asks for order 3 in DMA32 on node 0 only, twice",
         lambda m: [m.alloc(G.GFP_DMA32 | G.__GFP_THISNODE, 3, cpu=0) for _ in range(2)]),
        ("cpu 0 asks for order 4 (>= MAX_ORDER)", lambda m: m.alloc(G.GFP_KERNEL, 4, cpu=0)),
        ("free every allocated block", lambda m: [m.free(p) for p in sorted(m.allocated)]),
        ("drain the per-cpu lists", lambda m: m.drain()),
    ]


def run_tour(out):
    m = Kernel419(preset("numa2"))
    out(f"machine: {m.topology.name}, MAX_ORDER {m.MAX_ORDER}, pageblock_order {m.pageblock_order}")
    out(machine_picture(m))
    initial = {z.label(): z.nr_free_pages for z in m.zones()}
    for description, step in tour_steps():
        out(f"\n* {description}")
        results = step(m)
        for r in results if isinstance(results, list) else [results]:
            out(f"  {r}")
        out(machine_picture(m))
    final = {z.label(): z.nr_free_pages for z in m.zones()}
    return initial == final and not m.allocated
