"""Invariants about one operation that a state or an allocation request alone cannot judge.

pair_outcomes judges a concurrent pair against the two sequential orders of its operations.
policy_meets_cpuset judges the tasks of a state, and of every state a concurrent pair let another CPU
see: policies and cpusets are not in the state views the Z3 encodings read (spec/view.py).

thp_node needs to know that the allocation was a transparent huge page from alloc_pages_vma() and for
which VMA; interleave_cursor needs to know whose operation it was; sysctl_write needs the value
written and the handler's answer; mbind_strict_placement, migrate_pages_placement and
move_pages_status need the system call's arguments and what it returned. Each has the texts of a
state invariant (name, meaning, kernel, exceptions) and a `check(...)` over plain values, returning
`Violation`s; checks/properties.py feeds them the operation and the machines before and after.

No Z3 encoding: thp_node is the policy's choice of one node, a table lookup stated in
thp_target_node() below; interleave_cursor says which operations may write a field; sysctl_write
compares two concrete states; the three migration invariants look up the node of each mapped page.
None has a for-all question over inputs that a solver would answer beyond what the concrete check
sees. The interleave choice itself (next_node_in) is the interleave_fairness theorem.
"""

from buddycheck.model.mempolicy import (
    MPOL_BIND,
    MPOL_F_LOCAL,
    MPOL_F_RELATIVE_NODES,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_MODE_FLAGS,
    MPOL_MODE_NAMES,
    MPOL_PREFERRED,
)
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



__all__ = ["INTERLEAVE_CURSOR", "MBIND_STRICT_PLACEMENT", "MIGRATE_PAGES_PLACEMENT", "MOVE_PAGES_STATUS",
           "OPERATION_INVARIANTS", "PAIR_OUTCOMES", "POLICY_MEETS_CPUSET", "SYSCTL_WRITE", "THP_NODE",
           "InterleaveCursor", "MbindStrictPlacement", "MigratePagesPlacement", "MovePagesStatus", "PairOutcomes",
           "PolicyMeetsCpuset", "SysctlWrite", "ThpNode", "outcome_class", "strict_bind_judged", "thp_target_node"]


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


def strict_bind_judged(mode, flags, maxnode):
    """Whether mbind_strict_placement judges an mbind with these arguments (see its exceptions)."""
    return ((mode & ~MPOL_MODE_FLAGS) == MPOL_BIND and not mode & MPOL_F_RELATIVE_NODES
            and bool(flags & MPOL_MF_STRICT) and maxnode is None)


class MbindStrictPlacement:
    """mbind_strict_placement: a successful mbind(MPOL_BIND, MPOL_MF_STRICT) leaves no page it judges misplaced."""

    name = "mbind_strict_placement"
    meaning = ("after mbind(MPOL_BIND, nodes, MPOL_MF_STRICT [| MPOL_MF_MOVE | MPOL_MF_MOVE_ALL]) returns 0, every "
               "page the task maps in the range lies on a node of the nodes given, except, under MPOL_MF_MOVE "
               "alone, a page mapped more than once: a page the call could not move is reported as -EIO")
    kernel = ("stable 4.19.y with a7f40cfe3b7a ('make mbind() return -EIO when MPOL_MF_STRICT is specified'): "
              "queue_pages_pte_range stops the walk with -EIO at a misplaced page when no move flag is given and "
              "returns 1 for one it cannot isolate; do_mbind turns a migrate_pages failure into -EIO under "
              "MPOL_MF_STRICT; new_page allocates with the new MPOL_BIND policy, whose nodes lie inside the mask; "
              "migrate_page_add skips a page mapped more than once under MPOL_MF_MOVE without a report")
    exceptions = ("the zero page is not judged; MPOL_PREFERRED and MPOL_INTERLEAVE (new_page may fall back to "
                  "another node and succeed), MPOL_F_RELATIVE_NODES (the policy's nodes are a remapping of the mask) "
                  "and an explicit maxnode are not judged",)

    def check(self, mode, nodes, flags, ret, pages):
        """mode (with its mode flags), nodes (the user's mask), flags (MPOL_MF_*) and ret of the mbind; pages:
        (address, pfn, node, mapcount) of each page the task maps in the range afterwards."""
        if ret != 0 or not strict_bind_judged(mode, flags, None):
            return []
        out = []
        for addr, pfn, nid, mapcount in pages:
            if nid in nodes or (flags & MPOL_MF_MOVE and not flags & MPOL_MF_MOVE_ALL and mapcount > 1):
                continue
            out.append(Violation(self.name, f"mbind with MPOL_MF_STRICT returned 0, but the page at {addr:#x} "
                                            f"(pfn {pfn}) lies on node {nid}, outside {sorted(nodes)}",
                                 values={"addr": addr, "pfn": pfn, "node": nid}))
        return out


