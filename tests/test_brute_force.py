"""The explorer on the buddy-core preset against an independent brute-force machine (tests/brute_buddy.py).

brute_buddy imports nothing from buddycheck; it restates the 4.19 rules (boot in aligned chunks,
__rmqueue_smallest + expand, __free_one_page with the tail rule, the zero-mark watermark test).
For every configuration below the number of reachable states, the BFS depth at which the space is
exhausted and the number of transitions must agree with the explorer's report, and the
exploration must be complete. A lock-step walk additionally compares the two machines state by
state, so a disagreement comes with the shortest sequence of operations that shows it.

Hand-worked values (small enough to enumerate on paper) pin both implementations to the rules.
"""

import pytest
from brute_buddy import BruteBuddy

from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Alloc, Free
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G


def explore(pages, max_order, lo, hi):
    sc = Scenario("bc", preset("buddy-core", pages=pages, max_order=max_order),
                  allocs=tuple(Alloc(G.GFP_KERNEL, o) for o in range(lo, hi + 1)), depth=1000,
                  symmetry=False)  # the brute force counts every state
    return Explorer(sc).run()


def compare(pages, max_order, lo, hi):
    """Both sides' (states, depth, transitions); asserts the explorer ran to exhaustion."""
    r = explore(pages, max_order, lo, hi)
    b = BruteBuddy(pages, max_order).explore(range(lo, hi + 1))
    label = f"pages={pages} max_order={max_order} orders {lo}-{hi}"
    assert r.complete, f"{label}: explorer did not exhaust the space ({r.stopped_by})"
    assert not r.violations
    return label, (r.reachable_states, r.depth, r.transitions), (b.states, b.depth, b.transitions)


# ---- the model's state seen as brute_buddy's state -------------------------------------------------

def project(m):
    """(free lists per order, sorted allocated (pfn, order)) of the machine's only zone.

    Lists of every migratetype are concatenated: with grouping by mobility off only one is ever
    used, and a block on a second list would show as a difference in order or content.
    """
    (zone,) = m.zones()
    free = tuple(tuple(pfn for lst in area.free_list for pfn in lst) for area in zone.free_area)
    allocated = tuple(sorted((pfn, block[0]) for pfn, block in m.allocated.items()))
    return free, allocated


def op_name(op):
    return ("alloc", op.order) if isinstance(op, Alloc) else ("free", op.pfn)


def first_divergence(pages, max_order, orders, brute=None):
    """Walk both machines breadth-first in lock step; the shortest trace after which they differ, or None.

    Also checks at every state that the per-cpu lists are empty and NR_FREE_PAGES equals the pages
    on the free lists. Returns (trace, model's projection, brute's state) on the first difference.
    """
    brute = BruteBuddy(pages, max_order) if brute is None else brute
    m = Kernel419(preset("buddy-core", pages=pages, max_order=max_order))
    allocs = [Alloc(G.GFP_KERNEL, o) for o in orders]
    start = brute.initial()
    if project(m) != start:
        return (), project(m), start
    frozen = {start: (m.freeze(), ())}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for state in frontier:
            mstate, trace = frozen[state]
            expected = dict(brute.successors(state, orders))
            ops = allocs + [Free(pfn) for pfn, _ in state[1]]
            for op in ops:
                m.restore(mstate)
                op.apply(m)
                want = expected[op_name(op)]
                got = project(m)
                (zone,) = m.zones()
                pcp_empty = all(not lst for p in zone.pageset.values() for lst in p.lists)
                if got != want or not pcp_empty or zone.nr_free_pages != brute.free_pages(want[0]):
                    return trace + (op,), got, want
                if want not in frozen:
                    frozen[want] = (m.freeze(), trace + (op,))
                    nxt_frontier.append(want)
        frontier = nxt_frontier
    return None


# ---- hand-worked cases --------------------------------------------------------------------------

