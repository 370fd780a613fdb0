"""Shared anonymous memory (model/shmem.py): shmem objects, their shared policy and their page cache.

mbind through one mapping of an object sets the object's shared policy, which every mapping of it
reads back and allocates with (interleave by object offset, biased by the inode number); a page
faulted through one mapping is found by every other without allocating; munmap leaves the page in
the object's cache until the last mapping goes. Two planted bugs are caught: a shmem fault that
allocates with the VMA's policy (by diff, in the node of the first fault), and a munmap that frees
the cached page (by the explorer's page_cache_once invariant, after a fault and a munmap).
"""

from dataclasses import replace

import pytest
from numa_machines import free_pages, machine, nodes_topology

from buddycheck.checks.diff import diff
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Fault, Free, Mbind, MmapShared, Munmap
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import scenario_from_dict
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model.constants import PAGE_SHIFT, PAGE_SIZE
from buddycheck.model.errors import InvalidOperation, StateMismatch
from buddycheck.model.gfp import GFP_HIGHUSER_MOVABLE
from buddycheck.model.memory import VM_FAULT_OOM
from buddycheck.model.mempolicy import (
    ENOMEM,
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_F_NODE,
    MPOL_F_SHARED,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_PREFERRED,
)
from buddycheck.model.page_table import ZERO_PFN
from buddycheck.model.symmetry import UnitSymmetry
from buddycheck.spec.page_table import PAGE_TABLE_INVARIANTS, PageCacheOnce
from buddycheck.spec.view import view_of

A, B = 0x100000, 0x300000  # where the tests map an object twice


def invariants_hold(m):
    return [str(v) for inv in PAGE_TABLE_INVARIANTS for v in inv.check(view_of(m))]


def reported(m, addr, task=0):
    r = m.get_mempolicy(MPOL_F_ADDR, addr, task=task)
    assert r.ret == 0
    return r.policy, r.nodes


# ---- the shared policy ------------------------------------------------------------------------------------
@pytest.mark.parametrize("second_task", [0, 1])
def test_interleave_on_an_object_mapped_twice_gives_the_same_nodes_at_the_same_offsets(second_task):
    m = machine()
    if second_task:
        m.add_task(1)
    ino = 5  # the pseudo-VMA's vm_pgoff is index + i_ino: index 0 goes to node (0 + 5) % 2 = 1
    m.mmap_shared(A, 6 * PAGE_SIZE, ino)
    m.mmap_shared(B, 6 * PAGE_SIZE, ino, task=second_task)
    assert m.mbind(A, 6 * PAGE_SIZE, MPOL_INTERLEAVE, {0, 1}).ret == 0
    through_b = {i: m.fault(B + i * PAGE_SIZE, task=second_task, cpu=0) for i in (3, 0, 5, 1, 4, 2)}
    assert [through_b[i].nid for i in range(6)] == [1, 0, 1, 0, 1, 0]
    allocated = dict(m.allocated)
    through_a = [m.fault(A + i * PAGE_SIZE, cpu=1) for i in range(6)]
    assert [r.pfn for r in through_a] == [through_b[i].pfn for i in range(6)]  # found in the cache
    assert m.allocated == allocated and len(allocated) == 6
    assert m.tasks[0].il_prev == 0 and invariants_hold(m) == []


def test_the_shared_policy_set_through_one_mapping_is_read_back_through_the_other():
    m = machine()
    m.mmap_shared(A, 2 * PAGE_SIZE, 1)
    m.mmap_shared(B, 2 * PAGE_SIZE, 1)
    m.mbind(A + PAGE_SIZE, PAGE_SIZE, MPOL_BIND, {1})
    assert reported(m, B + PAGE_SIZE) == (MPOL_BIND, frozenset({1}))
    assert reported(m, B) == (MPOL_DEFAULT, frozenset())
    assert [v.policy for v in m.tasks[0].vmas if v.start >= B] == [None]  # B's own policy is untouched
    r = m.fault(B + PAGE_SIZE, cpu=0)
    assert (r.ret, r.nid) == (0, 1)
    shared = m.inodes[1].policy
    assert [(s, e, p.mode, p.flags & MPOL_F_SHARED) for s, e, p in shared] == [(1, 2, MPOL_BIND, MPOL_F_SHARED)]


