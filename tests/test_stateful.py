"""Random operation sequences on the 4.19 model, with the allocator's accounting checked after
every step (Hypothesis stateful testing).

Operations: allocate (several gfp masks, every order below MAX_ORDER, any CPU), free a random
allocated block, drain one or all CPUs, isolate a random pageblock range and undo an earlier
isolation, and copy the machine. Machines: numa2, buddy-core (16 pages, MAX_ORDER 4), and a node whose DMA/Normal
boundary is not aligned (the zone-xmerge mutant's machine).

After every step (helpers_state.check_invariants): per zone, free + pcp + allocated pages ==
managed pages with no page in two places or two blocks; nr_free per order equals the list
lengths; NR_FREE_PAGES equals the pages on non-ISOLATE lists (pages of an isolated pageblock
leave the counter when isolated and pages freed into it never enter it); every free block is
aligned and inside its zone; PageBuddy marks exactly the list heads. With isolation: no page
of an ISOLATE pageblock sits on a per-cpu list or is handed out by an allocation.

Settings: the "buddycheck-stateful" Hypothesis profile keeps the default run to a few seconds;
the slow-marked classes run the "buddycheck-stateful-thorough" profile.
"""

import pytest
from helpers_state import check_invariants, split_zone_topology
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from buddycheck.model.constants import MIGRATE_ISOLATE
from buddycheck.model.gfp import (
    __GFP_NOWARN,
    __GFP_RECLAIMABLE,
    GFP_ATOMIC,
    GFP_DMA,
    GFP_DMA32,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
    GFP_NOWAIT,
    gfp_zone,
)
from buddycheck.model.machine import Kernel419
from buddycheck.model.presets import preset

GFP_MASKS = (
    GFP_KERNEL,
    GFP_ATOMIC,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL | __GFP_RECLAIMABLE,
    GFP_DMA32,
    GFP_DMA,
    GFP_NOWAIT | __GFP_NOWARN,
)

