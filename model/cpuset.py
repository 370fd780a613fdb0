"""Cpusets as the allocator sees them (kernel/cgroup/cpuset.c, include/linux/cpuset.h; 4.19).

A task's cpuset is its `mems_allowed`. cpusets_enabled() is true once a
non-root cpuset exists (the topology says so, or a cpuset change happened).

Abstracted away: the cpuset hierarchy. The nearest hardwall ancestor of every
cpuset is the root, so a request without __GFP_HARDWALL may use any node;
PF_EXITING tasks; the mems_allowed seqcount (a change is atomic here).
"""

from .gfp import __GFP_HARDWALL
from .kernel import kernel_function


@kernel_function
def cpusets_enabled(k):
    """cpusets_enabled(): a cpuset other than the root exists."""
    return k.cpusets_on


@kernel_function
def __cpuset_node_allowed(k, node, gfp_mask):
    """__cpuset_node_allowed(): in interrupt (softirq included), inside mems_allowed, an OOM victim, or not hardwall."""
    cur = k.current
    if cur.in_interrupt:
        return True
    if node in cur.mems_allowed():
        return True
    if cur.oom_victim:
        return True
    if gfp_mask & __GFP_HARDWALL:
        return False
    return True  # the root cpuset, the nearest hardwall ancestor, allows every node


@kernel_function
def __cpuset_zone_allowed(k, zone, gfp_mask):
    """__cpuset_zone_allowed(): __cpuset_node_allowed() of the zone's node."""
    return k.__cpuset_node_allowed(zone.nid, gfp_mask)


@kernel_function
def cpuset_zone_allowed(k, zone, gfp_mask):
    """cpuset_zone_allowed(): always true unless cpusets are enabled."""
    if k.cpusets_enabled():
        return k.__cpuset_zone_allowed(zone, gfp_mask)
    return True


@kernel_function
def cpuset_nodemask_valid_mems_allowed(k, nodemask):
    """cpuset_nodemask_valid_mems_allowed(): the mask intersects the current task's mems_allowed."""
    return bool(set(nodemask) & set(k.current.mems_allowed()))


@kernel_function
def current_cpuset_is_being_rebound(k):
    """current_cpuset_is_being_rebound(): current's cpuset is the one update_tasks_nodemask() is rebinding.

    A cpuset write is one atomic step here (update_nodemask runs to its end before any other
    operation), so no task is ever inside it while it forks or duplicates a policy: never true.
    """
    return False
