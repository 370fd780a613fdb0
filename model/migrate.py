"""Page migration: mbind(MPOL_MF_MOVE/MOVE_ALL/STRICT), migrate_pages(2) and move_pages(2) (mm/mempolicy.c's
page queueing, new_page, do_migrate_pages and kernel_migrate_pages; mm/migrate.c's migrate_pages,
kernel_move_pages, do_pages_stat and do_pages_move; Linux 4.19).

The model follows stable 4.19.y as it ended (4.19.325), that is 4.19 with the backport of
a7f40cfe3b7a ("mm: mempolicy: make mbind() return -EIO when MPOL_MF_STRICT is specified") and its
stable follow-ups; 4.19.0 as released never gave -EIO here. The walk of do_mbind's range
(queue_pages_range) visits, VMA by VMA, the pages mapped in [start, end) and judges each against the
user's node mask as get_nodes read it (queue_pages_required with MPOL_MF_INVERT): a page on a node
outside that mask is misplaced. For a misplaced page:

- without MPOL_MF_MOVE/MOVE_ALL (only MPOL_MF_STRICT) the walk stops and queue_pages_range returns
  -EIO: the call fails before the policy is applied;
- with MPOL_MF_MOVE the page is queued if it is mapped once (page_mapcount 1); a page mapped more
  than once is left where it is, silently (migrate_page_add returns 0: no -EIO, even with STRICT);
- with MPOL_MF_MOVE_ALL (CAP_SYS_NICE, checked by do_mbind) every misplaced page is queued.

After mbind_range has applied the policy, migrate_pages moves the queued pages in walk order: each
gets a new page from new_page() (alloc_pages_vma with GFP_HIGHUSER_MOVABLE|__GFP_RETRY_MAYFAIL for
the VMA that now maps it, so with its new policy), every mapping of the old page is switched to the
new one (remove_migration_ptes) and the old page is freed. The first allocation that fails ends
the migration with -ENOMEM (migrate_pages' `goto out`): that page and the ones after it stay
where they were. do_mbind then returns -EIO if migrate_pages reported a failure and the caller
asked for MPOL_MF_STRICT, else 0 (the policy stays applied either way).

migrate_pages(2) (kernel_migrate_pages) checks, in this order: both node masks (get_nodes, -EINVAL);
the pid, 0 for the caller, else the task of that id (-ESRCH); ptrace access to another task (-EPERM;
the model has no credentials, so the answer of ptrace_may_access is an argument of the call); new
nodes outside the target's cpuset without CAP_SYS_NICE (-EPERM); then narrows the new nodes to the
caller's cpuset and to the nodes with memory (-EINVAL if none remain). do_migrate_pages maps each old
node to a new one (node_remap; when the masks' weights differ, an old node that is also a new one
keeps its pages), empties one source at a time, preferring one whose destination is not itself
still to be emptied, and moves every page of the target on it (migrate_to_node: the walk of the
whole address space, holes allowed, queueing the pages on the source, MOVE_ALL with CAP_SYS_NICE,
else MOVE) to a page allocated on the destination only (alloc_new_node_page, __GFP_THISNODE). It
returns the number of pages that failed (always 0 here) or the first error: -ENOMEM when a
destination is full, the moves made until then kept.

move_pages(2) (kernel_move_pages) checks flags other than MPOL_MF_MOVE/MOVE_ALL (-EINVAL),
MOVE_ALL's CAP_SYS_NICE (-EPERM), the pid (-ESRCH) and ptrace access (-EPERM), as migrate_pages
does. With nodes NULL it writes each address's status (do_pages_stat): the node of the page mapped
there, or -EFAULT for an address in no VMA, not mapped, or mapped to the zero page (follow_page with
FOLL_DUMP; -ENOENT needs a non-present entry, which anonymous memory here never has). With nodes,
do_pages_move takes the pages in order: a node out of range or without memory ends the call with
-ENODEV, one outside the target's cpuset with -EACCES (the pages before are still moved and their
status written; the rest is not written). Consecutive pages for one node form a batch, moved together
(do_move_pages_to_node: migrate_pages with alloc_new_node_page, __GFP_THISNODE) when the node changes,
at the end, or when a page cannot be queued (add_page_for_migration): a page already on its node
gets that node as status, a page mapped more than once without MOVE_ALL -EACCES, a page listed twice
-EBUSY (isolate_lru_page), no page -EFAULT; each page of a moved batch gets the batch's node. A
batch that fails (-ENOMEM) ends the call with -ENOMEM and its pages' status is not written. This is
4.19 with the stable fixes e0153fc2c760 ("move_pages: return valid node id in status if the page is
already on the target node") and dfe9aa23cab7 ("also overwrite error when it is bigger than zero")
(4.19.0 as released wrote no status for the last batch when none of its pages needed to move).

A page a file's or shmem object's cache holds (model/filemap.py) is replaced there by the new page,
at the same index (migrate_page_move_mapping), before the old one is freed.

The zero page is never queued (vm_normal_page filters it); a pmd of the huge zero page in the walk
is split into ptes of the zero page (queue_pages_pmd's __split_huge_pmd), which stays split even if
the call then fails.

Abstracted away: every user page is on the LRU and every VMA is migratable (vma_migratable), so
isolate_lru_page fails only for a page already isolated by this walk (a page mapped twice in the
range under MOVE_ALL: with STRICT that is the unmovable-page case, queue_pages_range returns 1 and
do_mbind -EIO); there is no -EAGAIN (no page lock, writeback or extra reference), so migrate_pages'
ten passes are one; migration entries, the page copy and mem_cgroup_migrate (user pages are not
charged in the model) are not modelled. Migrating a transparent huge page, by any of the three calls
(THP migration, and its split to base pages when the THP allocation fails), is refused as not
modelled. mbind's hole checks are 4.19.0's (model/mempolicy.py's walk: a hole before the first VMA
of the range is skipped); the later stable fix f18da660ffb0 ("fix checking unmapped holes for
mbind") is not modelled. Credentials are not modelled: ptrace_may_access's answer is an argument.
"""

