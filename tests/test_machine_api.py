"""The machine API of the 4.19 model: AllocResult/OpResult, freeze/restore/copy, statistics,
invalid arguments, and variants.

numa2: node 0 (cpu 0) DMA32 0..15 and Normal 16..47, node 1 (cpu 1) DMA32 48..63 and Normal
64..95; node 0's zonelist is Normal0, DMA32_0, Normal1, DMA32_1. Normal watermarks (2, 3, 4),
DMA32 (1, 2, 3) with lowmem_reserve[Normal] = 32 // 8 = 4.
"""

import pytest
from helpers_state import check_invariants

from buddycheck.model import constants as C
from buddycheck.model.constants import ZONE_DMA32, ZONE_NORMAL
from buddycheck.model.errors import InvalidGfpZone, InvalidOperation
from buddycheck.model.gfp import (
    __GFP_DMA32,
    __GFP_HIGHMEM,
    __GFP_NOWARN,
    GFP_DMA,
    GFP_HIGHUSER_MOVABLE,
    GFP_KERNEL,
)
from buddycheck.model.kernel import KERNEL_FUNCTIONS
from buddycheck.model.machine import Kernel419
from buddycheck.model.presets import preset
from buddycheck.model.results import AllocResult, OpResult

UNMOV, MOV = C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE


def numa2(cls=Kernel419):
    return cls(preset("numa2"))


def core(cls=Kernel419):
    return cls(preset("buddy-core", pages=16, max_order=4))


# ---- results ------------------------------------------------------------------------------------

def test_alloc_result_fields_on_success():
    m = numa2()
    r = m.alloc(GFP_KERNEL)
    assert isinstance(r, AllocResult)
    assert (r.page, r.order, r.gfp, r.nid, r.zone_idx, r.reason, r.events) == (40, 0, GFP_KERNEL, 0, ZONE_NORMAL,
                                                                              None, ())
    assert r.ok and r.zone_name == "Normal"
    assert "pfn 40 (node 0 Normal)" in str(r)


def test_alloc_result_on_node_and_zone_chosen():
    m = numa2()
    r = m.alloc_pages_node(1, GFP_KERNEL | __GFP_DMA32)  # highest zone DMA32, node 1 zonelist
    assert (r.page, r.nid, r.zone_idx) == (56, 1, ZONE_DMA32)


def test_alloc_result_over_max_order_fails_with_reason_and_warning():
    m = core()
    frozen = m.freeze()
    r = m.alloc(GFP_KERNEL, 4)  # 4.19: no early check; the slow path warns and returns NULL
    assert (r.page, r.nid, r.zone_idx, r.ok) == (None, None, None, False)
    assert r.reason == "order >= MAX_ORDER"
    assert [e.kind for e in r.events] == ["warning"]
    assert m.alloc(GFP_KERNEL | __GFP_NOWARN, 4).events == ()
    assert m.freeze() == frozen


def test_alloc_failure_when_memory_exhausted():
    m = core()
    assert [m.alloc(GFP_KERNEL, 3).page for _ in range(2)] == [8, 0]
    r = m.alloc(GFP_KERNEL, 3)
    assert r.page is None and isinstance(r.reason, str) and r.reason
    assert r.nid is None and r.zone_idx is None


def test_op_results():
    m = numa2()
    m.alloc(GFP_KERNEL)
    assert m.free(40) == OpResult("free pfn 40 order 0")
    assert m.drain() == OpResult("drain")
    assert m.drain(1) == OpResult("drain cpu 1")


# ---- freeze, restore, copy ------------------------------------------------------------------------

def test_freeze_is_hashable_and_deterministic():
    a, b = numa2(), numa2()
    assert a.freeze() == b.freeze()
    assert hash(a.freeze()) == hash(b.freeze())
    a.alloc(GFP_KERNEL)
    assert a.freeze() != b.freeze()
    assert len({a.freeze(), b.freeze()}) == 2


