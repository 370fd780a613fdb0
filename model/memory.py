"""Page faults and munmap as the allocator sees them (mm/memory.c, mm/huge_memory.c, mm/mmap.c; Linux 4.19).

A fault on a user address of a task looks up the VMA (__do_page_fault: an address in no VMA is
SIGSEGV, reported as -EFAULT), then follows __handle_mm_fault: an empty pmd range of a VMA that
allows transparent huge pages tries do_huge_pmd_anonymous_page (a huge zero page for a read, an
order-HPAGE_PMD_ORDER page from alloc_hugepage_vma for a write, falling back to ptes if that fails
or the huge page would not fit in the VMA); otherwise handle_pte_fault: an empty pte is
do_anonymous_page (the zero page for a read, an order-0 page from alloc_pages_vma with
GFP_HIGHUSER_MOVABLE|__GFP_ZERO for a write), or do_fault for a VMA mapping a file or a shmem object
(model/vm_fault.py); a write to a read-only entry is do_wp_page, and anything else is already
mapped as asked (no-op).

Read-only entries: the zero page, a real page fork write-protected (model/fork.py), and a file's
page a private mapping maps (do_read_fault write-protects it, as the kernel maps it without write
permission). A write to such an entry is do_wp_page: wp_page_reuse when the page is anonymous and
mapped once (the entry becomes writable, nothing is allocated), else wp_page_copy (an order-0 page
from alloc_pages_vma with GFP_HIGHUSER_MOVABLE for the faulting task's VMA, replacing its entry;
the old page loses one mapping). A file's page is never reused, even mapped once: 4.19 reuses only
anonymous pages, so a private mapping's write copies it. A write to the zero page is wp_page_copy
with a zeroed page. A huge entry (anonymous only: files have no huge_fault) follows
do_huge_pmd_wp_page: reuse when mapped once, else a new transparent huge page, else
do_huge_pmd_wp_page_fallback (HPAGE_PMD_NR order-0 pages on the old page's node, mapped by ptes).
A page is freed by put_page when its last mapping goes (wp_page_copy, munmap) and no cache holds it:
the mapcount stands for the reference count, plus the reference of a file's or shmem object's cache
(model/filemap.py), which only shmem_evict_inode drops.
Every allocation goes through alloc_pages_vma, so the VMA's policy, else the task's, picks the
node, interleaving by page offset (interleave_nid). A failed allocation is VM_FAULT_OOM (-ENOMEM).

munmap follows do_munmap: -EINVAL for an unaligned start or a length that rounds to zero (or runs
past TASK_SIZE); VMAs straddling either edge are split (split_vma), the covered ones removed, and
each page mapped in the range is unmapped and, with its last mapping (put_page), freed through
__free_pages (a zero page entry is only dropped, and a page a file's or shmem object's cache holds
stays there).

THP is possible only when HPAGE_PMD_ORDER < MAX_ORDER (the kernel's build refuses THP otherwise),
so faults are order-0 only on the model's usual small machines (the portfolio's thp-faults has
MAX_ORDER 10). The sysfs settings are 4.19's defaults: enabled=always (no VMA has VM_HUGEPAGE or
VM_NOHUGEPAGE, there is no madvise), defrag=madvise (so a fault asks for GFP_TRANSHUGE_LIGHT),
use_zero_page=1.

Abstracted away: the page-table pages (pte_alloc cannot fail; a pmd range is empty exactly when no
entry lies in it), anon_vma and the rmap walk (a page's mapcount is counted over the page tables,
model/page_table.py), swap (reuse_swap_page is "mapped once"), KSM, memcg charging of user pages
(mem_cgroup_try_charge), the LRU and the mmu_gather batching (a page is freed by __free_pages as
soon as its last entry is zapped: the same free path release_pages ends in), khugepaged, the
deferred split queue (munmap of part of a transparent huge page is refused as not modelled; an mbind
that splits a VMA inside a huge entry leaves the entry whole, where vma_adjust_trans_huge would
split it), VM_GROWSDOWN stacks (file and shared mappings are model/vm_fault.py's), and a
copy-on-write fault on a shared transparent huge page whose fallback fails (split_huge_pmd of a
mapped huge page): refused as not modelled. Page migration (mbind's MPOL_MF_MOVE, migrate_pages(2),
move_pages(2)) is model/migrate.py.
"""

