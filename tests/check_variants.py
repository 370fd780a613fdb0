"""Variants that the tests of `buddycheck check --model` judge against their bases.

- NeverRuns overrides reserve_highatomic_pageblock with 4.19's own body: on a machine where no
  GFP_ATOMIC request is ever made, the changed function never runs, so the check is inconclusive.
- ExpandUpperToo derives from the broken ExpandUpper (tests/planted_models.py) and changes nothing
  that matters: every violation it has, its base has on the same operations (known in the base).
- FreeToHead puts every freed block at the head of its free list, even where 4.19 puts it at the
  tail: no invariant forbids it, but the next allocation may take another block (a behaviour change).
"""

from planted_models import ExpandUpper

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS

NeverRuns = Kernel419.variant("never-runs", "reserve_highatomic_pageblock restated with 4.19's body")


@NeverRuns.override
def reserve_highatomic_pageblock(k, page, zone, alloc_order):
    return KERNEL_FUNCTIONS["reserve_highatomic_pageblock"](k, page, zone, alloc_order)


ExpandUpperToo = ExpandUpper.variant("expand-upper-too", "ExpandUpper with __rmqueue_smallest restated")


@ExpandUpperToo.override
def __rmqueue_smallest(k, zone, order, migratetype):
    return KERNEL_FUNCTIONS["__rmqueue_smallest"](k, zone, order, migratetype)


FreeToHead = Kernel419.variant("free-to-head", "__free_one_page never places a freed block at the tail")


@FreeToHead.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    KERNEL_FUNCTIONS["__free_one_page"](k, page, pfn, zone, order, migratetype)
    for area_order, area in enumerate(zone.free_area):
        for lst in area.free_list:
            head = page & ~((1 << area_order) - 1)
            if lst and lst[-1] == head and len(lst) > 1 and k.page_buddy.get(head) == area_order:
                lst.insert(0, lst.pop())
