"""A deliberately broken model that only a particular sequence of three operations exposes.

For the random-walk simulation (checks/strategies/simulate.py): a walk must find it, and its
shrunk counterexample must have exactly the pinned length. The slip is in __free_one_page: an
order-1 block freed while part of its buddy is allocated (so it cannot merge) is listed but not
counted in nr_free. That needs an order-1 allocation, an allocation that takes part of its buddy,
then the free of the order-1 block: no shorter sequence shows it, on any number of pages (booting
allocates nothing).
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G

UnmergedUncounted = Kernel419.variant(
    "unmerged-order1-uncounted", "__free_one_page does not count an order-1 block that could not merge")


@UnmergedUncounted.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    Kernel419.__free_one_page(k, page, pfn, zone, order, migratetype)
    buddy = pfn ^ 2
    if order == 1 and (buddy in k.allocated or buddy + 1 in k.allocated):  # it could not merge: its buddy is in use
        zone.free_area[1].nr_free -= 1  # slip: the count is undone for the unmerged block


def buddy_core(pages=8, max_order=3, orders=(0, 1), depth=8):
    """buddy-core with allocations of the given orders and frees of any block."""
    return Scenario(f"buddy-core-{pages}", preset("buddy-core", pages=pages, max_order=max_order),
                    allocs=tuple(Alloc(G.GFP_KERNEL, o) for o in orders), depth=depth,
                    params={"preset": "buddy-core", "pages": pages, "max_order": max_order})


# name: (model, scenario factory, invariant that must catch it, shortest counterexample length)
PLANTED_SEQUENCES = {
    "unmerged-order1-uncounted": (UnmergedUncounted, buddy_core, "free_accounting", 3),
}
