"""The small concurrent-pair scenarios: each one pair of operations, searched under a preemption bound.

They are the scenarios of the concurrency tests (a planted race on each, 4.19 on each) and of
`buddycheck bench concurrency`, which measures them next to the portfolio's `concurrent` at
preemption bounds 0 to 3. Each builder takes the model and the bound.
"""

from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.constants import ZONE_DMA32, ZONE_NORMAL

from .ops import Alloc, Free, Isolate
from .scenario import Scenario


def two_cpus(pages=8, batch=1):
    """One Normal zone of `pages` pages on two CPUs, MAX_ORDER 2, one page per pageblock."""
    zone = ZoneSpec(ZONE_NORMAL, 0, pages, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(2, batch))
    return Topology(nodes=(NodeSpec(0, (0, 1), (zone,)),), max_order=2, pageblock_order=0,
                    page_group_by_mobility_disabled=False, numa=False, min_free_kbytes=0, name="two-cpus")


def two_zones():
    """Two CPUs, DMA32 (pfns 0-3) and Normal (pfns 4-7), one MAX_ORDER block per pageblock."""
    zones = tuple(ZoneSpec(t, start, 4, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(2, 1))
                  for t, start in ((ZONE_DMA32, 0), (ZONE_NORMAL, 4)))
    return Topology(nodes=(NodeSpec(0, (0, 1), zones),), max_order=2, pageblock_order=1,
                    page_group_by_mobility_disabled=False, numa=False, min_free_kbytes=0, name="two-zones")


def highatomic_zone():
    """Two CPUs, one Normal zone of two 4-page pageblocks whose LOW watermark only ALLOC_HARDER gets under."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 8, watermarks=(4, 8, 8), lowmem_reserve=(0,) * 5, pcp_high_batch=(2, 1))
    return Topology(nodes=(NodeSpec(0, (0, 1), (zone,)),), max_order=3, pageblock_order=2,
                    page_group_by_mobility_disabled=False, numa=False, min_free_kbytes=0, name="highatomic")


FREE_PFN = 6  # where the setup's order-1 (or order-0) allocation lands on two_cpus()
PCP_PFN = 6  # on two_zones(), the setup's order-0 page, freed on CPU 1: it waits on CPU 1's Normal list


def free_vs_isolate(model=Kernel419, bound=2):
    """An order-1 block freed on CPU 0 while CPU 1 isolates its pageblocks."""
    return Scenario("free-vs-isolate", two_cpus(), setup=(Alloc(G.GFP_KERNEL, 1, cpu=0),), free_cpus=(),
                    pairs=((Free(FREE_PFN, 0), Isolate(FREE_PFN, FREE_PFN + 2, cpu=1)),), preemption_bound=bound,
                    depth=1, model=model, sometimes=())


def refill_vs_alloc(model=Kernel419, bound=2):
    """Two order-0 allocations at once, each refilling its CPU's empty per-cpu list by a batch of 2."""
    alloc = [Alloc(G.GFP_KERNEL, 0, cpu=c) for c in (0, 1)]
    return Scenario("refill-vs-alloc", two_cpus(batch=2), free_cpus=(), pairs=(tuple(alloc),),
                    preemption_bound=bound, depth=1, model=model, sometimes=())


def order0_free_vs_isolate(model=Kernel419, bound=2):
    """An order-0 page freed on CPU 0 while CPU 1 isolates its pageblock: 4.19's own race."""
    return Scenario("order0-free-vs-isolate", two_cpus(), setup=(Alloc(G.GFP_KERNEL, 0, cpu=0),), free_cpus=(),
                    pairs=((Free(FREE_PFN, 0), Isolate(FREE_PFN, FREE_PFN + 2, cpu=1)),), preemption_bound=bound,
                    depth=1, model=model, sometimes=())


def isolate_vs_isolate(model=Kernel419, bound=2):
    """CPU 0 isolates a DMA32 pageblock while CPU 1 isolates the Normal pageblock of a per-cpu page.

    Both drain their zone under pcpu_drain_mutex: the second finds the first holding it and waits.
    """
    setup = (Alloc(G.GFP_KERNEL, 0, cpu=1), Free(PCP_PFN, 1))
    return Scenario("isolate-vs-isolate", two_zones(), setup=setup, free_cpus=(),
                    pairs=((Isolate(0, 2, cpu=0), Isolate(PCP_PFN, PCP_PFN + 2, cpu=1)),),
                    preemption_bound=bound, depth=1, model=model, sometimes=())


def highatomic_pair(model=Kernel419, bound=2):
    """Two GFP_ATOMIC order-1 allocations at once, in one pageblock: each reserves it as HIGHATOMIC."""
    alloc = (Alloc(G.GFP_ATOMIC, 1, cpu=0), Alloc(G.GFP_ATOMIC, 1, cpu=1))
    return Scenario("highatomic-pair", highatomic_zone(), free_cpus=(), pairs=(alloc,), preemption_bound=bound,
                    depth=1, model=model, sometimes=())


PAIR_SCENARIOS = (free_vs_isolate, refill_vs_alloc, order0_free_vs_isolate, isolate_vs_isolate, highatomic_pair)
