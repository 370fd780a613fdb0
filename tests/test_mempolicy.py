"""Policies as values, policy lookup, and the allocation entry points of mm/mempolicy.c (4.19).

Machines: `numa(n)` has n nodes with one 16-page Normal zone and one CPU
each (node i holds pfns 16i..16i+15, CPU i is on node i); `numa2` is the
preset with DMA32+Normal per node (policy_zone NORMAL). With the default
distances (10 local, 20 remote), find_next_best_node penalises lower node
ids, so node 2's zonelist tries node 3 right after node 2.
"""

import dataclasses

import pytest

from buddycheck.model import InvalidOperation, Kernel419, NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model.constants import ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL
from buddycheck.model.errors import InvalidGfpZone
from buddycheck.model.gfp import __GFP_DMA as GFP_DMA_BIT
from buddycheck.model.gfp import __GFP_DMA32 as GFP_DMA32_BIT
from buddycheck.model.gfp import __GFP_NORETRY as GFP_NORETRY_BIT
from buddycheck.model.gfp import __GFP_THISNODE as GFP_THISNODE_BIT
from buddycheck.model.gfp import GFP_DMA32, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_NOWAIT, GFP_TRANSHUGE
from buddycheck.model.mempolicy import (
    MPOL_BIND,
    MPOL_F_LOCAL,
    MPOL_F_MOF,
    MPOL_F_MORON,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_LOCAL,
    MPOL_PREFERRED,
    N_HIGH_MEMORY,
    N_MEMORY,
    Mempolicy,
    default_policy,
)

F = frozenset


def numa(n, pages=16, max_numnodes=64):
    nodes = tuple(
        NodeSpec(i, (i,), (ZoneSpec(ZONE_NORMAL, i * pages, pages, watermarks=(1, 2, 3), pcp_high_batch=(0, 1)),))
        for i in range(n))
    return Topology(nodes=nodes, max_order=3, pageblock_order=1, min_free_kbytes=0, max_numnodes=max_numnodes,
                    name=f"numa{n}")


def fill(m, nid):
    """Allocate order-0 pages on nid only (GFP_NOWAIT|__GFP_THISNODE) until the min watermark stops it."""
    while m.alloc(GFP_NOWAIT | GFP_THISNODE_BIT, 0, nid=nid).ok:
        pass


def nodes_of(m, n, cpu=0, gfp=GFP_KERNEL, task=0):
    return [m.alloc_pages(gfp, 0, cpu=cpu, task=task).nid for _ in range(n)]


# ---- policies as values ------------------------------------------------------------------------------------
def test_policy_is_an_immutable_hashable_value():
    a = Mempolicy(MPOL_BIND, nodes=F({1, 2}), cpuset_mems_allowed=F({0, 1, 2, 3}))
    b = Mempolicy(MPOL_BIND, nodes=F({2, 1}), cpuset_mems_allowed=F({0, 1, 2, 3}))
    assert a == b and hash(a) == hash(b)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.mode = MPOL_INTERLEAVE
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_BIND, {1, 2})
    assert m.tasks[0].freeze().mempolicy == a  # the task freezes its policy as itself


def test_policy_prints_like_mpol_to_str():
    assert str(Mempolicy(MPOL_INTERLEAVE, MPOL_F_STATIC_NODES, nodes=F({1, 2, 3}))) == "interleave=static:1-3"
    assert str(default_policy) == "local"
    assert str(Mempolicy(MPOL_PREFERRED, preferred_node=2)) == "prefer:2"


def test_built_in_policies():
    m = Kernel419(numa(4))
    assert (default_policy.mode, default_policy.flags) == (MPOL_PREFERRED, MPOL_F_LOCAL)
    pol = m.preferred_node_policy(2)
    assert (pol.mode, pol.flags, pol.preferred_node) == (MPOL_PREFERRED, MPOL_F_MOF | MPOL_F_MORON, 2)


def test_get_task_policy_without_policy_is_the_cpu_nodes_preferred_node_policy():
    m = Kernel419(numa(4))
    m._begin(2, 0)
    assert m.get_task_policy(m.tasks[0]) == m.preferred_node_policy(2)
    m.set_mempolicy(MPOL_BIND, {1})
    m._begin(2, 0)
    assert m.get_task_policy(m.tasks[0]) == Mempolicy(MPOL_BIND, nodes=F({1}), cpuset_mems_allowed=F({0, 1, 2, 3}))


