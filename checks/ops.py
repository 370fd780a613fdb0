"""Operations a scenario may perform: immutable values that apply themselves to a machine and print as code.

Each operation's `code()` is the Python statement that replays it on a machine `m`, so a trace
of operations prints as a runnable program.
"""

from dataclasses import dataclass

from buddycheck.model.constants import MIGRATE_MOVABLE
from buddycheck.model.environment import IDLE, Environment
from buddycheck.model.gfp import format_gfp


def gfp_code(gfp):
    """A gfp mask as Python over `G` (buddycheck.model.gfp)."""
    name = format_gfp(gfp)
    if name == "0":
        return "0"
    return " | ".join(part if part.startswith("0x") else f"G.{part}" for part in name.split("|"))


def env_code(env):
    if env == IDLE:
        return ""
    fields = ", ".join(f"{n}={getattr(env, n)!r}" for n in env.__dataclass_fields__
                       if getattr(env, n) != getattr(IDLE, n))
    return f"Environment({fields})"


# the flags of model/machine.py's Current that the model reads (spec/steps.py's Request knows the first five)
CONTEXT_FLAGS = ("in_interrupt", "in_serving_softirq", "pf_memalloc", "rt_task", "oom_victim", "memalloc_noio",
                 "memalloc_nofs", "pf_dumpcore")


@dataclass(frozen=True)
class Alloc:
    """__alloc_pages_nodemask(gfp, order) from a CPU (its node preferred), with the env's answers.

    `nodes` is the nodemask argument (None: no mask); the flags are the caller's context (`current`).
    """

    gfp: int
    order: int
    cpu: int = 0
    nid: int | None = None
    env: Environment = IDLE
    nodes: frozenset | None = None
    in_interrupt: bool = False
    pf_memalloc: bool = False
    rt_task: bool = False
    oom_victim: bool = False
    in_serving_softirq: bool = False
    memalloc_noio: bool = False
    memalloc_nofs: bool = False
    pf_dumpcore: bool = False

    def context(self):
        return {flag: True for flag in CONTEXT_FLAGS if getattr(self, flag)}

    def apply(self, m):
        m.env = self.env
        try:
            return m.alloc(self.gfp, self.order, cpu=self.cpu, nid=self.nid, nodemask=self.nodes, **self.context())
        finally:
            m.env = IDLE

    def code(self, m="m"):
        args = [gfp_code(self.gfp), str(self.order), f"cpu={self.cpu}"]
        if self.nid is not None:
            args.append(f"nid={self.nid}")
        if self.nodes is not None:
            args.append(f"nodemask={nodes_code(self.nodes)}")
        args += [f"{flag}=True" for flag in self.context()]
        return with_env(f"{m}.alloc({', '.join(args)})", self.env, m)


def with_env(call, env, m="m"):
    """The statement that runs `call` with the environment's answers set for it alone."""
    if env == IDLE:
        return call
    return f"{m}.env = {env_code(env)}; {call}; {m}.env = IDLE"


def run_with_env(m, env, call):
    m.env = env
    try:
        return call()
    finally:
        m.env = IDLE


@dataclass(frozen=True)
class Free:
    """__free_pages() of the allocated block at pfn, from a CPU."""

    pfn: int
    cpu: int = 0

    def apply(self, m):
        return m.free(self.pfn, cpu=self.cpu)

    def relabel(self, f):
        """The same free of the block that a relabelling of pfns `f` moved."""
        return Free(f(self.pfn), self.cpu)

    def code(self, m="m"):
        return f"{m}.free({self.pfn}, cpu={self.cpu})"



@dataclass(frozen=True)
class Drain:
    """drain_all_pages(NULL), or one CPU's lists."""

    cpu: int | None = None

    def apply(self, m):
        return m.drain(self.cpu)

    def code(self, m="m"):
        return f"{m}.drain()" if self.cpu is None else f"{m}.drain(cpu={self.cpu})"



@dataclass(frozen=True)
class Isolate:
    """start_isolate_page_range() over whole pageblocks, as offlining (MOVABLE) or alloc_contig_range (CMA)."""

    start_pfn: int
    end_pfn: int
    migratetype: int = MIGRATE_MOVABLE

    def apply(self, m):
        return m.isolate(self.start_pfn, self.end_pfn, migratetype=self.migratetype)

    def code(self, m="m"):
        extra = "" if self.migratetype == MIGRATE_MOVABLE else f", migratetype={self.migratetype}"
        return f"{m}.isolate({self.start_pfn}, {self.end_pfn}{extra})"



@dataclass(frozen=True)
class UndoIsolate:
    """undo_isolate_page_range() over whole pageblocks, as offlining (MOVABLE) or alloc_contig_range (CMA)."""

    start_pfn: int
    end_pfn: int
    migratetype: int = MIGRATE_MOVABLE

    def apply(self, m):
        return m.undo_isolate(self.start_pfn, self.end_pfn, migratetype=self.migratetype)

    def code(self, m="m"):
        extra = "" if self.migratetype == MIGRATE_MOVABLE else f", migratetype={self.migratetype}"
        return f"{m}.undo_isolate({self.start_pfn}, {self.end_pfn}{extra})"



def nodes_code(nodes):
    return "None" if nodes is None else "{" + ", ".join(map(str, sorted(nodes))) + "}"


