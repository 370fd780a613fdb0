"""Zonelists: node order, zone order, NOFALLBACK, policy_zone, iterators.

Node orders are worked by hand from find_next_best_node/build_zonelists with 4.19's
node_load[] assignment; the derivations are in the comments.
"""

from conftest import fill, machine, topology, zone

import buddycheck.model.gfp as g
from buddycheck.model import Kernel419, preset
from buddycheck.model.constants import (
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_MOVABLE,
    ZONE_NORMAL,
    ZONELIST_FALLBACK,
    ZONELIST_NOFALLBACK,
)

NOWAIT = g.GFP_NOWAIT | g.__GFP_NOWARN


def one_zone_per_node(distances, cpus=None, memoryless=()):
    """A machine with len(distances) nodes, each one 8-page Normal zone (none if memoryless) and a CPU."""
    node_zones = []
    for nid in range(len(distances)):
        node_zones.append(() if nid in memoryless else (zone(ZONE_NORMAL, nid * 8, 8),))
    return Kernel419(topology(*node_zones, cpus=cpus, distances=distances))


def node_order(m, nid, which=ZONELIST_FALLBACK):
    return [ref.zone.nid for ref in m.pgdat(nid).node_zonelists[which] if ref.zone is not None]


def zone_order(m, nid, which=ZONELIST_FALLBACK):
    return [(ref.zone.nid, ref.zone_idx) for ref in m.pgdat(nid).node_zonelists[which] if ref.zone is not None]


def uniform(n, remote=20):
    return tuple(tuple(10 if i == j else remote for j in range(n)) for i in range(n))


# ---- node order: the worked examples of §3.4 --------------------------------------------------

def test_four_nodes_all_at_distance_20():
    # Every node has CPUs, so each candidate scores (20 + [n < local] + 1) * 4 * 64 + node_load[n].
    # Node 0 takes 1 (lowest id on a tie) and sets node_load[1] = 3; node 1 then prefers 2 over 3
    # (equal scores) and 3 over 0 (0 pays the n < local penalty), and so on round the ring.
    m = one_zone_per_node(uniform(4))
    assert [node_order(m, n) for n in range(4)] == [[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2]]
    # each node became the first of a new distance group exactly once, with load 4 - 1 = 3
    assert m.node_load == {0: 3, 1: 3, 2: 3, 3: 3}


def test_two_pairs_21_within_31_across():
    # d(0,1) = d(2,3) = 21, everything else 31. Node 3 picks its pair partner 2, then 0 beats 1
    # because node_load[0] = 2 (set by node 2's build) is below node_load[1] = 3.
    d = ((10, 21, 31, 31), (21, 10, 31, 31), (31, 31, 10, 21), (31, 31, 21, 10))
    m = one_zone_per_node(d)
    assert [node_order(m, n) for n in range(4)] == [[0, 1, 2, 3], [1, 0, 3, 2], [2, 3, 0, 1], [3, 2, 0, 1]]


def test_fallback_order_decides_where_a_full_node_spills():
    # Two pairs: node 3 falls back to 2, then 0.
    d = ((10, 21, 31, 31), (21, 10, 31, 31), (31, 31, 10, 21), (31, 31, 21, 10))
    m = one_zone_per_node(d)
    for nid in (3, 2):
        fill(m, NOWAIT | g.__GFP_THISNODE, nid=nid)
    r = m.alloc(NOWAIT, cpu=3)
    assert (r.ok, r.nid) == (True, 0)


def test_cpuless_node_is_preferred_at_equal_distance():
    # Node 2 has memory but no CPU: from node 0 it scores 20 + 0 + 0 against node 1's 20 + 0 + 1.
    m = one_zone_per_node(uniform(3), cpus=[(0,), (1,), ()])
    assert [node_order(m, n) for n in range(3)] == [[0, 2, 1], [1, 2, 0], [2, 0, 1]]


