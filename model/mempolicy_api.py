"""Machine operations for NUMA memory policy: tasks, mappings, the three system calls, cpusets, allocation.

`MempolicyOps` is a mixin of Kernel419 (model/machine.py). Its methods are
user-facing operations, not kernel functions: each sets up `current` (the
task and the CPU it runs on), calls the kernel functions of
model/mempolicy.py, and returns a result object. A system call that the
kernel rejects returns its negative errno and changes nothing; misuse of the
model itself (a task or CPU that does not exist, a negative node id) raises a
ModelError before anything changes. Allocations return AllocResult, like
Kernel419.alloc, and restore the machine if a ModelError escapes mid-way.
Allocation for a VMA is the operation `alloc_vma`: the name alloc_pages_vma
belongs to the kernel function (installed on the class, overridable by variants).

Abstracted away: the user's buffers (a node mask is a set of ints, None for
a NULL pointer; `want_policy`/`want_nodes` stand for NULL or non-NULL
output pointers); CAP_SYS_NICE is an argument of `mbind`, `sys_migrate_pages`
and `sys_move_pages` (kept on `current` for the call), and so is ptrace access to
another task (`may_ptrace`: the model has no credentials); `mmap` is a minimal anonymous mmap (no MAP_FIXED replacement
of existing mappings) whose only job is to give `mbind`, `fault` and
`alloc_vma` VMAs, `mmap_shared` its shared anonymous counterpart (a
shmem object, model/shmem.py) and `mmap_file` a mapping of a named file
(model/filemap.py); `fault` is a page fault by the task at an address and
`munmap` the system call (model/memory.py); `fork` makes a child task with a
copy of the parent's policies and a copy-on-write copy of its mm
(model/fork.py); each task has its own mm and its own cpuset (see
model/mempolicy.py).
"""

from .arguments import is_whole
from .constants import PAGE_SHIFT, PAGE_SIZE
from .errors import InvalidOperation
from .filemap import Inode
from .memory import FAULT_FLAG_WRITE, page_to_nid, vm_fault_errno
from .mempolicy import CAP_SYS_NICE, MPOL_F_NODE, N_MEMORY, VMA
from .mempolicy_names import GET_FLAG_NAMES, MBIND_FLAG_NAMES, format_flags, format_mode
from .page_table import ZERO_PFN, lookup
from .page_table import mapped_pfns as _mapped_pfns
from .results import FaultResult, ForkResult, OpResult, SyscallResult
from .task import Task


def _user_mask(nodes, what):
    """A user's node mask as a frozenset (None stays None for a NULL pointer); negative ids are misuse."""
    if nodes is None:
        return None
    mask = frozenset(nodes)
    bad = [n for n in mask if not is_whole(n) or n < 0]
    if bad:
        raise InvalidOperation(f"{what}: node ids {sorted(map(str, bad))} must be non-negative integers")
    return mask


def _fmt_mask(mask):
    return "NULL" if mask is None else "{" + ",".join(map(str, sorted(mask))) + "}"