from .constants import PAGE_SHIFT, PAGE_SIZE
from .errors import InvalidOperation
from .filemap import page_in_cache
from .gfp import __GFP_ZERO, GFP_HIGHUSER_MOVABLE, GFP_TRANSHUGE_LIGHT
from .kernel import kernel_function
from .mempolicy import EFAULT, EINVAL, ENOMEM, PAGE_MASK, TASK_SIZE, ULONG_MASK
from .page_table import (
    ZERO_PFN,
    entries_in,
    entry_size,
    lookup,
    mapcount,
    with_entry,
    without,
    without_wrprotected,
)

HPAGE_PMD_ORDER = 9  # PMD_SHIFT - PAGE_SHIFT on x86-64
HPAGE_PMD_SIZE = PAGE_SIZE << HPAGE_PMD_ORDER
HPAGE_PMD_MASK = ULONG_MASK & ~(HPAGE_PMD_SIZE - 1)

# include/linux/mm.h
VM_FAULT_OOM = 0x0001
VM_FAULT_SIGSEGV = 0x0040
VM_FAULT_FALLBACK = 0x0800
FAULT_FLAG_WRITE = 0x01


def vm_fault_errno(ret):
    """The errno a fault result stands for: 0, -EFAULT for SIGSEGV, -ENOMEM for VM_FAULT_OOM."""
    if ret & VM_FAULT_SIGSEGV:
        return -EFAULT
    if ret & VM_FAULT_OOM:
        return -ENOMEM
    return 0


def thp_possible(k):
    """Whether a transparent huge page is a block this machine's buddy allocator can hand out."""
    return HPAGE_PMD_ORDER < k.MAX_ORDER


def is_writable(task, entry):
    """pte_write()/pmd_write() of an entry: the zero page never, a real page unless fork write-protected it."""
    return entry[1] != ZERO_PFN and entry[0] not in task.wrprotected


def page_to_nid(k, pfn):
    """page_to_nid(): the node of a mapped page; the zero page lies in the kernel image, on the lowest node."""
    if pfn == ZERO_PFN:
        return k.populated_zones[0].nid
    return k.page_zone(pfn).nid


# ---- faults -----------------------------------------------------------------------------------------------
@kernel_function
def __do_page_fault(k, task, addr, flags):
    """__do_page_fault() (arch/x86/mm/fault.c) for a user address: find the VMA, else SIGSEGV; handle_mm_fault()."""
    i = k.find_vma(task.vmas, addr)
    if i is None or task.vmas[i].start > addr:  # bad_area: no VMA, and none grows down
        return VM_FAULT_SIGSEGV
    return k.__handle_mm_fault(task, task.vmas[i], addr, flags)


@kernel_function
def __handle_mm_fault(k, task, vma, addr, flags):
    """__handle_mm_fault(): an empty pmd of a THP VMA tries a huge page; a huge pmd handles a write; else ptes."""
    haddr = addr & HPAGE_PMD_MASK
    pmd = entries_in(task.page_table, haddr, haddr + HPAGE_PMD_SIZE)
    if not pmd and k.transparent_hugepage_enabled(vma):
        ret = k.create_huge_pmd(task, vma, addr, flags)
        if not ret & VM_FAULT_FALLBACK:
            return ret
    elif len(pmd) == 1 and pmd[0][2] == HPAGE_PMD_ORDER:
        if flags & FAULT_FLAG_WRITE and not is_writable(task, pmd[0]):
            ret = k.do_huge_pmd_wp_page(task, vma, addr, pmd[0])
            if not ret & VM_FAULT_FALLBACK:
                return ret
        else:
            return 0  # huge_pmd_set_accessed()
    return k.handle_pte_fault(task, vma, addr, flags)


@kernel_function
def handle_pte_fault(k, task, vma, addr, flags):
    """handle_pte_fault(): an empty pte is do_anonymous_page(), or do_fault() for a file or shmem VMA
    (model/vm_fault.py); a write to a read-only pte do_wp_page()."""
    entry = lookup(task.page_table, addr)
    if entry is None:
        if vma.file is not None:  # !vma_is_anonymous()
            return k.do_fault(task, vma, addr, flags)
        return k.do_anonymous_page(task, vma, addr, flags)
    if flags & FAULT_FLAG_WRITE and not is_writable(task, entry):
        return k.do_wp_page(task, vma, addr)
    return 0


