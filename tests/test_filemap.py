"""Mappings of named files (model/filemap.py, model/vm_fault.py): the page cache follows the task's policy.

A file page is read into the cache by __page_cache_alloc, which allocates with alloc_pages(), the
task's policy, whatever the VMA's says; it stays cached after munmap, and a later mapping finds it.
A private mapping's write copies the page with the VMA's policy (do_cow_fault on an empty entry,
wp_page_copy on the cached page mapped read-only). Two planted bugs are caught: a file fault that
allocates with the VMA's policy (by diff, in the node of the first fault) and a munmap that frees
the cached page (by page_cache_once, after a fault and a munmap).
"""

import pytest

from buddycheck.checks.diff import diff
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Fault, Mbind, MmapFile, Munmap
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import scenario_from_dict
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec
from buddycheck.model.constants import PAGE_SIZE, ZONE_NORMAL
from buddycheck.model.errors import InvalidOperation
from buddycheck.model.filemap import VM_FAULT_OOM, linear_page_index
from buddycheck.model.gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL
from buddycheck.model.mempolicy import ENOMEM, MPOL_BIND, MPOL_F_ADDR, MPOL_F_NODE, MPOL_PREFERRED
from buddycheck.model.page_table import ZERO_PFN
from buddycheck.spec.page_table import PAGE_TABLE_INVARIANTS
from buddycheck.spec.view import view_of

A, B = 0x100000, 0x300000


def nodes_topology(pages_per_node, nodes=2):
    zone = dict(watermarks=(0, 0, 0), pcp_high_batch=(0, 1))
    return Topology(
        nodes=tuple(NodeSpec(n, (n,), (ZoneSpec(ZONE_NORMAL, n * pages_per_node, pages_per_node, **zone),))
                    for n in range(nodes)),
        max_order=3, pageblock_order=2, page_group_by_mobility_disabled=False)


def machine(pages_per_node=16, nodes=2):
    return Kernel419(nodes_topology(pages_per_node, nodes))


def invariants_hold(m):
    return [str(v) for inv in PAGE_TABLE_INVARIANTS for v in inv.check(view_of(m))]


def node_of(m, pfn):
    return m.page_zone(pfn).nid


# ---- the page cache follows the task policy ---------------------------------------------------------------
@pytest.mark.parametrize("shared", [False, True])
def test_a_file_page_faulted_under_a_vma_bind_policy_lands_by_the_task_policy(shared):
    m = machine()
    m.mmap_file(A, 2 * PAGE_SIZE, 3, shared=shared)
    assert m.mbind(A, 2 * PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    r = m.fault(A, cpu=0, write=False)  # the task has no policy: local, node 0
    assert (r.ret, r.nid) == (0, 0) and m.inodes[3].pages == ((0, r.pfn),)
    m.set_mempolicy(MPOL_PREFERRED, {1})
    r = m.fault(A + PAGE_SIZE, cpu=0, write=False)
    assert r.nid == 1 and len(m.allocated) == 2 and invariants_hold(m) == []
    # get_mempolicy reads the VMA's own policy (a file has no get_policy), and the node of the cached page
    assert m.get_mempolicy(MPOL_F_ADDR, A).policy == MPOL_BIND
    assert m.get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR, A).policy == 0


def test_a_private_write_fault_maps_a_copy_allocated_with_the_vma_policy():
    m = machine()
    m.mmap_file(A, PAGE_SIZE, 3)
    m.mbind(A, PAGE_SIZE, MPOL_BIND, {1})
    r = m.fault(A, cpu=0)  # do_cow_fault(): the copy first, then the file's page
    cached = m.inodes[3].page_at(0)
    assert (r.ret, r.nid, node_of(m, cached)) == (0, 1, 0) and r.pfn != cached
    assert len(m.allocated) == 2 and invariants_hold(m) == []
    assert m.munmap(A, PAGE_SIZE).ret == 0  # the copy is freed, the file's page stays cached
    assert list(m.allocated) == [cached] and m.inodes[3].pages == ((0, cached),)


def test_a_write_after_a_read_on_a_private_mapping_copies_the_cached_page():
    m = machine()
    m.mmap_file(A, PAGE_SIZE, 3)
    m.mbind(A, PAGE_SIZE, MPOL_BIND, {1})
    read = m.fault(A, cpu=0, write=False)
    assert read.nid == 0 and len(m.allocated) == 1
    before = m.freeze()
    assert m.fault(A, cpu=0, write=False).pfn == read.pfn and m.freeze() == before  # mapped: nothing to do
    write = m.fault(A, cpu=0)  # the cached page is mapped read-only: wp_page_copy() with the VMA's policy
    assert (write.nid, len(m.allocated)) == (1, 2) and write.pfn != read.pfn
    assert m.inodes[3].pages == ((0, read.pfn),) and invariants_hold(m) == []
    again = m.freeze()
    assert m.fault(A, cpu=0).pfn == write.pfn and m.freeze() == again  # the copy is anonymous and writable