def test_a_range_without_shared_policy_falls_back_to_the_task_policy():
    m = machine()
    m.mmap_shared(A, PAGE_SIZE, 2)
    m.set_mempolicy(MPOL_PREFERRED, {1})
    assert m.fault(A, cpu=0).nid == 1


def test_mbind_trims_and_splits_the_shared_ranges_as_shared_policy_replace_does():
    m = machine()
    m.mmap_shared(A, 8 * PAGE_SIZE, 3)
    m.mbind(A, 8 * PAGE_SIZE, MPOL_BIND, {0})
    m.mbind(A + 2 * PAGE_SIZE, 3 * PAGE_SIZE, MPOL_INTERLEAVE, {0, 1})
    tree = lambda: [(s, e, p.mode) for s, e, p in m.inodes[3].policy]  # noqa: E731
    assert tree() == [(0, 2, MPOL_BIND), (2, 5, MPOL_INTERLEAVE), (5, 8, MPOL_BIND)]
    m.mbind(A + 3 * PAGE_SIZE, PAGE_SIZE, MPOL_DEFAULT)  # removes [3, 4): the interleave range is split in two
    assert tree() == [(0, 2, MPOL_BIND), (2, 3, MPOL_INTERLEAVE), (4, 5, MPOL_INTERLEAVE), (5, 8, MPOL_BIND)]
    assert reported(m, A + 3 * PAGE_SIZE) == (MPOL_DEFAULT, frozenset())


def test_mbind_over_several_vmas_sets_the_shared_policy_only_where_mbind_range_calls_set_policy():
    # 4.19's mbind_range() calls vma_replace_policy() (and so shmem_set_policy) for a VMA it splits, but
    # `continue`s past one that vma_merge() joined to a previous VMA already holding the new policy: the
    # merged VMAs get the policy, the object's ranges under them keep theirs
    m = machine()
    m.mmap_shared(A, 8 * PAGE_SIZE, 3)
    m.mbind(A, 8 * PAGE_SIZE, MPOL_BIND, {0})
    m.mbind(A + 2 * PAGE_SIZE, 3 * PAGE_SIZE, MPOL_INTERLEAVE, {0, 1})
    m.mbind(A + 3 * PAGE_SIZE, PAGE_SIZE, MPOL_DEFAULT)
    assert m.mbind(A + PAGE_SIZE, 6 * PAGE_SIZE, MPOL_PREFERRED, {1}).ret == 0
    tree = [(s, e, p.mode) for s, e, p in m.inodes[3].policy]
    assert tree == [(0, 1, MPOL_BIND), (1, 2, MPOL_PREFERRED), (2, 3, MPOL_INTERLEAVE), (4, 5, MPOL_INTERLEAVE),
                    (5, 8, MPOL_BIND)]
    assert [(v.vm_pgoff, v.pages, v.policy.mode) for v in m.tasks[0].vmas] == [
        (0, 1, MPOL_BIND), (1, 6, MPOL_PREFERRED), (7, 1, MPOL_BIND)]
    assert reported(m, A + 2 * PAGE_SIZE)[0] == MPOL_INTERLEAVE
    assert reported(m, A + 6 * PAGE_SIZE)[0] == MPOL_BIND


def test_a_cpuset_change_rebinds_the_vma_policy_but_not_the_shared_one():
    m = machine(nodes=3)
    m.mmap_shared(A, PAGE_SIZE, 0)
    m.mbind(A, PAGE_SIZE, MPOL_BIND, {2})
    assert m.set_cpuset(0, {0, 1}).ret == 0
    assert m.tasks[0].vmas[0].policy.nodes != frozenset({2})  # mpol_rebind_mm moved the VMA's copy
    assert m.inodes[0].policy[0][2].nodes == frozenset({2})  # the object's policy stays where it was