def test_memoryless_node_is_skipped_but_its_cpus_allocate_from_the_nearest():
    # Node 1 has a CPU and no memory. It is never a candidate for others (no N_MEMORY), but it is
    # its own first node (with no zonerefs); from node 1, node 2 scores 21 against node 0's 22.
    m = one_zone_per_node(uniform(3), memoryless=(1,))
    assert node_order(m, 0) == [0, 2]
    assert node_order(m, 1) == [2, 0]
    assert node_order(m, 2) == [2, 0]
    assert node_order(m, 1, ZONELIST_NOFALLBACK) == []
    r = m.alloc(NOWAIT, cpu=1)
    assert (r.ok, r.nid) == (True, 2)


# ---- zones within a node, NOFALLBACK, unmanaged zones --------------------------------------------

def four_zone_node():
    return machine((zone(ZONE_DMA, 0, 16), zone(ZONE_DMA32, 16, 16), zone(ZONE_NORMAL, 32, 16),
                    zone(ZONE_MOVABLE, 48, 16)))


def test_zones_highest_first_within_a_node():
    m = four_zone_node()
    assert zone_order(m, 0) == [(0, ZONE_MOVABLE), (0, ZONE_NORMAL), (0, ZONE_DMA32), (0, ZONE_DMA)]
    last = m.pgdat(0).node_zonelists[ZONELIST_FALLBACK][-1]
    assert (last.zone, last.zone_idx) == (None, 0)  # the terminator


def test_each_request_lands_in_the_highest_zone_it_may_use():
    m = four_zone_node()
    assert m.alloc(g.GFP_HIGHUSER_MOVABLE).zone_idx == ZONE_MOVABLE
    assert m.alloc(g.GFP_KERNEL).zone_idx == ZONE_NORMAL
    assert m.alloc(g.GFP_KERNEL | g.__GFP_DMA32).zone_idx == ZONE_DMA32
    assert m.alloc(g.GFP_KERNEL | g.__GFP_DMA).zone_idx == ZONE_DMA


def test_numa2_fallback_and_nofallback_lists():
    m = Kernel419(preset("numa2"))
    assert zone_order(m, 0) == [(0, ZONE_NORMAL), (0, ZONE_DMA32), (1, ZONE_NORMAL), (1, ZONE_DMA32)]
    assert zone_order(m, 1) == [(1, ZONE_NORMAL), (1, ZONE_DMA32), (0, ZONE_NORMAL), (0, ZONE_DMA32)]
    assert zone_order(m, 0, ZONELIST_NOFALLBACK) == [(0, ZONE_NORMAL), (0, ZONE_DMA32)]
    assert zone_order(m, 1, ZONELIST_NOFALLBACK) == [(1, ZONE_NORMAL), (1, ZONE_DMA32)]
    nofallback = m.pgdat(0).node_zonelists[ZONELIST_NOFALLBACK]
    assert nofallback[-1].zone is None and len(nofallback) == 3


def test_unmanaged_zone_is_left_out_of_every_zonelist():
    # Node 0's DMA32 zone has present pages but none managed by buddy.
    m = machine((zone(ZONE_DMA32, 0, 16, managed=0), zone(ZONE_NORMAL, 16, 16)), (zone(ZONE_NORMAL, 32, 16),))
    assert zone_order(m, 0) == [(0, ZONE_NORMAL), (1, ZONE_NORMAL)]
    assert zone_order(m, 1) == [(1, ZONE_NORMAL), (0, ZONE_NORMAL)]
    assert zone_order(m, 0, ZONELIST_NOFALLBACK) == [(0, ZONE_NORMAL)]


# ---- policy_zone (check_highest_zone) ------------------------------------------------------------

def test_policy_zone_is_the_highest_managed_zone_below_movable():
    assert Kernel419(preset("numa2")).policy_zone == ZONE_NORMAL
    assert Kernel419(preset("x86-64-1g")).policy_zone == ZONE_DMA32  # no Normal zone at all
    assert machine((zone(ZONE_DMA32, 0, 16),), (zone(ZONE_NORMAL, 16, 16),)).policy_zone == ZONE_NORMAL  # any node


