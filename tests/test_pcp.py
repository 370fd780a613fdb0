"""Per-cpu lists of the 4.19 model: refill (rmqueue_bulk), hand-out order, free to the head,
spilling with free_pcppages_bulk, the list a freed page rides, drains, and NR_FREE_PAGES.

numa2 pcp: high 4, batch 2 in every zone, one CPU per node (cpu 0 on node 0, cpu 1 on node 1).
Node 0 Normal (pfn 16..47) boots with the order-3 MOVABLE list [40, 32, 24, 16].
The order in which free_pcppages_bulk hands pages to buddy is observed with a variant whose
__free_one_page records its calls and then runs the real one.
"""

import itertools

import pytest
from helpers_state import check_invariants, fill_allocated, free_lists, one_zone_topology, set_free_lists

from buddycheck.model import constants as C
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL
from buddycheck.model.kernel import KERNEL_FUNCTIONS
from buddycheck.model.machine import Kernel419
from buddycheck.model.presets import preset

UNMOV, MOV, RECL = C.MIGRATE_UNMOVABLE, C.MIGRATE_MOVABLE, C.MIGRATE_RECLAIMABLE
HATOMIC, CMA, ISO = C.MIGRATE_HIGHATOMIC, C.MIGRATE_CMA, C.MIGRATE_ISOLATE

Recorder = Kernel419.variant("record-free-one-page", "records __free_one_page calls")
_real_free_one_page = KERNEL_FUNCTIONS["__free_one_page"]


@Recorder.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    """__free_one_page(): the real one, after noting (pfn, order, migratetype) in k.freed."""
    k.__dict__.setdefault("freed", []).append((pfn, order, migratetype))
    return _real_free_one_page(k, page, pfn, zone, order, migratetype)


def numa2(cls=Kernel419):
    m = cls(preset("numa2"))
    m.freed = []
    return m, m.zone(0, ZONE_NORMAL)


def pcp_state(m, zone, cpu=0):
    p = zone.pageset[cpu]
    return p.count, [list(lst) for lst in p.lists]


def put_on_pcp(m, zone, lists, cpu=0):
    """Hand-place pages on cpu's pcp lists [UNMOVABLE, MOVABLE, RECLAIMABLE] (tail last)."""
    p = zone.pageset[cpu]
    p.lists = [list(lst) for lst in lists]
    p.count = sum(len(lst) for lst in lists)
    for t, lst in enumerate(lists):
        for pfn in lst:
            m.pcp_mt[pfn] = t


# ---- refill and hand-out ------------------------------------------------------------------------

def test_refill_appends_in_rmqueue_order_and_head_is_handed_out():
    m, z = numa2()
    # rmqueue_bulk(batch 2, UNMOVABLE): fallback steals order-3 block 40, splits it; __rmqueue
    # returns 40 then 41; both appended to the tail; the head (40) is handed out.
    assert m.alloc(GFP_KERNEL).page == 40
    assert pcp_state(m, z) == (1, [[41], [], []])
    assert z.nr_free_pages == 30  # exactly the 2 pages taken from buddy
    assert m.alloc(GFP_KERNEL).page == 41  # from the pcp: no buddy change
    assert z.nr_free_pages == 30
    assert m.alloc(GFP_KERNEL).page == 42  # refill: 42 (o1 split) then 43
    assert pcp_state(m, z) == (1, [[43], [], []])
    assert z.nr_free_pages == 28
    check_invariants(m)


def test_refill_movable_uses_movable_list():
    m, z = numa2()
    assert m.alloc(GFP_HIGHUSER_MOVABLE).page == 40
    assert pcp_state(m, z) == (1, [[], [41], []])
    assert m.pcp_mt[41] == MOV
    assert m.free_blocks(z)[-2:] == [(42, 1, MOV), (44, 2, MOV)]


def test_refilled_pages_keep_their_buddy_migratetype():
    # An UNMOVABLE refill served by fallback from a MOVABLE pageblock smaller than a pageblock:
    # pages go on the UNMOVABLE pcp list, each caches the list they came from in buddy.
    m, z = numa2()
    set_free_lists(m, z, {(0, MOV): [16]})
    fill_allocated(m, z, MOV)
    lst = []
    assert m.rmqueue_bulk(z, 0, 2, lst, UNMOV) == 1
    # free 1 + alike 0 < 2: pageblock not claimed, but 16 moved to the UNMOVABLE list first
    assert lst == [16] and m.pcp_mt[16] == UNMOV
    assert m.pageblock_flags[4] == MOV


def test_partial_refill_counts_only_pages_taken():
    m, z = numa2()
    set_free_lists(m, z, {(0, MOV): [17]})
    fill_allocated(m, z, MOV)
    lst = [99]
    assert m.rmqueue_bulk(z, 0, 2, lst, MOV) == 1
    assert lst == [99, 17]
    assert z.nr_free_pages == 0
    assert m.rmqueue_bulk(z, 0, 2, [], MOV) == 0
    assert z.nr_free_pages == 0


