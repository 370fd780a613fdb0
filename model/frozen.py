"""Frozen states: the dynamic part of a machine as named, immutable, hashable values.

`Kernel419.freeze()` builds a `FrozenMachine`; `restore()`, the symmetry reduction and the state
views read its fields by name. Each type is a NamedTuple, so a frozen state hashes and compares as
the plain tuple of its fields (cheap, and equal states built along different paths are equal).

What is left out on purpose is listed on the model's classes as OBSERVATIONS (statistics, events,
the current operation's context): `tests/test_frozen_complete.py` checks that everything else the
model writes after boot is here.
"""

from typing import NamedTuple


class FrozenPcp(NamedTuple):
    """One CPU's struct per_cpu_pages of a zone: its count and its three order-0 lists (head first)."""

    count: int
    lists: tuple  # per pcp migratetype: tuple of pfns


class FrozenZone(NamedTuple):
    """The dynamic part of a populated struct zone."""

    free_lists: tuple  # per order, per migratetype: tuple of head pfns, head first
    nr_free: tuple  # per order: blocks on its free lists
    nr_free_pages: int  # NR_FREE_PAGES
    nr_free_cma_pages: int  # NR_FREE_CMA_PAGES
    nr_reserved_highatomic: int
    nr_isolate_pageblock: int
    pcp: tuple  # FrozenPcp per CPU, in the order of zone.pcp_cpus


class FrozenTask(NamedTuple):
    """The task-side state the allocator reads (mempolicies, VMAs and the page table are immutable values)."""

    tid: int
    mems_allowed: tuple  # sorted node ids
    mempolicy: object
    il_prev: int
    memcg_limit: int | None
    memcg_usage: int
    vmas: tuple
    page_table: tuple  # sorted (address, pfn or ZERO_PFN, order) of every mapping
    wrprotected: tuple  # sorted addresses of the entries of real pages write-protected by fork (copy-on-write)
    mems_allowed_seq: int  # tsk->mems_allowed_seq: odd inside a cpuset update's write section (model/cpuset.py)


class FrozenSysctls(NamedTuple):
    """The vm sysctls the allocator reads and the limits their handlers compute (model/sysctl.py)."""

    min_free_kbytes: int
    user_min_free_kbytes: int  # -1: never given (the kernel's initial value)
    watermark_scale_factor: int
    lowmem_reserve_ratio: tuple
    percpu_pagelist_fraction: int
    node_reclaim_mode: int
    zones: tuple  # per populated zone: (watermark, lowmem_reserve, (pcp_high, pcp_batch), ((high, batch) per CPU))
    unpopulated: tuple  # per unpopulated zone, lowest node and zone first: (watermark, lowmem_reserve)
    totalreserve_pages: tuple  # pgdat->totalreserve_pages per node, then the machine's totalreserve_pages


class FrozenMachine(NamedTuple):
    """The whole dynamic state of a machine; see the module docstring."""

    zones: tuple  # FrozenZone per populated zone, lowest node and zone first
    page_buddy: tuple  # sorted (pfn, order) of every PageBuddy head
    pcp_mt: tuple  # sorted (pfn, cached migratetype) of every page on a per-cpu list
    allocated: tuple  # sorted (pfn, (order, migratetype asked for, memcg owner))
    pageblock_flags: tuple  # migratetype of each pageblock
    tasks: tuple  # FrozenTask per task, by task id
    cpusets_on: bool
    sysctls: FrozenSysctls
    inodes: tuple  # Inode (model/filemap.py, an immutable value) per file or shmem object, by inode number


# cls(fields) without the generated __new__'s argument handling: freeze() builds many of these
build = tuple.__new__
