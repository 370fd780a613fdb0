"""Named `sometimes` goals: things a scenario is meant to make happen, each a predicate (op, result, m) -> bool.

A scenario file names them (`sometimes = ["highatomic-reserved", ...]`); an exploration that never
reaches one did not do what the scenario is for (a vacuous run). `m` is the machine right after the
operation: its state, its `current` context, and `m.observed`, the kernel functions the operation
ran that leave no trace in the result or the state (model/machine.py `observe`).
"""

from buddycheck.model.constants import MIGRATE_CMA, MIGRATE_HIGHATOMIC
from buddycheck.model.errors import ConfigError
from buddycheck.model.page_table import ZERO_PFN

from .ops import AllocVma, Fault, Free, Isolate, Sysctl
from .scenario import Sometimes, allocation_failed, fell_back_to_remote_node, merged_on_free, split_a_block


def _served(op, result):
    return op.allocates and getattr(result, "page", None) is not None


def _served_from(mt):
    def predicate(op, result, m):
        return _served(op, result) and m.get_pageblock_migratetype(result.page) == mt
    return predicate


def _observed(what):
    def predicate(op, result, m):
        return what in m.observed
    return predicate


def _event(kind):
    def predicate(op, result, m):
        return any(e.kind == kind for e in getattr(result, "events", ()))
    return predicate


def _refused(reason):
    def predicate(op, result, m):
        return op.allocates and getattr(result, "page", 1) is None and reason in (result.reason or "")
    return predicate


def _switched_at(where):
    """A concurrent pair in which the other CPU ran at a point whose name holds `where`."""
    def predicate(op, result, m):
        return any(where in switch.point for switch in getattr(result, "switches", ()))
    return predicate


def isolation_busy(op, result, m):
    """start_isolate_page_range() returned -EBUSY: a pageblock held unmovable pages."""
    return isinstance(op, Isolate) and result.value != 0


def isolated_a_range(op, result, m):
    return isinstance(op, Isolate) and result.value == 0


def isolated_a_cma_range(op, result, m):
    return isolated_a_range(op, result, m) and op.migratetype == MIGRATE_CMA


def syscall_rejected(op, result, m):
    """A mempolicy system call, cpuset write or sysctl write returned an error (-EINVAL, -EFAULT...)."""
    return op.returns_errno and result.ret < 0


def sysctl_accepted(op, result, m):
    return isinstance(op, Sysctl) and result.ret == 0


def pcp_over_high(op, result, m):
    """A per-cpu list holds more pages than its high: only a sysctl write that lowered high leaves one so."""
    return any(p.count > p.high for z in m.zones() for p in z.pageset.values())


def policy_set(op, result, m):
    return op.sets_policy and result.ret == 0


def thp_served(op, result, m):
    return isinstance(op, AllocVma) and op.hugepage and result.page is not None


def page_faulted(op, result, m):
    """A write fault left a page of the allocator (not the zero page) mapped at its address."""
    return isinstance(op, Fault) and op.write and result.ret == 0 and result.pfn not in (None, ZERO_PFN)


def thp_faulted(op, result, m):
    """A fault mapped a transparent huge page (not the huge zero page)."""
    return page_faulted(op, result, m) and result.order > 0


def served_in_interrupt(op, result, m):
    return _served(op, result) and m.current.in_interrupt


def freed_remote(op, result, m):
    """A free from a CPU of another node than the block's (its page goes to that CPU's per-cpu list)."""
    return isinstance(op, Free) and m.page_zone(op.pfn).nid != m.topology.cpu_to_node(op.cpu)


GOALS = {
    "allocation-failed": Sometimes("an allocation failed", allocation_failed),
    "split": Sometimes("an allocation split a larger block", split_a_block),
    "remote-node": Sometimes("an allocation fell back to a remote node", fell_back_to_remote_node),
    "merged-on-free": Sometimes("a free left a merged block", merged_on_free),
    "highatomic-reserved": Sometimes("a highatomic pageblock was reserved",
                                     _observed("reserve_highatomic_pageblock")),
    "highatomic-used": Sometimes("an allocation was served from a highatomic pageblock",
                                 _served_from(MIGRATE_HIGHATOMIC)),
    "highatomic-unreserved": Sometimes("a highatomic reserve was released",
                                       _observed("unreserve_highatomic_pageblock")),
    "pageblock-stolen": Sometimes("a fallback stole a pageblock", _observed("steal_suitable_fallback")),
    "cma-allocated": Sometimes("an allocation was served from a CMA pageblock", _served_from(MIGRATE_CMA)),
    "isolated": Sometimes("a pageblock range was isolated", isolated_a_range),
    "cma-isolated": Sometimes("a CMA range was isolated", isolated_a_cma_range),
    "isolation-busy": Sometimes("an isolation failed with -EBUSY", isolation_busy),
    "oom-kill": Sometimes("the OOM killer was called", _event("oom_kill")),
    "kswapd-woken": Sometimes("kswapd was woken", _event("kswapd_wake")),
    "warn-alloc": Sometimes("an allocation failure was reported (warn_alloc)", _event("warn_alloc")),
    "memcg-refused": Sometimes("the memcg limit refused an allocation", _refused("memcg_kmem_charge")),
    "fault-injected": Sometimes("fault injection failed an allocation", _refused("should_fail_alloc_page")),
    "syscall-rejected": Sometimes("a mempolicy call, cpuset or sysctl write was rejected", syscall_rejected),
    "sysctl-accepted": Sometimes("a sysctl write was accepted", sysctl_accepted),
    "pcp-over-high": Sometimes("a per-cpu list held more pages than its high", pcp_over_high),
    "policy-set": Sometimes("a mempolicy was set", policy_set),
    "thp-served": Sometimes("a huge page was allocated for a VMA", thp_served),
    "interrupt-served": Sometimes("an allocation in interrupt context was served", served_in_interrupt),
    "freed-remote": Sometimes("a block was freed from a CPU of another node", freed_remote),
    "page-faulted": Sometimes("a write fault mapped a page", page_faulted),
    "munmap-freed": Sometimes("munmap freed a mapped page", _observed("unmap_region")),
    "page-migrated": Sometimes("a mapped page was migrated to another page", _observed("migrate_pages")),
    "thp-faulted": Sometimes("a fault mapped a transparent huge page", thp_faulted),
    "cow-copied": Sometimes("a write fault copied a page shared after fork", _observed("wp_page_copy")),
    "cow-reused": Sometimes("a write fault reused a write-protected page mapped once", _observed("wp_page_reuse")),
    "cpuset-update-raced": Sometimes("another CPU ran in the middle of a cpuset update",
                                     _switched_at("cpuset_change_task_nodemask")),
    "seqcount-waited": Sometimes("an allocation waited at read_mems_allowed_begin for a cpuset update",
                                 _switched_at("read_mems_allowed_begin")),
    "shmem-page-found": Sometimes("a fault found a shmem object's page in its cache",
                                  _observed("find_lock_entry")),
    "shmem-evicted": Sometimes("the last munmap of a shmem object freed its cached pages",
                               _observed("shmem_evict_inode")),
    "file-page-found": Sometimes("a fault found a file's page in its cache", _observed("find_get_page")),
}


def goal(name, where="sometimes"):
    """The built-in goal named `name`; ConfigError naming the key and the value otherwise."""
    if name not in GOALS:
        raise ConfigError(f"{where} = {name!r}: no such built-in goal (known: {', '.join(GOALS)})")
    return GOALS[name]
