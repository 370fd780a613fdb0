"""NUMA memory policy (mm/mempolicy.c, include/linux/mempolicy.h, include/uapi/linux/mempolicy.h; Linux 4.19).

A `Mempolicy` is an immutable value: where the kernel changes a struct
mempolicy in place (mpol_set_nodemask, the rebind functions), the model
returns a new value and the caller stores it. Each task owns its policy and
each VMA its own copy (the kernel duplicates policies with mpol_dup for every
VMA and never shares one between a task and a VMA), so value semantics give
the kernel's behaviour. "No policy" (the kernel's NULL) is None.

The system calls (`kernel_set_mempolicy`, `kernel_get_mempolicy`,
`kernel_mbind`) keep 4.19's validation order and return 0 or a negative errno;
a failing call changes nothing (except that mbind's walk splits a huge zero
page it meets, and that an mbind whose migration fails keeps its policy and
the pages it has moved). The user's node mask is a set of ints (None
for a NULL pointer) plus the `maxnode` argument, read by `get_nodes` with the
kernel's maxnode-1 rule.

Allocation entry points (`alloc_pages_current`, `alloc_pages_vma`,
`alloc_page_interleave`) pick the policy, the preferred node and the nodemask
as 4.19 does and call `k.__alloc_pages_nodemask`. Cpuset changes
(`update_nodemask` -> `update_tasks_nodemask` -> `cpuset_change_task_nodemask`
and `mpol_rebind_mm`) rebind the task policy and every VMA policy of the task.
The default machine has the stable 4.19 `mpol_rebind_nodemask` with the fix
29b190fa774d; model/variants.py has 4.19.0 as released.

Abstracted away:
- page migration (mbind's MPOL_MF_STRICT/MOVE/MOVE_ALL, migrate_pages(2),
  move_pages(2)) is model/migrate.py, which says which stable release it
  follows and what it leaves out.
- hugetlbfs shared policies (shmem's are in model/shmem.py), reference counts, mpol_dup's rebind while a cpuset is being
  rebound (no fork or VMA split happens during a rebind here), mpol_parse_str,
  mempolicy_slab_node, huge_node, init_nodemask_of_mempolicy,
  mempolicy_nodemask_intersects, mpol_misplaced and NUMA balancing
  (MPOL_F_MOF/MORON exist only in preferred_node_policy).
- VMAs: every task has its own mm; a VMA is (start, end, vm_pgoff, policy,
  file, shared). VMAs are private anonymous, shared anonymous (shmem) or
  file mappings, with no anon_vma and no userfaultfd context, so vma_merge
  merges two neighbours when they touch, map the same file (or none) the
  same way (VM_SHARED), their policies are mpol_equal and their vm_pgoff
  are contiguous. split_vma
  never fails (no map count limit). vma_migratable is always true.
- cpusets: each task sits alone in a cpuset of its own, whose mems are the
  task's mems_allowed; the root cpuset's mems are the nodes with memory.
  Hotplug, cpuset_migrate_mm (memory_migrate) and the v2 effective-mems
  inheritance are not modelled. A cpuset update is not atomic: another CPU
  may see each store of cpuset_change_task_nodemask and of the task policy's
  rebind (preemption points, model/preempt.py), inside the mems_allowed
  seqcount's write section (model/cpuset.py). The rebind functions return the
  rebound policy as a value; mpol_rebind_task stores its fields one at a time
  in the order 4.19's rebind function writes them (REBIND_STORE_ORDER).
  mmap_sem is not modelled: mpol_rebind_mm runs without a point, and a fault
  of the same task racing it in a concurrent pair is not excluded as the
  rwsem would exclude it.
- NUMA statistics are always enabled (vm_numa_stat_key on).
- node_states[] is computed once per machine from the topology (no hotplug).
- mpol_new's -ENOMEM and copy_from_user's -EFAULT cannot happen.
"""

from dataclasses import dataclass, replace
from functools import lru_cache

from .constants import PAGE_SHIFT, PAGE_SIZE, ZONE_MOVABLE
from .gfp import __GFP_THISNODE, gfp_zone
from .kernel import kernel_function
from .nodemask import (
    __first_node,
    __next_node,
    __next_node_in,
    mpol_relative_nodemask,
    node_remap,
    nodemask_str,
    nodes_remap,
    nodes_weight,
)
from .preempt import preempt_point
from .zonelist import node_has_memory