def test_a_shared_write_maps_the_cached_page_itself_and_two_mappings_share_it():
    m = machine()
    m.mmap_file(A, PAGE_SIZE, 3, shared=True)
    m.add_task(1)
    m.mmap_file(B, PAGE_SIZE, 3, shared=True, task=1)
    first = m.fault(A, cpu=1)
    second = m.fault(B, task=1, cpu=0)
    assert first.pfn == second.pfn == m.inodes[3].page_at(0) and first.nid == 1
    assert len(m.allocated) == 1 and invariants_hold(m) == []


def test_a_write_fault_in_a_forked_child_copies_a_private_file_page_and_so_does_the_parents():
    m = machine()
    m.mmap_file(A, PAGE_SIZE, 3)
    read = m.fault(A, cpu=0, write=False)  # the cached page, mapped read-only: write-protected
    assert (read.nid, len(m.allocated), m.tasks[0].wrprotected) == (0, 1, (A,))
    child = m.fork(0).ret
    assert m.tasks[child].page_table == ((A, read.pfn, 0),) and m.tasks[child].wrprotected == (A,)
    assert m.mbind(A, PAGE_SIZE, MPOL_BIND, {1}, task=child).ret == 0
    copy = m.fault(A, task=child, cpu=0)  # wp_page_copy() with the child's VMA policy
    assert (copy.ret, copy.nid, len(m.allocated)) == (0, 1, 2) and copy.pfn != read.pfn
    assert m.tasks[child].wrprotected == () and m.inodes[3].pages == ((0, read.pfn),)
    # the parent now maps the file's page once, yet a file's page is never reused: a second copy
    own = m.fault(A, cpu=0)
    assert (own.ret, own.nid, len(m.allocated)) == (0, 0, 3) and own.pfn not in (read.pfn, copy.pfn)
    assert m.tasks[0].wrprotected == () and invariants_hold(m) == []
    assert m.munmap(A, PAGE_SIZE).ret == 0 and m.munmap(A, PAGE_SIZE, task=child).ret == 0
    assert list(m.allocated) == [read.pfn]  # both copies freed, the file's page stays cached


def test_file_pages_stay_cached_after_munmap_and_a_later_mapping_finds_them():
    m = machine()
    m.mmap_file(A, 2 * PAGE_SIZE, 3)
    pfns = [m.fault(A + i * PAGE_SIZE, write=False).pfn for i in range(2)]
    assert m.munmap(A, 2 * PAGE_SIZE).ret == 0
    assert m.tasks[0].vmas == () and sorted(m.allocated) == sorted(pfns) and 3 in m.inodes
    m.mmap_file(B, PAGE_SIZE, 3, pgoff=1)
    assert m.fault(B, write=False).pfn == pfns[1] and len(m.allocated) == 2


def test_a_failed_page_cache_allocation_frees_the_copy_and_is_enomem():
    m = machine(pages_per_node=4, nodes=1)
    for _ in range(3):
        m.alloc(GFP_KERNEL, 0)
    held = dict(m.allocated)
    m.mmap_file(A, PAGE_SIZE, 3)
    r = m.fault(A)  # the copy takes the last page; reading the file's page fails; the copy is put back
    assert r.ret == -ENOMEM and r.pfn is None and m.allocated == held and m.inodes[3].pages == ()


# ---- mappings ---------------------------------------------------------------------------------------------
def test_file_mapping_misuse_is_refused_and_changes_nothing():
    m = machine()
    m.mmap_file(A, 2 * PAGE_SIZE, 3)
    m.mmap_shared(B, PAGE_SIZE, 4)
    before = m.freeze()
    for call, match in ((lambda: m.mmap_file(B + PAGE_SIZE, PAGE_SIZE, 4), "not a file"),
                        (lambda: m.mmap_shared(B + PAGE_SIZE, PAGE_SIZE, 3), "not a shmem object"),
                        (lambda: m.mmap_file(B + PAGE_SIZE, PAGE_SIZE, 3, pgoff=2), "not inside it"),
                        (lambda: m.mmap_file(B + PAGE_SIZE, PAGE_SIZE, 5, shared=1), "true or false")):
        with pytest.raises(InvalidOperation, match=match):
            call()
        assert m.freeze() == before