def test_two_pages_max_order_1_list_order_makes_five_states():
    # MAX_ORDER 1: no merging, orders 0 only. Boot frees 0 then 1, each to the head: [1, 0].
    # S0 [1,0] -a-> S1 [0]{1} -a-> S2 []{0,1} -free 1-> S3 [1]{0} -free 0-> S4 [0,1]{}.
    # S4 differs from S0 only in list order; nothing else is new: 5 states, the deepest at 4.
    b = BruteBuddy(2, 1)
    assert b.initial() == (((1, 0),), ())
    res = b.explore([0])
    assert (res.states, res.depth) == (5, 4)
    # transitions: one alloc from each of 5 states, plus one free per allocated block (0+1+2+1+0)
    assert res.transitions == 5 + 4
    assert compare(2, 1, 0, 0)[1] == (5, 4, 9)


def test_two_pages_max_order_2_merges_back_to_four_states():
    # Boot: one order-1 block [0]. a: split, 1 to the order-0 head, get 0 -> S1 o0[1]{0}.
    # a: S2 {}{0,1}. From S2 free 0 -> S3 o0[0]{1} (order 0 is not < MAX_ORDER-2 = 0: head),
    # free 1 -> S1. From S3 free 1 merges back to S0. 4 states, S3 at depth 3.
    res = BruteBuddy(2, 2).explore([0])
    assert (res.states, res.depth, res.transitions) == (4, 3, 4 + 4)
    assert compare(2, 2, 0, 0)[1] == (4, 3, 8)


def test_one_page_one_state_per_allocation():
    # One page: boot lists it, the only allocation takes it, the free returns it. Order 1 never fits.
    res = BruteBuddy(1, 3).explore([0, 1])
    assert (res.states, res.depth, res.transitions) == (2, 1, 2 * 2 + 1)
    assert compare(1, 3, 0, 1)[1] == (2, 1, 5)


@pytest.mark.parametrize("pages, max_order, lists", [
    # 13 pages, MAX_ORDER 4: chunks 0 (o3), 8 (o2), 12 (o0); 12's buddy 13 is outside the zone.
    (13, 4, ((12,), (), (8,), (0,))),
    # 6 pages: 0 (o2), 4 (o1). 4 is below MAX_ORDER-2 = 2 and its parent's buddy 0 is free at
    # order 2, so it goes to the tail (of an empty list: the same list).
    (6, 4, ((), (4,), (0,), ())),
    # 7 pages, MAX_ORDER 3: 0 (o2), 4 (o1), 6 (o0); 6 goes to the tail of an empty list.
    (7, 3, ((6,), (4,), (0,))),
    # 16 pages, MAX_ORDER 2: eight order-1 blocks, each to the head: highest pfn first.
    (16, 2, ((), (14, 12, 10, 8, 6, 4, 2, 0))),
])
def test_boot_lists(pages, max_order, lists):
    assert BruteBuddy(pages, max_order).initial() == (lists, ())
    assert project(Kernel419(preset("buddy-core", pages=pages, max_order=max_order))) == (lists, ())


def test_tail_rule_sequence_on_both_sides():
    # 8 pages, MAX_ORDER 4. Six order-0 allocations take 0..5 (0 splits 0..7; 2 splits 2..3;
    # 4 splits 4..7), leaving 6..7 free at order 1. Free 0 then 1: they merge into (0, o1); its
    # parent's buddy 4..7 is not free at order 2, so (0, o1) goes to the head: o1 [0, 6].
    # Free 4: buddy 5 is held; parent 4..5's buddy 6..7 is free at order 1 -> TAIL: o0 [4].
    # Free 2: buddy 3 is held; parent 2..3's buddy 0..1 is free at order 1 -> TAIL: o0 [4, 2].
    # The next order-0 allocation then takes 4, not 2.
    b = BruteBuddy(8, 4)
    m = Kernel419(preset("buddy-core", pages=8, max_order=4))
    s = b.initial()
    for _ in range(6):
        s = b.alloc(s, 0)
        assert m.alloc(G.GFP_KERNEL, 0).ok
    assert s == (((), (6,), (), ()), tuple((p, 0) for p in range(6)))
    for pfn in (0, 1, 4, 2):
        s = b.free(s, pfn)
        m.free(pfn)
    assert s == (((4, 2), (0, 6), (), ()), ((3, 0), (5, 0)))
    assert project(m) == s
    s = b.alloc(s, 0)
    assert m.alloc(G.GFP_KERNEL, 0).page == 4
    assert project(m) == s == (((2,), (0, 6), (), ()), ((3, 0), (4, 0), (5, 0)))