# ---- include/uapi/linux/mempolicy.h ------------------------------------------------------------------------
MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_INTERLEAVE = 3
MPOL_LOCAL = 4
MPOL_MAX = 5
MPOL_MODE_NAMES = ("MPOL_DEFAULT", "MPOL_PREFERRED", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_LOCAL")

# mode flags, ORed into the mode argument of set_mempolicy and mbind
MPOL_F_STATIC_NODES = 1 << 15
MPOL_F_RELATIVE_NODES = 1 << 14
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES

# get_mempolicy flags
MPOL_F_NODE = 1 << 0
MPOL_F_ADDR = 1 << 1
MPOL_F_MEMS_ALLOWED = 1 << 2

# mbind flags
MPOL_MF_STRICT = 1 << 0
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2
MPOL_MF_LAZY = 1 << 3
MPOL_MF_INTERNAL = 1 << 4
MPOL_MF_VALID = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL
# mm/mempolicy.c internal mbind flags
MPOL_MF_DISCONTIG_OK = MPOL_MF_INTERNAL << 0
MPOL_MF_INVERT = MPOL_MF_INTERNAL << 1

# internal flags kept in mempolicy.flags
MPOL_F_SHARED = 1 << 0
MPOL_F_LOCAL = 1 << 1
MPOL_F_MOF = 1 << 3
MPOL_F_MORON = 1 << 4

# errno values (include/uapi/asm-generic/errno-base.h)
EPERM = 1
ENOENT = 2
ESRCH = 3
EIO = 5
ENOMEM = 12
EACCES = 13
EFAULT = 14
EBUSY = 16
ENODEV = 19
EINVAL = 22
ENOSPC = 28
ERANGE = 34

# include/linux/capability.h
CAP_SYS_NICE = 23

# enum node_states (include/linux/nodemask.h); without CONFIG_HIGHMEM N_HIGH_MEMORY is N_NORMAL_MEMORY,
# and either way it holds the nodes with a populated zone below ZONE_MOVABLE.
N_POSSIBLE = 0
N_ONLINE = 1
N_NORMAL_MEMORY = 2
N_HIGH_MEMORY = 3
N_MEMORY = 4
N_CPU = 5

BITS_PER_LONG = 64
BITS_PER_BYTE = 8
ULONG_MASK = (1 << 64) - 1
UINT_MASK = (1 << 32) - 1
PAGE_MASK = ULONG_MASK & ~(PAGE_SIZE - 1)
TASK_SIZE = (1 << 47) - PAGE_SIZE  # x86-64 TASK_SIZE_MAX, used to validate the model's mmap


def BITS_TO_LONGS(nbits):
    """BITS_TO_LONGS(): 64-bit words needed for nbits bits."""
    return (nbits + BITS_PER_LONG - 1) // BITS_PER_LONG


def _align(x, a):
    """ALIGN(x, a) for a power of two a, in unsigned long arithmetic."""
    return ((x + a - 1) & ~(a - 1)) & ULONG_MASK


# ---- struct mempolicy and struct vm_area_struct ------------------------------------------------------------
@dataclass(frozen=True)
class Mempolicy:
    """struct mempolicy as a value: mode, flags, v.nodes or v.preferred_node, w.user_nodemask or w.cpuset_mems_allowed.

    `nodes` is meaningful for BIND and INTERLEAVE, `preferred_node` for
    PREFERRED without MPOL_F_LOCAL. `user_nodemask` is meaningful when a mode
    flag (STATIC or RELATIVE) is set, `cpuset_mems_allowed` otherwise (the
    kernel keeps each pair in a union; nothing reads the member not in use).
    """

    mode: int
    flags: int = 0
    nodes: frozenset = frozenset()
    preferred_node: int = -1
    user_nodemask: frozenset = frozenset()
    cpuset_mems_allowed: frozenset = frozenset()

    def __str__(self):
        """Like mpol_to_str(): mode[=static|relative][:nodes]."""
        if self.flags & MPOL_F_MORON:
            return "default"
        if self.mode == MPOL_PREFERRED:
            if self.flags & MPOL_F_LOCAL:
                text, nodes = "local", ""
            else:
                text, nodes = "prefer", str(self.preferred_node)
        else:
            text = {MPOL_DEFAULT: "default", MPOL_BIND: "bind", MPOL_INTERLEAVE: "interleave"}.get(self.mode, "?")
            nodes = nodemask_str(self.nodes)
        if self.flags & MPOL_F_STATIC_NODES:
            text += "=static"
        elif self.flags & MPOL_F_RELATIVE_NODES:
            text += "=relative"
        return text + (":" + nodes if nodes else "")


@dataclass(frozen=True)
class VMA:
    """struct vm_area_struct as the policy code sees it: [start, end), vm_pgoff, the VMA policy (None: none),
    the file or shmem object it maps (its inode number, model/filemap.py; None: anonymous memory) and
    whether the mapping is shared (VM_SHARED)."""

    start: int
    end: int
    vm_pgoff: int
    policy: Mempolicy | None = None
    file: int | None = None
    shared: bool = False

    @property
    def pages(self):
        """vma_pages()."""
        return (self.end - self.start) >> PAGE_SHIFT

    def __str__(self):
        pol = "" if self.policy is None else f" {self.policy}"
        obj = "" if self.file is None else f" {'shared' if self.shared else 'private'} inode {self.file}"
        return f"vma {self.start:#x}-{self.end:#x} pgoff {self.vm_pgoff:#x}{obj}{pol}"


# default_policy: preferred local allocation. Compared by identity (the kernel compares the pointer).
default_policy = Mempolicy(MPOL_PREFERRED, MPOL_F_LOCAL)


@lru_cache(maxsize=None)
def _preferred_node_policy(nid):
    return Mempolicy(MPOL_PREFERRED, MPOL_F_MOF | MPOL_F_MORON, preferred_node=nid)


def mpol_store_user_nodemask(pol):
    """mpol_store_user_nodemask(): the policy keeps the user's mask (STATIC or RELATIVE)."""
    return pol.flags & MPOL_MODE_FLAGS


def _max(k):
    return k.topology.max_numnodes


# ---- node states and built-in policies ---------------------------------------------------------------------
@kernel_function
def node_states(k, state):
    """node_states[state]: the nodes in that state (online, with memory, with non-movable memory, with CPUs)."""
    cache = k.__dict__.setdefault("_node_states_cache", {})
    if state not in cache:
        if state in (N_POSSIBLE, N_ONLINE):
            nodes = [p.node_id for p in k.node_data]
        elif state == N_MEMORY:
            nodes = [p.node_id for p in k.node_data if node_has_memory(p)]
        elif state in (N_NORMAL_MEMORY, N_HIGH_MEMORY):
            nodes = [p.node_id for p in k.node_data
                     if any(z.present_pages for z in p.node_zones[:ZONE_MOVABLE])]
        elif state == N_CPU:
            nodes = [p.node_id for p in k.node_data if p.cpus]
        else:
            raise ValueError(f"node_states: unknown state {state}")
        cache[state] = frozenset(nodes)
    return cache[state]


@kernel_function
def preferred_node_policy(k, nid):
    """preferred_node_policy[nid]: PREFERRED nid with MOF|MORON, as numa_policy_init() fills it at boot."""
    return _preferred_node_policy(nid)


@kernel_function
def in_interrupt(k):
    """in_interrupt(): hard or soft interrupt context."""
    return bool(k.current.in_interrupt or k.current.in_serving_softirq)


@kernel_function
def get_task_policy(k, p):
    """get_task_policy(): the task's policy, else the local node's preferred_node_policy."""
    pol = p.mempolicy
    if pol is not None:
        return pol
    node = k.numa_node_id()
    pol = k.preferred_node_policy(node)
    if pol.mode:
        return pol
    return default_policy


# ---- creating a policy -------------------------------------------------------------------------------------
@kernel_function
def mpol_new_interleave(k, pol, nodes):
    """mpol_new_interleave(): the create op of INTERLEAVE; an empty mask is -EINVAL."""
    if not nodes:
        return -EINVAL, pol
    return 0, replace(pol, nodes=frozenset(nodes))


@kernel_function
def mpol_new_preferred(k, pol, nodes):
    """mpol_new_preferred(): no mask (None) means local; an empty mask is -EINVAL; else the first node."""
    if nodes is None:
        return 0, replace(pol, flags=pol.flags | MPOL_F_LOCAL)
    if not nodes:
        return -EINVAL, pol
    return 0, replace(pol, preferred_node=__first_node(nodes, _max(k)))


@kernel_function
def mpol_new_bind(k, pol, nodes):
    """mpol_new_bind(): the create op of BIND; an empty mask is -EINVAL."""
    if not nodes:
        return -EINVAL, pol
    return 0, replace(pol, nodes=frozenset(nodes))


MPOL_OPS = {
    MPOL_DEFAULT: (None, "mpol_rebind_default"),
    MPOL_INTERLEAVE: ("mpol_new_interleave", "mpol_rebind_nodemask"),
    MPOL_PREFERRED: ("mpol_new_preferred", "mpol_rebind_preferred"),
    MPOL_BIND: ("mpol_new_bind", "mpol_rebind_nodemask"),
}


@kernel_function
def mpol_set_nodemask(k, pol, nodes):
    """mpol_set_nodemask(): restrict the mask to the cpuset's nodes with memory and call the mode's create op.

    Returns (err, pol). pol None (MPOL_DEFAULT) is left alone.
    """
    if pol is None:
        return 0, None
    cpuset_current_mems_allowed = k.current.mems_allowed()
    mask1 = frozenset(cpuset_current_mems_allowed) & k.node_states(N_MEMORY)
    if pol.mode == MPOL_PREFERRED and not nodes:
        nodes = None  # explicit local allocation
        mask2 = None
    else:
        if pol.flags & MPOL_F_RELATIVE_NODES:
            mask2 = mpol_relative_nodemask(nodes, mask1)
        else:
            mask2 = frozenset(nodes) & mask1
        if mpol_store_user_nodemask(pol):
            pol = replace(pol, user_nodemask=frozenset(nodes))
        else:
            pol = replace(pol, cpuset_mems_allowed=frozenset(cpuset_current_mems_allowed))
    create = getattr(k, MPOL_OPS[pol.mode][0])
    return create(pol, mask2 if nodes is not None else None)


@kernel_function
def mpol_new(k, mode, flags, nodes):
    """mpol_new(): check mode, flags and mask; returns (err, policy), policy None for MPOL_DEFAULT."""
    if mode == MPOL_DEFAULT:
        if nodes:
            return -EINVAL, None
        return 0, None
    if mode == MPOL_PREFERRED:
        if not nodes and (flags & MPOL_F_STATIC_NODES or flags & MPOL_F_RELATIVE_NODES):
            return -EINVAL, None
    elif mode == MPOL_LOCAL:
        if nodes or flags & MPOL_F_STATIC_NODES or flags & MPOL_F_RELATIVE_NODES:
            return -EINVAL, None
        mode = MPOL_PREFERRED
    elif not nodes:
        return -EINVAL, None
    return 0, Mempolicy(mode, flags)


@kernel_function
def get_nodes(k, nmask, maxnode):
    """get_nodes(): read the user's mask of maxnode-1 bits; returns (err, nodes).

    nmask is the set of bits in the user's buffer, or None for a NULL pointer.
    maxnode is decremented (as an unsigned long, so 0 wraps); 0 bits or a
    NULL pointer give the empty mask; more than PAGE_SIZE*8 bits, or a set
    bit at or above MAX_NUMNODES among the bits read, is -EINVAL; bits at or
    above maxnode are not read.
    """
    maxnode = (maxnode - 1) & ULONG_MASK  # unsigned long
    if maxnode == 0 or nmask is None:
        return 0, frozenset()
    if maxnode > PAGE_SIZE * BITS_PER_BYTE:
        return -EINVAL, frozenset()
    max_numnodes = _max(k)
    if any(max_numnodes <= b < maxnode for b in nmask):
        return -EINVAL, frozenset()
    return 0, frozenset(b for b in nmask if b < maxnode)


# ---- set_mempolicy -----------------------------------------------------------------------------------------
@kernel_function
def do_set_mempolicy(k, mode, flags, nodes):
    """do_set_mempolicy(): build the policy and install it as current's; INTERLEAVE restarts at the lowest node."""
    err, new = k.mpol_new(mode, flags, nodes)
    if err:
        return err
    err, new = k.mpol_set_nodemask(new, nodes)
    if err:
        return err
    task = k.current.task
    task.mempolicy = new
    if new is not None and new.mode == MPOL_INTERLEAVE:
        task.il_prev = _max(k) - 1
    return 0


@kernel_function
def kernel_set_mempolicy(k, mode, nmask, maxnode):
    """kernel_set_mempolicy(): split the mode flags, validate, read the mask, do_set_mempolicy()."""
    flags = mode & MPOL_MODE_FLAGS
    mode &= ~flags
    if not 0 <= mode < MPOL_MAX:  # (unsigned int)mode >= MPOL_MAX
        return -EINVAL
    if (flags & MPOL_F_STATIC_NODES) and (flags & MPOL_F_RELATIVE_NODES):
        return -EINVAL
    err, nodes = k.get_nodes(nmask, maxnode)
    if err:
        return err
    return k.do_set_mempolicy(mode, flags, nodes)


# ---- get_mempolicy -----------------------------------------------------------------------------------------
@kernel_function
def get_policy_nodemask(k, p, is_default):
    """get_policy_nodemask(): the nodes a policy reports (empty for the default policy and for local)."""
    if is_default:
        return frozenset()
    if p.mode in (MPOL_BIND, MPOL_INTERLEAVE):
        return p.nodes
    if p.mode == MPOL_PREFERRED:
        if not (p.flags & MPOL_F_LOCAL):
            return frozenset({p.preferred_node})
        return frozenset()
    raise AssertionError(f"get_policy_nodemask: policy mode {p.mode} (the kernel's BUG)")


@kernel_function
def do_get_mempolicy(k, flags, addr):
    """do_get_mempolicy(): returns (err, policy value, node mask) as the kernel fills them."""
    task = k.current.task
    pol = task.mempolicy
    if flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED):
        return -EINVAL, None, None
    if flags & MPOL_F_MEMS_ALLOWED:
        if flags & (MPOL_F_NODE | MPOL_F_ADDR):
            return -EINVAL, None, None
        return 0, 0, frozenset(k.current.mems_allowed())
    if flags & MPOL_F_ADDR:
        i = k.find_vma_intersection(task.vmas, addr, addr + 1)
        if i is None:
            return -EFAULT, None, None
        vma = task.vmas[i]
        if k.vma_is_shmem(vma):  # vma->vm_ops->get_policy
            pol = k.shmem_get_policy(vma, addr)
        else:
            pol = vma.policy  # no fallback to the task policy: NULL reports MPOL_DEFAULT
    elif addr:
        return -EINVAL, None, None
    is_default = pol is None
    if is_default:
        pol = default_policy
    if flags & MPOL_F_NODE:
        if flags & MPOL_F_ADDR:
            policy = k.lookup_node(addr)  # model/memory.py: faults the page in
            if policy < 0:
                return policy, None, None
        elif not is_default and pol is task.mempolicy and pol.mode == MPOL_INTERLEAVE:
            policy = __next_node_in(task.il_prev, pol.nodes, _max(k))
        else:
            return -EINVAL, None, None
    else:
        policy = MPOL_DEFAULT if is_default else pol.mode
        policy |= pol.flags & MPOL_MODE_FLAGS
    if mpol_store_user_nodemask(pol):
        nmask = pol.user_nodemask
    else:
        nmask = k.get_policy_nodemask(pol, is_default)
    return 0, policy, nmask


