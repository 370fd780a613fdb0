"""fork(): the child task and its copy of the mm (kernel/fork.c, mm/memory.c, mm/huge_memory.c, mm/mempolicy.c; 4.19).

copy_process() makes the child from a copy of the parent's task_struct (dup_task_struct), so the
child starts with the parent's mems_allowed and the parent's interleave cursor il_prev (nothing in
copy_process resets il_prev: each task then moves its own copy); its task policy is mpol_dup() of
the parent's (a copy, rebound to the cpuset's mems if the cpuset were being rebound right then);
cpuset_fork() gives it the parent's mems_allowed again. copy_mm() -> dup_mm() -> dup_mmap() copies
every VMA (vm_area_dup) with vma_dup_policy() (its own copy of the VMA's policy) and then its page
table (copy_page_range): each pte of a real page becomes write-protected in parent and child and
the page gains a mapping (copy_one_pte: get_page, page_dup_rmap); a zero-page pte is copied as it
is; a huge pmd likewise (copy_huge_pmd; the huge zero page stays the huge zero page). Nothing is
allocated from the buddy allocator: task_struct, mm, VMAs and page-table pages come from slab or
are abstracted away. The first write in either task then copies or reuses the page
(model/memory.py do_wp_page). A shared mapping (MAP_SHARED: a shmem object or a file,
model/shmem.py, model/filemap.py) is no COW mapping and has no anon_vma: copy_page_range copies
none of its entries (the parent's stay writable, the child's faults find the object's cached
pages), and the copied VMA is one more holder of the same object (its mapping count rises: the
object lives until the last VMA of any task goes). A private file mapping is write-protected like anonymous
memory, so a write in either task copies the file's page (never reusing it: model/memory.py).

A `Mempolicy` is an immutable value, so the copy mpol_dup makes is a new object equal to the old
one: identity is what tells a duplicate from a shared policy (a variant that shares the object
shows it once a rebind changes one task's policy in place).

Abstracted away: the cgroup hierarchy (each task has a cpuset of its own in the model,
model/mempolicy.py, so the child gets a cpuset of its own with the parent's mems: a later write of
one task's cpuset does not rebind the other, where 4.19 keeps both in one cpuset), memory cgroups
(fork of a task in a limited memcg is refused as not modelled: the model charges per task),
pid allocation (the caller names the child's id), the clone flags (a plain fork: no CLONE_VM, no
CLONE_THREAD), fork's failures (-ENOMEM from slab, -EAGAIN from RLIMIT_NPROC), VM_DONTCOPY,
VM_WIPEONFORK, and anon_vma of private mappings (copy_page_range skips a VMA without one; the
model copies the entries of every private VMA, which differs only in zero-page entries and a
private file mapping's cached pages, which a read fault would map again).
"""

from dataclasses import replace

from .kernel import kernel_function
from .page_table import ZERO_PFN, with_wrprotected
from .task import Task


@kernel_function
def mpol_dup(k, old):
    """mpol_dup(): NULL stays NULL; else a new policy equal to old, rebound if current's cpuset is being rebound."""
    if old is None:
        return None
    new = replace(old)  # *new = *old
    if k.current_cpuset_is_being_rebound():
        new = k.mpol_rebind_policy(new, k.current.task.mems_allowed)  # cpuset_mems_allowed(current)
    return new


@kernel_function
def vma_dup_policy(k, src):
    """vma_dup_policy(): the new VMA gets its own copy of src's policy (mpol_dup of vma_policy(src))."""
    return k.mpol_dup(src.policy)


@kernel_function
def dup_task_struct(k, orig, tid):
    """dup_task_struct(): the child's task_struct as a copy of the parent's (mems_allowed, il_prev, memcg)."""
    child = Task(tid, orig.mems_allowed, orig.memcg_limit, orig.il_prev)
    child.mempolicy = orig.mempolicy  # copied pointer; copy_process() replaces it with mpol_dup()
    return child


@kernel_function
def cpuset_fork(k, task):
    """cpuset_fork() (cpuset.c, from cgroup_post_fork): the child takes current's mems_allowed."""
    task.mems_allowed = k.current.task.mems_allowed


@kernel_function
def copy_page_range(k, dst, src, vma):
    """copy_page_range() of one VMA: copy_one_pte()/copy_huge_pmd() for every entry in [vma.start, vma.end).

    A shared mapping never has an anon_vma, so nothing is copied: the child faults its pages in
    again from the object's cache, and the parent's entries stay writable. In a private mapping
    (a COW mapping) each entry of a real page is write-protected in both tables and the page gains
    the child's mapping; zero-page entries are copied as they are.
    """
    if vma.shared:  # !vma->anon_vma: a fault fills the child's entries
        return
    entries = [e for e in src.page_table if vma.start <= e[0] < vma.end]
    cow = [addr for addr, pfn, _ in entries if pfn != ZERO_PFN]
    src.wrprotected = with_wrprotected(src.wrprotected, cow)  # ptep_set_wrprotect()/pmdp_set_wrprotect()
    dst.wrprotected = with_wrprotected(dst.wrprotected, cow)
    dst.page_table = tuple(sorted(dst.page_table + tuple(entries)))


@kernel_function
def dup_mmap(k, mm, oldmm):
    """dup_mmap(): each VMA copied (vm_area_dup) with its own policy (vma_dup_policy), then its page table."""
    vmas = []
    for mpnt in oldmm.vmas:
        tmp = replace(mpnt, policy=k.vma_dup_policy(mpnt))
        vmas.append(tmp)
        k.copy_page_range(mm, oldmm, mpnt)
    mm.vmas = tuple(vmas)


@kernel_function
def copy_process(k, tid):
    """copy_process() for a plain fork by current: the child task (dup_task_struct, mpol_dup, cpuset, copy_mm)."""
    parent = k.current.task
    p = k.dup_task_struct(parent, tid)
    p.mempolicy = k.mpol_dup(p.mempolicy)
    k.dup_mmap(p, parent)  # copy_mm() -> dup_mm()
    k.cpuset_fork(p)  # cgroup_post_fork()
    return p


@kernel_function
def _do_fork(k, tid):
    """_do_fork(): copy_process(), then the child is runnable (wake_up_new_task); returns the child's id."""
    p = k.copy_process(tid)
    k.tasks[tid] = p
    return tid