def test_failed_allocation_changes_nothing():
    # 3 pages, MAX_ORDER 3: boot 0 (o1), 2 (o0). Order 2 needs 4 pages: fails on both sides.
    b = BruteBuddy(3, 3)
    s = b.initial()
    assert b.alloc(s, 2) == s
    m = Kernel419(preset("buddy-core", pages=3, max_order=3))
    assert m.alloc(G.GFP_KERNEL, 2).page is None
    assert project(m) == s == (((2,), (0,), ()), ())


@pytest.mark.parametrize("pages, max_order, orders", [(8, 4, range(0, 4)), (13, 4, range(1, 4)), (7, 3, range(0, 3))])
def test_zero_watermark_refuses_exactly_when_no_block_fits(pages, max_order, orders):
    # __zone_watermark_ok with mark 0: free - (2^o - 1) > 0, and for o > 0 a list of order >= o
    # non-empty. A free block of order >= o alone means free >= 2^o, so the count test never
    # refuses a request a block could serve: the watermark adds nothing to the block search.
    b = BruteBuddy(pages, max_order)
    for free, _ in b.reachable(orders):
        for o in orders:
            fits = any(free[c] for c in range(o, max_order))
            assert b.watermark_ok(free, o) == fits


@pytest.mark.parametrize("pages, max_order, lo, hi", [(5, 2, 0, 1), (6, 3, 0, 2), (3, 3, 0, 2), (7, 4, 1, 3)])
def test_brute_scales_by_two(pages, max_order, lo, hi):
    # With every request of order >= 1, pfns 2k and 2k+1 always travel together: the machine of
    # 2P (or 2P+1: the odd last page never merges) pages and MAX_ORDER M+1 with orders shifted up
    # by one is the machine of P pages, MAX_ORDER M. The tail rule shifts with it (o < M-2).
    small = BruteBuddy(pages, max_order).explore(range(lo, hi + 1))
    for big_pages in (2 * pages, 2 * pages + 1):
        assert BruteBuddy(big_pages, max_order + 1).explore(range(lo + 1, hi + 2)) == small


# ---- the grid --------------------------------------------------------------------------------

def default_grid():
    """pages 1..16, MAX_ORDER 1..4, every order range, where the space stays small (a few hundred states).

    The size is governed by pages >> lo (blocks of the smallest order requested): kept to at most 6,
    and to at most 4 when MAX_ORDER - lo is 1 (no merging at all: the space grows fastest).
    """
    grid = []
    for pages in range(1, 17):
        for max_order in range(1, 5):
            for lo in range(max_order):
                units = pages >> lo
                if units > 6 or (max_order - lo == 1 and units > 4):
                    continue
                for hi in range(lo, max_order):
                    grid.append((pages, max_order, lo, hi))
    return grid


GRID = default_grid()


def test_grid_covers_unaligned_sizes_and_every_max_order():
    assert len(GRID) > 150
    sizes = {(p, m) for p, m, _, _ in GRID}
    for pages in (7, 12, 13):
        assert any(p == pages for p, _ in sizes)
    assert {m for _, m in sizes} == {1, 2, 3, 4}


def test_grid_counts_equal_explorer():
    mismatches = []
    for pages, max_order, lo, hi in GRID:
        label, model, brute = compare(pages, max_order, lo, hi)
        if model != brute:
            mismatches.append((label, model, brute))
    assert not mismatches, "(states, depth, transitions) model vs brute: " + "; ".join(map(str, mismatches))