@kernel_function
def copy_nodes_to_user(k, maxnode, nodes):
    """copy_nodes_to_user(): (err, the bits the user's buffer receives); more than a page is -EINVAL."""
    copy = _align((maxnode - 1) & ULONG_MASK, 64) // 8
    nbytes = BITS_TO_LONGS(_max(k)) * 8
    if copy > nbytes:
        if copy > PAGE_SIZE:
            return -EINVAL, None
        copy = nbytes
    return 0, frozenset(b for b in nodes if b < copy * 8)


@kernel_function
def kernel_get_mempolicy(k, want_policy, want_nmask, maxnode, addr, flags):
    """kernel_get_mempolicy(): returns (err, policy written or None, nodes written or None)."""
    maxnode &= ULONG_MASK
    if want_nmask and maxnode < _max(k):
        return -EINVAL, None, None
    err, pval, nodes = k.do_get_mempolicy(flags, addr)
    if err:
        return err, None, None
    policy = pval if want_policy else None
    out = None
    if want_nmask:
        err, out = k.copy_nodes_to_user(maxnode, nodes)
    return err, policy, out


# ---- VMAs and mbind ----------------------------------------------------------------------------------------
@kernel_function
def __mpol_equal(k, a, b):
    """__mpol_equal(): same mode, flags, user mask, and nodes (or preferred node); cpuset_mems_allowed is ignored."""
    if a is None or b is None:
        return False
    if a.mode != b.mode or a.flags != b.flags:
        return False
    if mpol_store_user_nodemask(a) and a.user_nodemask != b.user_nodemask:
        return False
    if a.mode in (MPOL_BIND, MPOL_INTERLEAVE):
        return a.nodes == b.nodes
    if a.mode == MPOL_PREFERRED:
        if a.flags & MPOL_F_LOCAL:
            return True
        return a.preferred_node == b.preferred_node
    raise AssertionError(f"__mpol_equal: policy mode {a.mode} (the kernel's BUG)")


