"""Deliberately broken models that fail rather than break an invariant: each must be a counterexample.

A porting slip in a kernel function can raise (the kernel would BUG()) or loop for ever (the kernel
would hang). Each entry: the broken model, the scenario it is checked on, the pseudo-invariant
expected (`model_crash` or `model_hang`), the shortest counterexample length, and the kernel
function it must name.
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.report import CRASH, HANG
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G

OP_BUDGET = 0.2  # seconds: far above a healthy operation, short enough for a test

# ---- the broken models --------------------------------------------------------------------------------------

ExpandDivides = Kernel419.variant("expand-divides", "expand divides by zero when it splits more than one order")


@ExpandDivides.override
def expand(k, zone, page, low, high, migratetype):
    size = 1 << high
    halves_per_step = 1 // max(0, 2 - (high - low))  # slip: meant to be 1, is 1 // 0 for a split of 2 orders
    while high > low:
        high -= 1
        size >>= halves_per_step
        half = page + size
        area = zone.free_area[high]
        area.free_list[migratetype].insert(0, half)
        area.nr_free += 1
        k.page_buddy[half] = high


RmqueueSpins = Kernel419.variant("rmqueue-spins", "__rmqueue_smallest's order loop does not advance past order 2")


@RmqueueSpins.override
def __rmqueue_smallest(k, zone, order, migratetype):
    current_order = order
    while current_order < k.MAX_ORDER:
        area = zone.free_area[current_order]
        lst = area.free_list[migratetype]
        if lst:
            page = lst.pop(0)
            del k.page_buddy[page]
            area.nr_free -= 1
            k.expand(zone, page, order, current_order, migratetype)
            k.set_pcppage_migratetype(page, migratetype)
            return page
        if current_order != 2:  # slip: the increment went under a condition, order 2 never moves on
            current_order += 1
    return None


BootFreeFails = Kernel419.variant("boot-free-fails", "__free_one_page indexes past free_area for a MAX_ORDER-1 block")


@BootFreeFails.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    if order == k.MAX_ORDER - 1:
        zone.free_area[order + 1]  # slip: an off-by-one index, reached by every boot-time MAX_ORDER-1 block
    Kernel419.__free_one_page(k, page, pfn, zone, order, migratetype)


FreeWalkSpins = Kernel419.variant("free-walk-spins",
                                  "__free_one_page re-walks the list it filled; the walk stops advancing at entry 3")


@FreeWalkSpins.override
def __free_one_page(k, page, pfn, zone, order, migratetype):  # noqa: F811  (one override per variant)
    Kernel419.__free_one_page(k, page, pfn, zone, order, migratetype)
    lst = zone.free_area[_listed_order(k, pfn, order)].free_list[migratetype]
    i = 0
    while i < len(lst):
        if i != 3:  # slip: the cursor is advanced under a condition; a fourth entry is never passed
            i += 1


FreeSlotsOverflow = Kernel419.variant("free-slots-overflow",
                                      "__free_one_page copies the list it filled into three slots")


@FreeSlotsOverflow.override
def __free_one_page(k, page, pfn, zone, order, migratetype):  # noqa: F811  (one override per variant)
    Kernel419.__free_one_page(k, page, pfn, zone, order, migratetype)
    slots = [None] * 3  # slip: sized for three blocks; a fourth raises IndexError
    for i, listed in enumerate(zone.free_area[_listed_order(k, pfn, order)].free_list[migratetype]):
        slots[i] = listed


def _listed_order(k, pfn, order):
    """The order of the block a free of (pfn, order) left in buddy: the freed block merged upwards."""
    while pfn not in k.page_buddy:
        order += 1
        pfn &= ~((1 << order) - 1)
    return k.page_buddy[pfn]


# ---- the scenarios ------------------------------------------------------------------------------------------


def buddy_core(pages, max_order, orders, depth=6):
    return Scenario(f"buddy-core-{pages}", preset("buddy-core", pages=pages, max_order=max_order),
                    allocs=tuple(Alloc(G.GFP_KERNEL, o) for o in orders), depth=depth, op_budget=OP_BUDGET,
                    params={"preset": "buddy-core", "pages": pages, "max_order": max_order})


# Found deep in a level of more than 2 x ForkBackend.MIN_PER_WORKER states, so --workers 2 really forks.
FAILING_DEEP = {
    "free-walk-spins": (FreeWalkSpins, HANG, 10),
    "free-slots-overflow": (FreeSlotsOverflow, CRASH, 10),
}


def deep_scenario():
    sc = buddy_core(16, 4, (3, 2, 1), depth=10)  # this order puts the first failure in the second run
    sc.symmetry = False  # of the plain search's levels
    return sc


FAILING = {
    # name: (model, scenario factory, pseudo-invariant, shortest counterexample length, function named)
    "expand-divides": (ExpandDivides, lambda: buddy_core(6, 3, (0,)), CRASH, 3, "expand"),
    "rmqueue-spins": (RmqueueSpins, lambda: buddy_core(12, 4, (1,)), HANG, 3, "__rmqueue_smallest"),
    "boot-free-fails": (BootFreeFails, lambda: buddy_core(8, 3, (0,)), CRASH, 0, "__free_one_page"),
}
