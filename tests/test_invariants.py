"""Planted bugs: each state invariant catches its broken state with a message naming the values; the
deliberate 4.19 exceptions are not flagged; buggy model variants are caught; the step invariants judge
allocations (and catch variants that ignore watermarks, nodemasks, zone limits or the zonelist order)."""

import random

import pytest
from test_invariant_agreement import GFPS, random_step  # a sibling test module (tests/ is on sys.path)

from buddycheck.model import Kernel419, ModelError, NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE
from buddycheck.spec.invariants import BY_NAME, STATE_INVARIANTS, check_state
from buddycheck.spec.steps import (
    INTERLEAVE_FAIRNESS,
    STEP_INVARIANTS,
    Request,
    check_interleave,
    check_step,
    request_of,
)
from buddycheck.spec.view import view_of


def boot_view():
    """numa2 at boot: node 0 DMA32 0..15 holds free (0,3) (8,3); Normal 16..47 holds (16,3) (24,3) (32,3) (40,3);
    node 1 likewise from pfn 48 (MAX_ORDER 4, pageblock_order 2, all on MOVABLE lists)."""
    return view_of(Kernel419(preset("numa2")))


def messages(view, name):
    return [str(v) for v in BY_NAME[name].check(view)]


def only_failing(view):
    return sorted({v.invariant for v in check_state(view)})


def test_boot_state_satisfies_every_invariant_in_both_forms():
    v = boot_view()
    assert v.zones[0].free == ((0, 3, MIGRATE_MOVABLE), (8, 3, MIGRATE_MOVABLE))
    for inv in STATE_INVARIANTS:
        assert inv.holds(v) and inv.z3_holds(v), inv.name


def test_every_invariant_has_its_texts():
    for inv in STATE_INVARIANTS + STEP_INVARIANTS:
        assert inv.name and inv.meaning and inv.kernel, inv


# ---- planted bugs ----------------------------------------------------------------------------------------
def test_no_overlap_catches_a_page_on_two_lists():
    v = boot_view()
    v = v.with_zone(0, free=((0, 3, MIGRATE_MOVABLE), (4, 0, MIGRATE_MOVABLE), (8, 3, MIGRATE_MOVABLE)))
    assert messages(v, "no_overlap") == [
        "no_overlap: free block at pfn 4 of order 0 (Movable list) on node 0 zone DMA32 overlaps "
        "free block at pfn 0 of order 3 (Movable list) on node 0 zone DMA32"]
    assert not BY_NAME["no_overlap"].z3_holds(v)


def test_no_overlap_catches_an_allocated_block_that_is_also_free():
    v = boot_view().with_(allocated=((8, 1, MIGRATE_UNMOVABLE),))
    assert "allocated block at pfn 8 of order 1" in messages(v, "no_overlap")[0]


def test_conservation_catches_a_lost_block():
    v = boot_view()
    v = v.with_zone(0, free=((0, 3, MIGRATE_MOVABLE),))
    assert messages(v, "conservation") == [
        "conservation: node 0 zone DMA32 holds 8 pages in blocks (8 free, 0 per-cpu, 0 allocated) but manages 16"]


def test_buddy_alignment_catches_a_misaligned_block():
    v = boot_view()
    v = v.with_zone(3, free=((64, 2, 1), (68, 1, 1), (70, 2, 1), (74, 1, 1), (76, 2, 1), (80, 3, 1), (88, 3, 1)))
    assert messages(v, "buddy_alignment") == [
        "buddy_alignment: block at pfn 70 of order 2 on node 1 zone Normal is not aligned to 4 pages"]
    assert not BY_NAME["buddy_alignment"].z3_holds(v)


def test_buddy_alignment_catches_an_order_of_max_order():
    v = boot_view().with_zone(0, free=((0, 4, MIGRATE_MOVABLE),))
    assert "has order 4, not below MAX_ORDER 4" in messages(v, "buddy_alignment")[0]


def test_zone_containment_catches_a_block_on_the_wrong_zone_and_outside_every_zone():
    v = boot_view()
    v = v.with_zone(0, free=v.zones[0].free + ((16, 3, MIGRATE_MOVABLE),))
    v = v.with_zone(1, free=v.zones[1].free[1:])
    assert messages(v, "zone_containment") == [
        "zone_containment: free block at pfn 16 of order 3 (Movable list) on node 0 zone DMA32 spans pfn "
        "16..23, outside the zone's managed pages 0..15"]
    v = boot_view().with_(allocated=((96, 0, MIGRATE_UNMOVABLE),))
    assert messages(v, "zone_containment") == [
        "zone_containment: allocated block at pfn 96 of order 0 in no zone: the pfn lies in no zone"]
    assert not BY_NAME["zone_containment"].z3_holds(v)