@kernel_function
def alloc_zeroed_user_highpage_movable(k, vma, addr):
    """alloc_zeroed_user_highpage_movable() (x86: alloc_page_vma(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, vma, addr))."""
    return k.alloc_pages_vma(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 0, vma, addr, k.numa_node_id(), False)


@kernel_function
def do_anonymous_page(k, task, vma, addr, flags):
    """do_anonymous_page(): a read maps the zero page; a write allocates a zeroed page and maps it writable."""
    page_addr = addr & PAGE_MASK
    if not flags & FAULT_FLAG_WRITE:  # mm_forbids_zeropage() is false on x86
        task.page_table = with_entry(task.page_table, page_addr, ZERO_PFN, 0)
        return 0
    page = k.alloc_zeroed_user_highpage_movable(vma, addr)
    if page is None:
        return VM_FAULT_OOM
    task.page_table = with_entry(task.page_table, page_addr, page, 0)
    return 0


@kernel_function
def do_wp_page(k, task, vma, addr):
    """do_wp_page(): an anonymous page mapped once is reused; the zero page (no normal page) and a file's page
    (not anonymous, even mapped once) are copied, as is an anonymous page mapped more than once."""
    entry = lookup(task.page_table, addr)
    if entry[1] != ZERO_PFN and not page_in_cache(k, entry[1]) and mapcount(k.tasks.values(), entry[1]) == 1:
        return k.wp_page_reuse(task, entry)  # PageAnon() and reuse_swap_page()
    return k.wp_page_copy(task, vma, addr)


@kernel_function
def wp_page_reuse(k, task, entry):
    """wp_page_reuse(): the entry becomes writable; nothing is allocated (VM_FAULT_WRITE, no error)."""
    k.observe("wp_page_reuse")  # (the cow-reused goal)
    task.wrprotected = without_wrprotected(task.wrprotected, [entry[0]])
    return 0


@kernel_function
def alloc_page_vma(k, gfp, vma, addr):
    """alloc_page_vma(): alloc_pages_vma() of one page, preferring the CPU's node."""
    return k.alloc_pages_vma(gfp, 0, vma, addr, k.numa_node_id(), False)


@kernel_function
def wp_page_copy(k, task, vma, addr):
    """wp_page_copy(): a new page (zeroed for the zero page) replaces the entry, writable; VM_FAULT_OOM if none.

    A file's page is copied with alloc_page_vma(GFP_HIGHUSER_MOVABLE) and the VMA's policy, as a
    shared anonymous page is. The old page loses this mapping (page_remove_rmap) and its reference
    (put_page): the zero page is no buddy page, and a file's page stays in its cache.
    """
    old = lookup(task.page_table, addr)
    if old[1] == ZERO_PFN:
        page = k.alloc_zeroed_user_highpage_movable(vma, addr)
    else:
        page = k.alloc_page_vma(GFP_HIGHUSER_MOVABLE, vma, addr)
    if page is None:
        return VM_FAULT_OOM
    task.page_table = with_entry(task.page_table, old[0], page, 0)
    task.wrprotected = without_wrprotected(task.wrprotected, [old[0]])
    if old[1] != ZERO_PFN:
        if not page_in_cache(k, old[1]):
            k.observe("wp_page_copy")  # (a shared anonymous page was copied: the cow-copied goal)
        k.put_page(old[1], old[2])
    return 0


@kernel_function
def put_page(k, pfn, order):
    """put_page() of a user page one mapping held: the last reference frees it (__free_pages)."""
    if unreferenced(k, pfn):
        k.__free_pages(pfn, order)


def unreferenced(k, pfn):
    """Whether no reference to a user page is left: no entry maps it and no file's or shmem object's cache holds it."""
    return mapcount(k.tasks.values(), pfn) == 0 and not page_in_cache(k, pfn)


# ---- transparent huge pages -------------------------------------------------------------------------------
@kernel_function
def transparent_hugepage_enabled(k, vma):
    """transparent_hugepage_enabled(): enabled=always (4.19's default) where the build has THP at all."""
    return thp_possible(k)


@kernel_function
def create_huge_pmd(k, task, vma, addr, flags):
    """create_huge_pmd(): do_huge_pmd_anonymous_page() for an anonymous VMA; files have no huge_fault: fall back."""
    if vma.file is None:  # vma_is_anonymous()
        return k.do_huge_pmd_anonymous_page(task, vma, addr, flags)
    return VM_FAULT_FALLBACK