# ---- the page cache ---------------------------------------------------------------------------------------
def test_a_read_fault_allocates_the_objects_page_never_the_zero_page():
    m = machine()
    m.mmap_shared(A, PAGE_SIZE, 1)
    r = m.fault(A, write=False)
    assert r.ret == 0 and r.pfn != ZERO_PFN and m.inodes[1].pages == ((0, r.pfn),)
    assert m.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, A).policy == r.nid


def test_a_shmem_fault_on_a_thp_machine_falls_back_to_a_small_page():
    # transparent_hugepage_enabled() is true for every VMA in 4.19; create_huge_pmd() falls back for shmem,
    # whose vm_ops have no huge_fault
    m = Kernel419(nodes_topology(1 << 10, max_order=11, pageblock_order=9))
    m.mmap_shared(0x200000, 0x200000, 1)
    r = m.fault(0x200000)
    assert (r.ret, r.order) == (0, 0) and m.inodes[1].pages == ((0, r.pfn),)


def test_a_page_at_a_later_offset_is_shared_with_a_mapping_starting_there():
    m = machine()
    m.mmap_shared(A, 4 * PAGE_SIZE, 1)
    m.mmap_shared(B, 2 * PAGE_SIZE, 1, pgoff=2)
    pfn = m.fault(A + 3 * PAGE_SIZE).pfn
    assert m.fault(B + PAGE_SIZE).pfn == pfn and len(m.allocated) == 1
    assert invariants_hold(m) == []


def test_munmap_keeps_the_page_while_a_mapping_remains_and_the_last_munmap_frees_it():
    m = machine()
    m.mmap_shared(A, 2 * PAGE_SIZE, 7)
    m.mmap_shared(B, 2 * PAGE_SIZE, 7)
    before = free_pages(m)
    pfns = [m.fault(A + i * PAGE_SIZE).pfn for i in range(2)]
    assert m.munmap(A, 2 * PAGE_SIZE).ret == 0
    assert free_pages(m) == before - 2 and m.inodes[7].pages == ((0, pfns[0]), (1, pfns[1]))
    assert m.tasks[0].page_table == () and invariants_hold(m) == []
    assert m.fault(B + PAGE_SIZE).pfn == pfns[1] and free_pages(m) == before - 2
    assert m.munmap(B, PAGE_SIZE).ret == 0 and 7 in m.inodes  # part of B still maps the object
    assert m.munmap(B + PAGE_SIZE, PAGE_SIZE).ret == 0
    assert 7 not in m.inodes and free_pages(m) == before and m.allocated == {}


def test_one_munmap_over_two_mappings_of_an_object_evicts_it_once():
    m = machine()
    m.mmap_shared(A, PAGE_SIZE, 1)
    m.mmap_shared(A + 2 * PAGE_SIZE, PAGE_SIZE, 1)
    m.fault(A)
    assert m.munmap(A, 3 * PAGE_SIZE).ret == 0 and m.inodes == {} and m.allocated == {}


def test_a_failed_allocation_is_enomem_and_caches_nothing():
    m = machine(pages_per_node=4, nodes=1)
    m.mmap_shared(A, 8 * PAGE_SIZE, 1)
    rets = [m.fault(A + i * PAGE_SIZE).ret for i in range(5)]
    assert rets == [0, 0, 0, 0, -ENOMEM]
    assert [index for index, _ in m.inodes[1].pages] == [0, 1, 2, 3] and invariants_hold(m) == []