@pytest.mark.parametrize("pages, max_order, lo, hi, expected", [
    # Beyond the default grid; the expected triples are the brute-force machine's counts.
    # 16 pages / MAX_ORDER 4 / orders 1-3 is the figure quoted for the explorer.
    (16, 4, 1, 3, (1829, 12, 12611)),
    # Zones that are not a multiple of the largest block (7 = 4+2+1 pages; 15 = 8+4+2+1).
    (7, 3, 0, 2, (776, 11, 4822)),
    # 15 pages with orders >= 1 is 7 page pairs plus a page that never merges: 7 pages, orders 0-2.
    (15, 4, 1, 3, (776, 11, 4822)),
])
def test_larger_and_unaligned_counts_equal_explorer(pages, max_order, lo, hi, expected):
    label, model, brute = compare(pages, max_order, lo, hi)
    assert brute == expected, label
    assert model == brute, label


@pytest.mark.parametrize("pages, max_order, orders", [
    (6, 4, range(0, 4)),
    (7, 3, range(0, 3)),
    (13, 4, range(1, 4)),
    (12, 4, range(2, 4)),
])
def test_lock_step_state_by_state(pages, max_order, orders):
    diverged = first_divergence(pages, max_order, list(orders))
    if diverged is not None:
        trace, got, want = diverged
        steps = "; ".join(op.code() for op in trace)
        pytest.fail(f"after [{steps}] the model has {got}, the rules give {want}")


class HeadOnly(BruteBuddy):
    """The rules without the tail placement: every freed block goes to the list head."""

    def release(self, free, pfn, order):
        lists = [list(lst) for lst in free]
        where = self.free_map(free)
        while order < self.max_order - 1:
            partner = pfn ^ (1 << order)
            if partner >= self.pages or where.get(partner) != order:
                break
            lists[order].remove(partner)
            del where[partner]
            pfn = min(pfn, partner)
            order += 1
        lists[order].insert(0, pfn)
        return tuple(tuple(lst) for lst in lists)


def test_lock_step_reports_the_shortest_disagreement():
    # The walk must be able to fail. Without the tail rule, 8 pages / MAX_ORDER 4 / order 0: a
    # difference needs a free whose parent's buddy is free one order up (tail) onto a non-empty
    # list. Six allocations take 0..5 (6..7 stay free at order 1); free 0 goes to the head (its
    # parent's buddy 2..3 is held): o0 [0]; free 4: buddy 5 held, parent 4..5's buddy 6..7 free at
    # order 1 -> tail: o0 [0, 4], where head-only placement gives [4, 0]. BFS finds this 8-step
    # trace as the shortest.
    diverged = first_divergence(8, 4, [0], brute=HeadOnly(8, 4))
    assert diverged is not None
    trace, got, want = diverged
    assert [op_name(op) for op in trace] == [("alloc", 0)] * 6 + [("free", 0), ("free", 4)]
    held = ((1, 0), (2, 0), (3, 0), (5, 0))
    assert got == (((0, 4), (6,), (), ()), held)
    assert want == (((4, 0), (6,), (), ()), held)
    assert first_divergence(8, 4, [0]) is None


# ---- larger sizes ------------------------------------------------------------------------------

SLOW_CASES = [
    (pages, max_order, lo, hi)
    for pages in range(1, 17) for max_order in range(1, 5) for lo in range(max_order) for hi in range(lo, max_order)
    if (pages, max_order, lo, hi) not in set(GRID) and (pages >> lo) <= 8
    and not (max_order - lo == 1 and (pages >> lo) > 7)
]


@pytest.mark.slow
def test_slow_grid_counts_equal_explorer():
    mismatches = []
    for case in SLOW_CASES:
        label, model, brute = compare(*case)
        if model != brute:
            mismatches.append((label, model, brute))
    assert not mismatches, "; ".join(map(str, mismatches))


@pytest.mark.slow
@pytest.mark.parametrize("pages, max_order, lo, hi", [(8, 1, 0, 0), (24, 4, 1, 3)])
def test_slow_large_counts_equal_explorer(pages, max_order, lo, hi):
    label, model, brute = compare(pages, max_order, lo, hi)
    assert model == brute, label