from .constants import NUMA_NO_NODE
from .errors import InvalidOperation
from .filemap import with_page_replaced
from .gfp import __GFP_RETRY_MAYFAIL, __GFP_THISNODE, GFP_HIGHUSER_MOVABLE
from .kernel import kernel_function
from .memory import HPAGE_PMD_MASK, HPAGE_PMD_ORDER, page_to_nid, split_huge_zero_entry
from .mempolicy import (
    CAP_SYS_NICE,
    EACCES,
    EBUSY,
    EFAULT,
    EINVAL,
    EIO,
    ENODEV,
    ENOMEM,
    EPERM,
    ESRCH,
    MPOL_MF_DISCONTIG_OK,
    MPOL_MF_INVERT,
    MPOL_MF_MOVE,
    MPOL_MF_MOVE_ALL,
    MPOL_MF_STRICT,
    MPOL_MF_VALID,
    N_MEMORY,
    TASK_SIZE,
)
from .nodemask import node_remap, nodes_weight
from .page_table import ZERO_PFN, entries_in, lookup, mapcount, mapped_pfns, with_entry

MIGRATEPAGE_SUCCESS = 0
MOVE_FLAGS = MPOL_MF_MOVE | MPOL_MF_MOVE_ALL


class QueuePages:
    """struct queue_pages: the walk's flags, the user's node mask, and the pages queued so far (the pagelist)."""

    __slots__ = ("flags", "nmask", "pagelist")

    def __init__(self, flags, nmask):
        self.flags = flags
        self.nmask = nmask
        self.pagelist = []  # (pfn, order), in walk order: migrate_pages' order


def page_mapcount(k, pfn):
    """page_mapcount(): how many page-table entries, of every task, map the page."""
    return mapcount(k.tasks.values(), pfn)