def test_refill_of_cma_pages_lowers_free_cma():
    m = Kernel419(one_zone_topology(pages=16, max_order=3, pageblock_order=2, cma_pageblocks=(1,)))
    z = m.zones()[0]
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (16, 4)
    set_free_lists(m, z, {(2, CMA): [4]})
    fill_allocated(m, z, MOV)
    lst = []
    assert m.rmqueue_bulk(z, 0, 1, lst, MOV) == 1
    assert lst == [4] and m.pcp_mt[4] == CMA
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (3, 3)


def test_empty_refill_fails_the_zone():
    m, z = numa2()
    set_free_lists(m, z, {})
    fill_allocated(m, z, MOV)
    p = z.pageset[0]
    assert m.__rmqueue_pcplist(z, UNMOV, p, p.lists[UNMOV]) is None
    assert pcp_state(m, z) == (0, [[], [], []])


# ---- free to the pcp and spilling -----------------------------------------------------------------

def test_free_pushes_head_and_is_not_in_nr_free():
    m, z = numa2()
    m.alloc(GFP_KERNEL)  # 40 out, 41 on the pcp
    m.free(40)
    assert pcp_state(m, z) == (2, [[40, 41], [], []])
    assert m.pcp_mt[40] == UNMOV  # pageblock 10 was retyped UNMOVABLE by the steal
    assert z.nr_free_pages == 30
    assert 40 not in m.page_buddy
    assert m.alloc(GFP_KERNEL).page == 40  # head first
    check_invariants(m)


def test_free_reaching_high_spills_batch_from_tail():
    m, z = numa2()
    pages = [m.alloc(GFP_KERNEL).page for _ in range(4)]
    assert pages == [40, 41, 42, 43]
    for pfn in pages[:3]:
        m.free(pfn)
    assert pcp_state(m, z) == (3, [[42, 41, 40], [], []])
    m.free(43)  # count 4 >= high 4: free batch 2 from the tail: 40 then 41 (merging into 40 o1)
    assert pcp_state(m, z) == (2, [[43, 42], [], []])
    assert free_lists(z, 1) == {UNMOV: [40]}
    assert free_lists(z, 0) == {}
    assert z.nr_free_pages == 30
    check_invariants(m)


def test_spill_round_robin_starts_at_movable():
    m, z = numa2(Recorder)
    set_free_lists(m, z, {})
    fill_allocated(m, z, MOV)
    for pfn in (16, 17, 20, 21, 22, 24):
        del m.allocated[pfn]
    put_on_pcp(m, z, [[16, 17], [20, 21, 22], [24]])
    m.free_pcppages_bulk(z, 4, z.pageset[0])
    # rounds: MOVABLE tail 22, RECLAIMABLE 24, UNMOVABLE tail 17, MOVABLE 21
    assert [pfn for pfn, _, _ in m.freed] == [22, 24, 17, 21]
    assert [mt for _, _, mt in m.freed] == [MOV, RECL, UNMOV, MOV]
    assert pcp_state(m, z) == (2, [[16], [20], []])
    assert z.nr_free_pages == 4


def test_spill_empty_lists_raise_batch_free():
    # MOVABLE empty: the first round finds RECLAIMABLE with batch_free 2, frees 24 and runs dry
    # (batch_free 1 carried); the next round frees 2 UNMOVABLE pages (19, 18); then UNMOVABLE is
    # the only list left (batch_free == 3 -> all of count).
    m, z = numa2(Recorder)
    set_free_lists(m, z, {})
    fill_allocated(m, z, MOV)
    for pfn in (16, 17, 18, 19, 24):
        del m.allocated[pfn]
    put_on_pcp(m, z, [[16, 17, 18, 19], [], [24]])
    m.free_pcppages_bulk(z, 4, z.pageset[0])
    assert [pfn for pfn, _, _ in m.freed] == [24, 19, 18, 17]
    assert pcp_state(m, z) == (1, [[16], [], []])


def reference_spill_order(lists, count):
    """free_pcppages_bulk's picking loop, transcribed from 4.19's mm/page_alloc.c."""
    lists = [list(lst) for lst in lists]
    mt = 0
    batch_free = 0
    out = []
    while count:
        while True:
            batch_free += 1
            mt = (mt + 1) % 3
            if lists[mt]:
                break
        if batch_free == 3:
            batch_free = count
        while True:
            out.append(lists[mt].pop())
            count -= 1
            batch_free -= 1
            if not count or not batch_free or not lists[mt]:
                break
    return out


def test_spill_order_matches_reference_for_all_small_lists():
    m0, z0 = numa2(Recorder)
    set_free_lists(m0, z0, {})
    fill_allocated(m0, z0, MOV)
    base = m0.freeze()
    for sizes in itertools.product(range(3), repeat=3):
        pfn_lists = [[16 + 4 * t + i for i in range(n)] for t, n in enumerate(sizes)]
        for count in range(1, sum(sizes) + 1):
            m0.restore(base)
            m0.freed = []
            for lst in pfn_lists:
                for pfn in lst:
                    del m0.allocated[pfn]
            put_on_pcp(m0, z0, pfn_lists)
            m0.free_pcppages_bulk(z0, count, z0.pageset[0])
            assert [pfn for pfn, _, _ in m0.freed] == reference_spill_order(pfn_lists, count), (sizes, count)


