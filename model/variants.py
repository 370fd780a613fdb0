"""Named variants of the 4.19 model, for `buddycheck diff` and the tests.

- "4.19" (Kernel419): stable 4.19 with the mpol_rebind_nodemask fix 29b190fa774d.
- "4.19.0" (Kernel419_0): 4.19.0 as released. mpol_rebind_nodemask, for a
  policy without STATIC/RELATIVE, stores the remapped nodes instead of the new
  cpuset mems in w.cpuset_mems_allowed (a mistake from 4.15, fixed in 5.2 and
  in the stable trees). The next rebind then remaps from the policy's own
  nodes, so a node's rank among the cpuset mems is lost.
- "5.8-classzone" (Kernel58Classzone): 4.19 with the one change of 3334a45eb9e2
  "mm/page_alloc: use ac->high_zoneidx for classzone_idx" (v5.8-rc1): the
  watermark checks take lowmem_reserve[] of gfp_zone(gfp) (ac->high_zoneidx)
  instead of the zone index of the first usable zone of the zonelist (the
  preferred zoneref). They differ when the preferred node lacks the request's
  highest zone: a MOVABLE request from a node without ZONE_MOVABLE is then
  checked, on every node, against the reserve kept for MOVABLE requests.
  Everything else of 5.8 (the renaming of classzone_idx to highest_zoneidx in
  97a225e69a1f, other changes between 4.19 and 5.8) is left out: the variant
  isolates this one behaviour for `buddycheck diff`.
- "6.8-highatomic" (Kernel68Highatomic): 4.19 with d68e39fc45f7 "mm: page_alloc: correct high
  atomic reserve calculations" and 9cd20f3fe045 "mm: page_alloc: enforce minimum zone size to do
  high atomic reserves" (v6.8): the reserve limit is 1% of the zone rounded up to whole pageblocks,
  and a zone whose 1% is smaller than a pageblock reserves nothing. 4.19's limit,
  managed/100 + pageblock_nr_pages, lets every zone reserve at least two pageblocks (known bug
  HA-RESERVE-MAX, which 4.19 itself has: `buddycheck diff 4.19 6.8-highatomic` shows it).
- "6.10-convert-txn" (Kernel610ConvertTxn): 4.19 with the steal half of c0cd6f557b90 "mm:
  page_alloc: fix freelist movement during block conversion" (v6.10): a fallback first counts the
  free and compatible pages of the pageblock without moving them, and moves the free pages and
  retypes the block only if it claims it; otherwise only the block taken moves. 4.19 moves every
  free page of the pageblock to the new type's lists and may then leave the block's type unchanged
  (known bug CONVERT-TXN (a), which 4.19 itself has).

Each variant overrides only the kernel functions named here and inherits the rest.
"""

from dataclasses import replace

from .buddy import allocated_page_is_movable, list_move_free
from .constants import MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_MOVABLE
from .machine import Kernel419
from .mempolicy import MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES
from .mmzone import zone_spans_pfn
from .nodemask import mpol_relative_nodemask, nodes_remap

Kernel419_0 = Kernel419.variant(
    "4.19.0",
    "Linux 4.19.0 as released: mpol_rebind_nodemask stores the remapped nodes as w.cpuset_mems_allowed",
)


@Kernel419_0.override
def mpol_rebind_nodemask(k, pol, nodes):
    """mpol_rebind_nodemask() as released in 4.19.0: w.cpuset_mems_allowed becomes the remapped nodes."""
    nodes = frozenset(nodes)
    if pol.flags & MPOL_F_STATIC_NODES:
        tmp = pol.user_nodemask & nodes
    elif pol.flags & MPOL_F_RELATIVE_NODES:
        tmp = mpol_relative_nodemask(pol.user_nodemask, nodes)
    else:
        tmp = nodes_remap(pol.nodes, pol.cpuset_mems_allowed, nodes)
        pol = replace(pol, cpuset_mems_allowed=tmp)
    if not tmp:
        tmp = nodes
    return replace(pol, nodes=tmp)


Kernel58Classzone = Kernel419.variant(
    "5.8-classzone",
    "Linux 4.19 with 3334a45eb9e2 (v5.8): watermark checks use the lowmem_reserve of gfp_zone(), ac->high_zoneidx",
)


@Kernel58Classzone.override
def ac_classzone_idx(k, ac):
    """ac_classzone_idx() from 5.8 (3334a45eb9e2): the request's highest usable zone type, ac->high_zoneidx."""
    return ac.high_zoneidx


Kernel68Highatomic = Kernel419.variant(
    "6.8-highatomic",
    "Linux 4.19 with d68e39fc45f7 and 9cd20f3fe045 (v6.8): highatomic reserve at most ALIGN(managed/100, pageblock)",
)


@Kernel68Highatomic.override
def reserve_highatomic_pageblock(k, page, zone, alloc_order):
    """reserve_highatomic_pageblock() from 6.8: limit ALIGN(managed/100, pageblock); none below one pageblock."""
    if zone.managed_pages // 100 < k.pageblock_nr_pages:
        return
    nr = k.pageblock_nr_pages
    max_managed = (zone.managed_pages // 100 + nr - 1) // nr * nr
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = k.get_pageblock_migratetype(page)
    if mt not in (MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_CMA):
        zone.nr_reserved_highatomic += nr
        k.set_pageblock_migratetype(page, MIGRATE_HIGHATOMIC)
        k.move_freepages_block(zone, page, MIGRATE_HIGHATOMIC)


Kernel610ConvertTxn = Kernel419.variant(
    "6.10-convert-txn",
    "Linux 4.19 with c0cd6f557b90 (v6.10): a fallback moves a pageblock's free pages only if it claims the block",
)


@Kernel610ConvertTxn.override
def steal_suitable_fallback(k, zone, page, start_type, whole_block):
    """steal_suitable_fallback() after c0cd6f557b90: count first, then move and retype together, or take one block."""
    current_order = k.page_buddy[page]
    old_block_type = k.get_pageblock_migratetype(page)
    claim = False
    if old_block_type == MIGRATE_HIGHATOMIC:
        pass
    elif current_order >= k.pageblock_order:
        k.change_pageblock_range(page, current_order, start_type)
    elif whole_block:
        start = page & ~(k.pageblock_nr_pages - 1)
        end = start + k.pageblock_nr_pages - 1
        if zone_spans_pfn(zone, start) and zone_spans_pfn(zone, end):  # prep_move_freepages_block()
            free_pages = movable_pages = 0
            pfn = start
            while pfn <= end:
                order = k.page_buddy.get(pfn)
                if order is not None:
                    free_pages += 1 << order
                    pfn += 1 << order
                    continue
                movable_pages += allocated_page_is_movable(k, pfn)
                pfn += 1
            if start_type == MIGRATE_MOVABLE:
                alike_pages = movable_pages
            elif old_block_type == MIGRATE_MOVABLE:
                alike_pages = k.pageblock_nr_pages - (free_pages + movable_pages)
            else:
                alike_pages = 0
            claim = (free_pages + alike_pages >= (1 << (k.pageblock_order - 1))
                     or k.page_group_by_mobility_disabled)
    if claim:
        k.move_freepages_block(zone, page, start_type)
        k.set_pageblock_migratetype(page, start_type)
        return
    list_move_free(zone, page, current_order, start_type)


VARIANTS = {
    "4.19": Kernel419,
    "4.19.0": Kernel419_0,
    "5.8-classzone": Kernel58Classzone,
    "6.8-highatomic": Kernel68Highatomic,
    "6.10-convert-txn": Kernel610ConvertTxn,
}