@kernel_function
def queue_pages_range(k, mm, start, end, nmask, flags):
    """queue_pages_range(): walk the VMAs of mm (a task) in [start, end): hole checks, then each VMA's pages;
    (ret, pagelist).

    ret is 0, 1 (a page could not be isolated, with MPOL_MF_STRICT and a move flag), -EFAULT (a
    hole, unless MPOL_MF_DISCONTIG_OK) or -EIO (a misplaced page without a move flag). Unless
    MPOL_MF_DISCONTIG_OK: a VMA that is the last one and ends before end, or that starts after the
    previous visited VMA ended, is -EFAULT (queue_pages_test_walk); holes before the first VMA in the
    range are skipped by the walk. Pages are visited only for MPOL_MF_VALID flags.
    """
    qp = QueuePages(flags, nmask)
    return k.walk_page_range(mm, start, end, qp), qp.pagelist


@kernel_function
def walk_page_range(k, mm, start, end, qp):
    """walk_page_range() with queue_pages_walk: queue_pages_test_walk per VMA, then its ptes and pmds."""
    flags = qp.flags
    vmas = mm.vmas
    prev = None
    for idx, vma in enumerate(vmas):
        if vma.end <= start or vma.start >= end:
            continue
        if not flags & MPOL_MF_DISCONTIG_OK:
            if idx + 1 == len(vmas) and vma.end < end:
                return -EFAULT
            if prev is not None and prev.end < vma.start:
                return -EFAULT
        prev = vma
        if not flags & MPOL_MF_VALID:
            continue
        ret = k.queue_pages_pte_range(mm, vma, max(start, vma.start), min(end, vma.end), qp)
        if ret:
            return ret
    return 0


def queue_pages_required(k, pfn, qp):
    """queue_pages_required(): with MPOL_MF_INVERT, whether the page lies outside the user's mask."""
    return (page_to_nid(k, pfn) in qp.nmask) != bool(qp.flags & MPOL_MF_INVERT)


@kernel_function
def queue_pages_pte_range(k, mm, vma, start, end, qp):
    """queue_pages_pte_range(), for each pmd of [start, end) in turn: judge each page mm maps; 0, 1 or -EIO.

    (The kernel calls it once per pmd and the walk stops at the first non-zero answer: a page that
    could not be isolated ends the walk after the rest of its pmd.)
    """
    has_unmovable = False
    pmd = None
    for addr, pfn, order in entries_in(mm.page_table, start, end):
        if has_unmovable and addr & HPAGE_PMD_MASK != pmd:
            return 1
        pmd = addr & HPAGE_PMD_MASK
        if order == HPAGE_PMD_ORDER:
            ret = k.queue_pages_pmd(mm, vma, (addr, pfn, order), qp)
            if ret != 2:  # 2: the huge zero page was split into zero ptes, which the pte walk skips
                if ret:
                    return ret
            continue
        if pfn == ZERO_PFN or not queue_pages_required(k, pfn, qp):  # vm_normal_page() filters the zero page
            continue
        if not qp.flags & MOVE_FLAGS:
            return -EIO  # the walk stopped short of end
        if k.migrate_page_add(pfn, order, qp):
            has_unmovable = True
    return 1 if has_unmovable else 0


@kernel_function
def queue_pages_pmd(k, mm, vma, entry, qp):
    """queue_pages_pmd(): a huge pmd: split the huge zero page (2), else judge and queue the THP; 0, 1 or -EIO."""
    addr, pfn, order = entry
    if pfn == ZERO_PFN:  # is_huge_zero_page(): __split_huge_pmd()
        mm.page_table = split_huge_zero_entry(mm.page_table, entry)
        return 2
    if not queue_pages_required(k, pfn, qp):
        return 0
    if not qp.flags & MOVE_FLAGS:
        return -EIO
    raise InvalidOperation(f"migrating the transparent huge page at {addr:#x} (THP migration, and its split "
                           "when no huge page can be allocated) is not modelled")


@kernel_function
def migrate_page_add(k, pfn, order, qp):
    """migrate_page_add(): queue a page mapped once, or any with MPOL_MF_MOVE_ALL; -EIO if isolation fails under
    MPOL_MF_STRICT (here only a page this walk already isolated), else 0."""
    if qp.flags & MPOL_MF_MOVE_ALL or page_mapcount(k, pfn) == 1:
        if (pfn, order) not in qp.pagelist:  # isolate_lru_page() succeeds while the page is on the LRU
            qp.pagelist.append((pfn, order))
        elif qp.flags & MPOL_MF_STRICT:
            return -EIO
    return 0