class MigratePagesPlacement:
    """migrate_pages_placement: a successful migrate_pages(2) leaves no page of the task on an old node it was told
    to leave."""

    name = "migrate_pages_placement"
    meaning = ("after migrate_pages(pid, old_nodes, new_nodes) returns 0, no page the task maps lies on a node of "
               "old_nodes outside new_nodes, except, without CAP_SYS_NICE, a page mapped more than once")
    kernel = ("do_migrate_pages() takes every node of old_nodes that node_remap() sends elsewhere as a source (a "
              "node outside new_nodes always is) and migrate_to_node() moves each page queued on it to its "
              "destination, a node of new_nodes, with alloc_new_node_page()'s __GFP_THISNODE; a failed allocation "
              "makes the call -ENOMEM; without CAP_SYS_NICE the walk is MPOL_MF_MOVE, which leaves shared pages")
    exceptions = ("the zero page is not judged, nor a call with an explicit maxnode",)

    def check(self, old_nodes, new_nodes, cap_sys_nice, ret, pages):
        """old_nodes/new_nodes as the caller gave them, cap_sys_nice, ret of the call; pages: (address, pfn, node,
        mapcount) of each page the task maps afterwards."""
        if ret != 0:
            return []
        leave = set(old_nodes) - set(new_nodes)
        out = []
        for addr, pfn, nid, mapcount in pages:
            if nid not in leave or (mapcount > 1 and not cap_sys_nice):
                continue
            out.append(Violation(self.name, f"migrate_pages returned 0, but the page at {addr:#x} (pfn {pfn}) is "
                                            f"still on node {nid}, which it was to leave for {sorted(new_nodes)}",
                                 values={"addr": addr, "pfn": pfn, "node": nid}))
        return out


class MovePagesStatus:
    """move_pages_status: a node move_pages(2) writes as a page's status is the node the page is on afterwards."""

    name = "move_pages_status"
    meaning = ("every status entry move_pages writes as a node (not an error) names the node of the page mapped at "
               "that address after the call, whether it asked (nodes NULL) or moved")
    kernel = ("do_pages_stat_array writes page_to_nid() of the page follow_page finds; do_pages_move writes the "
              "target node for a page already there and, after do_move_pages_to_node has moved a batch with "
              "alloc_new_node_page's __GFP_THISNODE, for each page of the batch; a failed batch is not written")
    exceptions = ("an address the call lists twice is not judged (a later entry may move the page again)",)

    def check(self, pages, status, where_after):
        """pages: the addresses asked about; status: the array written (None: not written); where_after: address ->
        the node of the page mapped there after the call (absent: none)."""
        repeated = {a for a in pages if pages.count(a) > 1}
        out = []
        for addr, value in zip(pages, status, strict=True):
            if value is None or value < 0 or addr in repeated:
                continue
            nid = where_after.get(addr)
            if nid != value:
                out.append(Violation(self.name, f"move_pages wrote node {value} as the status of {addr:#x}, but the "
                                                f"page there is on node {nid}", values={"addr": addr, "node": nid,
                                                                                       "status": value}))
        return out


THP_NODE, INTERLEAVE_CURSOR, SYSCTL_WRITE = ThpNode(), InterleaveCursor(), SysctlWrite()
PAIR_OUTCOMES, POLICY_MEETS_CPUSET = PairOutcomes(), PolicyMeetsCpuset()
MBIND_STRICT_PLACEMENT, MIGRATE_PAGES_PLACEMENT = MbindStrictPlacement(), MigratePagesPlacement()
MOVE_PAGES_STATUS = MovePagesStatus()
OPERATION_INVARIANTS = (THP_NODE, INTERLEAVE_CURSOR, SYSCTL_WRITE, PAIR_OUTCOMES, POLICY_MEETS_CPUSET,
                        MBIND_STRICT_PLACEMENT, MIGRATE_PAGES_PLACEMENT, MOVE_PAGES_STATUS)