def test_restore_round_trips_and_replays_identically():
    m = numa2()
    f0 = m.freeze()
    ops1 = [m.alloc(GFP_KERNEL, o).page for o in (0, 1, 2)]
    m.free(ops1[1])
    f1 = m.freeze()
    m.restore(f0)
    assert m.freeze() == f0
    check_invariants(m)
    ops2 = [m.alloc(GFP_KERNEL, o).page for o in (0, 1, 2)]
    m.free(ops2[1])
    assert ops2 == ops1
    assert m.freeze() == f1
    m.restore(m.freeze())
    assert m.freeze() == f1


def test_copy_is_independent():
    m = numa2()
    m.alloc(GFP_HIGHUSER_MOVABLE, 1)
    c = m.copy()
    assert type(c) is Kernel419 and c.freeze() == m.freeze()
    before = m.freeze()
    c.alloc(GFP_KERNEL, 2)
    c.free(40)
    assert m.freeze() == before
    assert c.freeze() != before
    check_invariants(c)


def test_copy_keeps_variant_class():
    V = Kernel419.variant("copy-variant")
    m = numa2(V)
    assert type(m.copy()) is V


# ---- statistics -----------------------------------------------------------------------------------

def test_zone_statistics_once_per_rmqueue_success():
    m = numa2()
    m.alloc(GFP_KERNEL)  # refill of 2, one page handed out: one count
    m.alloc(GFP_KERNEL)  # from the pcp: one count
    m.alloc(GFP_KERNEL, 2)  # order 2: one count, not four
    s = m.stats
    assert s.get(0, ZONE_NORMAL, "numa_hit") == 3
    assert s.get(0, ZONE_NORMAL, "numa_local") == 3
    assert s.get(0, ZONE_NORMAL, "numa_other") == 0
    assert s.pgalloc[ZONE_NORMAL] == 1 + 1 + 4


def test_zone_statistics_remote_preferred_node_is_hit_and_other():
    m = numa2()
    r = m.alloc(GFP_KERNEL, cpu=0, nid=1)
    assert r.nid == 1
    assert m.stats.get(1, ZONE_NORMAL, "numa_hit") == 1
    assert m.stats.get(1, ZONE_NORMAL, "numa_other") == 1
    assert m.stats.get(1, ZONE_NORMAL, "numa_local") == 0


def test_zone_statistics_miss_and_foreign():
    # Order-3 GFP_KERNEL from cpu 0: Normal0 gives 40, 32, 24 (then 8 free - 7 <= LOW 3 fails),
    # DMA32_0 gives 8 (16 - 7 > 2 + lowmem_reserve 4), then 8 - 7 fails; Normal1 gives 88.
    m = numa2()
    pages = [(r.page, r.nid, r.zone_idx) for r in (m.alloc(GFP_KERNEL, 3) for _ in range(5))]
    assert pages == [(40, 0, ZONE_NORMAL), (32, 0, ZONE_NORMAL), (24, 0, ZONE_NORMAL), (8, 0, ZONE_DMA32),
                     (88, 1, ZONE_NORMAL)]
    s = m.stats
    assert s.get(0, ZONE_NORMAL, "numa_hit") == 3
    assert s.get(0, ZONE_DMA32, "numa_hit") == 1  # same node as the preferred zone: a hit
    assert s.get(1, ZONE_NORMAL, "numa_miss") == 1
    assert s.get(0, ZONE_NORMAL, "numa_foreign") == 1  # charged to the preferred zone
    assert s.get(1, ZONE_NORMAL, "numa_other") == 1
    assert s.node(0, "numa_hit") == 4 and s.node(1, "numa_miss") == 1


def test_statistics_are_not_state():
    m = core()
    fresh = m.freeze()
    assert m.alloc(GFP_KERNEL, 3).page == 8
    m.free(8)  # grouping by mobility is off: the lists return exactly to the boot state
    assert m.freeze() == fresh
    assert m.stats.get(0, ZONE_NORMAL, "numa_hit") == 1 and m.stats.pgfree == 8
    m.restore(fresh)
    assert m.stats.pgfree == 8  # restore keeps the statistics


