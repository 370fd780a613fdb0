"""Shrinking counterexamples (checks/shrink.py), end to end with the explorer on planted bugs.

Planted bugs (variants of Kernel419):
- expand-upper-half: expand() lists the LOWER halves and keeps the upper half, but __rmqueue_smallest
  still hands out the block's first page, so the allocated block is also on a free list;
- merge-one-order-short: page_is_buddy() never answers yes at order MAX_ORDER-2, so two free buddies
  of order MAX_ORDER-2 stay unmerged.

Machines are buddy-core (one zone from pfn 0, MAX_ORDER 4): boot frees the zone in aligned blocks of
order <= 3 in ascending pfn order, each added at the head of its list, so with 24 pages the order-3
list is [16, 8, 0] and the first split takes pfn 16.
"""

import os
import subprocess
import sys

import pytest

from buddycheck.checks.explore import Explorer, Violation
from buddycheck.checks.ops import Alloc, Drain, Free, Isolate, UndoIsolate
from buddycheck.checks.printing import emit_pytest, format_program
from buddycheck.checks.replay import replay
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.shrink import (
    ShrinkError,
    machine_key,
    op_key,
    shrink,
    simplicity_key,
    smaller_machines,
)
from buddycheck.checks.trace_json import trace_from_json, trace_to_json
from buddycheck.model import Environment, Kernel419, preset
from buddycheck.model import gfp as G

UpperHalf = Kernel419.variant("expand-upper-half", "expand() keeps the upper half and lists the lower halves")


@UpperHalf.override
def expand(k, zone, page, low, high, migratetype):
    """expand() with the halves swapped: the lower half of each split goes on the free list."""
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        area = zone.free_area[high]
        area.free_list[migratetype].insert(0, page)
        area.nr_free += 1
        k.page_buddy[page] = high
        page += size


MergeShort = Kernel419.variant("merge-one-order-short", "free blocks stop merging one order early")


@MergeShort.override
def page_is_buddy(k, page, buddy, order):
    """page_is_buddy() that never pairs blocks of order MAX_ORDER-2."""
    return order < k.MAX_ORDER - 2 and Kernel419.page_is_buddy(k, page, buddy, order)


class NoOverlap:
    name = "allocated blocks never overlap free blocks"

    def violations(self, before, op, result, m, after=None):
        free = {}
        for zone in m.zones():
            for pfn, order, _ in m.free_blocks(zone):
                for p in range(pfn, pfn + (1 << order)):
                    free.setdefault(p, pfn)
        for pfn, (order, _, _) in sorted(m.allocated.items()):
            for p in range(pfn, pfn + (1 << order)):
                if p in free:
                    return [f"allocated order-{order} block at pfn {pfn} overlaps the free block at pfn {free[p]}"]
        return []


class BuddiesMerged:
    """Two free buddies of the same order below MAX_ORDER-1 are merged (no isolation in these scenarios)."""

    name = "free buddies are merged"

    def violations(self, before, op, result, m, after=None):
        out = []
        for zone in m.zones():
            free = {(pfn, order) for pfn, order, _ in m.free_blocks(zone)}
            for pfn, order in sorted(free):
                if order < m.MAX_ORDER - 1 and pfn % (2 << order) == 0 and (pfn + (1 << order), order) in free:
                    out.append(f"free order-{order} blocks at pfn {pfn} and {pfn + (1 << order)} are not merged")
        return out


class OneSmallBlock:
    """A made-up invariant: at most one block is allocated and none of order 3."""

    name = "at most one block allocated, none of order 3"

    def violations(self, before, op, result, m, after=None):
        blocks = sorted(m.allocated.items())
        if len(blocks) > 1 or any(order == 3 for _, (order, _, _) in blocks):
            return [f"allocated: {[(pfn, order) for pfn, (order, _, _) in blocks]}"]
        return []


NO_OVERLAP = NoOverlap()
MERGED = BuddiesMerged()
ONE_SMALL = OneSmallBlock()