@kernel_function
def mpol_equal(k, a, b):
    """mpol_equal(): both NULL, or __mpol_equal()."""
    if a is None and b is None:
        return True
    return k.__mpol_equal(a, b)


@kernel_function
def find_vma(k, vmas, addr):
    """find_vma(): the index of the first VMA ending above addr, or None."""
    for i, vma in enumerate(vmas):
        if vma.end > addr:
            return i
    return None


@kernel_function
def find_vma_intersection(k, vmas, start, end):
    """find_vma_intersection(): the index of the first VMA overlapping [start, end), or None."""
    i = k.find_vma(vmas, start)
    if i is not None and end <= vmas[i].start:
        return None
    return i


@kernel_function
def split_vma(k, vmas, i, addr, new_below):
    """split_vma()/__split_vma(): cut vmas[i] at addr; returns the index of the part the caller keeps working on.

    With new_below the lower part is the new VMA and the caller keeps the
    upper part; otherwise the caller keeps the lower part. Both parts keep the
    policy (vma_dup_policy) and consistent vm_pgoff.
    """
    vma = vmas[i]
    lower = replace(vma, end=addr)
    upper = replace(vma, start=addr, vm_pgoff=vma.vm_pgoff + ((addr - vma.start) >> PAGE_SHIFT))
    vmas[i:i + 1] = [lower, upper]
    return i + 1 if new_below else i