def test_a_cached_page_is_not_freed_by_free_nor_offered_to_the_search():
    m = machine()
    m.mmap_shared(A, PAGE_SIZE, 1)
    pfn = m.fault(A).pfn
    m.munmap(A, PAGE_SIZE)  # the last mapping: the object and its page go
    assert m.allocated == {}
    m.mmap_shared(A, PAGE_SIZE, 1)
    m.mmap_shared(B, PAGE_SIZE, 1)
    pfn = m.fault(A).pfn
    m.munmap(A, PAGE_SIZE)
    with pytest.raises(InvalidOperation, match="inode 1 caches it"):
        m.free(pfn)
    sc = Scenario("cached", m.topology, extra_ops=(Fault(A),),
                  setup=(MmapShared(A, PAGE_SIZE, 1), MmapShared(B, PAGE_SIZE, 1), Fault(A), Munmap(A, PAGE_SIZE)))
    assert not any(isinstance(op, Free) for op in sc.actions(sc.initial()))


def test_a_forked_child_finds_the_parents_shmem_page_without_allocating():
    m = machine()
    m.mmap_shared(A, 2 * PAGE_SIZE, 5)
    parent = m.fault(A, cpu=0)  # no policy anywhere: the local node
    assert (parent.ret, parent.nid, len(m.allocated)) == (0, 0, 1)
    child = m.fork(0).ret
    # a shared mapping has no anon_vma: copy_page_range copies no entry and write-protects nothing
    assert m.tasks[child].vmas == m.tasks[0].vmas and m.tasks[child].page_table == ()
    assert m.tasks[0].wrprotected == () and m.tasks[child].wrprotected == ()
    got = m.fault(A, task=child, cpu=1)  # found in the object's cache, not allocated on the child's node 1
    assert (got.ret, got.pfn, got.nid, len(m.allocated)) == (0, parent.pfn, 0, 1)
    assert "find_lock_entry" in m.observed and m.tasks[child].wrprotected == ()
    before = m.freeze()
    assert m.fault(A, cpu=0).pfn == parent.pfn and m.freeze() == before  # the parent still writes it in place
    assert invariants_hold(m) == []
    # one object, held by both tasks' VMAs: the parent's munmap keeps it, the child's evicts it
    assert m.munmap(A, 2 * PAGE_SIZE).ret == 0 and list(m.allocated) == [parent.pfn] and 5 in m.inodes
    assert m.munmap(A, 2 * PAGE_SIZE, task=child).ret == 0 and m.allocated == {} and 5 not in m.inodes


def test_mbind_move_of_a_shmem_page_moves_it_in_the_objects_cache_too():
    m = machine()
    m.mmap_shared(A, PAGE_SIZE, 4)
    old = m.fault(A, cpu=0)  # no policy: the local node 0
    assert old.nid == 0
    assert m.mbind(A, PAGE_SIZE, MPOL_BIND, {1}, flags=MPOL_MF_MOVE).ret == 0
    (_, new, _), = m.tasks[0].page_table
    assert m.page_zone(new).nid == 1 and m.inodes[4].pages == ((0, new),)  # migrate_page_move_mapping
    assert list(m.allocated) == [new] and invariants_hold(m) == []


# ---- mappings ---------------------------------------------------------------------------------------------
def test_mapping_misuse_is_refused_and_changes_nothing():
    m = machine()
    m.mmap_shared(A, 2 * PAGE_SIZE, 1)
    before = m.freeze()
    for call, match in ((lambda: m.mmap_shared(B, PAGE_SIZE, 2, pgoff=1), "pgoff 0"),
                        (lambda: m.mmap_shared(B, 2 * PAGE_SIZE, 1, pgoff=1), "not inside it"),
                        (lambda: m.mmap_shared(A + PAGE_SIZE, PAGE_SIZE, 3), "overlaps"),
                        (lambda: m.mmap_shared(B, PAGE_SIZE, -1), "non-negative")):
        with pytest.raises(InvalidOperation, match=match):
            call()
        assert m.freeze() == before