@kernel_function
def new_page(k, pfn, order, start):
    """new_page() (mm/mempolicy.c): a page for the migration target, allocated with the policy of the VMA that maps
    the old page (the first from find_vma(start) on where page_address_in_vma finds it)."""
    task = k.current.task
    addrs = [addr for addr, p, _ in task.page_table if p == pfn]
    i = k.find_vma(task.vmas, start)
    while i is not None and i < len(task.vmas):
        vma = task.vmas[i]
        address = next((a for a in addrs if vma.start <= a < vma.end), None)
        if address is not None:
            # alloc_page_vma(GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL, vma, address)
            return k.alloc_pages_vma(GFP_HIGHUSER_MOVABLE | __GFP_RETRY_MAYFAIL, order, vma, address,
                                     k.numa_node_id(), False)
        i += 1
    raise InvalidOperation(f"new_page: pfn {pfn} is mapped by no VMA of task {task.tid} from {start:#x} on")


@kernel_function
def unmap_and_move(k, get_new_page, pfn, order):
    """unmap_and_move(): allocate the target (-ENOMEM if none), switch every mapping of the old page to it
    (try_to_unmap, move_to_new_page, remove_migration_ptes), free the old page; MIGRATEPAGE_SUCCESS."""
    newpage = get_new_page(pfn, order)
    if newpage is None:
        return -ENOMEM
    for tid, addr in mapped_pfns(sorted(k.tasks.items())).get(pfn, ()):
        task = k.tasks[tid]
        task.page_table = with_entry(task.page_table, addr, newpage, order)
    k.migrate_page_move_mapping(pfn, newpage)
    k.observe("migrate_pages")  # (a page was migrated: the page-migrated goal)
    k.__free_pages(pfn, order)  # the isolation's reference, the last one, is dropped
    return MIGRATEPAGE_SUCCESS


@kernel_function
def migrate_page_move_mapping(k, pfn, newpage):
    """migrate_page_move_mapping(): a file's or shmem object's cache that holds the old page holds the new one
    at the same index (radix_tree_replace_slot); an anonymous page has no mapping to move."""
    for ino, inode in list(k.inodes.items()):
        if any(p == pfn for _, p in inode.pages):
            k.inodes[ino] = with_page_replaced(inode, pfn, newpage)


@kernel_function
def migrate_pages(k, pagelist, get_new_page):
    """migrate_pages() (mm/migrate.c): move the pages in order; -ENOMEM at the first failed allocation (the rest
    are put back unmoved), else the number that failed (always 0 here: no -EAGAIN). Fires mm_migrate_pages
    (an event: succeeded, failed)."""
    nr_succeeded = nr_failed = 0
    rc = None
    for pfn, order in pagelist:
        rc = k.unmap_and_move(get_new_page, pfn, order)
        if rc == -ENOMEM:
            nr_failed += 1
            break
        if rc == MIGRATEPAGE_SUCCESS:
            nr_succeeded += 1
        else:
            nr_failed += 1
    # trace_mm_migrate_pages(): fired on both ways out, so a caller sees how many moved
    k.event("mm_migrate_pages", succeeded=nr_succeeded, failed=nr_failed)
    return -ENOMEM if rc == -ENOMEM else nr_failed



# ---- migrate_pages(2) -------------------------------------------------------------------------------------
@kernel_function
def alloc_new_node_page(k, pfn, order, node):
    """alloc_new_node_page(): the target of a node-to-node move, on that node only (__GFP_THISNODE)."""
    return k.__alloc_pages_nodemask(GFP_HIGHUSER_MOVABLE | __GFP_THISNODE, order, node, None)


@kernel_function
def migrate_to_node(k, mm, source, dest, flags):
    """migrate_to_node(): queue every page of mm on node source (the whole address space, holes allowed) and move
    it to node dest; migrate_pages()'s result (-ENOMEM, or the number not moved)."""
    if not mm.vmas:  # (every real mm has a VMA: mm->mmap->vm_start)
        return 0
    _, pagelist = k.queue_pages_range(mm, mm.vmas[0].start, TASK_SIZE, frozenset({source}),
                                      flags | MPOL_MF_DISCONTIG_OK)
    if not pagelist:
        return 0
    return k.migrate_pages(pagelist, lambda pfn, order: k.alloc_new_node_page(pfn, order, dest))


