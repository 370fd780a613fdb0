"""Invariants some mutants need that spec/ does not (yet) state, as explorer properties.

Each has a `name`, `per_state`, `violations(before, op, result, m) -> list[str]` (the protocol of
checks/properties.py) and the texts of a spec invariant (`meaning`, `kernel`, `exceptions`), so
that it can move into spec/ as it is.

- highatomic_reserve_exact (state): spec's highatomic_accounting (nr_reserved_highatomic >=
  pageblock_nr_pages x the zone's HIGHATOMIC pageblocks, which 4.19 keeps everywhere) with
  equality. 4.19 keeps it only while no pageblock
  is ever isolated and no free block is larger than a pageblock (MAX_ORDER - 1 <= pageblock_order);
  a scenario that uses it must stay inside those preconditions.
- thp_node (step, alloc_pages_vma with hugepage): a THP lands on the node 4.19 targets
  (PREF: MPOL_PREFERRED's node; NODEMASK: the __GFP_THISNODE attempt never leaves it).
- interleave_cursor (step): a task's interleave cursor (il_prev) changes only by that task's own
  interleaved allocation or its own set_mempolicy.
"""

from buddycheck.checks.ops import AllocPages, AllocVma, SetMempolicy
from buddycheck.checks.properties import BeforeState
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_F_LOCAL, MPOL_INTERLEAVE, MPOL_PREFERRED
from buddycheck.spec.invariants import HighatomicAccounting, Violation
from buddycheck.spec.view import view_of


class HighatomicReserveExact(HighatomicAccounting):
    """highatomic_reserve_exact: spec's highatomic_accounting with equality, under its preconditions."""

    name = "highatomic_reserve_exact"
    meaning = "nr_reserved_highatomic = pageblock_nr_pages x the zone's HIGHATOMIC pageblocks"
    exceptions = (
        "holds only while no pageblock is isolated (set_migratetype_isolate retypes a HIGHATOMIC "
        "pageblock without giving its reserve back) and no free block spans more than one pageblock "
        "(steal_suitable_fallback's change_pageblock_range retypes every pageblock such a block covers)",)
    relation = "="
    per_state = True

    def bad(self, reserved, want):
        return reserved != want

    def violations(self, before, op, result, m):
        return [v.message for v in self.check(view_of(m))]


def thp_target_node(task, vma, local):
    """The node 4.19's alloc_pages_vma() sends a THP to (its __GFP_THISNODE attempt), or None if not judged.

    DEFAULT and local PREFERRED: the CPU's node; PREFERRED {n}: n; BIND whose nodes hold the CPU's node:
    that node. INTERLEAVE (offset interleave, not the THP path) and other BIND masks are not judged.
    """
    pol = vma.policy if vma is not None and vma.policy is not None else task.mempolicy
    if pol is None:
        return local
    if pol.mode == MPOL_PREFERRED:
        return local if pol.flags & MPOL_F_LOCAL else pol.preferred_node
    if pol.mode == MPOL_BIND:
        return local if local in pol.nodes else None
    if pol.mode == MPOL_INTERLEAVE:
        return None
    return local


class ThpNode:
    """thp_node: a THP from alloc_pages_vma() lies on the node 4.19 targets, or the allocation fails."""

    per_state = False
    name = "thp_node"
    meaning = ("a transparent huge page (alloc_pages_vma with hugepage) comes from the node its policy names: "
               "MPOL_PREFERRED's node, else the CPU's node, or the allocation fails")
    kernel = ("alloc_pages_vma(): hpage_node is the policy's preferred node for a non-local MPOL_PREFERRED "
              "(fix 'respect MPOL_PREFERRED policy with non-local node'), and the one attempt is "
              "__alloc_pages_node(hpage_node, gfp | __GFP_THISNODE) (fix 'really limit transparent hugepage "
              "allocation to local node'), which walks the NOFALLBACK zonelist of that node only")
    exceptions = ("INTERLEAVE policies and BIND masks without the CPU's node are not judged",)

    def __init__(self):
        self.before_cache = BeforeState()

    def violations(self, before, op, result, m):
        if not isinstance(op, AllocVma) or not op.hugepage or before is None or getattr(result, "page", None) is None:
            return []
        k, _ = self.before_cache.get(m, before)
        task = k.tasks[op.task]
        vma = next((v for v in task.vmas if v.start <= op.addr < v.end), None)
        target = thp_target_node(task, vma, k.topology.cpu_to_node(op.cpu))
        if target is None or result.nid == target:
            return []
        return [str(Violation(self.name, f"THP at pfn {result.page:#x} came from node {result.nid}, but the policy "
                                         f"of task {op.task} sends it to node {target} only",
                              {"node": result.nid, "target": target}))]


class InterleaveCursor:
    """interleave_cursor: only a task's own interleaved allocation or set_mempolicy moves its il_prev."""

    per_state = False
    name = "interleave_cursor"
    meaning = ("a task's interleave cursor (il_prev) changes only when that task allocates under its INTERLEAVE "
               "policy or sets a policy; rebinding a policy (a cpuset change) leaves every cursor alone")
    kernel = ("interleave_nodes() stores the node it chose in current->il_prev and do_set_mempolicy() resets it "
              "for a new INTERLEAVE policy; since 4.13 (il_next became il_prev) mpol_rebind_nodemask() no longer "
              "touches it, and interleave_nodes() picks next_node_in(il_prev, mask) from the mask of the moment")
    exceptions = ()

    def __init__(self):
        self.before_cache = BeforeState()

    def violations(self, before, op, result, m):
        if before is None:
            return []
        k, _ = self.before_cache.get(m, before)
        own = getattr(op, "task", None) if isinstance(op, AllocPages | SetMempolicy) else None
        out = []
        for tid, task in sorted(m.tasks.items()):
            old = k.tasks.get(tid)
            if old is None or tid == own or old.il_prev == task.il_prev:
                continue
            out.append(str(Violation(self.name, f"task {tid}'s interleave cursor il_prev went from {old.il_prev} to "
                                                 f"{task.il_prev} in an operation that is not its own interleaved "
                                                 f"allocation or set_mempolicy ({op.code()})",
                                     {"task": tid})))
        return out