def test_highatomic_and_cma_order0_frees_ride_movable_list():
    m = Kernel419(one_zone_topology(pages=16, max_order=3, pageblock_order=2, pcp=(8, 2), cma_pageblocks=(1,)))
    z = m.zones()[0]
    set_free_lists(m, z, {})
    fill_allocated(m, z, UNMOV)
    m.pageblock_flags[2] = HATOMIC
    m.free(4)  # CMA pageblock 1
    m.free(8)  # HIGHATOMIC pageblock 2
    m.free(0)  # MOVABLE pageblock 0
    assert pcp_state(m, z) == (3, [[], [0, 8, 4], []])
    assert (m.pcp_mt[4], m.pcp_mt[8], m.pcp_mt[0]) == (CMA, HATOMIC, MOV)
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (0, 0)
    m.drain()
    # each page returns to the buddy list of its real pageblock type
    assert m.free_blocks(z) == [(0, 0, MOV), (4, 0, CMA), (8, 0, HATOMIC)]
    assert (z.nr_free_pages, z.nr_free_cma_pages) == (3, 1)


def test_isolate_order0_free_bypasses_pcp():
    m, z = numa2()
    set_free_lists(m, z, {})
    fill_allocated(m, z, MOV)
    m.pageblock_flags[4] = ISO
    z.nr_isolate_pageblock = 1
    m.free(17)
    assert pcp_state(m, z) == (0, [[], [], []])
    assert free_lists(z, 0) == {ISO: [17]}
    assert z.nr_free_pages == 0


def test_drain_of_stale_cached_type_uses_pageblock_when_isolating():
    # A page freed to the pcp as MOVABLE whose pageblock is isolated afterwards: with isolated
    # pageblocks in the zone, free_pcppages_bulk re-reads the pageblock type (ISOLATE).
    m, z = numa2()
    set_free_lists(m, z, {})
    fill_allocated(m, z, MOV)
    m.free(17)
    assert pcp_state(m, z) == (1, [[], [17], []])
    m.pageblock_flags[4] = ISO
    z.nr_isolate_pageblock = 1
    m.drain()
    assert free_lists(z, 0) == {ISO: [17]}
    assert z.nr_free_pages == 0


# ---- drains ---------------------------------------------------------------------------------------

def test_drain_all_returns_pages_and_merges():
    m, z = numa2()
    m.alloc(GFP_KERNEL)
    m.free(40)
    m.drain()
    # 41 then 40 go back; 40 merges with 41, 42 (o1) and 44 (o2) into order-3 40 on UNMOVABLE.
    assert pcp_state(m, z) == (0, [[], [], []])
    assert free_lists(z, 3) == {MOV: [32, 24, 16], UNMOV: [40]}
    assert z.nr_free_pages == 32
    check_invariants(m)


def test_drain_one_cpu_leaves_other_cpus():
    m, z0 = numa2()
    z1 = m.zone(1, ZONE_NORMAL)
    assert m.alloc(GFP_KERNEL, cpu=0).nid == 0
    assert m.alloc(GFP_KERNEL, cpu=1).nid == 1
    assert (z0.pageset[0].count, z1.pageset[1].count) == (1, 1)
    m.drain(cpu=0)
    assert (z0.pageset[0].count, z1.pageset[1].count) == (0, 1)
    m.drain()
    assert z1.pageset[1].count == 0
    assert (z0.nr_free_pages, z1.nr_free_pages) == (31, 31)
    check_invariants(m)


def test_each_cpu_has_its_own_list_in_each_zone():
    m, z0 = numa2()
    r = m.alloc(GFP_KERNEL, cpu=1, nid=0)  # cpu 1 (node 1) allocating from node 0
    assert (r.page, r.nid) == (40, 0)
    assert pcp_state(m, z0, cpu=1) == (1, [[41], [], []])
    assert pcp_state(m, z0, cpu=0) == (0, [[], [], []])


def test_drain_zone_pages_frees_at_most_one_batch():
    m, z = numa2()
    set_free_lists(m, z, {})
    fill_allocated(m, z, MOV)
    for pfn in (16, 17, 18):
        del m.allocated[pfn]
    put_on_pcp(m, z, [[16, 17, 18], [], []])
    m.drain_zone_pages(z, z.pageset[0])
    assert pcp_state(m, z) == (1, [[16], [], []])
    assert z.nr_free_pages == 2


@pytest.mark.parametrize("cpu", [0, 1])
def test_pcp_pages_never_in_nr_free(cpu):
    m, _ = numa2()
    for _ in range(3):
        m.alloc(GFP_HIGHUSER_MOVABLE, cpu=cpu)
    check_invariants(m)
    node_zone = m.zone(cpu, ZONE_NORMAL)
    on_pcp = node_zone.pageset[cpu].count
    assert on_pcp == 1  # refills of 2: 3 allocations leave one page
    assert node_zone.nr_free_pages == 32 - 3 - on_pcp