def test_zone_containment_excludes_unmanaged_pages():
    t = Topology(nodes=(NodeSpec(0, (0,), (ZoneSpec(2, 0, 16, managed=12, watermarks=(0, 0, 0),
                                                    lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1)),)),),
                 max_order=4, pageblock_order=2, page_group_by_mobility_disabled=False, min_free_kbytes=0)
    v = view_of(Kernel419(t))
    assert not check_state(v)  # boot frees only the 12 managed pages: (0,3) (8,2)
    assert v.zones[0].free == ((0, 3, MIGRATE_MOVABLE), (8, 2, MIGRATE_MOVABLE))
    v = v.with_zone(0, free=((0, 3, MIGRATE_MOVABLE), (8, 2, MIGRATE_MOVABLE), (12, 0, MIGRATE_MOVABLE)))
    assert "outside the zone's managed pages 0..11" in messages(v, "zone_containment")[0]


def _split_first(v, zi):
    z = v.zones[zi]
    (pfn, order, mt), rest = z.free[0], z.free[1:]
    nr = list(z.nr_free)
    nr[order] -= 1
    nr[order - 1] += 2
    half = 1 << (order - 1)
    return v.with_zone(zi, free=tuple(sorted(rest + ((pfn, order - 1, mt), (pfn + half, order - 1, mt)))),
                       nr_free=tuple(nr))


def test_maximal_coalescing_catches_unmerged_buddies_and_nothing_else():
    v = _split_first(boot_view(), 0)
    assert only_failing(v) == ["maximal_coalescing"]
    assert messages(v, "maximal_coalescing") == [
        "maximal_coalescing: free blocks at pfn 0 (Movable list) and pfn 4 (Movable list) of order 2 on "
        "node 0 zone DMA32 are buddies and both free"]


def test_maximal_coalescing_excuses_an_isolated_buddy_at_pageblock_order():
    v = _split_first(boot_view(), 0)  # (0,2) and (4,2): order 2 = pageblock_order
    pbs = list(v.pageblocks)
    pbs[1] = MIGRATE_ISOLATE  # pfn 4..7
    z = v.zones[0]
    v = v.with_(pageblocks=tuple(pbs)).with_zone(
        0, free=((0, 2, MIGRATE_MOVABLE), (4, 2, MIGRATE_ISOLATE), (8, 3, MIGRATE_MOVABLE)),
        nr_free_pages=z.nr_free_pages - 4, nr_isolate_pageblock=1)
    assert not check_state(v)
    for inv in STATE_INVARIANTS:
        assert inv.z3_holds(v), inv.name
    # without the zone's isolation count the exception does not apply
    v2 = v.with_zone(0, nr_isolate_pageblock=0)
    assert "maximal_coalescing" in only_failing(v2)


def test_maximal_coalescing_does_not_merge_across_an_unaligned_zone_boundary():
    """DMA32 0..11 and Normal 12..31: (8,2) and (12,2) are buddies in different zones and stay apart."""
    t = Topology(nodes=(NodeSpec(0, (0,), (
        ZoneSpec(1, 0, 12, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1)),
        ZoneSpec(2, 12, 20, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1)))),),
        max_order=4, pageblock_order=2, page_group_by_mobility_disabled=False, min_free_kbytes=0)
    v = view_of(Kernel419(t))
    assert (8, 2, MIGRATE_MOVABLE) in v.zones[0].free and (12, 2, MIGRATE_MOVABLE) in v.zones[1].free
    assert not check_state(v)
    assert BY_NAME["maximal_coalescing"].z3_holds(v)


