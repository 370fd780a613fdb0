"""Anonymous page faults and munmap as the allocator sees them (mm/memory.c, mm/huge_memory.c, mm/mmap.c; Linux 4.19).

A fault on a user address of a task looks up the VMA (__do_page_fault: an address in no VMA is
SIGSEGV, reported as -EFAULT), then follows __handle_mm_fault: an empty pmd range of a VMA that
allows transparent huge pages tries do_huge_pmd_anonymous_page (a huge zero page for a read, an
order-HPAGE_PMD_ORDER page from alloc_hugepage_vma for a write, falling back to ptes if that fails
or the huge page would not fit in the VMA); otherwise handle_pte_fault: an empty pte is
do_anonymous_page (the zero page for a read, an order-0 page from alloc_pages_vma with
GFP_HIGHUSER_MOVABLE|__GFP_ZERO for a write), a write to the zero page is do_wp_page's copy
(wp_page_copy allocates the same way), and anything else is already mapped as asked (no-op).
Every allocation goes through alloc_pages_vma, so the VMA's policy, else the task's, picks the
node, interleaving by page offset (interleave_nid). A failed allocation is VM_FAULT_OOM (-ENOMEM).

munmap follows do_munmap: -EINVAL for an unaligned start or a length that rounds to zero (or runs
past TASK_SIZE); VMAs straddling either edge are split (split_vma), the covered ones removed, and
each page mapped in the range is unmapped and freed through __free_pages (a zero page entry is
only dropped).

THP is possible only when HPAGE_PMD_ORDER < MAX_ORDER (the kernel's build refuses THP otherwise),
so faults are order-0 only on the model's usual small machines (the portfolio's thp-faults has
MAX_ORDER 10). The sysfs settings are 4.19's defaults: enabled=always (no VMA has VM_HUGEPAGE or
VM_NOHUGEPAGE, there is no madvise), defrag=madvise (so a fault asks for GFP_TRANSHUGE_LIGHT),
use_zero_page=1.

Abstracted away: the page-table pages (pte_alloc cannot fail; a pmd range is empty exactly when
no entry lies in it), anon_vma, rmap and mapcount (each page is mapped once, by the task that
faulted it: there is no fork), memcg charging of user pages (mem_cgroup_try_charge), the LRU and
the mmu_gather batching (a page is freed by __free_pages as soon as its entry is zapped: the same
free path release_pages ends in), khugepaged, the deferred split queue (munmap of part of a
transparent huge page is refused as not modelled; an mbind that splits a VMA inside a huge entry leaves
the entry whole, where vma_adjust_trans_huge would split it), VM_GROWSDOWN stacks, file and shared mappings,
fork, and page migration (MPOL_MF_MOVE, migrate_pages, move_pages).
"""

from .constants import PAGE_SHIFT, PAGE_SIZE
from .errors import InvalidOperation
from .gfp import __GFP_ZERO, GFP_HIGHUSER_MOVABLE, GFP_TRANSHUGE_LIGHT
from .kernel import kernel_function
from .mempolicy import EFAULT, EINVAL, ENOMEM, PAGE_MASK, TASK_SIZE, ULONG_MASK
from .page_table import ZERO_PFN, entries_in, entry_size, lookup, with_entry, without

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
        ret = k.do_huge_pmd_anonymous_page(task, vma, addr, flags)
        if not ret & VM_FAULT_FALLBACK:
            return ret
    elif len(pmd) == 1 and pmd[0][2] == HPAGE_PMD_ORDER:
        if flags & FAULT_FLAG_WRITE and pmd[0][1] == ZERO_PFN:  # only the huge zero page is read-only
            ret = k.do_huge_pmd_wp_page(task, vma, addr, pmd[0])
            if not ret & VM_FAULT_FALLBACK:
                return ret
        else:
            return 0  # huge_pmd_set_accessed()
    return k.handle_pte_fault(task, vma, addr, flags)


@kernel_function
def handle_pte_fault(k, task, vma, addr, flags):
    """handle_pte_fault(): an empty pte is do_anonymous_page(); a write to the read-only zero page do_wp_page()."""
    entry = lookup(task.page_table, addr)
    if entry is None:
        return k.do_anonymous_page(task, vma, addr, flags)
    if flags & FAULT_FLAG_WRITE and entry[1] == ZERO_PFN:
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
    """do_wp_page() on the zero page: no struct page to reuse, so wp_page_copy()."""
    return k.wp_page_copy(task, vma, addr)


@kernel_function
def wp_page_copy(k, task, vma, addr):
    """wp_page_copy() of the zero page: a new zeroed page replaces it; VM_FAULT_OOM if none is allocated."""
    page = k.alloc_zeroed_user_highpage_movable(vma, addr)
    if page is None:
        return VM_FAULT_OOM
    task.page_table = with_entry(task.page_table, addr & PAGE_MASK, page, 0)
    return 0


# ---- transparent huge pages -------------------------------------------------------------------------------
@kernel_function
def transparent_hugepage_enabled(k, vma):
    """transparent_hugepage_enabled(): enabled=always (4.19's default) where the build has THP at all."""
    return thp_possible(k)


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
    """do_huge_pmd_wp_page() on the huge zero page: a THP replaces it, else the pmd is split into zero ptes."""
    haddr = entry[0]
    page = k.alloc_hugepage_vma(k.alloc_hugepage_direct_gfpmask(vma), vma, haddr, HPAGE_PMD_ORDER)
    if page is not None:
        task.page_table = with_entry(task.page_table, haddr, page, HPAGE_PMD_ORDER)
        return 0
    task.page_table = split_huge_zero_entry(task.page_table, entry)  # split_huge_pmd(), THP_FAULT_FALLBACK
    return VM_FAULT_FALLBACK


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
    del vmas[i:j]  # detach_vmas_to_be_unmapped(), remove_vma_list()
    task.vmas = tuple(vmas)
    return 0


@kernel_function
def unmap_region(k, task, start, end):
    """unmap_region(): zap every entry in [start, end) and free its page (the zero page is only unmapped)."""
    table = task.page_table
    for entry in entries_in(table, start, end):
        addr, pfn, order = entry
        if pfn == ZERO_PFN and order and (addr < start or addr + entry_size(order) > end):
            table = split_huge_zero_entry(table, entry)
            continue
        table = without(table, [entry])
        if pfn != ZERO_PFN:
            task.page_table = table  # unmapped before it is freed
            k.observe("unmap_region")  # (a page was freed: the munmap-freed goal)
            k.__free_pages(pfn, order)
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
