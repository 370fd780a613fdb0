"""The page cache of files and shmem objects, and faults on a file mapping (mm/filemap.c; Linux 4.19).

An `Inode` is a file or a shmem object as an immutable value: its inode number, its size in pages,
whether it is shmem (model/shmem.py), its shared policy (shmem only) and its page cache (index ->
page). A machine keeps one per inode number in `k.inodes`; a VMA names the one it maps by `VMA.file`
(None for anonymous memory) and says by `VMA.shared` whether it is a MAP_SHARED mapping.

A fault on a file mapping (filemap_fault) finds the page at the faulting index in the file's cache,
or reads it in (page_cache_read): __page_cache_alloc allocates it with alloc_pages(), that is with
the task's policy (alloc_pages_current), never with the VMA's, and it enters the cache
(add_to_page_cache_lru). The page stays cached after every mapping of the file is gone: a named file
outlives its mappings, and the model has no reclaim, truncation nor unlink.

Abstracted away: file contents, I/O and errors (readpage always succeeds), readahead (the file's
ra_pages is 0, as with `blockdev --setra 0`, so a fault reads only its own page; with readahead the
pages around it would be allocated the same way, by the task policy), cpuset page spreading
(memory_spread_page is off, its default, so cpuset_do_page_mem_spread() is false), the LRU,
writeback and dirty accounting (page_mkwrite), the file's size changing, and faults beyond it (a
mapping must lie inside its file).
"""

from dataclasses import dataclass, replace

from .constants import PAGE_SHIFT
from .gfp import GFP_HIGHUSER_MOVABLE
from .kernel import kernel_function
from .mempolicy import ENOMEM

VM_FAULT_OOM = 0x0001  # include/linux/mm.h (as model/memory.py)


@dataclass(frozen=True)
class Inode:
    """A file or shmem object as a value: inode number, size in pages, shmem or not, shared policy, page cache.

    policy: shmem only, sorted (start, end, Mempolicy) page-offset ranges that do not overlap (sp_node);
    pages: sorted (index, pfn) of the pages in its cache (order 0 each).
    """

    ino: int
    size: int
    shmem: bool = False
    policy: tuple = ()
    pages: tuple = ()

    def page_at(self, index):
        """The pfn cached at index, or None."""
        for i, pfn in self.pages:
            if i == index:
                return pfn
        return None

    def __str__(self):
        what = "shmem object" if self.shmem else "file"
        ranges = ", ".join(f"[{s}, {e}) {p}" for s, e, p in self.policy)
        policy = f"; policy {ranges or 'none'}" if self.shmem else ""
        return f"{what} {self.ino} ({self.size} pages, {len(self.pages)} cached{policy})"


def page_in_cache(k, pfn):
    """Whether a file's or shmem object's cache holds pfn (the cache's reference: put_page leaves the page there)."""
    return any(p == pfn for inode in k.inodes.values() for _, p in inode.pages)


def linear_page_index(vma, addr):
    """linear_page_index(): the file index addr maps in vma."""
    return ((addr - vma.start) >> PAGE_SHIFT) + vma.vm_pgoff


@kernel_function
def find_lock_entry(k, inode, index):
    """find_lock_entry(): the page the cache holds at index, or None (shmem's lookup)."""
    return inode.page_at(index)


@kernel_function
def find_get_page(k, inode, index):
    """find_get_page() (pagecache_get_page() without flags): the page the cache holds at index, or None."""
    return inode.page_at(index)


def with_cached_page(inode, index, page):
    """The inode with page in its cache at index (__add_to_page_cache_locked's radix tree insertion)."""
    return replace(inode, pages=tuple(sorted(inode.pages + ((index, page),))))


def with_page_replaced(inode, old, new):
    """The inode with page `new` cached where `old` was (migration's replacement in the radix tree)."""
    return replace(inode, pages=tuple((index, new if pfn == old else pfn) for index, pfn in inode.pages))


@kernel_function
def add_to_page_cache_lru(k, inode, index, page):
    """add_to_page_cache_lru(): the page enters the cache at index."""
    k.inodes[inode.ino] = with_cached_page(inode, index, page)


@kernel_function
def __page_cache_alloc(k, gfp):
    """__page_cache_alloc(): no cpuset page spreading, so alloc_pages(), the task's policy."""
    return k.alloc_pages_current(gfp, 0)


@kernel_function
def page_cache_read(k, inode, index, gfp):
    """page_cache_read(): allocate a page, add it to the cache and read it; 0 or -ENOMEM."""
    page = k.__page_cache_alloc(gfp)
    if page is None:
        return -ENOMEM
    k.add_to_page_cache_lru(inode, index, page)  # then a_ops->readpage(), which cannot fail here
    return 0


@kernel_function
def filemap_fault(k, vma, addr):
    """filemap_fault(): the cached page at the faulting index, else page_cache_read() and retry; (ret, page)."""
    inode = k.inodes[vma.file]
    index = linear_page_index(vma, addr)
    page = k.find_get_page(inode, index)
    if page is not None:  # do_async_mmap_readahead(): nothing without readahead
        k.observe("find_get_page")  # (a cached page was found: the file-page-found goal)
        return 0, page
    # do_sync_mmap_readahead(): nothing without readahead; no_cached_page:
    if k.page_cache_read(inode, index, GFP_HIGHUSER_MOVABLE):  # vmf->gfp_mask: the mapping's gfp mask
        return VM_FAULT_OOM, None
    return 0, k.find_get_page(k.inodes[vma.file], index)