def _can_merge_after(prev, pgoff, file):
    """can_vma_merge_after(): same file and VM_SHARED (file: the pair), prev's pages end where pgoff starts."""
    return (prev.file, prev.shared) == file and prev.vm_pgoff + prev.pages == pgoff


def _can_merge_before(nxt, pgoff, file):
    """can_vma_merge_before(): same file and VM_SHARED (file: the pair), next starts at page offset pgoff."""
    return (nxt.file, nxt.shared) == file and nxt.vm_pgoff == pgoff


@kernel_function
def vma_merge(k, vmas, prev, addr, end, pgoff, policy, file=(None, False)):
    """vma_merge(): give [addr, end) the policy by growing prev and/or next; returns the merged index or None.

    prev is an index into vmas (or None); file the range's (file, shared): its inode and
    VM_SHARED ((None, False): private anonymous). The cases follow the kernel's
    numbering: 1/6 prev and next join, 2/5/7 prev grows, 4 prev shrinks and
    next grows down, 3/8 next grows down.
    """
    pglen = (end - addr) >> PAGE_SHIFT
    nxt = 0 if prev is None else prev + 1
    if nxt >= len(vmas):
        nxt = None
    area = nxt
    if area is not None and vmas[area].end == end:  # cases 6, 7, 8
        nxt = area + 1 if area + 1 < len(vmas) else None
    if (prev is not None and vmas[prev].end == addr and k.mpol_equal(vmas[prev].policy, policy)
            and _can_merge_after(vmas[prev], pgoff, file)):
        if (nxt is not None and end == vmas[nxt].start and k.mpol_equal(policy, vmas[nxt].policy)
                and _can_merge_before(vmas[nxt], pgoff + pglen, file)):
            # cases 1, 6: prev swallows everything up to the end of next
            vmas[prev] = replace(vmas[prev], end=vmas[nxt].end)
            del vmas[prev + 1:nxt + 1]
        else:
            # cases 2, 5, 7: prev grows to end; what followed loses [addr, end)
            vmas[prev] = replace(vmas[prev], end=end)
            j = prev + 1
            if j < len(vmas) and vmas[j].start < end:
                if vmas[j].end <= end:
                    del vmas[j]
                else:
                    vma = vmas[j]
                    vmas[j] = replace(vma, start=end, vm_pgoff=vma.vm_pgoff + ((end - vma.start) >> PAGE_SHIFT))
        return prev
    if (nxt is not None and end == vmas[nxt].start and k.mpol_equal(policy, vmas[nxt].policy)
            and _can_merge_before(vmas[nxt], pgoff + pglen, file)):
        vma = vmas[nxt]
        vmas[nxt] = replace(vma, start=addr, vm_pgoff=vma.vm_pgoff - pglen)
        if prev is not None and addr < vmas[prev].end:  # case 4: prev gives its tail to next
            vmas[prev] = replace(vmas[prev], end=addr)
        elif area is not None and area != nxt:  # case 8: area is removed, next expanded over it
            del vmas[area]
            nxt = area
        return nxt
    return None


@kernel_function
def vma_replace_policy(k, vmas, i, pol):
    """vma_replace_policy(): vm_ops->set_policy for a shmem VMA (its object's shared policy), then the VMA's copy."""
    if k.vma_is_shmem(vmas[i]):
        err = k.shmem_set_policy(vmas[i], pol)
        if err:
            return err
    vmas[i] = replace(vmas[i], policy=pol)
    return 0