def test_a_mapping_of_the_same_object_joins_a_neighbour_whose_offsets_continue_and_nothing_else():
    m = machine()
    m.mmap_shared(A, 2 * PAGE_SIZE, 1)
    m.mmap(A + 2 * PAGE_SIZE, PAGE_SIZE)  # anonymous memory never joins a shmem VMA
    m.mmap_shared(A - PAGE_SIZE, PAGE_SIZE, 2)  # a new object: never joined
    m.mmap_shared(B, PAGE_SIZE, 1)
    m.mmap_shared(B + PAGE_SIZE, PAGE_SIZE, 1, pgoff=1)  # continues B's offsets: joined
    assert [(v.start, v.end, v.vm_pgoff, v.file) for v in m.tasks[0].vmas] == [
        (A - PAGE_SIZE, A, 0, 2), (A, A + 2 * PAGE_SIZE, 0, 1), (A + 2 * PAGE_SIZE, A + 3 * PAGE_SIZE,
                                                                (A >> 12) + 2, None),
        (B, B + 2 * PAGE_SIZE, 0, 1)]


# ---- the invariant ----------------------------------------------------------------------------------------
def test_page_cache_once_judges_free_wrong_order_and_twice_cached_pages():
    m = machine()
    m.mmap_shared(A, 2 * PAGE_SIZE, 1)
    pfn = m.fault(A).pfn
    view = view_of(m)
    assert view.cached == ((1, 0, pfn),) and PageCacheOnce().check(view) == []
    other = m.alloc(0, order=1, cpu=0).page
    free_pfn = next(p for p in range(32) if p not in m.allocated and p != other + 1)
    cases = {
        "not an allocated block": ((1, 1, free_pfn),),
        "not 0": ((1, 1, other),),
        "cached twice": ((1, 0, pfn), (2, 0, pfn)),
    }
    for words, cached in cases.items():
        found = PageCacheOnce().check(replace(view_of(m), cached=cached))
        assert len(found) == 1 and words in found[0].message, (words, found)


# ---- freeze, restore, symmetry ----------------------------------------------------------------------------
def test_objects_freeze_and_restore_and_a_malformed_one_is_refused():
    m = machine()
    m.mmap_shared(A, 2 * PAGE_SIZE, 1)
    m.mbind(A, PAGE_SIZE, MPOL_BIND, {1})
    m.fault(A)
    state = m.freeze()
    fresh = machine()
    fresh.restore(state)
    assert fresh.inodes == m.inodes and fresh.freeze() == state
    bad = state._replace(inodes=(replace(state.inodes[0], pages=((0, 10**6),)),))
    with pytest.raises(StateMismatch, match="pfn"):
        fresh.restore(bad)
    assert fresh.freeze() == state


def test_exchanging_units_moves_the_cached_pages_too():
    m = machine(pages_per_node=16, max_order=2, pageblock_order=1)
    sym = UnitSymmetry(m)
    m.mmap_shared(A, PAGE_SIZE, 1)
    pfn = m.fault(A).pfn
    state = m.freeze()
    unit = pfn >> sym.shift
    swap = next(s for s in sym.swaps() if unit in s)
    moved = sym.relabel(state, swap)
    f = sym.pfn_map(swap)
    assert moved.inodes[0].pages == ((0, f(pfn)),) and moved.tasks[0].page_table == ((A, f(pfn), 0),)
    assert f(pfn) != pfn


# ---- planted bugs -----------------------------------------------------------------------------------------
ShmemFaultUsesVmaPolicy = Kernel419.variant("shmem-fault-uses-vma-policy",
                                            "a shmem fault allocates with the faulting VMA's own policy")


@ShmemFaultUsesVmaPolicy.override
def shmem_fault(k, vma, addr):
    info = k.inodes[vma.file]
    index = ((addr - vma.start) >> PAGE_SHIFT) + vma.vm_pgoff
    page = k.find_lock_entry(info, index)
    if page is None:  # allocated for the faulting VMA as if it were anonymous: its own vm_policy
        page = k.alloc_pages_vma(GFP_HIGHUSER_MOVABLE, 0, replace(vma, file=None), addr, k.numa_node_id(), False)
        if page is None:
            return VM_FAULT_OOM, None
        k.shmem_add_to_page_cache(info, index, page)
    return 0, page


MunmapFreesCachedPage = Kernel419.variant("munmap-frees-cached-page", "munmap frees a shmem page as if private")


