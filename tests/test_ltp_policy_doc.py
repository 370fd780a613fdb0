"""The kernel's numa_memory_policy.rst (Documentation/admin-guide/mm, 4.19) stated against the model:
the statements no other test states already (catalogue: tests/ltp_expectations.py names the tests
that state the rest).
"""

from ltp_helpers import BASE, count_nodes, fault_range, fork_child, node_of, numa_machine

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.gfp import GFP_KERNEL
from buddycheck.model.mempolicy import (
    MPOL_BIND,
    MPOL_DEFAULT,
    MPOL_F_ADDR,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_PREFERRED,
)


def test_doc_default_on_a_range_falls_back_to_the_task_policy():
    """numa_memory_policy.rst, MPOL_DEFAULT: mbind(MPOL_DEFAULT) removes the range's policy, and "a
    NULL or default vma policy will fall back to the task policy": a page written after it goes where
    the task policy says, and get_mempolicy(MPOL_F_ADDR) reports MPOL_DEFAULT with no node.
    """
    m = numa_machine(2)
    m.mmap(BASE, 2 * PAGE_SIZE)
    assert m.mbind(BASE, 2 * PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    assert m.set_mempolicy(MPOL_PREFERRED, {0}).ret == 0
    fault_range(m, BASE, 1, cpu=1)
    assert node_of(m, BASE) == 1  # the range's BIND wins over the task's PREFERRED
    assert m.mbind(BASE, 2 * PAGE_SIZE, MPOL_DEFAULT, None).ret == 0
    r = m.get_mempolicy(MPOL_F_ADDR, BASE + PAGE_SIZE)
    assert (r.ret, r.policy, r.nodes) == (0, MPOL_DEFAULT, frozenset())
    fault_range(m, BASE + PAGE_SIZE, 1, cpu=1)
    assert node_of(m, BASE + PAGE_SIZE) == 0  # the task's PREFERRED {0} now
    assert node_of(m, BASE) == 1  # a page already mapped stays where it is


def test_doc_interleave_starts_at_its_node_and_falls_back_like_preferred():
    """numa_memory_policy.rst, MPOL_INTERLEAVED: the page offset selects a node and the allocation
    "attempts to allocate a page, starting at the selected node, as if the node had been specified by
    a Preferred policy": with node 1 full, a page interleaved onto node 1 comes from node 0.
    """
    m = numa_machine(2, pages_per_node=16)
    m.mmap(BASE, 16 * PAGE_SIZE)
    assert m.mbind(BASE, 16 * PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    fault_range(m, BASE, 16)  # node 1 is now full
    other = BASE + 32 * PAGE_SIZE
    m.mmap(other, PAGE_SIZE)
    assert m.mbind(other, PAGE_SIZE, MPOL_INTERLEAVE, {1}).ret == 0
    r = m.fault(other, cpu=1)
    assert (r.ret, r.nid) == (0, 0)


def test_doc_static_nodes_with_no_allowed_node_interleave_over_the_new_mems_in_4_19():
    """numa_memory_policy.rst, MPOL_F_STATIC_NODES: "If no nodes from the user's nodemask are now
    allowed, the Default behavior is used." 4.19's mpol_rebind_nodemask instead takes the whole new
    set of allowed nodes when the intersection is empty: an interleave over {1, 2} in a cpuset moved
    to {4, 5} interleaves over 4 and 5, and its pages never go to the local node 0.
    """
    m = numa_machine(6, pages_per_node=16)
    m.add_task(1, {1, 2})
    assert m.set_mempolicy(MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, {1, 2}, task=1).ret == 0
    assert m.set_cpuset(1, {4, 5}).ret == 0
    nids = [m.alloc_pages(GFP_KERNEL, 0, cpu=0, task=1).nid for _ in range(4)]
    assert sorted(nids) == [4, 4, 5, 5]
    r = m.get_mempolicy(0, 0, task=1)
    # get_mempolicy reports the mode with its flag and the user's mask, not the nodes in use
    assert (r.policy, r.nodes) == (MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, frozenset({1, 2}))


def test_doc_task_and_vma_policies_are_inherited_across_fork():
    """numa_memory_policy.rst, Task/Process Policy and VMA Policy: the task policy "is inherited across
    fork()", and VMA policies "are inherited across fork()": the child reports both and places its
    pages by them.
    """
    m = numa_machine(3)
    assert m.set_mempolicy(MPOL_PREFERRED, {2}).ret == 0
    m.mmap(BASE, 2 * PAGE_SIZE)
    assert m.mbind(BASE, PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    child = fork_child(m)
    task, vma = m.get_mempolicy(0, 0, task=child), m.get_mempolicy(MPOL_F_ADDR, BASE, task=child)
    assert ((task.policy, task.nodes), (vma.policy, vma.nodes)) == ((MPOL_PREFERRED, {2}), (MPOL_BIND, {1}))
    fault_range(m, BASE, 2, task=child, cpu=0)
    assert count_nodes(m, BASE, 2, task=child) == {1: 1, 2: 1}  # the bound page, then the preferred one


def test_doc_a_new_policy_leaves_the_pages_already_faulted():
    """numa_memory_policy.rst: a task policy, and by default a VMA policy, "applies only to pages
    allocated after the policy is installed"; pages already faulted in "remain where they were
    allocated". A page written under the default policy on node 0 stays there after set_mempolicy and
    after mbind (no MPOL_MF_MOVE); the next page follows the new policy.
    """
    m = numa_machine(2)
    m.mmap(BASE, 3 * PAGE_SIZE)
    fault_range(m, BASE, 1, cpu=0)
    assert m.set_mempolicy(MPOL_BIND, {1}).ret == 0
    assert m.mbind(BASE, PAGE_SIZE, MPOL_INTERLEAVE, {1}).ret == 0
    fault_range(m, BASE + PAGE_SIZE, 1, cpu=0)
    assert [node_of(m, BASE + i * PAGE_SIZE) for i in range(2)] == [0, 1]


FILE = 3  # a named file's inode number
OBJECT = 4  # a shmem object's


def test_doc_vma_policy_on_file_mappings_applies_only_at_copy_on_write():
    """numa_memory_policy.rst, VMA policy: on a MAP_SHARED file mapping the VMA policy is ignored, and on a
    MAP_PRIVATE one it applies only to the page copied on write; page cache pages are allocated by the
    task policy. Task policy MPOL_PREFERRED {0}, both mappings mbound MPOL_BIND {1}, faults from node
    1's CPU: the shared mapping's page and the private mapping's page read in are on node 0, the private
    mapping's copy after a write on node 1.
    """
    m = numa_machine(2)
    assert m.set_mempolicy(MPOL_PREFERRED, {0}).ret == 0
    shared, private = BASE, BASE + 0x10000
    m.mmap_file(shared, PAGE_SIZE, FILE, shared=True)
    m.mmap_file(private, PAGE_SIZE, FILE + 1)
    for start in (shared, private):
        assert m.mbind(start, PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    fault_range(m, shared, 1, cpu=1)
    assert node_of(m, shared) == 0
    assert m.fault(private, cpu=1, write=False).nid == 0  # read in: the page cache page
    (_, cached), = m.inodes[FILE + 1].pages
    assert m.page_zone(cached).nid == 0
    assert m.fault(private, cpu=1).nid == 1  # written: the private copy, by the VMA's BIND
    assert m.inodes[FILE + 1].pages == ((0, cached),)  # the cached page stays


def test_doc_shared_policy_applies_to_every_task_mapping_the_region():
    """numa_memory_policy.rst, shared policy: a policy set with mbind on a shmem region applies to every
    task mapping it. Task 0 binds its mapping of the object to node 1; task 1, with no policy of its own
    and on node 0's CPU, reports the same policy for its mapping and faults the object's pages on node 1.
    """
    m = numa_machine(2)
    m.add_task(1)
    m.mmap_shared(BASE, 2 * PAGE_SIZE, OBJECT)
    m.mmap_shared(BASE, 2 * PAGE_SIZE, OBJECT, task=1)
    assert m.mbind(BASE, 2 * PAGE_SIZE, MPOL_BIND, {1}).ret == 0
    r = m.get_mempolicy(MPOL_F_ADDR, BASE, task=1)
    assert (r.ret, r.policy, r.nodes) == (0, MPOL_BIND, frozenset({1}))
    fault_range(m, BASE, 2, task=1, cpu=0)
    assert count_nodes(m, BASE, 2, task=1) == {1: 2}
    assert count_nodes(m, BASE, 2) == {1: 2}  # task 0 finds the same pages