settings.register_profile(
    "buddycheck-stateful",
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "buddycheck-stateful-thorough",
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def isolation_available(m):
    return hasattr(m, "start_isolate_page_range") and hasattr(m, "undo_isolate_page_range")


def check_isolation(m):
    """No per-cpu page lies in an ISOLATE pageblock (isolation drains them; frees bypass the pcp)."""
    for zone in m.populated_zones:
        for cpu, p in zone.pageset.items():
            for lst in p.lists:
                for pfn in lst:
                    assert m.get_pageblock_migratetype(pfn) != MIGRATE_ISOLATE, (
                        f"{zone.label()}: pcp page {pfn} (cpu {cpu}) is in an isolated pageblock")


class AllocatorMachine(RuleBasedStateMachine):
    """Drives one machine; subclasses say which topology."""

    def make_topology(self):
        raise NotImplementedError

    def __init__(self):
        super().__init__()
        self.m = Kernel419(self.make_topology())
        self.cpus = self.m.topology.cpus
        self.isolated = []  # (start, end) ranges isolated by this run and not yet undone
        check_invariants(self.m)

    def pick_cpu(self, i):
        return self.cpus[i % len(self.cpus)]

    @rule(gfp=st.sampled_from(GFP_MASKS), order=st.integers(0, 3), cpu=st.integers(0, 3))
    def alloc(self, gfp, order, cpu):
        m = self.m
        r = m.alloc(gfp, order, cpu=self.pick_cpu(cpu))
        assert r.order == order and r.gfp == gfp
        if not r.ok:
            assert r.reason and r.nid is None and r.zone_idx is None
            return
        zone = m.page_zone(r.page)
        assert (zone.nid, zone.idx) == (r.nid, r.zone_idx)
        assert r.page % (1 << order) == 0
        assert r.zone_idx <= gfp_zone(gfp, m.topology.configured_zones)
        assert m.allocated[r.page][0] == order
        assert m.get_pageblock_migratetype(r.page) != MIGRATE_ISOLATE, f"allocated isolated pfn {r.page}"

    @precondition(lambda self: self.m.allocated)
    @rule(data=st.data(), cpu=st.integers(0, 3))
    def free(self, data, cpu):
        pfn = data.draw(st.sampled_from(sorted(self.m.allocated)), label="pfn")
        order = self.m.allocated[pfn][0]
        r = self.m.free(pfn, cpu=self.pick_cpu(cpu))
        assert r.what == f"free pfn {pfn} order {order}"
        assert pfn not in self.m.allocated

    @rule(cpu=st.none() | st.integers(0, 3))
    def drain(self, cpu):
        self.m.drain(None if cpu is None else self.pick_cpu(cpu))
        if cpu is None:
            assert all(p.count == 0 for z in self.m.populated_zones for p in z.pageset.values())

    @precondition(lambda self: isolation_available(self.m))
    @rule(data=st.data())
    def isolate(self, data):
        m = self.m
        zone = data.draw(st.sampled_from(m.populated_zones), label="zone")
        # Ranges aligned to max(MAX_ORDER_NR_PAGES, pageblock_nr_pages), as every 4.19 caller aligns
        # them (alloc_contig_range, memory offlining): with a narrower range a free block larger
        # than a pageblock straddles the boundary and 4.19 itself loses track of it.
        nr = max(1 << (m.MAX_ORDER - 1), m.pageblock_nr_pages)
        first = -(-zone.zone_start_pfn // nr)
        last = (zone.zone_start_pfn + zone.managed_pages) // nr  # chunks wholly inside the zone
        if first >= last:
            return
        a = data.draw(st.integers(first, last - 1), label="first chunk")
        b = data.draw(st.integers(a + 1, last), label="end chunk")
        r = m.isolate(a * nr, b * nr)
        if r.value == 0:
            self.isolated.append((a * nr, b * nr))
            for pfn in range(a * nr, b * nr, m.pageblock_nr_pages):
                assert m.get_pageblock_migratetype(pfn) == MIGRATE_ISOLATE

    @precondition(lambda self: isolation_available(self.m) and self.isolated)
    @rule(data=st.data())
    def undo_isolate(self, data):
        start, end = data.draw(st.sampled_from(self.isolated), label="range")
        self.isolated.remove((start, end))
        self.m.undo_isolate(start, end)
        for pfn in range(start, end, self.m.pageblock_nr_pages):
            assert self.m.get_pageblock_migratetype(pfn) != MIGRATE_ISOLATE

    @rule()
    def copy_round_trip(self):
        frozen = self.m.freeze()
        other = self.m.copy()
        assert other.freeze() == frozen
        assert hash(other.freeze()) == hash(frozen)

    @invariant()
    def accounting(self):
        check_invariants(self.m)
        check_isolation(self.m)


class Numa2Machine(AllocatorMachine):
    def make_topology(self):
        return preset("numa2")


class BuddyCoreMachine(AllocatorMachine):
    def make_topology(self):
        return preset("buddy-core", pages=16, max_order=4)


class SplitZoneMachine(AllocatorMachine):
    """DMA pfn 0..2 and Normal 3..7 with MAX_ORDER 2: pfns 2 and 3 are buddies in different zones."""

    def make_topology(self):
        return split_zone_topology(dma_pages=3, normal_pages=5, max_order=2, pageblock_order=1)


TestNuma2 = Numa2Machine.TestCase
TestNuma2.settings = settings.get_profile("buddycheck-stateful")
TestBuddyCore = BuddyCoreMachine.TestCase
TestBuddyCore.settings = settings.get_profile("buddycheck-stateful")
TestSplitZone = SplitZoneMachine.TestCase
TestSplitZone.settings = settings.get_profile("buddycheck-stateful")


class Numa2Thorough(Numa2Machine):
    pass


class BuddyCoreThorough(BuddyCoreMachine):
    pass


class SplitZoneThorough(SplitZoneMachine):
    pass


TestNuma2Thorough = pytest.mark.slow(Numa2Thorough.TestCase)
TestNuma2Thorough.settings = settings.get_profile("buddycheck-stateful-thorough")
TestBuddyCoreThorough = pytest.mark.slow(BuddyCoreThorough.TestCase)
TestBuddyCoreThorough.settings = settings.get_profile("buddycheck-stateful-thorough")
TestSplitZoneThorough = pytest.mark.slow(SplitZoneThorough.TestCase)
TestSplitZoneThorough.settings = settings.get_profile("buddycheck-stateful-thorough")
