"""Shared anonymous memory: shmem objects, their shared policy and their page cache (mm/shmem.c, mm/mempolicy.c,
mm/memory.c, mm/mmap.c; Linux 4.19).

A mapping made with MAP_SHARED|MAP_ANONYMOUS (shmem_zero_setup) refers to a shmem object: an inode
with a size, a shared policy tree (struct shared_policy: page-offset ranges of the object, each with
its own policy) and a page cache (index -> page). The object is an `Inode` with `shmem` set
(model/filemap.py) in `k.inodes`, and a VMA names it by `VMA.file` (its inode number), vm_pgoff
being the object's page offset at the VMA's start; faults reach it through model/vm_fault.py.

What differs from private anonymous memory, as 4.19 does it:
- mbind on such a VMA sets the object's shared policy for the VMA's page range
  (vma_replace_policy -> vm_ops->set_policy = shmem_set_policy -> mpol_set_shared_policy ->
  shared_policy_replace, which trims and splits the ranges it overlaps and never merges), as well
  as the VMA's own copy; get_mempolicy(MPOL_F_ADDR) and alloc_pages_vma read the shared policy
  (vm_ops->get_policy = shmem_get_policy), never the VMA's copy; a range with no shared policy
  falls back to the task policy.
- a fault (read or write) on an empty pte finds the object's page at that index in its cache, or
  allocates it there (shmem_getpage_gfp -> shmem_alloc_page): GFP_HIGHUSER_MOVABLE through
  alloc_pages_vma on a pseudo-VMA whose policy is the shared policy of the index and whose vm_pgoff
  is index + i_ino, so interleave goes by object offset, biased by the inode number; the page is
  then mapped (finish_fault). A second mapping of the object, in the same task or another, finds
  the same page without allocating.
- munmap zaps the entries but frees no cached page: the page cache holds it. The object lives while
  a VMA maps it (its file is held only by its VMAs); when the last one goes (remove_vma -> fput),
  shmem_evict_inode truncates the cache, freeing every page, and frees the shared policy.

Abstracted away: tmpfs files, SysV shm and memfd (an object is made only by MAP_SHARED|MAP_ANONYMOUS,
named by its inode number, which the scenario chooses; mapping an existing object again stands for
mapping the same file), the tmpfs mount policy (mpol_shared_policy_init starts every tree empty),
shmem huge pages (shmem_enabled=never, 4.19's default, so every shmem page is order 0), swap,
truncation by ftruncate or fallocate, shmem_acct_block and memcg charging, and MAP_PRIVATE
mappings of a shmem object. Faults beyond the object's size cannot happen: a mapping must lie
inside its object.
"""

from dataclasses import replace

from .constants import PAGE_SIZE
from .filemap import Inode, linear_page_index, with_cached_page
from .gfp import GFP_HIGHUSER_MOVABLE
from .kernel import kernel_function
from .mempolicy import ENOMEM, MPOL_F_SHARED, VMA

VM_FAULT_OOM = 0x0001  # include/linux/mm.h (as model/memory.py)


@kernel_function
def vma_is_shmem(k, vma):
    """vma_is_shmem(): the VMA maps a shmem object (its vm_ops are shmem's)."""
    return vma.file is not None and k.inodes[vma.file].shmem


# ---- the shared policy tree (mm/mempolicy.c) -------------------------------------------------------------
@kernel_function
def sp_lookup(k, sp, start, end):
    """sp_lookup(): the index in sp of the first range overlapping [start, end), or None."""
    for i, (s, e, _) in enumerate(sp):
        if s < end and start < e:
            return i
    return None


@kernel_function
def mpol_shared_policy_lookup(k, sp, idx):
    """mpol_shared_policy_lookup(): the policy of the range holding idx, or None (an empty tree: none)."""
    i = k.sp_lookup(sp, idx, idx + 1)
    return None if i is None else sp[i][2]


@kernel_function
def sp_alloc(k, start, end, pol):
    """sp_alloc(): a new range [start, end) holding a copy of pol marked MPOL_F_SHARED."""
    return (start, end, replace(pol, flags=pol.flags | MPOL_F_SHARED))


@kernel_function
def shared_policy_replace(k, sp, start, end, new):
    """shared_policy_replace(): the tree with [start, end) cleared of old ranges (trimmed or split), then new added."""
    out = list(sp)
    i = k.sp_lookup(out, start, end)
    while i is not None and i < len(out) and out[i][0] < end:
        s, e, pol = out[i]
        if s >= start:
            if e <= end:
                del out[i]  # sp_delete()
                continue
            out[i] = (end, e, pol)
        elif e > end:  # an old range spanning the whole new one: split in two
            out[i] = (s, start, pol)
            out.insert(i + 1, (end, e, pol))
            break
        else:
            out[i] = (s, start, pol)
        i += 1
    if new is not None:
        out.append(new)  # sp_insert()
    return tuple(sorted(out, key=lambda n: n[0]))