@kernel_function
def mbind_range(k, vmas, start, end, new_pol):
    """mbind_range(): apply new_pol to [start, end) of the list vmas, splitting and merging; 0 or -EFAULT."""
    i = k.find_vma(vmas, start)
    if i is None or vmas[i].start > start:
        return -EFAULT
    prev = i - 1 if i > 0 else None
    if start > vmas[i].start:
        prev = i
    while i is not None and i < len(vmas) and vmas[i].start < end:
        vma = vmas[i]
        vmstart = max(start, vma.start)
        vmend = min(end, vma.end)
        if k.mpol_equal(vma.policy, new_pol):
            prev, i = i, i + 1
            continue
        pgoff = vma.vm_pgoff + ((vmstart - vma.start) >> PAGE_SHIFT)
        merged = k.vma_merge(vmas, prev, vmstart, vmend, pgoff, new_pol, (vma.file, vma.shared))
        if merged is not None:
            i = merged
            if k.mpol_equal(vmas[i].policy, new_pol):
                prev, i = i, i + 1
                continue
        else:
            if vmas[i].start != vmstart:
                i = k.split_vma(vmas, i, vmstart, True)
            if vmas[i].end != vmend:
                i = k.split_vma(vmas, i, vmend, False)
        err = k.vma_replace_policy(vmas, i, new_pol)
        if err:
            return err
        prev, i = i, i + 1
    return 0


@kernel_function
def capable(k, cap):
    """capable(): whether the current task holds the capability (an argument of the operation)."""
    return cap in k.current.caps


@kernel_function
def do_mbind(k, start, len_, mode, mode_flags, nmask, flags):
    """do_mbind(): validate flags, capability, alignment and range, build the policy, queue the misplaced pages,
    apply the policy to the VMAs, migrate the queued pages; -EIO for MPOL_MF_STRICT when some stay misplaced."""
    if flags & ~MPOL_MF_VALID:
        return -EINVAL
    if (flags & MPOL_MF_MOVE_ALL) and not k.capable(CAP_SYS_NICE):
        return -EPERM
    if start & ~PAGE_MASK:
        return -EINVAL
    if mode == MPOL_DEFAULT:
        flags &= ~MPOL_MF_STRICT
    len_ = ((len_ + PAGE_SIZE - 1) & ULONG_MASK) & PAGE_MASK
    end = (start + len_) & ULONG_MASK
    if end < start:
        return -EINVAL
    if end == start:
        return 0
    err, new = k.mpol_new(mode, mode_flags, nmask)
    if err:
        return err
    # (MPOL_MF_LAZY would add MPOL_F_MOF here; MPOL_MF_VALID has already rejected it in 4.19)
    if new is None:
        flags |= MPOL_MF_DISCONTIG_OK
    err, new = k.mpol_set_nodemask(new, nmask)
    if err:
        return err
    task = k.current.task
    vmas = list(task.vmas)
    # the user's mask, not the policy's: a page is misplaced when it lies outside nmask (model/migrate.py)
    ret, pagelist = k.queue_pages_range(task, start, end, nmask, flags | MPOL_MF_INVERT)
    if ret < 0:
        return ret  # nothing isolated stays isolated: the pagelist is put back
    err = k.mbind_range(vmas, start, end, new)
    if err:
        return err
    task.vmas = tuple(vmas)
    nr_failed = 0
    if pagelist:  # new_page() allocates with the policy just applied
        nr_failed = k.migrate_pages(pagelist, lambda pfn, order: k.new_page(pfn, order, start))
    if ret > 0 or (nr_failed and flags & MPOL_MF_STRICT):
        return -EIO
    return 0


@kernel_function
def kernel_mbind(k, start, len_, mode, nmask, maxnode, flags):
    """kernel_mbind(): split the mode flags, validate, read the mask, do_mbind()."""
    mode_flags = mode & MPOL_MODE_FLAGS
    mode &= ~MPOL_MODE_FLAGS
    if not 0 <= mode < MPOL_MAX:
        return -EINVAL
    if (mode_flags & MPOL_F_STATIC_NODES) and (mode_flags & MPOL_F_RELATIVE_NODES):
        return -EINVAL
    err, nodes = k.get_nodes(nmask, maxnode)
    if err:
        return err
    return k.do_mbind(start, len_, mode, mode_flags, nodes, flags)


# ---- policy lookup and allocation --------------------------------------------------------------------------
@kernel_function
def __get_vma_policy(k, vma, addr):
    """__get_vma_policy(): a shmem VMA's vm_ops->get_policy (the shared policy), else the VMA's own policy, or None."""
    if vma is None:
        return None
    if k.vma_is_shmem(vma):
        return k.shmem_get_policy(vma, addr)
    return vma.policy


@kernel_function
def get_vma_policy(k, vma, addr):
    """get_vma_policy(): the VMA policy, else the task policy (get_task_policy)."""
    pol = k.__get_vma_policy(vma, addr)
    if pol is None:
        pol = k.get_task_policy(k.current.task)
    return pol


@kernel_function
def apply_policy_zone(k, policy, zone):
    """apply_policy_zone(): BIND applies from policy_zone up, or only to ZONE_MOVABLE for movable-only nodes."""
    dynamic_policy_zone = k.policy_zone
    assert dynamic_policy_zone != ZONE_MOVABLE
    if not (policy.nodes & k.node_states(N_HIGH_MEMORY)):
        dynamic_policy_zone = ZONE_MOVABLE
    return zone >= dynamic_policy_zone


@kernel_function
def policy_nodemask(k, gfp, policy):
    """policy_nodemask(): BIND's nodes if the request's zone is policied and they meet the cpuset; else None."""
    if (policy.mode == MPOL_BIND
            and k.apply_policy_zone(policy, gfp_zone(gfp, k.topology.configured_zones))
            and k.cpuset_nodemask_valid_mems_allowed(policy.nodes)):
        return policy.nodes
    return None