@kernel_function
def alloc_hugepage_direct_gfpmask(k, vma):
    """alloc_hugepage_direct_gfpmask(): defrag=madvise and a VMA without VM_HUGEPAGE: GFP_TRANSHUGE_LIGHT."""
    return GFP_TRANSHUGE_LIGHT


@kernel_function
def alloc_hugepage_vma(k, gfp, vma, addr, order):
    """alloc_hugepage_vma(): alloc_pages_vma() with hugepage set, preferring the CPU's node."""
    return k.alloc_pages_vma(gfp, order, vma, addr, k.numa_node_id(), True)


@kernel_function
def do_huge_pmd_anonymous_page(k, task, vma, addr, flags):
    """do_huge_pmd_anonymous_page(): fall back unless the huge page fits the VMA; huge zero page or a THP."""
    haddr = addr & HPAGE_PMD_MASK
    if haddr < vma.start or haddr + HPAGE_PMD_SIZE > vma.end:
        return VM_FAULT_FALLBACK
    if not flags & FAULT_FLAG_WRITE:  # transparent_hugepage_use_zero_page()
        task.page_table = with_entry(task.page_table, haddr, ZERO_PFN, HPAGE_PMD_ORDER)
        return 0
    gfp = k.alloc_hugepage_direct_gfpmask(vma)
    page = k.alloc_hugepage_vma(gfp, vma, haddr, HPAGE_PMD_ORDER)
    if page is None:  # THP_FAULT_FALLBACK
        return VM_FAULT_FALLBACK
    task.page_table = with_entry(task.page_table, haddr, page, HPAGE_PMD_ORDER)
    return 0


@kernel_function
def do_huge_pmd_wp_page(k, task, vma, addr, entry):
    """do_huge_pmd_wp_page(): reuse a THP mapped once; else a new THP; else the fallback (or split the zero page).

    For the huge zero page a failed allocation splits the pmd into zero ptes and falls back; for a
    shared THP do_huge_pmd_wp_page_fallback() copies it into order-0 pages.
    """
    haddr, old, _ = entry
    if old != ZERO_PFN and mapcount(k.tasks.values(), old) == 1:  # page_trans_huge_mapcount() == 1
        task.wrprotected = without_wrprotected(task.wrprotected, [haddr])
        return 0
    page = k.alloc_hugepage_vma(k.alloc_hugepage_direct_gfpmask(vma), vma, haddr, HPAGE_PMD_ORDER)
    if page is not None:
        task.page_table = with_entry(task.page_table, haddr, page, HPAGE_PMD_ORDER)
        task.wrprotected = without_wrprotected(task.wrprotected, [haddr])
        if old != ZERO_PFN:
            k.put_page(old, HPAGE_PMD_ORDER)
        return 0
    if old == ZERO_PFN:
        task.page_table = split_huge_zero_entry(task.page_table, entry)  # split_huge_pmd(), THP_FAULT_FALLBACK
        return VM_FAULT_FALLBACK
    return k.do_huge_pmd_wp_page_fallback(task, vma, addr, entry)


@kernel_function
def do_huge_pmd_wp_page_fallback(k, task, vma, addr, entry):
    """do_huge_pmd_wp_page_fallback(): HPAGE_PMD_NR order-0 copies on the old page's node replace the huge entry.

    If one allocation fails, the pages got so far are freed and the fault is VM_FAULT_OOM, after
    which 4.19 splits the shared huge pmd (split_huge_pmd): that is not modelled and refused.
    """
    haddr, old, order = entry
    nid = page_to_nid(k, old)
    pages = []
    for _ in range(1 << order):
        page = k.alloc_pages_vma(GFP_HIGHUSER_MOVABLE, 0, vma, addr, nid, False)  # alloc_page_vma_node()
        if page is None:
            for got in pages:
                k.__free_pages(got, 0)  # put_page() of each
            raise InvalidOperation(
                f"copy-on-write fault at {addr:#x}: no order-0 copies of the shared transparent huge page at "
                f"{haddr:#x}; splitting a mapped huge pmd (split_huge_pmd) is not modelled")
        pages.append(page)
    table = without(task.page_table, [entry])
    for i, page in enumerate(pages):
        table = with_entry(table, haddr + (i << PAGE_SHIFT), page, 0)
    task.page_table = table
    task.wrprotected = without_wrprotected(task.wrprotected, [haddr])
    k.put_page(old, order)
    return 0