def test_get_vma_policy_prefers_the_vma_policy_over_the_task_policy():
    m = Kernel419(numa(4))
    m.mmap(0x10000, 0x4000)
    m.mbind(0x10000, 0x1000, MPOL_BIND, {3})
    m.set_mempolicy(MPOL_PREFERRED, {1})
    m._begin(0, 0)
    with_pol, without = m.tasks[0].vmas
    assert m.get_vma_policy(with_pol, 0x10000).nodes == F({3})
    assert m.get_vma_policy(without, 0x11000) == m.tasks[0].mempolicy
    assert m.get_vma_policy(None, 0) == m.tasks[0].mempolicy


def test_node_states():
    m = Kernel419(numa(3))
    assert m.node_states(N_MEMORY) == F({0, 1, 2})
    assert m.node_states(N_HIGH_MEMORY) == F({0, 1, 2})


# ---- process interleave ------------------------------------------------------------------------------------
def test_interleave_over_a_mask_with_gaps():
    m = Kernel419(numa(8))
    assert m.set_mempolicy(MPOL_INTERLEAVE, {1, 3, 6}).ret == 0
    assert nodes_of(m, 7) == [1, 3, 6, 1, 3, 6, 1]
    assert m.tasks[0].il_prev == 1
    # NUMA_INTERLEAVE_HIT: once per allocation that landed on the node interleave chose
    assert [m.stats.node(n, "numa_interleave_hit") for n in (1, 3, 6)] == [3, 2, 2]


@pytest.mark.parametrize("max_numnodes", [64, 1024])
def test_set_mempolicy_interleave_sets_il_prev_to_max_numnodes_minus_one(max_numnodes):
    m = Kernel419(numa(4, max_numnodes=max_numnodes))
    m.tasks[0].il_prev = 2
    m.set_mempolicy(MPOL_INTERLEAVE, {2, 3})
    assert m.tasks[0].il_prev == max_numnodes - 1
    # next_node_in(MAX_NUMNODES-1, {2,3}) wraps to the lowest node
    assert nodes_of(m, 3) == [2, 3, 2]


def test_set_mempolicy_other_modes_leave_il_prev_alone():
    m = Kernel419(numa(4))
    m.tasks[0].il_prev = 2
    m.set_mempolicy(MPOL_BIND, {1})
    assert m.tasks[0].il_prev == 2


def test_interleave_cursor_advances_even_when_the_page_falls_back():
    m = Kernel419(numa(4))
    fill(m, 2)
    m.set_mempolicy(MPOL_INTERLEAVE, {1, 2})
    # node 2 is full: its turns fall back along node 2's zonelist to node 3 (no nodemask with interleave)
    assert nodes_of(m, 4) == [1, 3, 1, 3]
    assert m.tasks[0].il_prev == 2
    assert m.stats.node(1, "numa_interleave_hit") == 2
    assert m.stats.node(3, "numa_interleave_hit") == 0  # not the node interleave asked for


def test_interrupt_context_uses_the_default_policy():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_INTERLEAVE, {2, 3})
    r = m.alloc_pages(GFP_KERNEL, 0, cpu=1, in_interrupt=True)
    assert r.nid == 1  # local node, no interleave
    assert m.tasks[0].il_prev == 63  # cursor untouched


def test_thisnode_in_alloc_pages_uses_the_default_policy():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_BIND, {3})
    r = m.alloc_pages(GFP_KERNEL | GFP_THISNODE_BIT, 0, cpu=0)
    assert r.nid == 0
    assert r.events == ()  # BIND is not consulted, so policy_node does not warn


# ---- BIND --------------------------------------------------------------------------------------------------
def test_bind_walks_the_local_zonelist_not_node_id_order():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_BIND, {0, 3})
    # policy_node() returns the local node 2; node 2's zonelist is 2, 3, 0, 1: node 3 comes before node 0
    assert nodes_of(m, 2, cpu=2) == [3, 3]


def test_bind_never_falls_back_outside_its_mask():
    m = Kernel419(numa(4))
    fill(m, 2)
    m.set_mempolicy(MPOL_BIND, {2})
    r = m.alloc_pages(GFP_KERNEL | GFP_NORETRY_BIT, 0, cpu=2)
    assert r.page is None


def test_bind_is_ignored_below_policy_zone():
    m = Kernel419(preset("numa2"))
    assert m.policy_zone == ZONE_NORMAL
    m.set_mempolicy(MPOL_BIND, {1})
    r = m.alloc_pages(GFP_KERNEL, 0, cpu=0)
    assert (r.nid, r.zone_idx) == (1, ZONE_NORMAL)
    # gfp_zone(GFP_DMA32) = DMA32 < policy_zone: no nodemask, so the local node's DMA32 zone serves it
    r = m.alloc_pages(GFP_DMA32, 0, cpu=0)
    assert (r.nid, r.zone_idx) == (0, ZONE_DMA32)


