"""NUMA policy mutants: THP placement under a policy (two v4.0-era fixes) and the interleave cursor on rebind.

THP-PREFERRED and THP-NOT-THISNODE re-introduce the two mistakes of 077fcf116c8c "mm/thp: allocate
transparent hugepages on local node" (v4.0) that were fixed soon after (mainline ids unverified):
(a) "mm, thp: respect MPOL_PREFERRED policy with non-local node" (Vlastimil Babka): the THP path
tried the CPU's node even when the policy was MPOL_PREFERRED naming another node; (b) "mm, thp:
really limit transparent hugepage allocation to local node" (David Rientjes): the one-node attempt
lacked __GFP_THISNODE, so it only preferred that node and could land elsewhere. 4.19's
alloc_pages_vma() has both fixes (hpage_node, then __alloc_pages_node(hpage_node, gfp |
__GFP_THISNODE)); each mutant is 4.19's alloc_pages_vma() with one of them taken out. A THP is an
order-1 block here; the invariant is thp_node (spec/operation_invariants.py).

IL-NEXT-REBIND re-introduces the mistake removed by "mm, mempolicy: stop adjusting current->il_next
in mpol_rebind_nodemask()" (Vlastimil Babka, v4.13; mainline id unverified). Before it, rebinding a
BIND or INTERLEAVE policy to a new mask also "fixed up" current->il_next, the current task's next
interleave node, although the policy being rebound could be another task's or a VMA's. The fix
replaced il_next by il_prev, which interleave_nodes() turns into the next node with the mask of the
moment, and dropped the fix-up. In 4.19's terms the mutant's mpol_rebind_nodemask() does the old
fix-up on the cursor 4.19 has: if current->il_prev is not in the new mask it becomes
next_node_in(il_prev, new mask) (numa_node_id() when that is empty). In the model the task whose
cpuset is written is `current` for the write, so the fix-up hits that task's cursor whichever of its
policies is being rebound (its own or a VMA's); 4.19 leaves every cursor alone (interleave_cursor).
"""

from dataclasses import replace

from buddycheck.checks.ops import Alloc, AllocPages, AllocVma, Mmap, SetCpuset, SetMempolicy
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model import gfp as G
from buddycheck.model.constants import PAGE_SHIFT, ZONE_NORMAL
from buddycheck.model.gfp import __GFP_THISNODE as GFP_THISNODE
from buddycheck.model.mempolicy import (
    MPOL_F_LOCAL,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_PREFERRED,
)
from buddycheck.model.nodemask import mpol_relative_nodemask, next_node_in, nodes_remap

THP_ADDR = 0x200000

# ---- THP-PREFERRED ---------------------------------------------------------------------------------------

ThpPreferred = Kernel419.variant(
    "thp-preferred", "alloc_pages_vma()'s THP attempt ignores a non-local MPOL_PREFERRED node (before v4.2)")


@ThpPreferred.override
def alloc_pages_vma(k, gfp, order, vma, addr, node, hugepage):
    """alloc_pages_vma() with the THP attempt on the CPU's node whatever the policy prefers."""
    pol = k.get_vma_policy(vma, addr)
    if pol.mode == MPOL_INTERLEAVE:
        nid = k.interleave_nid(pol, vma, addr, PAGE_SHIFT + order)
        return k.alloc_page_interleave(gfp, order, nid)
    if hugepage:
        hpage_node = node  # the mistake: MPOL_PREFERRED's node is not looked at
        nmask = k.policy_nodemask(gfp, pol)
        if nmask is None or hpage_node in nmask:
            return k.__alloc_pages_nodemask(gfp | GFP_THISNODE, order, hpage_node, None)
    nmask = k.policy_nodemask(gfp, pol)
    preferred_nid = k.policy_node(gfp, pol, node)
    return k.__alloc_pages_nodemask(gfp, order, preferred_nid, nmask)


# ---- THP-NOT-THISNODE ------------------------------------------------------------------------------------

ThpNotThisnode = Kernel419.variant(
    "thp-not-thisnode", "alloc_pages_vma()'s one-node THP attempt lacks __GFP_THISNODE (before v4.1)")