def _address(entry):
    return entry[0]


def split_huge_zero_entry(table, entry):
    """__split_huge_zero_page_pmd(): the huge zero page's pmd becomes a pte of the zero page per page."""
    ptes = [(entry[0] + (i << PAGE_SHIFT), ZERO_PFN, 0) for i in range(1 << entry[2])]
    return tuple(sorted([e for e in table if e != entry] + ptes, key=_address))


# ---- munmap -----------------------------------------------------------------------------------------------
@kernel_function
def do_munmap(k, task, start, len_):
    """do_munmap(): 0 or -EINVAL; split the VMAs at the edges, unmap and free the pages, remove the VMAs."""
    if start & ~PAGE_MASK or start > TASK_SIZE or len_ > TASK_SIZE - start:
        return -EINVAL
    len_ = (len_ + PAGE_SIZE - 1) & PAGE_MASK
    if len_ == 0:
        return -EINVAL
    vmas = list(task.vmas)
    i = k.find_vma(vmas, start)
    if i is None:
        return 0
    end = start + len_
    if vmas[i].start >= end:
        return 0
    for addr, pfn, order in entries_in(task.page_table, start, end):
        if pfn != ZERO_PFN and (addr < start or addr + entry_size(order) > end):
            raise InvalidOperation(
                f"munmap({start:#x}, {len_:#x}): unmapping part of the transparent huge page at {addr:#x} "
                "(split_huge_pmd and the deferred split queue) is not modelled")
    if start > vmas[i].start:
        i = k.split_vma(vmas, i, start, False) + 1
    last = k.find_vma(vmas, end)
    if last is not None and end > vmas[last].start:
        k.split_vma(vmas, last, end, True)
    j = i
    while j < len(vmas) and vmas[j].end <= end:
        j += 1
    k.unmap_region(task, start, end)
    gone = vmas[i:j]
    del vmas[i:j]  # detach_vmas_to_be_unmapped()
    task.vmas = tuple(vmas)
    for n, vma in enumerate(gone):  # remove_vma_list()
        k.remove_vma(vma, gone[n + 1:])
    return 0


@kernel_function
def unmap_region(k, task, start, end):
    """unmap_region(): zap every entry in [start, end); put_page() frees a page with its last mapping, unless a
    file's or shmem object's cache holds it (model/filemap.py).

    The zero page is only unmapped (a huge zero entry straddling an edge is split into zero ptes).
    """
    table = task.page_table
    for entry in entries_in(table, start, end):
        addr, pfn, order = entry
        if pfn == ZERO_PFN and order and (addr < start or addr + entry_size(order) > end):
            table = split_huge_zero_entry(table, entry)
            continue
        table = without(table, [entry])
        if pfn != ZERO_PFN:
            task.page_table = table  # unmapped before it is freed
            task.wrprotected = without_wrprotected(task.wrprotected, [addr])
            if unreferenced(k, pfn):
                k.observe("unmap_region")  # (a page was freed: the munmap-freed goal)
            k.put_page(pfn, order)
    task.page_table = without(table, entries_in(table, start, end))


# ---- get_mempolicy(MPOL_F_NODE|MPOL_F_ADDR) ---------------------------------------------------------------
@kernel_function
def lookup_node(k, addr):
    """lookup_node() (mm/mempolicy.c): get_user_pages() of the page at addr, faulting it in, then its node.

    get_user_pages() asks without FOLL_WRITE, so an untouched anonymous address is faulted in for
    reading: it maps the zero page (or the huge zero page) and reports that page's node. A fault
    error is returned as a negative errno.
    """
    task = k.current.task
    addr &= PAGE_MASK
    i = k.find_vma(task.vmas, addr)  # find_extend_vma()
    if i is None or task.vmas[i].start > addr:
        return -EFAULT
    entry = lookup(task.page_table, addr)  # follow_page_mask()
    if entry is None:
        ret = k.__handle_mm_fault(task, task.vmas[i], addr, 0)  # faultin_page() for a read
        err = vm_fault_errno(ret)
        if err:
            return err
        entry = lookup(task.page_table, addr)
    return page_to_nid(k, entry[1])
