"""Faults on a VMA that maps a file or a shmem object (mm/memory.c do_fault() and its helpers; Linux 4.19).

A fault on an empty entry of such a VMA is do_fault(): a read is do_read_fault(), a write to a
private mapping do_cow_fault(), a write to a shared one do_shared_fault(). Each gets the page from
the VMA's fault operation (__do_fault(): shmem_fault() for a shmem object, model/shmem.py, or
filemap_fault() for a file, model/filemap.py). A read or shared fault maps that page; a private
write maps a copy of it, allocated first with the VMA's policy (alloc_page_vma(GFP_HIGHUSER_MOVABLE)),
while the file's page stays in its cache. A read fault of a private mapping maps the cached page
write-protected (in Task.wrprotected, as fork's copy-on-write entries are), so a later write is
do_wp_page()'s copy (model/memory.py), never a reuse.

Abstracted away: fault-around (fault_around_bytes is taken as one page, so a read fault maps only
its own page), page_mkwrite and dirty tracking, anon_vma_prepare (cannot fail) and memcg charging.
"""

from .filemap import page_in_cache
from .gfp import GFP_HIGHUSER_MOVABLE
from .kernel import kernel_function
from .mempolicy import PAGE_MASK
from .page_table import with_entry, with_wrprotected

VM_FAULT_OOM = 0x0001  # include/linux/mm.h (as model/memory.py)
FAULT_FLAG_WRITE = 0x01


@kernel_function
def __do_fault(k, vma, addr):
    """__do_fault(): vma->vm_ops->fault, shmem_fault() or filemap_fault(); (ret, page)."""
    if k.inodes[vma.file].shmem:
        return k.shmem_fault(vma, addr)
    return k.filemap_fault(vma, addr)


@kernel_function
def finish_fault(k, task, vma, addr, page):
    """finish_fault() -> alloc_set_pte(): map the page at the faulting address.

    A private mapping's entry of a cached page is read-only (the task's write set, Task.wrprotected),
    so a write copies it; a shared mapping's entry and a private copy are writable.
    """
    page_addr = addr & PAGE_MASK
    task.page_table = with_entry(task.page_table, page_addr, page, 0)
    if not vma.shared and page_in_cache(k, page):
        task.wrprotected = with_wrprotected(task.wrprotected, [page_addr])
    return 0


@kernel_function
def do_read_fault(k, task, vma, addr):
    """do_read_fault(): __do_fault(), then map the page (no fault-around: see the module docstring)."""
    ret, page = k.__do_fault(vma, addr)
    if ret:
        return ret
    return k.finish_fault(task, vma, addr, page)


@kernel_function
def do_cow_fault(k, task, vma, addr):
    """do_cow_fault(): a copy allocated with the VMA's policy, __do_fault() for the original, then map the copy."""
    cow_page = k.alloc_pages_vma(GFP_HIGHUSER_MOVABLE, 0, vma, addr, k.numa_node_id(), False)  # alloc_page_vma()
    if cow_page is None:
        return VM_FAULT_OOM
    ret, page = k.__do_fault(vma, addr)
    if ret:
        k.__free_pages(cow_page, 0)  # put_page(vmf->cow_page)
        return ret
    return k.finish_fault(task, vma, addr, cow_page)  # after copy_user_highpage()


@kernel_function
def do_shared_fault(k, task, vma, addr):
    """do_shared_fault(): __do_fault(), then map the page writable."""
    ret, page = k.__do_fault(vma, addr)
    if ret:
        return ret
    return k.finish_fault(task, vma, addr, page)


@kernel_function
def do_fault(k, task, vma, addr, flags):
    """do_fault(): a read is do_read_fault(); a write do_cow_fault() (private) or do_shared_fault() (shared)."""
    if not flags & FAULT_FLAG_WRITE:
        return k.do_read_fault(task, vma, addr)
    if not vma.shared:
        return k.do_cow_fault(task, vma, addr)
    return k.do_shared_fault(task, vma, addr)