def test_a_file_mapping_joins_only_a_neighbour_of_the_same_file_mapped_the_same_way():
    m = machine()
    m.mmap_file(B, 8 * PAGE_SIZE, 3)  # the first mapping makes the file, 8 pages long
    m.mmap_file(A, PAGE_SIZE, 3, pgoff=4)
    m.mmap_file(A + PAGE_SIZE, PAGE_SIZE, 3, pgoff=5)  # joined: same file, private, offsets continue
    m.mmap_file(A + 2 * PAGE_SIZE, PAGE_SIZE, 3, pgoff=6, shared=True)  # VM_SHARED differs
    m.mmap_file(A + 3 * PAGE_SIZE, PAGE_SIZE, 3, pgoff=0, shared=True)  # offsets do not continue
    assert [(v.start, v.vm_pgoff, v.pages, v.shared) for v in m.tasks[0].vmas] == [
        (A, 4, 2, False), (A + 2 * PAGE_SIZE, 6, 1, True), (A + 3 * PAGE_SIZE, 0, 1, True), (B, 0, 8, False)]


# ---- planted bugs -----------------------------------------------------------------------------------------
FileFaultUsesVmaPolicy = Kernel419.variant("file-fault-uses-vma-policy",
                                           "a file's page is read into the cache with the VMA's policy")


@FileFaultUsesVmaPolicy.override
def filemap_fault(k, vma, addr):
    inode = k.inodes[vma.file]
    index = linear_page_index(vma, addr)
    page = k.find_get_page(inode, index)
    if page is None:
        page = k.alloc_pages_vma(GFP_HIGHUSER_MOVABLE, 0, vma, addr, k.numa_node_id(), False)
        if page is None:
            return VM_FAULT_OOM, None
        k.add_to_page_cache_lru(inode, index, page)
    return 0, page


MunmapFreesFilePage = Kernel419.variant("munmap-frees-file-page", "munmap frees a file's page as if anonymous")


@MunmapFreesFilePage.override
def unmap_region(k, task, start, end):
    from buddycheck.model.page_table import entries_in, without
    for entry in entries_in(task.page_table, start, end):
        task.page_table = without(task.page_table, [entry])
        if entry[1] != ZERO_PFN:
            k.__free_pages(entry[1], entry[2])


def file_scenario(extra_ops, more_setup=(), depth=2):
    return Scenario("file-mapping", nodes_topology(8), extra_ops=extra_ops,
                    setup=(MmapFile(A, PAGE_SIZE, 3), *more_setup), depth=depth)


def test_planted_file_fault_with_the_vma_policy_differs_in_the_node_of_the_first_fault():
    sc = file_scenario((Fault(A, write=False),), (Mbind(A, PAGE_SIZE, MPOL_BIND, frozenset({1})),))
    report = diff(Kernel419, FileFaultUsesVmaPolicy, sc, depth=2, shrink=False)
    last = report.difference.last
    assert report.difference.length == 1
    assert (last.base.observation.node, last.head.observation.node) == (0, 1)


def test_planted_munmap_freeing_a_file_page_is_caught_after_a_fault_and_a_munmap():
    sc = file_scenario((Fault(A, write=False), Munmap(A, PAGE_SIZE)), depth=3)
    explore = lambda sc, depth: Explorer(sc).check(*all_properties()).all_violations().depth(depth).run()  # noqa: E731
    assert explore(sc.with_model(MunmapFreesFilePage), 1).violations == []
    found = {v.invariant: v for v in explore(sc.with_model(MunmapFreesFilePage), 2).violations}
    assert found["page_cache_once"].length == 2
    assert [op.kind for op in found["page_cache_once"].trace] == ["fault", "munmap"]
    assert explore(sc, 3).violations == []


# ---- scenario files and traces ----------------------------------------------------------------------------
def test_mmap_file_tables_become_setup_steps_and_replay_as_code():
    doc = {"topology": {"preset": "numa2"},
           "mmap_file": [{"start": A, "length": 2 * PAGE_SIZE, "file": 9},
                         {"start": B, "length": PAGE_SIZE, "file": 9, "pgoff": 1, "shared": True}],
           "mbind": [{"start": A, "length": 2 * PAGE_SIZE, "mode": "MPOL_BIND", "nodes": [1]}],
           "fault": [{"addr": A + PAGE_SIZE}, {"addr": B, "write": False}]}
    sc = scenario_from_dict(doc)
    assert sc.setup[-2:] == (MmapFile(A, 2 * PAGE_SIZE, 9), MmapFile(B, PAGE_SIZE, 9, 1, True))
    op = MmapFile(B, PAGE_SIZE, 9, 1, True, 0)
    assert op.code() == f"m.mmap_file({B:#x}, {PAGE_SIZE:#x}, 9, pgoff=1, shared=True, task=0)"
    assert op_from_dict(op_to_dict(op)) == op
    report = Explorer(sc).check(*all_properties()).depth(3).run()
    assert report.violations == [] and report.reachable_states > 1


def test_a_bad_mmap_file_table_names_the_key():
    doc = {"topology": {"preset": "numa2"}, "mmap_file": [{"start": A, "length": PAGE_SIZE, "file": 1,
                                                           "shared": "yes"}]}
    with pytest.raises(Exception, match="shared"):
        scenario_from_dict(doc)
