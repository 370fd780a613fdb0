"""Invariants about one operation that a state or an allocation request alone cannot judge.

pair_outcomes judges a concurrent pair against the two sequential orders of its operations.
policy_meets_cpuset judges the tasks of a state, and of every state a concurrent pair let another CPU
see: policies and cpusets are not in the state views the Z3 encodings read (spec/view.py).

thp_node needs to know that the allocation was a transparent huge page from alloc_pages_vma() and for
which VMA; interleave_cursor needs to know whose operation it was; sysctl_write needs the value written
and the handler's answer. Each has the texts of a state
invariant (name, meaning, kernel, exceptions) and a `check(...)` over plain values, returning
`Violation`s; checks/properties.py feeds them the operation and the machines before and after.

No Z3 encoding: thp_node is the policy's choice of one node, a table lookup stated in
thp_target_node() below, and interleave_cursor says which operations may write a field; neither has a
for-all question over inputs that a solver would answer beyond what the concrete check sees; nor has
sysctl_write, a comparison of two concrete states. The
interleave choice itself (next_node_in) is the interleave_fairness theorem.
"""

from buddycheck.model.mempolicy import MPOL_BIND, MPOL_F_LOCAL, MPOL_INTERLEAVE, MPOL_MODE_NAMES, MPOL_PREFERRED
from buddycheck.model.results import AllocResult, OpResult

from .violation import Violation


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

    name = "thp_node"
    meaning = ("a transparent huge page (alloc_pages_vma with hugepage) comes from the node its policy names: "
               "MPOL_PREFERRED's node, else the CPU's node, or the allocation fails")
    kernel = ("alloc_pages_vma(): hpage_node is the policy's preferred node for a non-local MPOL_PREFERRED "
              "(fix 'respect MPOL_PREFERRED policy with non-local node'), and the one attempt is "
              "__alloc_pages_node(hpage_node, gfp | __GFP_THISNODE) (fix 'really limit transparent hugepage "
              "allocation to local node'), which walks the NOFALLBACK zonelist of that node only")
    exceptions = ("INTERLEAVE policies and BIND masks without the CPU's node are not judged",)

    def check(self, task, vma, local, tid, pfn, nid):
        """task and vma as before the allocation, local the CPU's node, pfn and nid the THP served."""
        target = thp_target_node(task, vma, local)
        if target is None or nid == target:
            return []
        return [Violation(self.name, f"THP at pfn {pfn} came from node {nid}, but the policy of task {tid} "
                                     f"sends it to node {target} only", values={"node": nid, "target": target})]


class InterleaveCursor:
    """interleave_cursor: only a task's own interleaved allocation or set_mempolicy moves its il_prev."""

    name = "interleave_cursor"
    meaning = ("a task's interleave cursor (il_prev) changes only when that task allocates under its INTERLEAVE "
               "policy or sets a policy; rebinding a policy (a cpuset change) leaves every cursor alone")
    kernel = ("interleave_nodes() stores the node it chose in current->il_prev and do_set_mempolicy() resets it "
              "for a new INTERLEAVE policy; since 4.13 (il_next became il_prev) mpol_rebind_nodemask() no longer "
              "touches it, and interleave_nodes() picks next_node_in(il_prev, mask) from the mask of the moment")
    exceptions = ()

    def check(self, cursors_before, cursors_after, own, what):
        """cursors_*: task id -> il_prev; own: the task whose allocation or set_mempolicy it was (None: no task's);
        what: the operation, for the message."""
        out = []
        for tid, after in sorted(cursors_after.items()):
            before = cursors_before.get(tid)
            if before is None or tid == own or before == after:
                continue
            out.append(Violation(self.name, f"task {tid}'s interleave cursor il_prev went from {before} to {after} "
                                            f"in an operation that is not its own interleaved allocation or "
                                            f"set_mempolicy ({what})", values={"task": tid}))
        return out



__all__ = ["INTERLEAVE_CURSOR", "OPERATION_INVARIANTS", "PAIR_OUTCOMES", "POLICY_MEETS_CPUSET", "THP_NODE",
           "InterleaveCursor", "PairOutcomes", "PolicyMeetsCpuset", "ThpNode", "outcome_class", "thp_target_node"]


