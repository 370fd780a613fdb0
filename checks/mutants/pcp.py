"""PCP-STALE-ISOLATE: free_pcppages_bulk() puts pages on the list of their cached migratetype only.

Fix: 51bb1a4093cc "mm/page_alloc: add freepage on isolate pageblock to correct buddy list"
(Joonsoo Kim, v3.18). 4.19 has it: while the zone has isolated pageblocks, free_pcppages_bulk()
re-reads each page's pageblock type instead of trusting the type cached when the page went onto
the per-cpu list. The mutant trusts the cached type.

What went wrong: a page freed to a per-cpu list before its pageblock was isolated kept MOVABLE as
its cached type; draining the lists after the isolation put it on the MOVABLE free list inside an
ISOLATE pageblock, from where it could be allocated although its pageblock was isolated.

Smallest scenario: two pageblocks of two pages (each a MAX_ORDER block), per-cpu lists that keep
pages. alloc(0) takes pfn 2 (the head of the MOVABLE list), free(2) parks it on the per-cpu list
with cached type MOVABLE, and isolate(2, 4) moves pfn 3 to the ISOLATE list and drains the per-cpu
lists (set_migratetype_isolate calls drain_all_pages); the mutant sends pfn 2 to the MOVABLE list,
where it merges with pfn 3 into a MOVABLE block over the isolated pageblock:
migratetype_consistency fails after 3 operations (and free_accounting, the block being counted).
"""

from buddycheck.checks.ops import Alloc
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.constants import MIGRATE_PCPTYPES, ZONE_NORMAL

PcpStaleIsolate = Kernel419.variant(
    "pcp-stale-isolate", "free_pcppages_bulk() uses the cached migratetype under isolation (before 51bb1a4093cc)")


@PcpStaleIsolate.override
def free_pcppages_bulk(k, zone, count, pcp):
    """free_pcppages_bulk() before 51bb1a4093cc: each page goes back under its cached migratetype."""
    migratetype = 0
    batch_free = 0
    head = []
    while count:
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == MIGRATE_PCPTYPES:
                migratetype = 0
            lst = pcp.lists[migratetype]
            if lst:
                break
        if batch_free == MIGRATE_PCPTYPES:
            batch_free = count
        while True:
            page = lst.pop()
            pcp.count -= 1
            head.append(page)
            count -= 1
            batch_free -= 1
            if not count or not batch_free or not lst:
                break
    for page in head:
        k.__free_one_page(page, page, zone, 0, k.get_pcppage_migratetype(page))


def pcp_stale_isolate_scenario():
    """One Normal zone of 4 pages (two pageblocks of 2, MAX_ORDER 2), per-cpu high 4 and batch 1."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 4, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(4, 1))
    topology = Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=2, pageblock_order=1,
                        page_group_by_mobility_disabled=False, name="pcp-iso-4")
    return Scenario("pcp-stale-isolate", topology, allocs=(Alloc(G.GFP_HIGHUSER_MOVABLE, 0),),
                    isolations=((0, 2), (2, 4)), depth=3,
                    description="two 2-page pageblocks (each a MAX_ORDER block), a page parked on the per-cpu list")