def K(order, **kw):
    return Alloc(G.GFP_KERNEL, order, **kw)


def buddy_core(model, pages=24, orders=(1, 2, 3), preset_params=True, **kw):
    params = {"preset": "buddy-core", "pages": pages, "max_order": 4, "orders": list(orders)} if preset_params else {}
    return Scenario("buddy-core", preset("buddy-core", pages=pages, max_order=4),
                    allocs=tuple(K(o) for o in orders), model=model, params=params, **kw)


def explore(scenario, prop, depth=6):
    report = Explorer(scenario).check(prop).depth(depth).run()
    assert len(report.violations) == 1, report
    return report.violations[0]


# ---- "simpler" ---------------------------------------------------------------------------------------------


def test_op_key_orders_arguments():
    ordered = [
        K(1), K(1, env=Environment(fail_alloc=True)), K(1, cpu=1), K(1, nid=0), K(1, nid=1),
        K(2), Alloc(G.GFP_KERNEL | G.__GFP_THISNODE, 2), K(3),
        Free(0), Free(8), Free(0, cpu=1), Drain(), Drain(0), Drain(1), Isolate(0, 8), UndoIsolate(0, 8),
    ]
    # order first, then node id (none given is smallest), then cpu, then environment answers, then gfp bits;
    # between kinds: alloc, free, drain, isolate, undo
    assert sorted(reversed(ordered), key=op_key) == ordered
    assert op_key(K(1, cpu=1)) < op_key(K(2, cpu=0))  # a smaller order beats a smaller cpu


def test_simplicity_key_is_the_design_order():
    small, big = preset("buddy-core", pages=4), preset("buddy-core", pages=200)
    assert machine_key(small) == (1, 4) and machine_key(preset("numa2")) == (2, 96)
    # fewest operations first: one operation on 200 pages beats two on 4
    assert simplicity_key((K(3),), big) < simplicity_key((K(1), K(1)), small)
    # then fewest nodes: 200 pages on one node beat 96 pages on two
    assert simplicity_key((K(1),), big) < simplicity_key((K(1),), preset("numa2"))
    # then fewest pages, then the arguments
    assert simplicity_key((K(3),), small) < simplicity_key((K(1),), big)
    assert simplicity_key((K(1), Free(0)), small) < simplicity_key((K(1), Free(2)), small)


def test_smaller_machines_keep_max_order_and_the_alphabet():
    sc = buddy_core(UpperHalf, pages=6)
    smaller = smaller_machines(sc)
    assert [s.params["pages"] for s in smaller] == [1, 2, 3, 4, 5]
    assert all(s.topology == preset("buddy-core", pages=s.params["pages"], max_order=4) for s in smaller)
    assert all(s.allocs == sc.allocs and s.model is UpperHalf and s.params["orders"] == [1, 2, 3] for s in smaller)
    assert smaller_machines(buddy_core(UpperHalf, preset_params=False)) == ()
    numa = Scenario("numa2", preset("numa2"), params={"preset": "numa2"})
    assert smaller_machines(numa) == ()


# ---- shrinking ------------------------------------------------------------------------------------------


def test_expand_upper_half_shrinks_to_four_pages():
    sc = buddy_core(UpperHalf)
    found = explore(sc, NO_OVERLAP)
    # the first action, an order-1 request, splits the order-3 block at 16 and is handed pfn 16 -- which the
    # broken expand() has just listed as free
    assert found.trace == (K(1),)
    assert found.message == "allocated order-1 block at pfn 16 overlaps the free block at pfn 16"
    shrunk = shrink(sc, found, [NO_OVERLAP])
    # 1-3 pages hold only blocks of order <= 1: an order-1 request never splits; 4 pages boot one order-2 block
    assert shrunk.scenario.params == {"preset": "buddy-core", "pages": 4, "max_order": 4, "orders": [1, 2, 3]}
    assert shrunk.scenario.topology == preset("buddy-core", pages=4, max_order=4)
    assert (shrunk.invariant, shrunk.trace) == (NO_OVERLAP.name, (K(1),))
    assert shrunk.message == "allocated order-1 block at pfn 0 overlaps the free block at pfn 0"
    assert shrunk.original is found and shrunk.notes == ()
    assert isinstance(shrunk, Violation)