def test_bind_is_ignored_when_its_nodes_miss_the_cpuset():
    m = Kernel419(numa(4))
    t = m.tasks[0]
    t.mems_allowed = F({0})
    m.cpusets_on = True
    t.mempolicy = Mempolicy(MPOL_BIND, nodes=F({1}), cpuset_mems_allowed=F({0, 1}))
    m._begin(0, 0)
    assert m.policy_nodemask(GFP_KERNEL, t.mempolicy) is None
    assert m.alloc_pages(GFP_KERNEL, 0, cpu=0).nid == 0
    t.mems_allowed = F({0, 1})
    m._begin(0, 0)
    assert m.policy_nodemask(GFP_KERNEL, t.mempolicy) == F({1})


def test_bind_on_movable_only_nodes_applies_only_to_movable_requests():
    zone = dict(watermarks=(1, 2, 3), pcp_high_batch=(0, 1))
    t = Topology(nodes=(NodeSpec(0, (0,), (ZoneSpec(ZONE_NORMAL, 0, 16, **zone),)),
                        NodeSpec(1, (1,), (ZoneSpec(ZONE_MOVABLE, 16, 16, **zone),))),
                 max_order=3, pageblock_order=1, min_free_kbytes=0)
    m = Kernel419(t)
    assert m.policy_zone == ZONE_NORMAL  # check_highest_zone skips ZONE_MOVABLE
    assert m.node_states(N_HIGH_MEMORY) == F({0})
    m.set_mempolicy(MPOL_BIND, {1})
    m._begin(0, 0)
    pol = m.tasks[0].mempolicy
    assert m.policy_nodemask(GFP_KERNEL, pol) is None
    assert m.policy_nodemask(GFP_HIGHUSER_MOVABLE, pol) == F({1})
    r = m.alloc_pages(GFP_HIGHUSER_MOVABLE, 0, cpu=0)
    assert (r.nid, r.zone_idx) == (1, ZONE_MOVABLE)
    assert m.alloc_pages(GFP_KERNEL, 0, cpu=0).nid == 0


# ---- PREFERRED and LOCAL -----------------------------------------------------------------------------------
def test_preferred_goes_to_the_lowest_node_of_the_mask():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_PREFERRED, {3, 1})
    assert m.tasks[0].mempolicy.preferred_node == 1
    assert nodes_of(m, 2, cpu=0) == [1, 1]


def test_preferred_falls_back_along_the_preferred_nodes_zonelist():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_PREFERRED, {2})
    assert nodes_of(m, 1, cpu=0) == [2]
    fill(m, 2)
    # node 2 is below its watermark: the next zone of node 2's zonelist is node 3 (not the CPU's node 0)
    assert nodes_of(m, 1, cpu=0) == [3]


@pytest.mark.parametrize("mode, nodes", [(MPOL_LOCAL, None), (MPOL_PREFERRED, ()), (MPOL_PREFERRED, None)])
def test_local_allocation_follows_the_cpu(mode, nodes):
    m = Kernel419(numa(4))
    assert m.set_mempolicy(mode, nodes).ret == 0
    pol = m.tasks[0].mempolicy
    assert (pol.mode, pol.flags) == (MPOL_PREFERRED, MPOL_F_LOCAL)
    assert nodes_of(m, 1, cpu=1) == [1]
    assert nodes_of(m, 1, cpu=3) == [3]


# ---- alloc_pages_vma ---------------------------------------------------------------------------------------
def vma_machine(n=8, mode=MPOL_INTERLEAVE, nodes=(1, 3, 6)):
    m = Kernel419(numa(n))
    m.mmap(0x10000, 0x10000)  # vm_pgoff 0x10
    assert m.mbind(0x10000, 0x10000, mode, set(nodes)).ret == 0
    return m


def test_vma_interleave_is_by_page_offset():
    m = vma_machine()
    # offset = vm_pgoff + (addr - start) >> 12 = 16, 17, 18, 19; node = offset mod 3 -th node of {1,3,6}
    got = [m.alloc_vma(GFP_KERNEL, 0, addr).nid for addr in (0x10000, 0x11000, 0x12000, 0x13000, 0x10000)]
    assert got == [3, 6, 1, 3, 3]
    assert m.tasks[0].il_prev == 0  # static interleave does not touch the task's cursor
    assert m.stats.node(3, "numa_interleave_hit") == 3