# ---- invalid arguments ----------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda m: m.alloc(GFP_KERNEL, cpu=2),
    lambda m: m.alloc(GFP_KERNEL, cpu=-1),
    lambda m: m.alloc(GFP_KERNEL, nid=2),
    lambda m: m.alloc(GFP_KERNEL, -1),
    lambda m: m.alloc(GFP_KERNEL, task=5),
    lambda m: m.alloc_pages_node(3, GFP_KERNEL),
    lambda m: m.drain(cpu=9),
    lambda m: m.free(40, cpu=2),
    lambda m: m.isolate(17, 20),
    lambda m: m.isolate(16, 16),
    lambda m: m.undo_isolate(100, 104),
])
def test_invalid_cpu_node_order_or_range(call):
    m = numa2()
    m.alloc(GFP_KERNEL)
    frozen = m.freeze()
    with pytest.raises(InvalidOperation):
        call(m)
    assert m.freeze() == frozen


def test_invalid_gfp_zone_leaves_state():
    m = numa2()
    frozen = m.freeze()
    with pytest.raises(InvalidGfpZone):
        m.alloc(GFP_DMA | __GFP_HIGHMEM)
    assert m.freeze() == frozen


# ---- variants -------------------------------------------------------------------------------------

def test_variant_override_changes_only_the_variant():
    V = Kernel419.variant("tail-expand", "expand lists the upper halves at the tail")

    @V.override
    def expand(k, zone, page, low, high, migratetype):
        size = 1 << high
        while high > low:
            high -= 1
            size >>= 1
            zone.free_area[high].free_list[migratetype].append(page + size)
            zone.free_area[high].nr_free += 1
            k.page_buddy[page + size] = high

    assert V.NAME == "tail-expand" and V.DESCRIPTION == "expand lists the upper halves at the tail"
    assert issubclass(V, Kernel419)
    assert Kernel419.expand is KERNEL_FUNCTIONS["expand"] and V.expand is expand
    lists = {}
    for cls in (Kernel419, V):
        m = numa2(cls)
        z = m.zone(0, ZONE_NORMAL)
        z.free_area[3].free_list[MOV].remove(40)
        z.free_area[1].free_list[MOV] = [18]  # a stand-in entry, only to see where the half goes
        m.expand(z, 40, 0, 3, MOV)
        lists[cls] = [list(z.free_area[o].free_list[MOV]) for o in (0, 1, 2)]
    assert lists[Kernel419] == [[41], [42, 18], [44]]
    assert lists[V] == [[41], [18, 42], [44]]


def test_variant_changes_allocation_results_only_in_variant():
    V = Kernel419.variant("expand-to-movable", "split halves always listed as MOVABLE")
    real = KERNEL_FUNCTIONS["expand"]

    @V.override
    def expand(k, zone, page, low, high, migratetype):
        real(k, zone, page, low, high, MOV)

    # Base: the UNMOVABLE refill takes 40 then its split-off 41. Variant: 41 went to MOVABLE, so the
    # second page of the refill needs another steal: the next order-3 head 32.
    base, var = numa2(), numa2(V)
    assert [base.alloc(GFP_KERNEL).page for _ in range(2)] == [40, 41]
    assert [var.alloc(GFP_KERNEL).page for _ in range(2)] == [40, 32]


def test_override_of_unknown_name_is_an_error():
    V = Kernel419.variant("typo")
    with pytest.raises(AttributeError):
        @V.override
        def expnad(k, zone, page, low, high, migratetype):
            return None
    assert not hasattr(Kernel419, "expnad") and not hasattr(V, "expnad")


def test_override_of_dunder_kernel_function_and_inheritance():
    V = Kernel419.variant("no-smallest")

    @V.override
    def __rmqueue_smallest(k, zone, order, migratetype):
        return None

    W = V.variant("child")
    assert Kernel419.__dict__["__rmqueue_smallest"] is KERNEL_FUNCTIONS["__rmqueue_smallest"]
    for cls in (V, W):
        m = numa2(cls)
        r = m.alloc(GFP_KERNEL | __GFP_NOWARN)
        assert r.page is None  # nothing can ever be taken from a free list
    assert numa2().alloc(GFP_KERNEL).page == 40