def test_merge_one_order_short_shrinks_to_eight_pages():
    sc = buddy_core(MergeShort)
    found = explore(sc, MERGED)
    # no single allocation leaves two free buddies; the first two-step one in BFS order: split 16 for order 1
    # (16 allocated, 18 o1 and 20 o2 free), free 16: it merges with 18 to order 2 and stops next to 20
    assert found.trace == (K(1), Free(16))
    assert found.message == "free order-2 blocks at pfn 16 and 20 are not merged"
    shrunk = shrink(sc, found, [MERGED])
    # two free order-2 buddies need a whole order-3 block: 8 pages
    assert shrunk.scenario.params["pages"] == 8
    assert shrunk.trace == (K(1), Free(0))
    assert shrunk.message == "free order-2 blocks at pfn 0 and 4 are not merged"


def test_a_smaller_machine_must_not_need_a_longer_trace():
    sc = buddy_core(Kernel419, orders=(1, 3))
    found = explore(sc, ONE_SMALL)
    assert found.trace == (K(3),)
    # on 4 pages the invariant fails too, but only after two operations (two order-1 blocks) ...
    four = explore(buddy_core(Kernel419, pages=4, orders=(1, 3)), ONE_SMALL)
    assert four.trace == (K(1), K(1))
    # ... so 8 pages, the least that holds an order-3 block, is the smallest machine with a 1-step trace
    shrunk = shrink(sc, found, [ONE_SMALL])
    assert (shrunk.scenario.params["pages"], shrunk.trace) == (8, (K(3),))
    # and fewer operations beat a smaller machine: the 2-step trace on 24 pages also shrinks to 8 pages, 1 step
    longer = Violation(ONE_SMALL.name, "", (K(1), K(1)))
    shrunk = shrink(sc, longer, [ONE_SMALL])
    assert (shrunk.scenario.params["pages"], shrunk.trace) == (8, (K(3),))


def test_arguments_shrink_when_the_machine_cannot():
    # the same broken expand, a machine shrink() may not change (the params name no preset), and the
    # alphabet in descending order: BFS meets order 3 first (an exact block, no split), then order 2
    sc = buddy_core(UpperHalf, pages=16, orders=(3, 2, 1), preset_params=False)
    found = explore(sc, NO_OVERLAP)
    assert found.trace == (K(2),)
    shrunk = shrink(sc, found, [NO_OVERLAP])
    assert shrunk.trace == (K(1),) and shrunk.scenario is sc
    assert shrunk.message == "allocated order-1 block at pfn 8 overlaps the free block at pfn 8"
    assert shrunk.notes == ("machine kept: buddy-core(pages=16, max_order=4) (no smaller machines defined for it)",)


def test_operations_that_do_not_matter_are_removed():
    sc = buddy_core(MergeShort, drains=(Drain(),), preset_params=False)
    padded = Violation(MERGED.name, "", (Drain(), K(1), Free(16)))
    shrunk = shrink(sc, padded, [MERGED])
    assert shrunk.trace == (K(1), Free(16))


def test_bounded_searches_are_noted_and_skipped():
    shrunk = shrink(buddy_core(UpperHalf), Violation(NO_OVERLAP.name, "", (K(1),)), [NO_OVERLAP], max_states=2)
    # with 2 and 3 pages the first successful allocation makes the second state, which fills the bound and
    # breaks nothing: the search stops there; with 4 the same allocation breaks no_overlap
    assert shrunk.scenario.params["pages"] == 4
    assert [note.split(":")[0] for note in shrunk.notes] == ["buddy-core(pages=2, max_order=4)",
                                                             "buddy-core(pages=3, max_order=4)"]
    assert all("max_states" in note for note in shrunk.notes)


