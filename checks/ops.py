"""Operations a scenario may perform: immutable values that apply themselves to a machine and print as code.

Each operation's `code()` is the Python statement that replays it on a machine `m`, so a trace
of operations prints as a runnable program.
"""

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Alloc:
    """__alloc_pages_nodemask(gfp, order) from a CPU (its node preferred), with the env's answers."""

    gfp: int
    order: int
    cpu: int = 0
    nid: int | None = None
    env: Environment = IDLE

    def apply(self, m):
        m.env = self.env
        try:
            return m.alloc(self.gfp, self.order, cpu=self.cpu, nid=self.nid)
        finally:
            m.env = IDLE

    def code(self, m="m"):
        args = [gfp_code(self.gfp), str(self.order), f"cpu={self.cpu}"]
        if self.nid is not None:
            args.append(f"nid={self.nid}")
        text = f"{m}.alloc({', '.join(args)})"
        if self.env != IDLE:
            text = f"{m}.env = {env_code(self.env)}; {text}; {m}.env = IDLE"
        return text



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
    """start_isolate_page_range() over whole pageblocks."""

    start_pfn: int
    end_pfn: int

    def apply(self, m):
        return m.isolate(self.start_pfn, self.end_pfn)

    def code(self, m="m"):
        return f"{m}.isolate({self.start_pfn}, {self.end_pfn})"



@dataclass(frozen=True)
class UndoIsolate:
    """undo_isolate_page_range() over whole pageblocks."""

    start_pfn: int
    end_pfn: int

    def apply(self, m):
        return m.undo_isolate(self.start_pfn, self.end_pfn)

    def code(self, m="m"):
        return f"{m}.undo_isolate({self.start_pfn}, {self.end_pfn})"



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

    def apply(self, m):
        return m.alloc_pages(self.gfp, self.order, cpu=self.cpu, task=self.task, in_interrupt=self.in_interrupt)

    def code(self, m="m"):
        extra = ", in_interrupt=True" if self.in_interrupt else ""
        return f"{m}.alloc_pages({gfp_code(self.gfp)}, {self.order}, cpu={self.cpu}, task={self.task}{extra})"


@dataclass(frozen=True)
class SetMempolicy:
    """set_mempolicy(mode | flags, nodes) by a task."""

    mode: int
    nodes: frozenset | None = None
    task: int = 0

    def apply(self, m):
        return m.set_mempolicy(self.mode, None if self.nodes is None else set(self.nodes), task=self.task)

    def code(self, m="m"):
        return f"{m}.set_mempolicy({self.mode}, {nodes_code(self.nodes)}, task={self.task})"


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

    def apply(self, m):
        return m.alloc_vma(self.gfp, self.order, self.addr, cpu=self.cpu, task=self.task, hugepage=self.hugepage)

    def code(self, m="m"):
        return (f"{m}.alloc_vma({gfp_code(self.gfp)}, {self.order}, {self.addr:#x}, cpu={self.cpu}, "
                f"task={self.task}, hugepage={self.hugepage})")
