"""A task's page table as an immutable value: the mappings of its mm, address -> page.

The table is a tuple of (address, pfn, order) sorted by address: an order-0 entry is a pte mapping
one page at a page-aligned address, an entry of order HPAGE_PMD_ORDER a pmd mapping a transparent
huge page at a huge-page-aligned address. Entries never overlap. `ZERO_PFN` stands for the shared
zero page (ZERO_PAGE, or the huge zero page for a pmd), which is not a page of the buddy allocator.
Updates return a new tuple, so a task freezes its table as itself.

Write protection: an entry for the zero page is never writable; an entry for a real page is
writable unless its address is in the task's `wrprotected` (a sorted tuple of addresses): fork
write-protects every entry of a real page in parent and child (copy-on-write), and a write fault
on such an entry copies the page or, when it is mapped once, makes the entry writable again.

A page's mapcount is the number of entries of all tasks' page tables that map it (`mapcount`);
for the anonymous pages of the model it is also its reference count: nothing else holds a user
page, so the last mapping to go frees it.

Abstracted away: page-table pages themselves (a pte table is present exactly while one of its
entries is), protection bits other than "writable", accessed and dirty bits.
"""

from bisect import bisect_right

from .constants import PAGE_SHIFT

ZERO_PFN = -1  # the shared zero page: mapped read-only, never allocated nor freed


def _key(entry):
    return entry[0]


def entry_size(order):
    """Bytes an entry of this order maps."""
    return 1 << (PAGE_SHIFT + order)


def lookup(table, addr):
    """The entry (address, pfn, order) mapping addr, or None."""
    i = bisect_right(table, addr, key=_key) - 1
    if i >= 0:
        entry = table[i]
        if addr < entry[0] + entry_size(entry[2]):
            return entry
    return None


def entries_in(table, start, end):
    """The entries overlapping [start, end), by address."""
    i = max(bisect_right(table, start, key=_key) - 1, 0)
    out = []
    for entry in table[i:]:
        if entry[0] >= end:
            break
        if entry[0] + entry_size(entry[2]) > start:
            out.append(entry)
    return out


def with_entry(table, addr, pfn, order):
    """The table with (addr, pfn, order) set, replacing the entries it covers."""
    end = addr + entry_size(order)
    kept = [e for e in table if e[0] + entry_size(e[2]) <= addr or e[0] >= end]
    kept.append((addr, pfn, order))
    kept.sort(key=_key)
    return tuple(kept)


def without(table, entries):
    """The table without the given entries."""
    gone = set(entries)
    return tuple(e for e in table if e not in gone)


def mapped_pfns(tasks):
    """pfn -> [(task id, address)] of every allocated page a page table maps (the zero page left out)."""
    out = {}
    for tid, task in tasks:
        for addr, pfn, _ in task.page_table:
            if pfn != ZERO_PFN:
                out.setdefault(pfn, []).append((tid, addr))
    return out


def mapcount(tasks, pfn):
    """page_mapcount() (page_trans_huge_mapcount() for a huge entry): the entries of all tasks mapping pfn."""
    return sum(1 for task in tasks for _, p, _ in task.page_table if p == pfn)


def with_wrprotected(addrs, more):
    """The write-protected addresses `addrs` (a sorted tuple) with the addresses `more` added."""
    return tuple(sorted(set(addrs).union(more)))


def without_wrprotected(addrs, gone):
    """The write-protected addresses `addrs` without the addresses `gone` (writable again, or unmapped)."""
    gone = set(gone)
    return tuple(a for a in addrs if a not in gone)