def test_a_smaller_machine_that_refuses_the_setup_is_skipped_and_named():
    # the setup frees the order-3 block it was handed at pfn 16: below 24 pages there is no such block
    sc = buddy_core(UpperHalf, setup=(K(3), Free(16)))
    found = explore(sc, NO_OVERLAP)
    shrunk = shrink(sc, found, [NO_OVERLAP])
    assert shrunk.scenario is sc and shrunk.trace == (K(1),)
    machines = [note.split(":")[0] for note in shrunk.notes]
    assert machines == [f"buddy-core(pages={p}, max_order=4)" for p in range(1, 24)]
    assert all("free of pfn 16" in note and note.endswith("; skipped") for note in shrunk.notes)


def test_shrink_is_deterministic():
    sc = buddy_core(MergeShort)
    found = explore(sc, MERGED)
    a, b = shrink(sc, found, [MERGED]), shrink(sc, found, [MERGED])
    assert (a.trace, a.message, a.scenario.params, a.notes) == (b.trace, b.message, b.scenario.params, b.notes)


def test_shrink_refuses_what_does_not_reproduce():
    sc = buddy_core(Kernel419)
    with pytest.raises(ShrinkError, match="does not reproduce"):
        shrink(sc, Violation(NO_OVERLAP.name, "", (K(2),)), [NO_OVERLAP])
    with pytest.raises(ShrinkError, match="no property named"):
        shrink(sc, Violation("nothing", "", (K(2),)), [NO_OVERLAP])


# ---- the whole path: explore, shrink, print, store, pin -------------------------------------------------


def test_counterexample_end_to_end(tmp_path):
    sc = buddy_core(MergeShort)
    shrunk = shrink(sc, explore(sc, MERGED), [MERGED])
    small = shrunk.scenario

    text = format_program(small, shrunk.trace, [MERGED], violation=shrunk)
    assert "m = MergeShort(preset('buddy-core', pages=8, max_order=4))" in text
    assert "m.alloc(G.GFP_KERNEL, 1, cpu=0)\n" in text and "m.free(0, cpu=0)\n" in text
    assert text.rstrip().endswith("#   free order-2 blocks at pfn 0 and 4 are not merged\n\nprint(machine_picture(m))\n"
                                  f"raise AssertionError({f'{MERGED.name}: {shrunk.message}'!r})")
    namespace = {"__name__": "counterexample"}
    with pytest.raises(AssertionError, match="are not merged"):  # the program ends raising the violation
        exec(compile(text, "<counterexample>", "exec"), namespace)
    m = namespace["m"]
    assert MERGED.violations(None, None, None, m) == [shrunk.message]

    back = trace_from_json(trace_to_json(small, shrunk))
    assert (back.ops, back.invariant, back.message, back.params["pages"]) == (shrunk.trace, MERGED.name,
                                                                               shrunk.message, 8)
    assert replay(small, back.ops, [MERGED]).first_violation == Violation(MERGED.name, shrunk.message, back.ops)

    emit_pytest(tmp_path / "test_pinned_bug.py", small, shrunk, [MERGED])
    emit_pytest(tmp_path / "test_pinned_fixed.py", small, shrunk, [MERGED], model_ref="buddycheck.model:Kernel419")
    quick = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # the emitted tests need no plugin
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
                         cwd=tmp_path, env=quick, capture_output=True, text=True, timeout=120)
    outcome = {line.split()[1].split("::")[0]: line.split()[0] for line in run.stdout.splitlines()
               if line.startswith(("PASSED ", "FAILED "))}
    # on the broken model the test fails; the same test on the correct model (the bug "fixed") passes
    assert outcome == {"test_pinned_bug.py": "FAILED", "test_pinned_fixed.py": "PASSED"}, run.stdout + run.stderr
    assert run.returncode == 1