def test_free_accounting_catches_each_counter():
    v = boot_view()
    cases = {
        "nr_free": (dict(nr_free=(0, 0, 0, 3)), "node 0 zone DMA32: nr_free[3] = 3 but 2 blocks of order 3"),
        "nr_free_pages": (dict(nr_free_pages=15), "NR_FREE_PAGES = 15 but 16 pages are on its non-Isolate"),
        "cma": (dict(nr_free_cma_pages=1), "NR_FREE_CMA_PAGES = 1 but 0 pages are on its CMA free lists"),
        "pcp": (dict(pcp_counts=((0, 1), (1, 0))), "cpu 0 pcp count = 1 but 0 pages are on its per-cpu lists"),
        "iso": (dict(nr_isolate_pageblock=1), "nr_isolate_pageblock = 1 but 0 of its pageblocks are Isolate"),
    }
    for name, (change, text) in cases.items():
        broken = v.with_zone(0, **change)
        got = messages(broken, "free_accounting")
        assert len(got) == 1 and text in got[0], (name, got)
        assert not BY_NAME["free_accounting"].z3_holds(broken), name


def test_migratetype_consistency_catches_leaky_isolation_and_wrong_pcp_lists():
    v = boot_view()
    iso_list = v.with_zone(0, free=((0, 3, MIGRATE_ISOLATE), (8, 3, MIGRATE_MOVABLE)), nr_free_pages=8)
    assert messages(iso_list, "migratetype_consistency") == [
        "migratetype_consistency: free block at pfn 0 of order 3 on node 0 zone DMA32 is on the Isolate list "
        "but its pageblock is Movable"]
    pbs = list(v.pageblocks)
    pbs[3] = MIGRATE_ISOLATE  # pfn 12..15, inside the free (8,3) block
    leaky = v.with_(pageblocks=tuple(pbs)).with_zone(0, nr_isolate_pageblock=1)
    assert messages(leaky, "migratetype_consistency") == [
        "migratetype_consistency: free block at pfn 8 of order 3 on node 0 zone DMA32 covers the Isolate "
        "pageblock at pfn 12 but is on the Movable list"]
    pcp = v.with_zone(1, free=v.zones[1].free[1:] + ((17, 0, 1), (18, 1, 1), (20, 2, 1)),
                      pcp=((0, MIGRATE_UNMOVABLE, 16, MIGRATE_MOVABLE),), pcp_counts=((0, 1), (1, 0)))
    assert messages(pcp, "migratetype_consistency") == [
        "migratetype_consistency: per-cpu page at pfn 16 on node 0 zone Normal sits on cpu 0's Unmovable list "
        "but its cached migratetype is Movable"]
    for broken in (iso_list, leaky, pcp):
        assert not BY_NAME["migratetype_consistency"].z3_holds(broken)


# ---- the 4.19 exceptions on a real machine --------------------------------------------------------------
def test_unaligned_isolation_breaks_free_accounting_in_4_19():
    """The isolation precondition (spec/invariants.py): isolating one pageblock inside a free order-3 block
    leaves the block on the Movable list; 4.19 then hands out the isolated pfn 28 and, when it is freed into
    its Isolate pageblock, merges it with its Movable-listed, counted buddy: NR_FREE_PAGES is 2 too high."""
    m = Kernel419(preset("numa2"))
    assert m.isolate(28, 32).value == 0
    assert only_failing(view_of(m)) == ["migratetype_consistency"]
    while True:
        r = m.alloc(G.GFP_HIGHUSER_MOVABLE, order=1, cpu=0)
        assert r.ok
        if r.page == 28:
            break
    m.free(28)
    assert messages(view_of(m), "free_accounting") == [
        "free_accounting: node 0 zone Normal: NR_FREE_PAGES = 10 but 8 pages are on its non-Isolate free lists"]


def test_aligned_isolation_and_undo_keep_every_invariant():
    m = Kernel419(preset("numa2"))
    pages = [m.alloc(G.GFP_KERNEL, order=0, cpu=c).page for c in (0, 1, 0)]
    m.free(pages[0], cpu=0)  # on cpu 0's per-cpu list
    assert m.isolate(16, 24).value == 0  # a MAX_ORDER-aligned range: two pageblocks
    assert not check_state(view_of(m))
    for p in pages[1:]:
        m.free(p)
    m.undo_isolate(16, 24)
    assert not check_state(view_of(m))


# ---- buggy variants caught on short runs -----------------------------------------------------------------
def _first_violation(variant, seeds=range(30), steps=40, name="numa2"):
    for seed in seeds:
        m = variant(preset(name)) if name == "numa2" else variant(preset(name, pages=16, max_order=4))
        rng = random.Random(seed)
        for step in range(steps):
            random_step(m, rng)
            bad = check_state(view_of(m))
            if bad:
                return seed, step, bad
    return None