class SysctlWrite:
    """sysctl_write: a refused write of a vm sysctl changes nothing; an accepted one of an integer sysctl reads back."""

    name = "sysctl_write"
    meaning = ("a write of a vm sysctl that returns an error changes nothing: not the sysctl, not a limit computed "
               "from it, no other state; a write of an integer sysctl that returns 0 reads back as the value written")
    kernel = ("proc_dointvec_minmax() stores a value only once it is within extra1..extra2, a handler that refuses a "
              "value the parser stored (percpu_pagelist_fraction 1..7) puts the old one back before answering "
              "-EINVAL, and the limits are recomputed only after a successful write")
    exceptions = ("lowmem_reserve_ratio and numa_zonelist_order are judged only when they return an error: the "
                  "first stores a list (entries up to the first bad one, a ratio below 1 written back as 0) and "
                  "answers 0 whatever its parser said, the second is a string that changes nothing",)

    def check(self, name, field, value, ret, before, after, integer):
        """before/after: the frozen machines around the write; field: where the frozen sysctls hold the
        value (the kernel variable's name); integer: the sysctl takes one int."""
        if ret < 0:
            if before == after:
                return []
            changed = [f for f in before._fields if getattr(before, f) != getattr(after, f)]
            return [Violation(self.name, f"sysctl vm.{name} = {value!r} returned {ret} but changed the state "
                                         f"({', '.join(changed)})", values={"ret": ret})]
        if not integer or ret != 0:
            return []
        read_back = getattr(after.sysctls, field)
        if read_back == value:
            return []
        return [Violation(self.name, f"sysctl vm.{name} = {value!r} returned 0 but reads back as {read_back!r}",
                          values={"value": value, "read_back": read_back})]



def outcome_class(result):
    """What pair_outcomes compares of an operation's result: a page or none, or the errno (0 for success)."""
    if isinstance(result, AllocResult):
        return "a page" if result.page is not None else "no page"
    if isinstance(result, OpResult):
        return result.value
    return getattr(result, "ret", None)


def _describe(classes):
    return " and ".join(f"{'first' if i == 0 else 'second'} {c}" for i, c in enumerate(classes))


class PairOutcomes:
    """pair_outcomes: a concurrent pair ends with the outcome classes of one of its two sequential orders."""

    name = "pair_outcomes"
    meaning = ("the two operations of a concurrent pair end, together, with the outcome classes (a page or none; "
               "an errno, 0 for success) that one of the two sequential orders of the same operations from the same "
               "start state gives them: linearizability of outcomes, not of pfns or nodes")
    kernel = ("the retry loops that make a racing operation redo its work: check_retry_cpuset() with "
              "read_mems_allowed_begin()/read_mems_allowed_retry() in __alloc_pages_slowpath(), and "
              "cpuset_change_task_nodemask()'s mems_allowed |= new before the rebind")
    exceptions = ("which page, node or zone an operation got is not compared, only whether it got one",
                  "an order in which an operation is refused by the model (not enabled there) is no order")

    def check(self, classes, sequential, what):
        """classes: (first, second) outcome classes of the pair; sequential: those of each sequential order
        that ran (first then second, second then first), as (first, second) in the pair's own order."""
        if not sequential or tuple(classes) in {tuple(c) for c in sequential}:
            return []
        orders = "; ".join(_describe(c) for c in sequential)
        return [Violation(self.name, f"{what} ended with {_describe(classes)}, which no sequential order gives "
                                     f"(they give: {orders})", values={"classes": tuple(classes)})]



class PolicyMeetsCpuset:
    """policy_meets_cpuset: a task's BIND or INTERLEAVE policy has nodes, and some of them are in its cpuset."""

    name = "policy_meets_cpuset"
    meaning = ("the nodes of a task's MPOL_BIND or MPOL_INTERLEAVE policy are not empty and meet the task's "
               "mems_allowed, in every state another CPU can see: between operations and at each switch of a "
               "concurrent pair, in the middle of a cpuset update")
    kernel = ("cpuset_change_task_nodemask() widens mems_allowed to old | new before mpol_rebind_task() and "
              "narrows it to new after; mpol_rebind_nodemask() stores the rebound nodes in one store, and an empty "
              "result becomes the new mems; mpol_set_nodemask() restricts a new policy to the cpuset's mems. A "
              "reader that found them apart would drop the policy (policy_nodemask(), "
              "cpuset_nodemask_valid_mems_allowed())")
    exceptions = ("the task policy only: VMA policies are rebound under mmap_sem onto the cpuset's mems as "
                  "written, memoryless nodes included",)

    def check(self, tasks, where=""):
        """tasks: FrozenTask values (or Task objects) of one state; where: a prefix for the message."""
        out = []
        for task in tasks:
            pol = task.mempolicy
            if pol is None or pol.mode not in (MPOL_BIND, MPOL_INTERLEAVE):
                continue
            mems = frozenset(task.mems_allowed)
            if pol.nodes and pol.nodes & mems:
                continue
            what = ("has no nodes" if not pol.nodes
                    else f"nodes {sorted(pol.nodes)} miss its mems_allowed {sorted(mems)}")
            out.append(Violation(self.name, f"{where}task {task.tid}'s {MPOL_MODE_NAMES[pol.mode]} policy {what}",
                                 values={"task": task.tid}))
        return out


THP_NODE, INTERLEAVE_CURSOR, SYSCTL_WRITE = ThpNode(), InterleaveCursor(), SysctlWrite()
PAIR_OUTCOMES, POLICY_MEETS_CPUSET = PairOutcomes(), PolicyMeetsCpuset()
OPERATION_INVARIANTS = (THP_NODE, INTERLEAVE_CURSOR, SYSCTL_WRITE, PAIR_OUTCOMES, POLICY_MEETS_CPUSET)