@ThpNotThisnode.override
def alloc_pages_vma(k, gfp, order, vma, addr, node, hugepage):  # noqa: F811  (each variant has its own)
    """alloc_pages_vma() whose THP attempt only prefers hpage_node (no __GFP_THISNODE)."""
    pol = k.get_vma_policy(vma, addr)
    if pol.mode == MPOL_INTERLEAVE:
        nid = k.interleave_nid(pol, vma, addr, PAGE_SHIFT + order)
        return k.alloc_page_interleave(gfp, order, nid)
    if hugepage:
        hpage_node = node
        if pol.mode == MPOL_PREFERRED and not (pol.flags & MPOL_F_LOCAL):
            hpage_node = pol.preferred_node
        nmask = k.policy_nodemask(gfp, pol)
        if nmask is None or hpage_node in nmask:
            return k.__alloc_pages_nodemask(gfp, order, hpage_node, None)  # the mistake: no __GFP_THISNODE
    nmask = k.policy_nodemask(gfp, pol)
    preferred_nid = k.policy_node(gfp, pol, node)
    return k.__alloc_pages_nodemask(gfp, order, preferred_nid, nmask)


def two_small_nodes():
    """Two nodes of one 2-page Normal zone each (one THP-sized order-1 block), CPU i on node i; no limits."""
    zone = dict(watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    return Topology(nodes=(NodeSpec(0, (0,), (ZoneSpec(ZONE_NORMAL, 0, 2, **zone),)),
                           NodeSpec(1, (1,), (ZoneSpec(ZONE_NORMAL, 2, 2, **zone),))),
                    max_order=2, pageblock_order=1, page_group_by_mobility_disabled=False, name="thp-2x2")


def thp_scenario(name, depth):
    """Known-bugs entry 23: task 0 on CPU 0 (node 0) with a mapping; it may prefer node 1, take node 0's
    block with an ordinary order-1 allocation, and fault a THP (order 1, GFP_TRANSHUGE_LIGHT) in."""
    return Scenario(name, two_small_nodes(), setup=(Mmap(THP_ADDR, THP_ADDR),),
                    allocs=(Alloc(G.GFP_KERNEL, 1, cpu=0),),
                    extra_ops=(SetMempolicy(MPOL_PREFERRED, frozenset({1})),
                               AllocVma(G.GFP_TRANSHUGE_LIGHT, 1, THP_ADDR, cpu=0)),
                    depth=depth, description="two nodes with one THP-sized block each; a THP fault on node 0's CPU")


# ---- IL-NEXT-REBIND --------------------------------------------------------------------------------------

IlNextRebind = Kernel419.variant(
    "il-next-rebind", "mpol_rebind_nodemask() adjusts current's interleave cursor (before v4.13)")


@IlNextRebind.override
def mpol_rebind_nodemask(k, pol, nodes):
    """mpol_rebind_nodemask() of 4.19 plus the pre-4.13 fix-up of the current task's interleave cursor."""
    nodes = frozenset(nodes)
    if pol.flags & MPOL_F_STATIC_NODES:
        tmp = pol.user_nodemask & nodes
    elif pol.flags & MPOL_F_RELATIVE_NODES:
        tmp = mpol_relative_nodemask(pol.user_nodemask, nodes)
    else:
        tmp = nodes_remap(pol.nodes, pol.cpuset_mems_allowed, nodes)
        pol = replace(pol, cpuset_mems_allowed=nodes)
    if not tmp:
        tmp = nodes
    me = k.current.task
    if me is not None and me.il_prev not in tmp:  # the mistake: whichever policy this is
        nxt = next_node_in(me.il_prev, tmp, k.topology.max_numnodes)
        me.il_prev = nxt if nxt < k.topology.max_numnodes else k.numa_node_id()
    return replace(pol, nodes=tmp)


def three_nodes():
    """Three nodes of one 2-page Normal zone each, CPU i on node i; no limits."""
    zone = dict(watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    return Topology(nodes=tuple(NodeSpec(n, (n,), (ZoneSpec(ZONE_NORMAL, 2 * n, 2, **zone),)) for n in range(3)),
                    max_order=2, pageblock_order=1, page_group_by_mobility_disabled=False, name="numa3x2")


def il_next_rebind_scenario():
    """Known-bugs entry 27: task 0 may interleave over {0,1,2}, allocate, and have its cpuset shrunk to {1,2}."""
    return Scenario("il-next-rebind", three_nodes(),
                    extra_ops=(SetMempolicy(MPOL_INTERLEAVE, frozenset({0, 1, 2})), AllocPages(G.GFP_KERNEL, 0),
                               SetCpuset(0, frozenset({1, 2}))),
                    depth=2, description="an interleaving task whose cpuset changes")