@kernel_function
def do_migrate_pages(k, mm, from_nodes, to_nodes, flags):
    """do_migrate_pages(): move mm's pages node by node along the map from_nodes -> to_nodes (node_remap), each
    source once, a source whose destination is still to be emptied last; the number of pages not moved, or
    the first negative errno."""
    tmp = set(from_nodes)
    busy = err = 0
    same_weight = nodes_weight(from_nodes) == nodes_weight(to_nodes)
    while tmp:
        source, dest = NUMA_NO_NODE, 0
        for s in sorted(tmp):
            # unequal weights: a source that is also a destination keeps its pages
            if not same_weight and s in to_nodes:
                continue
            d = node_remap(s, from_nodes, to_nodes)
            if s == d:
                continue
            source, dest = s, d
            if dest not in tmp:
                break
        if source == NUMA_NO_NODE:
            break
        tmp.discard(source)
        err = k.migrate_to_node(mm, source, dest, flags)
        if err > 0:
            busy += err
        if err < 0:
            break
    return err if err < 0 else busy


@kernel_function
def kernel_migrate_pages(k, pid, maxnode, old_nodes, new_nodes, may_ptrace):
    """kernel_migrate_pages(): read both masks, find the task (-ESRCH), check ptrace access and the target's
    cpuset (-EPERM without CAP_SYS_NICE), narrow the new nodes to current's cpuset and the nodes with memory
    (-EINVAL if none remain), then do_migrate_pages() with MPOL_MF_MOVE_ALL if CAP_SYS_NICE, else MOVE.

    pid 0 is current; any other pid names the task of that id. may_ptrace stands for ptrace_may_access(task,
    PTRACE_MODE_READ_REALCREDS) of another task (a task may always access itself).
    """
    err, old = k.get_nodes(old_nodes, maxnode)
    if err:
        return err
    err, new = k.get_nodes(new_nodes, maxnode)
    if err:
        return err
    task = k.current.task if pid == 0 else k.tasks.get(pid)  # find_task_by_vpid()
    if task is None:
        return -ESRCH
    if task is not k.current.task and not may_ptrace:
        return -EPERM
    if not new <= task.mems_allowed and not k.capable(CAP_SYS_NICE):  # cpuset_mems_allowed(task)
        return -EPERM
    new &= k.current.task.mems_allowed  # cpuset_mems_allowed(current)
    if not new:
        return -EINVAL
    new &= k.node_states(N_MEMORY)
    if not new:
        return -EINVAL
    return k.do_migrate_pages(task, old, new, MPOL_MF_MOVE_ALL if k.capable(CAP_SYS_NICE) else MPOL_MF_MOVE)


# ---- move_pages(2) ----------------------------------------------------------------------------------------
def follow_page_dump(k, mm, addr):
    """follow_page(vma, addr, FOLL_DUMP) after find_vma(): (errno or 0, the mapping entry).

    -EFAULT for an address in no VMA, for the zero page and the huge zero page (FOLL_DUMP), and for an
    address nothing maps (no_page_table(): an anonymous VMA has no ->fault). -ENOENT (a NULL page) needs
    a non-present entry, which the model's anonymous memory never has.
    """
    i = k.find_vma(mm.vmas, addr)
    if i is None or addr < mm.vmas[i].start:
        return -EFAULT, None
    entry = lookup(mm.page_table, addr)
    if entry is None or entry[1] == ZERO_PFN:
        return -EFAULT, None
    return 0, entry


@kernel_function
def do_pages_stat(k, mm, pages, status):
    """do_pages_stat()/do_pages_stat_array(): each address's status: the node of its page, or -EFAULT."""
    for i, addr in enumerate(pages):
        err, entry = follow_page_dump(k, mm, addr)
        status[i] = err if err else page_to_nid(k, entry[1])
    return 0