@kernel_function
def mpol_set_shared_policy(k, info, vma, npol):
    """mpol_set_shared_policy(): npol (None: remove) over the VMA's pages of the object; 0."""
    new = None
    if npol is not None:
        new = k.sp_alloc(vma.vm_pgoff, vma.vm_pgoff + vma.pages, npol)
    tree = k.shared_policy_replace(info.policy, vma.vm_pgoff, vma.vm_pgoff + vma.pages, new)
    k.inodes[info.ino] = replace(info, policy=tree)
    return 0


# ---- shmem's vm_operations (mm/shmem.c) -------------------------------------------------------------------
@kernel_function
def shmem_set_policy(k, vma, mpol):
    """shmem_set_policy(): vm_ops->set_policy, the object's shared policy for the VMA's range."""
    return k.mpol_set_shared_policy(k.inodes[vma.file], vma, mpol)


@kernel_function
def shmem_get_policy(k, vma, addr):
    """shmem_get_policy(): vm_ops->get_policy, the shared policy at the object index addr maps (None: none)."""
    return k.mpol_shared_policy_lookup(k.inodes[vma.file].policy, linear_page_index(vma, addr))


@kernel_function
def shmem_pseudo_vma_init(k, info, index):
    """shmem_pseudo_vma_init(): a VMA holding only the shared policy of index; vm_pgoff = index + i_ino."""
    return VMA(0, PAGE_SIZE, index + info.ino, k.mpol_shared_policy_lookup(info.policy, index))


@kernel_function
def shmem_alloc_page(k, gfp, info, index):
    """shmem_alloc_page(): alloc_page_vma() on the pseudo-VMA (offset interleave by index + i_ino)."""
    pvma = k.shmem_pseudo_vma_init(info, index)
    return k.alloc_pages_vma(gfp, 0, pvma, 0, k.numa_node_id(), False)


@kernel_function
def shmem_add_to_page_cache(k, info, index, page):
    """shmem_add_to_page_cache(): the page enters the object's cache at index."""
    k.inodes[info.ino] = with_cached_page(info, index, page)


@kernel_function
def shmem_getpage_gfp(k, info, index, gfp):
    """shmem_getpage_gfp() with SGP_CACHE: the cached page, else a new one added to the cache; (0 or -ENOMEM, page)."""
    page = k.find_lock_entry(info, index)
    if page is not None:
        k.observe("find_lock_entry")  # (a cached page was found: the shmem-page-found goal)
        return 0, page
    page = k.shmem_alloc_page(gfp, info, index)  # shmem_alloc_and_acct_page(), huge pages never
    if page is None:
        return -ENOMEM, None
    k.shmem_add_to_page_cache(info, index, page)
    return 0, page


@kernel_function
def shmem_fault(k, vma, addr):
    """shmem_fault(): vm_ops->fault; the object's page at the faulting index, or VM_FAULT_OOM; (ret, page)."""
    info = k.inodes[vma.file]
    err, page = k.shmem_getpage_gfp(info, linear_page_index(vma, addr), GFP_HIGHUSER_MOVABLE)  # mapping_gfp_mask()
    if err:
        return VM_FAULT_OOM, None
    return 0, page


# ---- the object's life (mm/shmem.c, mm/mmap.c) ------------------------------------------------------------
@kernel_function
def shmem_zero_setup(k, ino, pages):
    """shmem_zero_setup(): a new object of `pages` pages with an empty shared policy tree and cache."""
    k.inodes[ino] = Inode(ino, pages, shmem=True)


@kernel_function
def shmem_evict_inode(k, info):
    """shmem_evict_inode(): truncate the cache (every page freed) and free the shared policy; the object goes."""
    for index, page in info.pages:  # shmem_truncate_range()
        k.inodes[info.ino] = info = replace(info, pages=tuple(p for p in info.pages if p[0] != index))
        k.observe("shmem_evict_inode")  # (a cached page was freed: the shmem-evicted goal)
        k.__free_pages(page, 0)
    del k.inodes[info.ino]  # mpol_free_shared_policy(), then the inode is destroyed


@kernel_function
def remove_vma(k, vma, detached=()):
    """remove_vma(): drop the VMA's hold on its file (fput); the last one evicts a shmem object.

    The holders left are the VMAs of every task and `detached`, those munmap detached and has yet to
    remove. A named file stays, with its cache (model/filemap.py).
    """
    if not k.vma_is_shmem(vma):
        return
    holders = [v for t in k.tasks.values() for v in t.vmas] + list(detached)
    if not any(v.file == vma.file for v in holders):
        k.shmem_evict_inode(k.inodes[vma.file])