def test_a_free_path_that_never_merges_is_caught():
    NoMerge = Kernel419.variant("no-merge")

    @NoMerge.override
    def page_is_buddy(k, page, buddy, order):
        return False

    found = _first_violation(NoMerge, name="buddy-core")
    assert found is not None
    assert {v.invariant for v in found[2]} == {"maximal_coalescing"}


def test_a_pcp_refill_that_forgets_nr_free_pages_is_caught():
    Leaky = Kernel419.variant("refill-no-count")

    @Leaky.override
    def rmqueue_bulk(k, zone, order, count, lst, migratetype):
        got = 0
        for _ in range(count):
            page = k.__rmqueue(zone, order, migratetype)
            if page is None:
                break
            lst.append(page)
            got += 1
        return got  # NR_FREE_PAGES is never decremented

    found = _first_violation(Leaky)
    assert found is not None and "free_accounting" in {v.invariant for v in found[2]}


def test_pcp_drain_with_a_stale_type_into_an_isolated_pageblock_is_caught():
    """Known bug 11 (PCP-STALE-ISOLATE): free_pcppages_bulk trusting the cached type while the zone isolates."""
    Stale = Kernel419.variant("pcp-stale-isolate")

    @Stale.override
    def free_pcppages_bulk(k, zone, count, pcp):
        while count:
            for lst in pcp.lists:
                if lst and count:
                    page = lst.pop()
                    pcp.count -= 1
                    count -= 1
                    k.__free_one_page(page, page, zone, 0, k.get_pcppage_migratetype(page))

    m = Stale(preset("numa2"))
    page = m.alloc(G.GFP_KERNEL, order=0, cpu=0).page
    m.free(page, cpu=0)  # cached MOVABLE on cpu 0's list
    zone_start = page & ~7
    m.isolate(zone_start, zone_start + 8)
    got = {v.invariant for v in check_state(view_of(m))}
    assert {"migratetype_consistency", "free_accounting"} <= got


# ---- step invariants ---------------------------------------------------------------------------------------
def _alloc_steps(variant, seeds, steps=40):
    """Run random allocations (and other operations) on variant; every step violation found."""
    found = []
    for seed in seeds:
        m = variant(preset("numa2"))
        rng = random.Random(seed)
        for _ in range(steps):
            if rng.random() < 0.6:
                gfp, order = rng.choice(GFPS), rng.randrange(m.MAX_ORDER)
                cpu, nid = rng.choice(m.topology.cpus), rng.choice(m.topology.node_ids)
                mask = rng.choice((None, None, frozenset((rng.choice(m.topology.node_ids),))))
                before, req = view_of(m), request_of(m, gfp, order, cpu, nid, mask)
                try:
                    r = m.alloc(gfp, order=order, cpu=cpu, nid=nid, nodemask=mask)
                except ModelError:
                    continue
                found.extend(check_step(before, req, r, view_of(m)))
            else:
                random_step(m, rng)
    return found


def test_the_model_keeps_every_step_invariant_on_random_runs():
    assert _alloc_steps(Kernel419, range(25)) == []


def _variant(name, fn):
    V = Kernel419.variant(name)
    V.override(fn)
    return V


def test_step_invariants_catch_their_variants():
    from buddycheck.model.page_alloc import get_page_from_freelist as real_gpff
    from buddycheck.model.page_alloc import prepare_alloc_pages as real_prepare

    def zone_watermark_fast(k, z, order, mark, classzone_idx, alloc_flags):
        return True

    def get_page_from_freelist(k, gfp_mask, order, alloc_flags, ac):
        ac.zonelist = ac.zonelist[:-1][::-1] + ac.zonelist[-1:]  # walk the zonelist backwards
        ac.preferred_zoneref = k.first_zones_zonelist(ac.zonelist, ac.high_zoneidx, ac.nodemask)
        return real_gpff(k, gfp_mask, order, alloc_flags, ac)

    def __next_zones_zonelist(k, zonelist, z, highest_zoneidx, nodes):
        while zonelist[z].zone_idx > highest_zoneidx:  # the nodemask test is gone
            z += 1
        return z

    def prepare_alloc_pages(k, gfp_mask, order, preferred_nid, nodemask, ac, alloc_mask, alloc_flags):
        result = real_prepare(k, gfp_mask, order, preferred_nid, nodemask, ac, alloc_mask, alloc_flags)
        ac.high_zoneidx = 4  # every zone allowed
        return result

    expected = {
        "watermark_respect": zone_watermark_fast,
        "fallback_order": get_page_from_freelist,
        "nodemask_respect": __next_zones_zonelist,
        "zone_eligibility": prepare_alloc_pages,
    }
    for name, fn in expected.items():
        found = _alloc_steps(_variant(f"bad-{name}", fn), range(8))
        assert name in {v.invariant for v in found}, name