@kernel_function
def policy_node(k, gfp, policy, nd):
    """policy_node(): the preferred node of a non-local PREFERRED policy, else nd (warns for BIND + THISNODE)."""
    if policy.mode == MPOL_PREFERRED and not (policy.flags & MPOL_F_LOCAL):
        nd = policy.preferred_node
    elif policy.mode == MPOL_BIND and (gfp & __GFP_THISNODE):
        k.warn_once("policy_node: MPOL_BIND with __GFP_THISNODE")
    return nd


@kernel_function
def interleave_nodes(k, policy):
    """interleave_nodes(): process interleave; the node after current.il_prev in the mask, which becomes il_prev."""
    me = k.current.task
    nxt = __next_node_in(me.il_prev, policy.nodes, _max(k))
    if nxt < _max(k):
        me.il_prev = nxt
    return nxt


@kernel_function
def offset_il_node(k, pol, n):
    """offset_il_node(): static interleave; the (n mod weight)-th node of the mask (n cut to 32 bits)."""
    nnodes = nodes_weight(pol.nodes)
    if not nnodes:
        return k.numa_node_id()
    target = (n & UINT_MASK) % nnodes
    nid = __first_node(pol.nodes, _max(k))
    for _ in range(target):
        nid = __next_node(nid, pol.nodes, _max(k))
    return nid


@kernel_function
def interleave_nid(k, pol, vma, addr, shift):
    """interleave_nid(): offset interleave by the page offset in the VMA, or process interleave without a VMA."""
    if vma is not None:
        assert shift >= PAGE_SHIFT
        off = vma.vm_pgoff >> (shift - PAGE_SHIFT)
        off += ((addr - vma.start) & ULONG_MASK) >> shift
        return k.offset_il_node(pol, off & ULONG_MASK)
    return k.interleave_nodes(pol)


@kernel_function
def alloc_page_interleave(k, gfp, order, nid):
    """alloc_page_interleave(): allocate on nid's zonelist with no nodemask; NUMA_INTERLEAVE_HIT if it landed on nid."""
    page = k.__alloc_pages_nodemask(gfp, order, nid, None)
    if page is not None:
        zone = k.page_zone(page)
        if zone.nid == nid:
            k.stats.add(zone, "numa_interleave_hit")
    return page


@kernel_function
def alloc_pages_vma(k, gfp, order, vma, addr, node, hugepage):
    """alloc_pages_vma(): allocate for a VMA with its policy (interleave by offset; THP tries one node only)."""
    pol = k.get_vma_policy(vma, addr)
    if pol.mode == MPOL_INTERLEAVE:
        nid = k.interleave_nid(pol, vma, addr, PAGE_SHIFT + order)
        return k.alloc_page_interleave(gfp, order, nid)
    if hugepage:
        hpage_node = node
        if pol.mode == MPOL_PREFERRED and not (pol.flags & MPOL_F_LOCAL):
            hpage_node = pol.preferred_node
        nmask = k.policy_nodemask(gfp, pol)
        if nmask is None or hpage_node in nmask:
            # __alloc_pages_node(hpage_node, gfp | __GFP_THISNODE, order)
            return k.__alloc_pages_nodemask(gfp | __GFP_THISNODE, order, hpage_node, None)
    nmask = k.policy_nodemask(gfp, pol)
    preferred_nid = k.policy_node(gfp, pol, node)
    return k.__alloc_pages_nodemask(gfp, order, preferred_nid, nmask)


@kernel_function
def alloc_pages_current(k, gfp, order):
    """alloc_pages_current(): alloc_pages() on NUMA; the task policy unless in interrupt or __GFP_THISNODE."""
    pol = default_policy
    if not k.in_interrupt() and not (gfp & __GFP_THISNODE):
        pol = k.get_task_policy(k.current.task)
    if pol.mode == MPOL_INTERLEAVE:
        return k.alloc_page_interleave(gfp, order, k.interleave_nodes(pol))
    return k.__alloc_pages_nodemask(gfp, order, k.policy_node(gfp, pol, k.numa_node_id()),
                                    k.policy_nodemask(gfp, pol))


# ---- rebinding when a cpuset changes -----------------------------------------------------------------------
@kernel_function
def mpol_rebind_default(k, pol, nodes):
    """mpol_rebind_default(): nothing to do."""
    return pol


@kernel_function
def mpol_rebind_nodemask(k, pol, nodes):
    """mpol_rebind_nodemask(): BIND/INTERLEAVE onto the new cpuset mems (stable 4.19: remember the new mems).

    STATIC keeps the user's nodes that are allowed, RELATIVE maps the user's
    mask onto the new mems, otherwise the nodes are remapped from the old mems
    to the new ones. An empty result becomes the whole new mask.
    """
    nodes = frozenset(nodes)
    if pol.flags & MPOL_F_STATIC_NODES:
        tmp = pol.user_nodemask & nodes
    elif pol.flags & MPOL_F_RELATIVE_NODES:
        tmp = mpol_relative_nodemask(pol.user_nodemask, nodes)
    else:
        tmp = nodes_remap(pol.nodes, pol.cpuset_mems_allowed, nodes)
        pol = replace(pol, cpuset_mems_allowed=nodes)  # 29b190fa774d
    if not tmp:
        tmp = nodes
    return replace(pol, nodes=tmp)


