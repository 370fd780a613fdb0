"""Planted races: variants of 4.19 that are wrong only when another CPU runs between two sections."""

from dataclasses import replace

from buddycheck.model import Kernel419
from buddycheck.model.constants import MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE
from buddycheck.model.locks import PCPU_DRAIN_MUTEX, mutex_trylock, mutex_unlock
from buddycheck.model.mempolicy import N_MEMORY
from buddycheck.model.preempt import preempt_point

FreeOnePageTrustsStaleType = Kernel419.variant(
    "free-one-page-trusts-stale-type",
    "free_one_page frees under the migratetype read before zone->lock, without re-reading it when the zone has "
    "isolated pageblocks: a block freed while another CPU isolates its pageblock lands on a MOVABLE list")


@FreeOnePageTrustsStaleType.override
def free_one_page(k, zone, page, pfn, order, migratetype):
    """free_one_page() without the re-read of the pageblock under the lock."""
    k.__free_one_page(page, pfn, zone, order, migratetype)


RmqueueBulkDropsLock = Kernel419.variant(
    "rmqueue-bulk-drops-lock",
    "rmqueue_bulk releases zone->lock after each page of its batch and counts NR_FREE_PAGES only at the end: "
    "another CPU sees pages gone from the free lists but still counted free")


@RmqueueBulkDropsLock.override
def rmqueue_bulk(k, zone, order, count, lst, migratetype):
    """rmqueue_bulk() with the zone lock dropped and taken again between the pages of the batch."""
    i = 0
    while i < count:
        page = k.__rmqueue(zone, order, migratetype)
        if page is None:
            break
        i += 1
        lst.append(page)
        preempt_point(k, "spin_unlock(&zone->lock) inside the batch: rmqueue_bulk")
    zone.nr_free_pages -= i << order
    return i


DrainAllPagesGivesUpOnAZone = Kernel419.variant(
    "drain-all-pages-gives-up-on-a-zone",
    "drain_all_pages returns when another CPU holds pcpu_drain_mutex even when asked for one zone: an isolation "
    "that finds the other CPU draining a different zone leaves a page of its pageblock on a per-cpu list")


@DrainAllPagesGivesUpOnAZone.override
def drain_all_pages(k, zone):
    """drain_all_pages() without the wait for the mutex that 4.19 makes for a zone's drain."""
    if not mutex_trylock(k, PCPU_DRAIN_MUTEX):
        return
    for cpu in k.topology.cpus:
        if zone is None:
            k.drain_pages(cpu)
        elif cpu in zone.pageset:
            k.drain_pages_zone(cpu, zone)
    mutex_unlock(k, PCPU_DRAIN_MUTEX)


ReserveHighatomicChecksBeforeTheLock = Kernel419.variant(
    "reserve-highatomic-checks-before-the-lock",
    "reserve_highatomic_pageblock checks the reserve limit and the pageblock's type before taking zone->lock and "
    "not again under it: two CPUs reserving the same pageblock count it twice")


@ReserveHighatomicChecksBeforeTheLock.override
def reserve_highatomic_pageblock(k, page, zone, alloc_order):
    """reserve_highatomic_pageblock() deciding before the lock what it does under it."""
    max_managed = zone.managed_pages // 100 + k.pageblock_nr_pages
    if zone.nr_reserved_highatomic >= max_managed:
        return
    mt = k.get_pageblock_migratetype(page)
    if mt in (MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_CMA):
        return
    preempt_point(k, "spin_lock_irqsave(&zone->lock), after the unlocked checks: reserve_highatomic_pageblock")
    zone.nr_reserved_highatomic += k.pageblock_nr_pages
    k.set_pageblock_migratetype(page, MIGRATE_HIGHATOMIC)
    k.move_freepages_block(zone, page, MIGRATE_HIGHATOMIC)


CheckRetryCpusetIgnoresSeqcount = Kernel419.variant(
    "check-retry-cpuset-ignores-seqcount",
    "check_retry_cpuset only drops a nodemask that misses the cpuset and never asks read_mems_allowed_retry: an "
    "allocation whose last attempt raced a cpuset update fails instead of trying again under the new mems")


@CheckRetryCpusetIgnoresSeqcount.override
def check_retry_cpuset(k, cpuset_mems_cookie, ac):
    """check_retry_cpuset() without the seqcount test."""
    if k.cpusets_enabled() and ac.nodemask is not None and not k.cpuset_nodemask_valid_mems_allowed(ac.nodemask):
        ac.nodemask = None
        return True
    return False


CpusetUpdateWithoutUnion = Kernel419.variant(
    "cpuset-update-without-union",
    "cpuset_change_task_nodemask writes the new mems at once instead of mems |= new first: between that store "
    "and the policy's rebind, another CPU sees a policy whose nodes miss the task's cpuset")


@CpusetUpdateWithoutUnion.override
def cpuset_change_task_nodemask(k, tsk, newmems):
    """cpuset_change_task_nodemask() with mems = new before the rebind and no mems |= new."""
    newmems = frozenset(newmems)
    k.write_seqcount_begin(tsk)
    tsk.mems_allowed = newmems
    preempt_point(k, "tsk->mems_allowed = *newmems: cpuset_change_task_nodemask")
    k.mpol_rebind_task(tsk, newmems)
    k.write_seqcount_end(tsk)


RebindClearsNodesFirst = Kernel419.variant(
    "rebind-clears-nodes-first",
    "mpol_rebind_task builds the rebound nodes in pol->v.nodes itself, clearing it first: between the two stores "
    "another CPU sees a BIND or INTERLEAVE policy with no nodes")


@RebindClearsNodesFirst.override
def mpol_rebind_task(k, tsk, new):
    """mpol_rebind_task() whose policy goes through an empty node mask on the way to the rebound one."""
    old = tsk.mempolicy
    rebound = k.mpol_rebind_policy(old, new)
    if old is not None and rebound is not old and rebound.nodes != old.nodes:
        tsk.mempolicy = replace(rebound, nodes=frozenset())
        preempt_point(k, "nodes_clear(pol->v.nodes): mpol_rebind_nodemask")
    tsk.mempolicy = rebound


RebindWidensToAllNodes = Kernel419.variant(
    "rebind-widens-to-all-nodes",
    "mpol_rebind_task passes through every node with memory on the way to the rebound nodes: between the two "
    "stores another CPU's allocation under the BIND policy may land on a node neither the old nor the new "
    "cpuset has")


@RebindWidensToAllNodes.override
def mpol_rebind_task(k, tsk, new):  # noqa: F811  (each variant has its own)
    """mpol_rebind_task() that first lets the policy allow every node, as a careless two-step rebind would."""
    old = tsk.mempolicy
    rebound = k.mpol_rebind_policy(old, new)
    if old is not None and rebound is not old and rebound.nodes != old.nodes:
        tsk.mempolicy = replace(rebound, nodes=frozenset(k.node_states(N_MEMORY)))
        preempt_point(k, "nodes = node_states[N_MEMORY]: mpol_rebind_nodemask")
    tsk.mempolicy = rebound
