"""Planted variants that write after boot what freeze() does not take: the completeness check must catch them.

- "remembers-last-free": free_unref_page() also notes the pfn in a new machine attribute.
- "zone-notes-free": free_unref_page() also notes the pfn in a new attribute of the page's zone.
- "watermark-drifts": free_unref_page() also lowers the zone's min watermark, a boot-time value
  (which the state views take from the boot, so it must never change after it).
"""

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS

FREE_UNREF_PAGE = KERNEL_FUNCTIONS["free_unref_page"]

RemembersLastFree = Kernel419.variant("remembers-last-free", "free_unref_page notes the pfn on the machine")


@RemembersLastFree.override
def free_unref_page(k, page):
    FREE_UNREF_PAGE(k, page)
    k.last_freed = page


ZoneNotesFree = Kernel419.variant("zone-notes-free", "free_unref_page notes the pfn on its zone")


@ZoneNotesFree.override
def free_unref_page(k, page):  # noqa: F811  (each variant overrides the same kernel function)
    FREE_UNREF_PAGE(k, page)
    k.page_zone(page).last_freed = page


WatermarkDrifts = Kernel419.variant("watermark-drifts", "free_unref_page lowers the zone's min watermark")


@WatermarkDrifts.override
def free_unref_page(k, page):  # noqa: F811
    FREE_UNREF_PAGE(k, page)
    zone = k.page_zone(page)
    zone.watermark[0] = max(0, zone.watermark[0] - 1)