@kernel_function
def mpol_rebind_preferred(k, pol, nodes):
    """mpol_rebind_preferred(): STATIC keeps its node or goes local, RELATIVE maps, otherwise remap the node."""
    nodes = frozenset(nodes)
    if pol.flags & MPOL_F_STATIC_NODES:
        node = __first_node(pol.user_nodemask, _max(k))
        if node in nodes:
            return replace(pol, preferred_node=node, flags=pol.flags & ~MPOL_F_LOCAL)
        return replace(pol, flags=pol.flags | MPOL_F_LOCAL)
    if pol.flags & MPOL_F_RELATIVE_NODES:
        tmp = mpol_relative_nodemask(pol.user_nodemask, nodes)
        return replace(pol, preferred_node=__first_node(tmp, _max(k)))
    if not (pol.flags & MPOL_F_LOCAL):
        return replace(pol, preferred_node=node_remap(pol.preferred_node, pol.cpuset_mems_allowed, nodes),
                       cpuset_mems_allowed=nodes)
    return pol


@kernel_function
def mpol_rebind_policy(k, pol, newmask):
    """mpol_rebind_policy(): the policy moved to newmask (unchanged when it already follows these mems)."""
    if pol is None:
        return None
    newmask = frozenset(newmask)
    if not mpol_store_user_nodemask(pol) and pol.cpuset_mems_allowed == newmask:
        return pol
    return getattr(k, MPOL_OPS[pol.mode][1])(pol, newmask)


# the order in which 4.19's rebind functions write a policy's fields: mpol_rebind_nodemask writes
# w.cpuset_mems_allowed before v.nodes; mpol_rebind_preferred writes v.preferred_node before flags
# (MPOL_F_STATIC_NODES) or before w.cpuset_mems_allowed (no mode flag)
REBIND_STORE_ORDER = ("preferred_node", "cpuset_mems_allowed", "nodes", "flags")


def rebind_stores(old, new):
    """The policies another CPU can see while `old` is rebound in place to `new`: one per store, `new` last."""
    seen, current = [], old
    for name in REBIND_STORE_ORDER:
        if getattr(current, name) != getattr(new, name):
            current = replace(current, **{name: getattr(new, name)})
            seen.append((name, current))
    return seen


@kernel_function
def mpol_rebind_task(k, tsk, new):
    """mpol_rebind_task(): rebind the task's policy in place, one field store at a time."""
    old = tsk.mempolicy
    rebound = k.mpol_rebind_policy(old, new)
    if old is None or rebound is old:
        return
    stores = rebind_stores(old, rebound)
    for n, (name, pol) in enumerate(stores, 1):
        tsk.mempolicy = pol
        if n < len(stores) and k.scheduler is not None:  # a reader on another CPU takes no lock
            preempt_point(k, f"pol->{name} stored: {MPOL_OPS[old.mode][1]}")
    tsk.mempolicy = rebound


@kernel_function
def mpol_rebind_mm(k, tsk, new):
    """mpol_rebind_mm(): rebind the policy of every VMA of the task's mm."""
    tsk.vmas = tuple(replace(v, policy=k.mpol_rebind_policy(v.policy, new)) if v.policy is not None else v
                     for v in tsk.vmas)


@kernel_function
def cpuset_change_task_nodemask(k, tsk, newmems):
    """cpuset_change_task_nodemask() (cpuset.c): mems |= new, rebind the task policy, mems = new.

    All inside the task's mems_allowed seqcount write section; another CPU may see each step.
    """
    newmems = frozenset(newmems)
    k.write_seqcount_begin(tsk)
    tsk.mems_allowed = tsk.mems_allowed | newmems
    if k.scheduler is not None:
        preempt_point(k, "nodes_or(tsk->mems_allowed): cpuset_change_task_nodemask")
    k.mpol_rebind_task(tsk, newmems)
    if k.scheduler is not None:
        preempt_point(k, "mpol_rebind_task: cpuset_change_task_nodemask")
    tsk.mems_allowed = newmems
    k.write_seqcount_end(tsk)


@kernel_function
def update_tasks_nodemask(k, tsk, cs_mems):
    """update_tasks_nodemask() (cpuset.c) for the one task of the cpuset: its mems and policy, then its VMAs."""
    newmems = frozenset(cs_mems) & k.node_states(N_MEMORY)  # guarantee_online_mems()
    k.cpuset_change_task_nodemask(tsk, newmems)
    if k.scheduler is not None:
        preempt_point(k, "task_unlock, before mpol_rebind_mm: update_tasks_nodemask")
    k.mpol_rebind_mm(tsk, cs_mems)


@kernel_function
def update_nodemask(k, tsk, nodes):
    """update_nodemask() (cpuset.c): write the mems of the task's cpuset; 0, -ERANGE, -EINVAL or -ENOSPC.

    A successful write leaves the task in a cpuset other than the root, so
    cpusets_enabled() becomes true, even when the mems did not change.
    """
    trial = frozenset(nodes)
    if any(n >= _max(k) for n in trial):  # nodelist_parse(): a node past MAX_NUMNODES
        return -ERANGE
    top = k.node_states(N_MEMORY)  # top_cpuset.mems_allowed tracks node_states[N_MEMORY]
    if trial and not trial <= top:
        return -EINVAL
    if trial == tsk.mems_allowed:
        k.cpusets_on = True
        return 0
    if not trial:  # validate_change(): a cpuset with tasks cannot lose all its mems
        return -ENOSPC
    k.cpusets_on = True
    k.update_tasks_nodemask(tsk, trial)
    return 0