@dataclass(frozen=True)
class AllocPages:
    """alloc_pages() (alloc_pages_current) for a task on a CPU: its mempolicy applies."""

    gfp: int
    order: int
    cpu: int = 0
    task: int = 0
    in_interrupt: bool = False
    env: Environment = IDLE

    def apply(self, m):
        return run_with_env(m, self.env, lambda: m.alloc_pages(self.gfp, self.order, cpu=self.cpu, task=self.task,
                                                               in_interrupt=self.in_interrupt))

    def code(self, m="m"):
        extra = ", in_interrupt=True" if self.in_interrupt else ""
        return with_env(f"{m}.alloc_pages({gfp_code(self.gfp)}, {self.order}, cpu={self.cpu}, task={self.task}{extra})",
                        self.env, m)


@dataclass(frozen=True)
class SetMempolicy:
    """set_mempolicy(mode | flags, nodes, maxnode) by a task (maxnode None: a full mask)."""

    mode: int
    nodes: frozenset | None = None
    task: int = 0
    maxnode: int | None = None

    def apply(self, m):
        return m.set_mempolicy(self.mode, None if self.nodes is None else set(self.nodes), maxnode=self.maxnode,
                               task=self.task)

    def code(self, m="m"):
        extra = "" if self.maxnode is None else f", maxnode={self.maxnode}"
        return f"{m}.set_mempolicy({self.mode}, {nodes_code(self.nodes)}{extra}, task={self.task})"


@dataclass(frozen=True)
class GetMempolicy:
    """get_mempolicy(&policy, nmask, maxnode, addr, flags) by a task: reads, changes nothing."""

    flags: int = 0  # MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED
    addr: int = 0
    task: int = 0
    maxnode: int | None = None

    def apply(self, m):
        return m.get_mempolicy(self.flags, self.addr, maxnode=self.maxnode, task=self.task)

    def code(self, m="m"):
        extra = "" if self.maxnode is None else f", maxnode={self.maxnode}"
        return f"{m}.get_mempolicy({self.flags:#x}, {self.addr:#x}{extra}, task={self.task})"


@dataclass(frozen=True)
class SetCpuset:
    """A write of the task's cpuset mems: the task's and its VMAs' policies are rebound."""

    task: int
    nodes: frozenset

    def apply(self, m):
        return m.set_cpuset(self.task, set(self.nodes))

    def code(self, m="m"):
        return f"{m}.set_cpuset({self.task}, {nodes_code(self.nodes)})"


@dataclass(frozen=True)
class AddTask:
    """A task with its own cpuset (mems), created before the search (a scenario's setup step)."""

    tid: int
    mems: frozenset

    def apply(self, m):
        return m.add_task(self.tid, set(self.mems))

    def code(self, m="m"):
        return f"{m}.add_task({self.tid}, {nodes_code(self.mems)})"


@dataclass(frozen=True)
class Mmap:
    """mmap() of an anonymous mapping [start, start + length) by a task (used in scenario setups)."""

    start: int
    length: int
    task: int = 0

    def apply(self, m):
        return m.mmap(self.start, self.length, task=self.task)

    def code(self, m="m"):
        return f"{m}.mmap({self.start:#x}, {self.length:#x}, task={self.task})"


@dataclass(frozen=True)
class AllocVma:
    """alloc_pages_vma() for the VMA of a task that holds addr; hugepage=True is the THP path."""

    gfp: int
    order: int
    addr: int
    cpu: int = 0
    task: int = 0
    hugepage: bool = True
    env: Environment = IDLE

    def apply(self, m):
        return run_with_env(m, self.env, lambda: m.alloc_vma(self.gfp, self.order, self.addr, cpu=self.cpu,
                                                             task=self.task, hugepage=self.hugepage))

    def code(self, m="m"):
        return with_env(f"{m}.alloc_vma({gfp_code(self.gfp)}, {self.order}, {self.addr:#x}, cpu={self.cpu}, "
                        f"task={self.task}, hugepage={self.hugepage})", self.env, m)


@dataclass(frozen=True)
class Mbind:
    """mbind(start, length, mode | mode flags, nodes, flags) by a task: a policy for part of its VMAs."""

    start: int
    length: int
    mode: int
    nodes: frozenset | None = None
    flags: int = 0  # MPOL_MF_*
    task: int = 0
    maxnode: int | None = None

    def apply(self, m):
        return m.mbind(self.start, self.length, self.mode, None if self.nodes is None else set(self.nodes),
                       maxnode=self.maxnode, flags=self.flags, task=self.task)

    def code(self, m="m"):
        extra = f", flags={self.flags:#x}" if self.flags else ""
        extra += "" if self.maxnode is None else f", maxnode={self.maxnode}"
        return (f"{m}.mbind({self.start:#x}, {self.length:#x}, {self.mode:#x}, {nodes_code(self.nodes)}{extra}, "
                f"task={self.task})")


@dataclass(frozen=True)
class SetMemcgLimit:
    """A task's memory cgroup limit in pages (a scenario's setup step); __GFP_ACCOUNT requests charge it."""

    task: int
    pages: int

    def apply(self, m):
        return m.set_memcg_limit(self.task, self.pages)

    def code(self, m="m"):
        return f"{m}.set_memcg_limit({self.task}, {self.pages})"