def test_vma_interleave_of_a_higher_order_shifts_by_page_shift_plus_order():
    m = vma_machine()
    # order 1: offset = (0x10 >> 1) + ((addr - start) >> 13): 8 -> node 6, 9 -> node 1
    assert m.alloc_vma(GFP_KERNEL, 1, 0x10000).nid == 6
    assert m.alloc_vma(GFP_KERNEL, 1, 0x12000).nid == 1


def test_task_interleave_applied_to_a_vma_uses_the_offset_not_the_cursor():
    m = Kernel419(numa(8))
    m.mmap(0x10000, 0x4000)
    m.set_mempolicy(MPOL_INTERLEAVE, {1, 3, 6})
    assert m.alloc_vma(GFP_KERNEL, 0, 0x10000).nid == 3  # offset 16 -> 16 mod 3 = 1 -> node 3
    assert m.tasks[0].il_prev == 63


def test_offset_il_node_cuts_the_offset_to_32_bits():
    m = Kernel419(numa(8))
    pol = Mempolicy(MPOL_INTERLEAVE, nodes=F({1, 3, 6}))
    # (unsigned int)(2**32 + 1) = 1 -> node 3; without the cut, (2**32 + 1) mod 3 = 2 would give node 6
    assert m.offset_il_node(pol, 2**32 + 1) == 3


def test_thp_with_preferred_remote_node_stays_on_that_node():
    m = Kernel419(numa(4))
    m.mmap(0x200000, 0x200000)
    m.set_mempolicy(MPOL_PREFERRED, {1})
    r = m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=0, hugepage=True)
    assert r.nid == 1
    fill(m, 1)
    # __GFP_THISNODE on node 1: no fallback to nodes 0, 2 or 3, which have free blocks
    assert m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=0, hugepage=True).page is None


def test_thp_with_bind_containing_the_local_node_is_local_only():
    m = Kernel419(numa(4))
    m.mmap(0x200000, 0x200000)
    m.set_mempolicy(MPOL_BIND, {0, 1})
    assert m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=0, hugepage=True).nid == 0
    fill(m, 0)
    assert m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=0, hugepage=True).page is None
    # the same request without hugepage uses the BIND mask and finds node 1
    assert m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=0).nid == 1


def test_thp_with_bind_excluding_the_local_node_takes_the_normal_path():
    m = Kernel419(numa(4))
    m.mmap(0x200000, 0x200000)
    m.set_mempolicy(MPOL_BIND, {2})
    assert m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=0, hugepage=True).nid == 2


def test_thp_without_policy_is_local_only():
    m = Kernel419(numa(4))
    m.mmap(0x200000, 0x200000)
    assert m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=2, hugepage=True).nid == 2
    fill(m, 2)
    assert m.alloc_vma(GFP_TRANSHUGE, 1, 0x200000, cpu=2, hugepage=True).page is None


def test_bind_with_thisnode_warns_in_alloc_pages_vma():
    m = vma_machine(n=4, mode=MPOL_BIND, nodes=(0, 1))
    r = m.alloc_vma(GFP_KERNEL | GFP_THISNODE_BIT, 0, 0x10000, cpu=0)
    assert r.nid == 0
    assert [(e.kind, dict(e.detail)["message"]) for e in r.events] == [
        ("warning", "policy_node: MPOL_BIND with __GFP_THISNODE")]


# ---- misuse and state --------------------------------------------------------------------------------------
def test_a_model_error_during_allocation_restores_the_state():
    m = Kernel419(numa(4))
    m.set_mempolicy(MPOL_INTERLEAVE, {1, 2})
    before = m.freeze()
    with pytest.raises(InvalidGfpZone):
        m.alloc_pages(GFP_DMA_BIT | GFP_DMA32_BIT, 0)  # GFP_ZONE_BAD, after interleave_nodes moved il_prev
    assert m.freeze() == before


def test_alloc_vma_outside_every_vma_is_misuse():
    m = Kernel419(numa(4))
    m.mmap(0x10000, 0x1000)
    before = m.freeze()
    with pytest.raises(InvalidOperation, match="in no VMA"):
        m.alloc_vma(GFP_KERNEL, 0, 0x11000)
    with pytest.raises(InvalidOperation, match="task 7 does not exist"):
        m.alloc_pages(GFP_KERNEL, 0, task=7)
    assert m.freeze() == before


def test_copy_keeps_tasks_policies_and_vmas():
    m = vma_machine(n=4, mode=MPOL_BIND, nodes=(1,))
    m.add_task(1, {0, 1})
    m.set_mempolicy(MPOL_INTERLEAVE, {0, 1}, task=1)
    other = m.copy()
    assert other.freeze() == m.freeze()
    assert other.tasks[1].mempolicy == m.tasks[1].mempolicy
    assert other.tasks[0].vmas == m.tasks[0].vmas