class MempolicyOps:
    """Operations a scenario uses to drive mempolicy: set a policy, mbind, change a cpuset, allocate."""

    # ---- helpers -------------------------------------------------------------------------------------------
    def _default_cpu(self, cpu):
        return self.topology.cpus[0] if cpu is None else cpu

    def _task_obj(self, task):
        if not is_whole(task) or task not in self.tasks:
            raise InvalidOperation(f"task {task} does not exist (tasks: {sorted(self.tasks)})")
        return self.tasks[task]

    def _syscall(self, what, call, cpu, task):
        """Run call() as a system call of task on cpu: state restored if a ModelError escapes."""
        self._task_obj(task)
        self._begin(self._default_cpu(cpu), task)
        snapshot = self.freeze()
        try:
            return call(), what
        except Exception:
            self.restore(snapshot)
            raise

    # ---- tasks and mappings --------------------------------------------------------------------------------
    def add_task(self, tid, mems_allowed=None):
        """A new task with no mempolicy and no VMAs; mems_allowed other than every node puts it in a cpuset."""
        if not is_whole(tid) or tid in self.tasks:
            raise InvalidOperation(f"task id {tid!r}: must be an integer not in use (tasks: {sorted(self.tasks)})")
        with_memory = self.node_states(N_MEMORY)
        if mems_allowed is None:
            mems = frozenset(self._all_nodes)
        else:
            mems = frozenset(mems_allowed)
            if not mems or not all(map(is_whole, mems)) or not mems <= with_memory:
                raise InvalidOperation(
                    f"add_task {tid}: mems_allowed {_fmt_mask(mems)} must be a non-empty set of nodes with memory "
                    f"{_fmt_mask(with_memory)}")
        self.tasks[tid] = Task(tid, mems)
        if mems != frozenset(self._all_nodes):
            self.cpusets_on = True
        return OpResult(f"add task {tid} mems {_fmt_mask(mems)}")

    def set_memcg_limit(self, task, pages):
        """Put task in a memory cgroup limited to `pages` pages (None: no limit); __GFP_ACCOUNT charges it."""
        t = self._task_obj(task)
        if pages is not None and (not is_whole(pages) or pages < 0):
            raise InvalidOperation(f"memcg limit {pages!r} of task {task}: must be a non-negative integer or None")
        t.memcg_limit = pages
        return OpResult(f"memcg limit of task {task}: {pages} pages")

    def _check_new_mapping(self, t, start, length, what):
        """Misuse unless [start, start+length) is page-aligned, in the user address space and free in task t."""
        if not (is_whole(start) and is_whole(length)):
            raise InvalidOperation(f"{what}({start!r}, {length!r}): start and length must be integers")
        if start % PAGE_SIZE or length <= 0 or length % PAGE_SIZE or start < 0 or start + length > 1 << 47:
            raise InvalidOperation(
                f"{what}({start:#x}, {length:#x}): start and length must be page-aligned, length positive, "
                "inside the user address space")
        for v in t.vmas:
            if v.start < start + length and start < v.end:
                raise InvalidOperation(f"{what}({start:#x}, {length:#x}): overlaps {v}")

    @staticmethod
    def _map(t, start, length, pgoff, file=None, shared=False, merge=True):
        """mmap_region()'s vma_merge(): join touching neighbours mapping the same file (or none) the same way,
        without policy, whose offsets continue; else (or without merge) a new VMA."""
        end = start + length
        pages = length >> PAGE_SHIFT
        vmas = list(t.vmas)
        kind = (file, shared)
        prev = next((i for i, v in enumerate(vmas) if merge and v.end == start and v.policy is None
                     and (v.file, v.shared) == kind and v.vm_pgoff + v.pages == pgoff), None)
        nxt = next((i for i, v in enumerate(vmas) if merge and v.start == end and v.policy is None
                    and (v.file, v.shared) == kind and v.vm_pgoff == pgoff + pages), None)
        if prev is not None and nxt is not None:
            vmas[prev] = VMA(vmas[prev].start, vmas[nxt].end, vmas[prev].vm_pgoff, file=file, shared=shared)
            del vmas[nxt]
        elif prev is not None:
            vmas[prev] = VMA(vmas[prev].start, end, vmas[prev].vm_pgoff, file=file, shared=shared)
        elif nxt is not None:
            vmas[nxt] = VMA(start, vmas[nxt].end, pgoff, file=file, shared=shared)
        else:
            vmas.append(VMA(start, end, pgoff, file=file, shared=shared))
        t.vmas = tuple(sorted(vmas, key=lambda v: v.start))

    def _existing_inode(self, ino, shmem, pgoff, pages, what):
        """The inode `ino` if it exists, is (or is not) shmem as asked and holds pages [pgoff, pgoff+pages)."""
        inode = self.inodes.get(ino)
        if inode is None:
            return None
        if inode.shmem != shmem:
            raise InvalidOperation(f"{what} of {inode}: inode {ino} is not a {'shmem object' if shmem else 'file'}")
        if not is_whole(pgoff) or pgoff < 0 or pgoff + pages > inode.size:
            raise InvalidOperation(f"{what} of {inode}: pages [{pgoff!r}, +{pages}) are not inside it")
        return inode

    def mmap(self, start, length, task=0, pgoff=None):
        """An anonymous mapping [start, start+length) with no policy, joined to touching VMAs without policy.

        vm_pgoff defaults to start >> PAGE_SHIFT, as for private anonymous
        memory; a mapping overlapping an existing VMA is misuse.
        """
        t = self._task_obj(task)
        self._check_new_mapping(t, start, length, "mmap")
        if pgoff is None:
            pgoff = start >> PAGE_SHIFT
        self._map(t, start, length, pgoff)
        return OpResult(f"mmap task {task} {start:#x}-{start + length:#x} pgoff {pgoff:#x}")

    def mmap_shared(self, start, length, obj, pgoff=0, task=0):
        """A shared mapping [start, start+length) of shmem object `obj` (an inode number) from page offset pgoff.

        An object no VMA maps yet is made as MAP_SHARED|MAP_ANONYMOUS makes it (shmem_zero_setup: the
        mapping's size, pgoff 0; a new mapping never joins a neighbour); an existing one is mapped again
        (as a second mmap of the same file would), joined to a touching VMA of the same object whose
        offsets continue. A range outside the object, or overlapping a VMA, is misuse.
        """
        t = self._task_obj(task)
        self._check_new_mapping(t, start, length, "mmap_shared")
        pages = length >> PAGE_SHIFT
        if self._existing_inode(obj, True, pgoff, pages, "mmap_shared") is None:
            if not is_whole(obj) or obj < 0 or pgoff != 0:
                raise InvalidOperation(f"mmap_shared of a new object {obj!r}: the inode number must be a "
                                       f"non-negative integer and pgoff 0 (MAP_SHARED|MAP_ANONYMOUS), not {pgoff!r}")
            self.shmem_zero_setup(obj, pages)
            self._map(t, start, length, 0, obj, True, merge=False)
        else:
            self._map(t, start, length, pgoff, obj, True)
        return OpResult(f"mmap shared task {task} {start:#x}-{start + length:#x} shmem {obj} pgoff {pgoff:#x}")

    def mmap_file(self, start, length, file, pgoff=0, shared=False, task=0):
        """A private (or, with shared, MAP_SHARED) mapping [start, start+length) of the named file `file` (an
        inode number) from page offset pgoff (model/filemap.py).

        The first mapping of a file makes it, pgoff + the mapping's pages long, with an empty page cache;
        later ones must lie inside it. The mapping joins a touching VMA of the same file, mapped the same way,
        whose offsets continue. A range overlapping a VMA is misuse.
        """
        t = self._task_obj(task)
        self._check_new_mapping(t, start, length, "mmap_file")
        pages = length >> PAGE_SHIFT
        if not isinstance(shared, bool):
            raise InvalidOperation(f"mmap_file: shared {shared!r} must be true or false")
        if self._existing_inode(file, False, pgoff, pages, "mmap_file") is None:
            if not is_whole(file) or file < 0 or not is_whole(pgoff) or pgoff < 0:
                raise InvalidOperation(f"mmap_file of a new file {file!r} from page {pgoff!r}: the inode number and "
                                       "the page offset must be non-negative integers")
            self.inodes[file] = Inode(file, pgoff + pages)
        self._map(t, start, length, pgoff, file, shared)
        how = "shared" if shared else "private"
        return OpResult(f"mmap {how} task {task} {start:#x}-{start + length:#x} file {file} pgoff {pgoff:#x}")

    # ---- the system calls ----------------------------------------------------------------------------------
    def set_mempolicy(self, mode, nodes=None, maxnode=None, task=0, cpu=None):
        """set_mempolicy(mode, nmask, maxnode) by task; maxnode defaults to MAX_NUMNODES+1 (a full mask)."""
        nmask = _user_mask(nodes, "set_mempolicy")
        if maxnode is None:
            maxnode = self.topology.max_numnodes + 1
        ret, what = self._syscall(f"set_mempolicy({format_mode(mode)}, {_fmt_mask(nmask)}, {maxnode})",
                                  lambda: self.kernel_set_mempolicy(mode, nmask, maxnode), cpu, task)
        return SyscallResult(what, ret, events=tuple(self.events))

    def get_mempolicy(self, flags=0, addr=0, maxnode=None, want_policy=True, want_nodes=True, task=0, cpu=None):
        """get_mempolicy(&policy, nmask, maxnode, addr, flags) by task; maxnode defaults to MAX_NUMNODES."""
        if maxnode is None:
            maxnode = self.topology.max_numnodes
        (ret, policy, nodes), what = self._syscall(
            f"get_mempolicy(maxnode={maxnode}, addr={addr:#x}, flags={format_flags(flags, GET_FLAG_NAMES)})",
            lambda: self.kernel_get_mempolicy(want_policy, want_nodes, maxnode, addr, flags), cpu, task)
        return SyscallResult(what, ret, policy, nodes, events=tuple(self.events),
                             policy_is_node=bool(flags & MPOL_F_NODE))

    def mbind(self, start, length, mode, nodes=None, maxnode=None, flags=0, task=0, cpu=None, cap_sys_nice=False):
        """mbind(start, len, mode, nmask, maxnode, flags) by task, which holds CAP_SYS_NICE if cap_sys_nice."""
        nmask = _user_mask(nodes, "mbind")
        if maxnode is None:
            maxnode = self.topology.max_numnodes + 1

        def call():
            self.current.caps = frozenset({CAP_SYS_NICE}) if cap_sys_nice else frozenset()
            return self.kernel_mbind(start, length, mode, nmask, maxnode, flags)

        ret, what = self._syscall(
            f"mbind({start:#x}, {length:#x}, {format_mode(mode)}, {_fmt_mask(nmask)}, {maxnode}, "
            f"{format_flags(flags, MBIND_FLAG_NAMES)})", call, cpu, task)
        return SyscallResult(what, ret, events=tuple(self.events))

    def sys_migrate_pages(self, pid, old_nodes, new_nodes, maxnode=None, task=0, cpu=None, cap_sys_nice=False,
                          may_ptrace=True):
        """migrate_pages(pid, maxnode, old_nodes, new_nodes) by task: the number of pages not moved, or -errno.

        pid 0 is the caller, another pid the task of that id; may_ptrace is whether the caller passes
        ptrace_may_access() for another task (its credentials); maxnode defaults to a full mask. (Not called
        migrate_pages: that name is mm/migrate.c's kernel function.)
        """
        old, new = _user_mask(old_nodes, "migrate_pages"), _user_mask(new_nodes, "migrate_pages")
        if maxnode is None:
            maxnode = self.topology.max_numnodes + 1
        if not is_whole(pid):
            raise InvalidOperation(f"migrate_pages: pid {pid!r} must be an integer")

        def call():
            self.current.caps = frozenset({CAP_SYS_NICE}) if cap_sys_nice else frozenset()
            return self.kernel_migrate_pages(pid, maxnode, old, new, may_ptrace)

        ret, what = self._syscall(f"migrate_pages({pid}, {maxnode}, {_fmt_mask(old)}, {_fmt_mask(new)})", call, cpu,
                                  task)
        return SyscallResult(what, ret, events=tuple(self.events))

    def sys_move_pages(self, pid, pages, nodes=None, flags=0, task=0, cpu=None, cap_sys_nice=False, may_ptrace=True):
        """move_pages(pid, count, pages, nodes, status, flags) by task: ret 0 or -errno, and the status array.

        pages is a list of addresses, nodes a list of node ids as long (None: NULL, a query of each page's
        node). The status array is a tuple with an entry per page: a node, a negative errno, or None where
        the kernel wrote nothing (the user's buffer keeps what it held). pid, cap_sys_nice and may_ptrace
        are as for sys_migrate_pages.
        """
        if not is_whole(pid) or not is_whole(flags):
            raise InvalidOperation(f"move_pages: pid {pid!r} and flags {flags!r} must be integers")
        pages = list(pages)
        if not all(is_whole(a) for a in pages):
            raise InvalidOperation(f"move_pages: the addresses {pages!r} must be integers")
        if nodes is not None:
            nodes = list(nodes)
            if len(nodes) != len(pages) or not all(is_whole(n) for n in nodes):
                raise InvalidOperation(f"move_pages: nodes {nodes!r} must be one integer per page")
        status = [None] * len(pages)

        def call():
            self.current.caps = frozenset({CAP_SYS_NICE}) if cap_sys_nice else frozenset()
            return self.kernel_move_pages(pid, pages, nodes, status, flags, may_ptrace)

        shown = "NULL" if nodes is None else nodes
        ret, what = self._syscall(
            f"move_pages({pid}, {len(pages)}, {[hex(a) for a in pages]}, {shown}, "
            f"{format_flags(flags, MBIND_FLAG_NAMES)})", call, cpu, task)
        return SyscallResult(what, ret, events=tuple(self.events), status=tuple(status))

    def set_cpuset(self, task, nodes):
        """Write the mems of task's cpuset (update_nodemask): the task's mems_allowed, policy and VMAs follow.

        nodes is a set of node ids; None, like an empty set, is an empty write (cpuset.mems written with
        nothing), which update_nodemask refuses with -ENOSPC for a cpuset that holds a task.
        """
        mask = _user_mask(nodes, "set_cpuset") or frozenset()
        t = self._task_obj(task)
        ret, what = self._syscall(f"cpuset of task {task}: mems {_fmt_mask(mask)}",
                                  lambda: self.update_nodemask(t, mask), None, task)
        return SyscallResult(what, ret, events=tuple(self.events))

    # ---- page faults and munmap ----------------------------------------------------------------------------
    def fault(self, addr, task=0, cpu=None, write=True):
        """A page fault by task on cpu at a user address (a write unless write=False): maps a page there."""
        if not is_whole(addr) or not 0 <= addr < 1 << 47:
            raise InvalidOperation(f"fault at {addr!r}: the address must be an integer in the user address space")
        t = self._task_obj(task)
        flags = FAULT_FLAG_WRITE if write else 0
        what = f"{'write' if write else 'read'} fault task {task} at {addr:#x}"
        # (getattr: Python would mangle a __name written in a class body)
        do_page_fault = getattr(self, "__do_page_fault")
        ret, what = self._syscall(what, lambda: vm_fault_errno(do_page_fault(t, addr, flags)), cpu, task)
        entry = lookup(t.page_table, addr)
        if entry is None:
            return FaultResult(what, ret, events=tuple(self.events))
        _, pfn, order = entry
        zone = None if pfn == ZERO_PFN else self.page_zone(pfn).idx
        return FaultResult(what, ret, pfn, order, page_to_nid(self, pfn), zone, events=tuple(self.events))

    def munmap(self, start, length, task=0, cpu=None):
        """munmap(start, length) by task: do_munmap(); the pages mapped in the range are freed."""
        t = self._task_obj(task)
        for name, value in (("start", start), ("length", length)):
            if not is_whole(value) or value < 0:
                raise InvalidOperation(f"munmap: {name} {value!r} must be a non-negative integer")
        ret, what = self._syscall(f"munmap({start:#x}, {length:#x}) task {task}",
                                  lambda: self.do_munmap(t, start, length), cpu, task)
        return SyscallResult(what, ret, events=tuple(self.events))

    def fork(self, task=0, child=None, cpu=None):
        """fork() by task on cpu: the child (id `child`, default the lowest id not in use) gets copies of the
        task's policies, cpuset and cursor and shares its pages copy-on-write; returns the child's id as ret."""
        t = self._task_obj(task)
        if child is None:
            child = next(i for i in range(1, len(self.tasks) + 2) if i not in self.tasks)
        if not is_whole(child) or child < 0 or child in self.tasks:
            raise InvalidOperation(f"fork: child id {child!r} must be a non-negative integer not in use "
                                   f"(tasks: {sorted(self.tasks)})")
        if t.memcg_limit is not None:
            raise InvalidOperation(f"fork of task {task}: a task in a limited memory cgroup (the model charges "
                                   "per task, not per cgroup) is not modelled")
        ret, what = self._syscall(f"fork task {task} -> child {child}", lambda: self._do_fork(child), cpu, task)
        new = self.tasks[ret]
        shared = tuple(sorted({pfn for _, pfn, _ in new.page_table if pfn != ZERO_PFN}))
        policy = "default" if new.mempolicy is None else str(new.mempolicy)
        return ForkResult(what, ret, policy, shared, events=tuple(self.events))

    def mapped_pfns(self):
        """pfn -> [(task id, address)] of every allocated page some task's page table maps."""
        return _mapped_pfns(sorted(self.tasks.items()))

    def page_cache_pfns(self):
        """pfn -> (inode number, index) of every page a file's or shmem object's cache holds."""
        return {pfn: (inode.ino, index) for inode in self.inodes.values() for index, pfn in inode.pages}

    # ---- allocation ----------------------------------------------------------------------------------------
    def _alloc_with(self, gfp, order, cpu, task, call, **context):
        self._check_order_arg(order)
        self._task_obj(task)
        self._begin(cpu, task, **context)
        snapshot = self.freeze()
        try:
            page = call()
        except Exception:
            self.restore(snapshot)
            raise
        return self._alloc_result(page, order, gfp)

    def alloc_pages(self, gfp, order=0, cpu=0, task=0, in_interrupt=False):
        """alloc_pages() (alloc_pages_current) by task on cpu, or from an interrupt on that cpu."""
        return self._alloc_with(gfp, order, cpu, task, lambda: self.alloc_pages_current(gfp, order),
                                in_interrupt=in_interrupt)

    def alloc_vma(self, gfp, order, addr, cpu=0, task=0, hugepage=False):
        """alloc_pages_vma(gfp, order, vma, addr, numa_node_id(), hugepage) for the VMA of task holding addr.

        (The operation cannot be called alloc_pages_vma: that name is the
        kernel function, which variants may override.)
        """
        t = self._task_obj(task)
        i = self.find_vma(t.vmas, addr)
        if i is None or t.vmas[i].start > addr:
            raise InvalidOperation(f"alloc_pages_vma: address {addr:#x} is in no VMA of task {task}")
        vma = t.vmas[i]
        return self._alloc_with(
            gfp, order, cpu, task,
            lambda: self.alloc_pages_vma(gfp, order, vma, addr, self.numa_node_id(), hugepage))