@MunmapFreesCachedPage.override
def unmap_region(k, task, start, end):
    from buddycheck.model.page_table import entries_in, without
    for entry in entries_in(task.page_table, start, end):
        task.page_table = without(task.page_table, [entry])
        if entry[1] != ZERO_PFN:
            k.__free_pages(entry[1], entry[2])


def two_mappings(extra_ops, more_setup=(), depth=2):
    return Scenario("shmem-two-mappings", nodes_topology(8), extra_ops=extra_ops,
                    setup=(MmapShared(A, PAGE_SIZE, 0), MmapShared(B, PAGE_SIZE, 0), *more_setup), depth=depth)


def explore(scenario, depth):
    return Explorer(scenario).check(*all_properties()).all_violations().depth(depth).run()


def test_planted_shmem_fault_with_the_vma_policy_differs_in_the_node_of_the_first_fault():
    sc = two_mappings((Fault(B),), (Mbind(A, PAGE_SIZE, MPOL_BIND, frozenset({1})),), depth=2)
    report = diff(Kernel419, ShmemFaultUsesVmaPolicy, sc, depth=2, shrink=False)
    last = report.difference.last
    assert report.difference.length == 1
    assert (last.base.observation.node, last.head.observation.node) == (1, 0)


def test_planted_munmap_freeing_the_cached_page_is_caught_after_a_fault_and_a_munmap():
    sc = two_mappings((Fault(A), Munmap(A, PAGE_SIZE)), depth=3)
    assert explore(sc.with_model(MunmapFreesCachedPage), 1).violations == []
    report = explore(sc.with_model(MunmapFreesCachedPage), 2)
    found = {v.invariant: v for v in report.violations}
    assert found["page_cache_once"].length == 2
    assert [op.kind for op in found["page_cache_once"].trace] == ["fault", "munmap"]
    again = replay(sc.with_model(MunmapFreesCachedPage), found["page_cache_once"].trace,
                   [p for p in all_properties() if p.name == "page_cache_once"], strict=False)
    assert again.violation_of("page_cache_once").length == 2
    assert explore(sc, 3).violations == []  # 4.19 itself keeps every invariant here


# ---- scenario files and traces ----------------------------------------------------------------------------
def test_mmap_shared_tables_become_setup_steps_and_replay_as_code():
    doc = {"topology": {"preset": "numa2"}, "task": [{"id": 1, "mems": [0, 1]}],
           "mmap_shared": [{"start": A, "length": 2 * PAGE_SIZE, "obj": 4},
                           {"start": B, "length": PAGE_SIZE, "obj": 4, "pgoff": 1, "task": 1}],
           "mbind": [{"start": A, "length": 2 * PAGE_SIZE, "mode": "MPOL_INTERLEAVE", "nodes": [0, 1]}],
           "fault": [{"addr": A + PAGE_SIZE}, {"addr": B, "task": 1}]}
    sc = scenario_from_dict(doc)
    assert sc.setup[-2:] == (MmapShared(A, 2 * PAGE_SIZE, 4), MmapShared(B, PAGE_SIZE, 4, 1, 1))
    assert MmapShared(B, PAGE_SIZE, 4, 1, 1).code() == f"m.mmap_shared({B:#x}, {PAGE_SIZE:#x}, 4, pgoff=1, task=1)"
    report = Explorer(sc).check(*all_properties()).depth(3).run()
    assert report.violations == [] and report.reachable_states > 1
    op = MmapShared(B, PAGE_SIZE, 4, 1, 1)
    assert op_from_dict(op_to_dict(op)) == op
    assert op_to_dict(op) == {"kind": "mmap_shared", "start": B, "length": PAGE_SIZE, "obj": 4, "pgoff": 1, "task": 1}


def test_a_bad_mmap_shared_table_names_the_key():
    doc = {"topology": {"preset": "numa2"}, "mmap_shared": [{"start": A, "length": PAGE_SIZE, "obj": -1}]}
    with pytest.raises(Exception, match="obj"):
        scenario_from_dict(doc)
