"""Shared helpers for the allocation-side scenario tests: small machines, a recording environment."""

from dataclasses import dataclass, field

from buddycheck.model import Environment, Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model.machine import Current

NO_RESERVE = (0, 0, 0, 0, 0)


def zone(zone_type, start_pfn, pages, wm=(0, 0, 0), lr=NO_RESERVE, pcp=(0, 1), **kw):
    """A ZoneSpec whose limits are explicit unless set to None.

    Defaults: watermarks 0/0/0, no lowmem_reserve, and a per-cpu list of high 0, batch 1
    (every order-0 allocation takes exactly one page from buddy and every free spills
    straight back), so page counts in the tests follow from the watermark rules alone.
    """
    return ZoneSpec(zone_type, start_pfn, pages, watermarks=wm, lowmem_reserve=lr, pcp_high_batch=pcp, **kw)


def topology(*node_zones, cpus=None, max_order=4, pageblock_order=2, **kw):
    """A Topology with one node per argument (a tuple of ZoneSpecs); node i gets CPU i unless cpus says."""
    nodes = []
    for nid, zones in enumerate(node_zones):
        node_cpus = (nid,) if cpus is None else tuple(cpus[nid])
        nodes.append(NodeSpec(nid, node_cpus, tuple(zones)))
    kw.setdefault("page_group_by_mobility_disabled", False)
    return Topology(nodes=tuple(nodes), max_order=max_order, pageblock_order=pageblock_order, **kw)


def machine(*node_zones, env=None, **kw):
    """Kernel419 booted on topology(*node_zones, **kw)."""
    t = topology(*node_zones, **kw)
    return Kernel419(t) if env is None else Kernel419(t, env)


def fill(m, gfp, limit=10_000, **alloc_kw):
    """Allocate order-0 pages with gfp until the first failure; the successful results, in order."""
    out = []
    for _ in range(limit):
        r = m.alloc(gfp, **alloc_kw)
        if not r.ok:
            return out
        out.append(r)
    raise AssertionError(f"fill: still allocating after {limit} pages")


def event_kinds(result):
    return [e.kind for e in result.events]


def set_current(m, cpu=0, **flags):
    """Give the machine a `current` for calling one kernel function directly (no operation runs)."""
    m.current = Current(cpu=cpu, task=m.tasks[0], all_nodes=frozenset(m.topology.node_ids), **flags)


@dataclass(frozen=True)
class RecordingEnv(Environment):
    """An Environment that answers as its fields say and records each question it is asked."""

    log: list = field(default_factory=list, compare=False, hash=False, repr=False)

    def calls(self, name):
        return [args for what, args in self.log if what == name]

    def should_fail_alloc_page(self, k, gfp_mask, order):
        self.log.append(("should_fail_alloc_page", (gfp_mask, order)))
        return super().should_fail_alloc_page(k, gfp_mask, order)

    def node_reclaim(self, k, pgdat, gfp_mask, order):
        self.log.append(("node_reclaim", pgdat.node_id))
        return super().node_reclaim(k, pgdat, gfp_mask, order)

    def node_dirty_ok(self, k, pgdat):
        self.log.append(("node_dirty_ok", pgdat.node_id))
        return super().node_dirty_ok(k, pgdat)

    def try_to_free_pages(self, k, ac, order, gfp_mask):
        self.log.append(("try_to_free_pages", (order, gfp_mask)))
        return super().try_to_free_pages(k, ac, order, gfp_mask)

    def try_to_compact_pages(self, k, ac, order, gfp_mask, alloc_flags, prio):
        self.log.append(("try_to_compact_pages", (order, prio)))
        return super().try_to_compact_pages(k, ac, order, gfp_mask, alloc_flags, prio)

    def out_of_memory(self, k, ac, order, gfp_mask):
        self.log.append(("out_of_memory", (order, gfp_mask)))
        return super().out_of_memory(k, ac, order, gfp_mask)