def test_watermark_respect_message_names_the_values():
    v = boot_view()
    after = v.with_zone(0, nr_free_pages=0, free=())
    req = Request(gfp=G.GFP_KERNEL, order=1, nid=0)

    class Result:
        page, nid, zone_idx = 0, 0, 1

    got = [str(x) for x in STEP_INVARIANTS[2].check_step(v, req, Result(), after)]
    # 0 + 2 pages at the check; min watermark 1 + lowmem_reserve[Normal] 4 of node 0 DMA32 (numa2 preset)
    assert got == ["watermark_respect: order-1 page at pfn 0 came from node 0 zone DMA32, which had at most 2 "
                   "free pages at the check (highatomic reserve >= 0, CMA 0) against min 1 + lowmem_reserve [4]"]


def test_interleave_fairness_on_sequences():
    assert check_interleave({1, 4, 7}, [1, 4, 7, 1, 4, 7, 1]) == []
    assert check_interleave({1, 4, 7}, [4, 7, 1, 4]) == []
    bad = [str(v) for v in check_interleave({1, 4, 7}, [1, 4, 4, 7])]
    assert bad[0] == ("interleave_fairness: choices 0..2 are [1, 4, 4]: node(s) [7] of the mask [1, 4, 7] missing")
    assert "choice 9 is not in the mask" in str(check_interleave({1, 4}, [1, 9])[0])
    assert INTERLEAVE_FAIRNESS.z3_side == "interleave_fairness"


def test_interleave_fairness_of_the_model():
    from buddycheck.model.mempolicy import MPOL_INTERLEAVE
    m = Kernel419(preset("numa2"))
    assert m.set_mempolicy(MPOL_INTERLEAVE, {0, 1}).ok
    choices = []
    for _ in range(7):
        r = m.alloc_pages(G.GFP_KERNEL, 0, cpu=0, task=0)
        choices.append(r.nid)
    assert check_interleave({0, 1}, choices) == []
    assert choices[0] == 0  # il_prev = MAX_NUMNODES-1 after set_mempolicy: the first choice is the lowest node


@pytest.mark.parametrize("gfp", [G.GFP_KERNEL | G.__GFP_THISNODE])
def test_nodemask_respect_thisnode(gfp):
    m = Kernel419(preset("numa2"))
    before = view_of(m)
    req = request_of(m, gfp, 0, 0, 1)
    r = m.alloc(gfp, order=0, cpu=0, nid=1)
    assert r.nid == 1 and check_step(before, req, r, view_of(m)) == []


def test_cpuset_hardwall_is_respected_and_only_hardwall_requests_are_bound():
    m = Kernel419(preset("numa2"))
    m.add_task(1, mems_allowed={1})
    nodes = {}
    for gfp in (G.GFP_USER, G.GFP_KERNEL):
        nodes[gfp] = set()
        for _ in range(200):
            before, req = view_of(m), request_of(m, gfp, 0, 0, None, None, task=1)
            r = m.alloc(gfp, order=0, cpu=0, task=1)
            if not r.ok:
                break
            assert check_step(before, req, r, view_of(m)) == []
            nodes[gfp].add(r.nid)
    # GFP_USER carries __GFP_HARDWALL: node 1 only; GFP_KERNEL may leave the cpuset once node 1 runs low
    assert nodes[G.GFP_USER] == {1}
    assert 0 in nodes[G.GFP_KERNEL]
    req = request_of(m, G.GFP_USER, 0, 0, None, None, task=1)
    assert req.cpusets_enabled and req.mems_allowed == frozenset({1})

    class OnNode0:
        page, nid, zone_idx = 16, 0, 2

    got = [str(v) for v in STEP_INVARIANTS[1].check_step(view_of(m), req, OnNode0(), view_of(m))]
    assert got == ["nodemask_respect: hardwall request got pfn 16 from node 0, outside the cpuset's "
                   "mems_allowed [1]"]
