"""Cpusets as the allocator sees them (kernel/cgroup/cpuset.c, include/linux/cpuset.h; 4.19).

A task's cpuset is its `mems_allowed`. cpusets_enabled() is true once a
non-root cpuset exists (the topology says so, or a cpuset change happened).

The mems_allowed seqcount. A cpuset update writes a task's mems_allowed and
mempolicy inside write_seqcount_begin/end of tsk->mems_allowed_seq
(cpuset_change_task_nodemask, model/mempolicy.py); an allocation of that task
on another CPU reads them without a lock and takes a cookie with
read_mems_allowed_begin() (spinning while a write section is open, a wait of
model/preempt.py), and read_mems_allowed_retry() tells whether a writer ran
since. The count is the task's `mems_allowed_seq`, frozen with the task. A
cookie lives only inside the allocation that took it, and no allocation spans
two steps of a search, so once no operation is running the count's value says
nothing: seqcounts_at_rest() puts it back to 0 at the end of each sequential
cpuset update and of each concurrent pair, and equal states stay equal.

Abstracted away: the cpuset hierarchy. The nearest hardwall ancestor of every
cpuset is the root, so a request without __GFP_HARDWALL may use any node;
PF_EXITING tasks.
"""

from collections.abc import Set

from .gfp import __GFP_HARDWALL
from .kernel import kernel_function
from .locks import mutex_lock, mutex_unlock, wait_for_lock


class CurrentMemsAllowed(Set):
    """&cpuset_current_mems_allowed as a nodemask: the task's mems_allowed read at each use, not copied.

    prepare_alloc_pages() points ac->nodemask at it, so a zone walk after a cpuset update sees the new mems.
    """

    __slots__ = ("task",)

    def __init__(self, task):
        self.task = task

    def __contains__(self, nid):
        return nid in self.task.mems_allowed

    def __iter__(self):
        return iter(sorted(self.task.mems_allowed))

    def __len__(self):
        return len(self.task.mems_allowed)

    def __repr__(self):
        return f"cpuset_current_mems_allowed(task {self.task.tid}: {sorted(self.task.mems_allowed)})"


@kernel_function
def cpuset_current_mems_allowed(k):
    """cpuset_current_mems_allowed(): (a macro) the current task's mems_allowed as a live nodemask.

    Without a task (a bare allocation of the machine): every node, as a value.
    """
    task = k.current.task
    return k.current.mems_allowed() if task is None else CurrentMemsAllowed(task)


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

    Sequentially a cpuset write runs to its end before any other operation; a concurrent pair may
    interleave one with another operation, but none that forks or duplicates a policy (a fork racing a
    cpuset update is not modelled), so no task is ever inside it while it does: never true.
    """
    return False


def mems_allowed_seq_lock(tsk):
    """The name under which a concurrent pair's scheduler records the writer of a task's seqcount."""
    return f"mems_allowed_seq of task {tsk.tid}"


@kernel_function
def write_seqcount_begin(k, tsk):
    """write_seqcount_begin(&tsk->mems_allowed_seq): the count goes odd, readers spin or retry.

    In a concurrent pair the writer holds the seqcount's write side as a lock (model/locks.py): a reader
    that spins waits for it, and a second writer waits as cpuset_mutex makes it.
    """
    tsk.mems_allowed_seq += 1
    mutex_lock(k, mems_allowed_seq_lock(tsk), "write_seqcount_begin: cpuset_change_task_nodemask")


@kernel_function
def write_seqcount_end(k, tsk):
    """write_seqcount_end(&tsk->mems_allowed_seq): the count goes even again, one write section later."""
    tsk.mems_allowed_seq += 1
    mutex_unlock(k, mems_allowed_seq_lock(tsk))
    if k.scheduler is None:  # sequentially no reader holds a cookie
        k.seqcounts_at_rest()


@kernel_function
def read_mems_allowed_begin(k):
    """read_mems_allowed_begin(): 0 without cpusets, else the current task's count once it is even.

    (4.19 tests cpusets_pre_enable_key here, which is on whenever cpusets_enabled_key is: one flag in the model.)
    The spin of read_seqcount_begin while the count is odd is a wait for the writer (model/locks.py);
    sequentially every writer has finished, so the count is even.
    """
    if not k.cpusets_enabled():
        return 0
    task = k.current.task
    if task is None:
        return 0
    if task.mems_allowed_seq & 1:
        wait_for_lock(k, mems_allowed_seq_lock(task), "read_seqcount_begin spins: read_mems_allowed_begin")
    return task.mems_allowed_seq


@kernel_function
def read_mems_allowed_retry(k, cookie):
    """read_mems_allowed_retry(): true when cpusets are on and the count moved since `cookie` was taken."""
    if not k.cpusets_enabled():
        return False
    task = k.current.task
    return task is not None and task.mems_allowed_seq != cookie