def test_policy_zone_is_never_movable_nor_an_unmanaged_zone():
    assert four_zone_node().policy_zone == ZONE_NORMAL
    assert machine((zone(ZONE_DMA32, 0, 16), zone(ZONE_MOVABLE, 16, 16))).policy_zone == ZONE_DMA32
    assert machine((zone(ZONE_DMA32, 0, 16), zone(ZONE_NORMAL, 16, 16, managed=0))).policy_zone == ZONE_DMA32


# ---- iterators: first_zones_zonelist and the zonelist walk ---------------------------------------

def test_first_zones_zonelist_with_high_zoneidx_and_nodemask():
    m = Kernel419(preset("numa2"))
    zl = m.pgdat(0).node_zonelists[ZONELIST_FALLBACK]  # [N0 Normal, N0 DMA32, N1 Normal, N1 DMA32, end]
    assert m.first_zones_zonelist(zl, ZONE_NORMAL, None) == 0
    assert m.first_zones_zonelist(zl, ZONE_MOVABLE, None) == 0
    assert m.first_zones_zonelist(zl, ZONE_DMA32, None) == 1
    assert m.first_zones_zonelist(zl, ZONE_NORMAL, frozenset({1})) == 2
    assert m.first_zones_zonelist(zl, ZONE_DMA32, frozenset({1})) == 3
    # nothing eligible: the cursor stops on the terminator (zone None, zone_idx 0)
    assert m.first_zones_zonelist(zl, ZONE_DMA, None) == 4
    assert m.first_zones_zonelist(zl, ZONE_NORMAL, frozenset()) == 4
    assert m.first_zones_zonelist(zl, ZONE_NORMAL, frozenset({5})) == 4


def test_zonelist_walk_filters_by_zone_index_and_nodemask():
    m = Kernel419(preset("numa2"))
    zl = m.pgdat(1).node_zonelists[ZONELIST_FALLBACK]

    def walk(hi, nodes, start=0):
        return [(z.nid, z.idx) for z in m.zonelist_zones(zl, hi, nodes, start)]

    assert walk(ZONE_NORMAL, None) == [(1, 2), (1, 1), (0, 2), (0, 1)]
    assert walk(ZONE_DMA32, None) == [(1, 1), (0, 1)]
    assert walk(ZONE_NORMAL, frozenset({0})) == [(0, 2), (0, 1)]
    assert walk(ZONE_DMA32, frozenset({0})) == [(0, 1)]
    assert walk(ZONE_DMA, None) == []
    # starting from a cursor (for_next_zone_zonelist_nodemask) skips the entries before it
    assert walk(ZONE_NORMAL, None, start=2) == [(0, 2), (0, 1)]
    assert [c for c, _ in m.zonelist_cursor(zl, ZONE_DMA32, None)] == [1, 3]


def test_preferred_zoneref_is_first_eligible_entry_for_a_nodemask():
    m = Kernel419(preset("numa2"))
    r = m.alloc(g.GFP_KERNEL, cpu=0, nodemask={1})
    assert (r.nid, r.zone_idx) == (1, ZONE_NORMAL)
    assert m.last_ac.preferred_zoneref == 2
    assert m.ac_classzone_idx(m.last_ac) == ZONE_NORMAL


# ---- __GFP_THISNODE -------------------------------------------------------------------------------

def test_thisnode_uses_nofallback_and_never_leaves_the_node():
    m = Kernel419(preset("numa2"))
    node1_free = [z.nr_free_pages for z in m.zones() if z.nid == 1]
    pages = fill(m, g.GFP_KERNEL | g.__GFP_THISNODE | g.__GFP_NOWARN, nid=0)
    assert pages and {r.nid for r in pages} == {0}
    assert m.last_ac.zonelist is m.pgdat(0).node_zonelists[ZONELIST_NOFALLBACK]
    assert [z.nr_free_pages for z in m.zones() if z.nid == 1] == node1_free
    # without __GFP_THISNODE the same request spills to node 1
    r = m.alloc(g.GFP_KERNEL, nid=0)
    assert (r.ok, r.nid) == (True, 1)
    assert m.last_ac.zonelist is m.pgdat(0).node_zonelists[ZONELIST_FALLBACK]