@kernel_function
def add_page_for_migration(k, mm, addr, node, pagelist, migrate_all):
    """add_page_for_migration(): 1 if the page at addr was queued, 0 if it is already on node, else -errno
    (-EFAULT: no page, -EACCES: mapped more than once without MPOL_MF_MOVE_ALL, -EBUSY: already isolated)."""
    err, entry = follow_page_dump(k, mm, addr)
    if err:
        return err
    _, pfn, order = entry
    if page_to_nid(k, pfn) == node:
        return 0
    if page_mapcount(k, pfn) > 1 and not migrate_all:
        return -EACCES
    if order:
        raise InvalidOperation(f"move_pages: migrating the transparent huge page at {entry[0]:#x} is not modelled")
    if (pfn, order) in pagelist:  # isolate_lru_page() fails: the page is off the LRU already
        return -EBUSY
    pagelist.append((pfn, order))
    return 1


@kernel_function
def do_move_pages_to_node(k, mm, pagelist, node):
    """do_move_pages_to_node(): migrate_pages() of the list to node (alloc_new_node_page); the list is emptied."""
    if not pagelist:
        return 0
    err = k.migrate_pages(list(pagelist), lambda pfn, order: k.alloc_new_node_page(pfn, order, node))
    pagelist.clear()  # moved, or put back by putback_movable_pages()
    return err


def store_status(status, start, value, nr):
    """store_status(): status[start:start+nr] = value."""
    status[start:start + nr] = [value] * nr


@kernel_function
def do_pages_move(k, mm, task_nodes, pages, nodes, status, flags):
    """do_pages_move(): move each page to its node, batching runs of one node; per-page status, or the call's
    error: -ENODEV for a node out of range or without memory, -EACCES for one outside the target's cpuset
    (the pages before it are still moved and their status written; those after keep what they held)."""
    current_node = NUMA_NO_NODE
    pagelist = []
    start = 0
    err = 0
    i = 0
    while i < len(pages):
        addr, node = pages[i], nodes[i]
        err = -ENODEV
        if node < 0 or node >= k.topology.max_numnodes or node not in k.node_states(N_MEMORY):
            break
        err = -EACCES
        if node not in task_nodes:
            break
        if current_node == NUMA_NO_NODE:
            current_node, start = node, i
        elif node != current_node:
            err = k.do_move_pages_to_node(mm, pagelist, current_node)
            if err:  # -ENOMEM (a positive count of failed pages cannot happen here)
                return err
            store_status(status, start, current_node, i - start)
            current_node, start = node, i
        err = k.add_page_for_migration(mm, addr, current_node, pagelist, bool(flags & MPOL_MF_MOVE_ALL))
        if err > 0:  # queued
            i += 1
            continue
        store_status(status, i, err or current_node, 1)  # already there: its node; else the error
        err = k.do_move_pages_to_node(mm, pagelist, current_node)
        if err:
            return err
        if i > start:
            store_status(status, start, current_node, i - start)
        current_node = NUMA_NO_NODE
        i += 1
    # out_flush
    if not pagelist:
        return err
    err1 = k.do_move_pages_to_node(mm, pagelist, current_node)
    if err1 == 0:
        store_status(status, start, current_node, i - start)
    if err >= 0:
        err = err1
    return err


@kernel_function
def kernel_move_pages(k, pid, pages, nodes, status, flags, may_ptrace):
    """kernel_move_pages(): flags (-EINVAL), MPOL_MF_MOVE_ALL's CAP_SYS_NICE (-EPERM), the pid (-ESRCH), ptrace
    access (-EPERM), then do_pages_move() with the target's cpuset, or do_pages_stat() when nodes is NULL."""
    if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        return -EINVAL
    if flags & MPOL_MF_MOVE_ALL and not k.capable(CAP_SYS_NICE):
        return -EPERM
    task = k.current.task if pid == 0 else k.tasks.get(pid)  # find_task_by_vpid()
    if task is None:
        return -ESRCH
    if task is not k.current.task and not may_ptrace:
        return -EPERM
    task_nodes = task.mems_allowed  # cpuset_mems_allowed(task)
    if nodes is not None:
        return k.do_pages_move(task, task_nodes, pages, nodes, status, flags)
    return k.do_pages_stat(task, pages, status)
