"""The schema of a scenario file: every table, every key, its type and range (docs/tutorial.md shows them).

Built from model/input_schema.py's pieces; checks/scenario_file.py validates a document against
`ScenarioDocument` before it reads anything, so a wrong key, type or range is a ConfigError naming
the file, the key path and the value. What needs the booted machine (a CPU, node or task that does
not exist, an order >= MAX_ORDER, a gfp mask the machine refuses) is Scenario.validate.
"""

from typing import Annotated

from pydantic import BeforeValidator, StrictBool, StrictStr, create_model, model_validator

from buddycheck.model.environment import Environment
from buddycheck.model.gfp import parse_gfp
from buddycheck.model.input_schema import (
    Count,
    Cpu,
    NodeId,
    Table,
    TopologyInput,
    either,
    fail,
    list_of,
    one_of,
    ranged,
    refuse,
)
from buddycheck.model.mempolicy import MPOL_MODE_NAMES
from buddycheck.model.mempolicy_names import GET_FLAG_NAMES, MBIND_FLAG_NAMES, MODE_FLAG_NAMES
from buddycheck.model.sysctl import INT, STRING, TAKES, VM_TABLE

from .ops import ANSWER_NAMES, CONTEXT_FLAGS

MIGRATETYPES = ("MOVABLE", "CMA")  # the ranges alloc_contig_range isolates
# a search deeper than this, or over more states, does not finish on any machine the model runs on
MAX_DEPTH = 1000
MAX_STATES = 10**9

Nodes = list_of(NodeId, "a list of node ids")
Order = ranged(0, 63, "an order is below MAX_ORDER")
Address = ranged(0, (1 << 64) - 1, "an address is an unsigned long")
# a system call's argument as the caller passes it: any value, so that its -EINVAL paths are reachable
Argument = ranged(-(1 << 63), (1 << 64) - 1, "a system call argument is a machine word")
TaskId = ranged(0, 1023, "task ids are small non-negative integers")
InodeNumber = ranged(0, (1 << 64) - 1, "an inode number is an unsigned long")
PageOffset = ranged(0, (1 << 52) - 1, "a page offset lies in the user address space")


def _gfp(value):
    if isinstance(value, bool) or not isinstance(value, int | str):
        fail("expected a gfp name like 'GFP_KERNEL|__GFP_NOWARN' or a number")
    try:
        mask = parse_gfp(value)
    except ValueError as e:
        fail("{e}", e=e)
    if not 0 <= mask < 1 << 32:
        fail("{mask:#x}: a gfp_t is 32 bits, and no bit of it is negative", mask=mask)
    return value


def _name_or_int(names):
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int | str):
            fail("expected a name ({names}) or an integer", names=", ".join(names))
        if isinstance(value, str) and value not in names:
            fail("not one of {names}", names=", ".join(names))
        return value
    return BeforeValidator(check)


def _names_or_int(names):
    """A list of flag names, or a raw integer (to reach the system calls' -EINVAL paths)."""
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int | list):
            fail("expected a list of names ({names}) or an integer", names=", ".join(names))
        if isinstance(value, list):
            for v in value:
                if v not in names:
                    fail("{v!r} is not one of {names}", v=v, names=", ".join(names))
        return value
    return BeforeValidator(check)


def _answer(name, default):
    if isinstance(default, bool):
        return (StrictBool, None)
    if name in ANSWER_NAMES:
        return (Annotated[object, _name_or_int(ANSWER_NAMES[name])], None)
    return (ranged(0, 1 << 32), None)


# Environment's answers (model/environment.py), each of its type
Env = create_model("Env", __base__=Table, **{name: _answer(name, f.default)
                                             for name, f in Environment.__dataclass_fields__.items()})
Envs = either(lambda v: "list" if isinstance(v, list) else "table",
              table=Env, list=list_of(Env, "a list of tables of answers"))
Gfp = Annotated[object, BeforeValidator(_gfp)]


class Request(Table):
    gfp: Gfp
    orders: list_of(Order, "a list of integers") = None
    cpus: list_of(Cpu, "a list of integers") = None
    env: Envs = None

    @model_validator(mode="after")
    def _some_env(self):
        if self.env == []:
            refuse("env = []: give at least one table of answers")
        return self


class AllocTable(Request):
    nid: NodeId = None
    nodes: Nodes = None
    context: list_of(one_of(CONTEXT_FLAGS), "a list of context flags") = None
    setup: StrictBool = None


class AllocPagesTable(Request):
    task: TaskId = None
    in_interrupt: StrictBool = None


class AllocVmaTable(Request):
    task: TaskId = None
    addr: Address
    hugepage: StrictBool = None


class TaskTable(Table):
    id: TaskId
    mems: Nodes = None
    memcg_limit: Count = None

    @model_validator(mode="after")
    def _cpuset(self):
        if self.id != 0 and self.mems is None:
            refuse("missing key 'mems' (the nodes of task {id}'s cpuset)", id=self.id)
        if self.id == 0 and self.mems is not None:
            refuse("mems = {m}: task 0 exists from boot with every node; give it a cpuset with [[cpuset]]",
                   m=self.mems)
        return self


class MmapTable(Table):
    task: TaskId = None
    start: Address
    length: Address


class MmapSharedTable(MmapTable):
    obj: InodeNumber
    pgoff: PageOffset = None


class MmapFileTable(MmapTable):
    file: InodeNumber
    pgoff: PageOffset = None
    shared: StrictBool = None


class FaultTable(Table):
    task: TaskId = None
    addr: Address
    cpus: list_of(Cpu, "a list of integers") = None
    write: StrictBool = None


class MunmapTable(Table):
    task: TaskId = None
    start: Address
    length: Address


class ForkTable(Table):
    task: TaskId = None
    child: TaskId


class MigratePagesTable(Table):
    task: TaskId = None
    pid: Argument = None
    old_nodes: Nodes = None
    new_nodes: Nodes = None
    maxnode: Argument = None
    cap_sys_nice: StrictBool = None
    may_ptrace: StrictBool = None


class MovePagesTable(Table):
    task: TaskId = None
    pid: Argument = None
    pages: list_of(Argument, "a list of addresses")
    nodes: list_of(Argument, "a list of node ids, one per page") = None
    flags: Annotated[object, _names_or_int(("MPOL_MF_MOVE", "MPOL_MF_MOVE_ALL"))] = None
    cap_sys_nice: StrictBool = None
    may_ptrace: StrictBool = None


class CpusTable(Table):
    cpus: list_of(Cpu, "a list of integers") = None


def _cpu_or_all(value):
    if value != "all" and (isinstance(value, bool) or not isinstance(value, int)):
        fail("neither 'all' nor a cpu number")
    return value


class DrainTable(Table):
    cpus: list_of(Annotated[object, BeforeValidator(_cpu_or_all)], "a list of cpu numbers or 'all'") = None


class IsolateTable(Table):
    start_pfn: Count
    end_pfn: Count
    migratetype: one_of(MIGRATETYPES) = None


def _sysctl_value(value):
    """An integer, a string or a list of integers: what a write of a vm sysctl may store."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not (is_int(value) or isinstance(value, str) or (isinstance(value, list) and all(map(is_int, value)))):
        fail("expected an integer, a string or a list of integers")
    return value


class SysctlTable(Table):
    name: one_of(VM_TABLE)
    values: list_of(Annotated[object, BeforeValidator(_sysctl_value)], "a list of values")

    @model_validator(mode="after")
    def _kinds(self):
        kind = VM_TABLE[self.name].kind
        for v in self.values:
            if (kind == STRING) != isinstance(v, str) or (kind == INT and isinstance(v, list)):
                refuse("values: {v!r}: vm.{name} takes {what}", v=v, name=self.name, what=TAKES[kind])
        if not self.values:
            refuse("values = []: give at least one value to write")
        return self


Mode = Annotated[object, _name_or_int(MPOL_MODE_NAMES)]
MaxNode = Argument


class PolicyTable(Table):
    task: TaskId = None
    mode: Mode
    flags: list_of(one_of(tuple(MODE_FLAG_NAMES)), "a list of mode flags") = None
    nodes: Nodes = None
    maxnode: MaxNode = None


class MbindTable(PolicyTable):
    start: Argument
    length: Argument
    mbind_flags: Annotated[object, _names_or_int(tuple(MBIND_FLAG_NAMES))] = None
    cap_sys_nice: StrictBool = None


class GetMempolicyTable(Table):
    task: TaskId = None
    flags: Annotated[object, _names_or_int(tuple(GET_FLAG_NAMES))] = None
    addr: Argument = None
    maxnode: MaxNode = None


class CpusetTable(Table):
    task: TaskId = None
    nodes: Nodes


class GoalTable(Table):
    name: StrictStr
    predicate: StrictStr


class InvariantTable(Table):
    name: StrictStr
    state: StrictStr = None
    step: StrictStr = None

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in ("state", "step") if getattr(self, k) is not None]
        if len(kinds) != 1:
            refuse("give exactly one of 'state' or 'step' (got {k})", k=kinds or "neither")
        return self


class ConcurrentTable(Table):
    first: dict  # an operation as a JSON counterexample writes it; checks/trace_json.py reads it
    second: dict
    env: Env = None  # the environment's answers both operations see


Goal = either(lambda v: "name" if isinstance(v, str) else "table", name=StrictStr, table=GoalTable)


def _symmetry(value):
    if not isinstance(value, bool) and value != "auto":
        fail('expected true, false or "auto"')
    return value


def tables(table, section):
    return list_of(table, f"an array of tables ([[{section}]])")


class ScenarioDocument(Table):
    name: StrictStr = None
    description: StrictStr = None
    depth: ranged(1, MAX_DEPTH, "a deeper search cannot finish") = None
    max_states: ranged(1, MAX_STATES, "a larger search cannot finish") = None
    symmetry: Annotated[object, BeforeValidator(_symmetry)] = None
    sometimes: list_of(Goal, "a list of goal names or [[sometimes]] tables") = None
    invariant: tables(InvariantTable, "invariant") = None
    topology: TopologyInput
    task: tables(TaskTable, "task") = None
    mmap: tables(MmapTable, "mmap") = None
    mmap_shared: tables(MmapSharedTable, "mmap_shared") = None
    mmap_file: tables(MmapFileTable, "mmap_file") = None
    alloc: tables(AllocTable, "alloc") = None
    alloc_pages: tables(AllocPagesTable, "alloc_pages") = None
    alloc_vma: tables(AllocVmaTable, "alloc_vma") = None
    free: CpusTable = None
    drain: DrainTable = None
    isolate: tables(IsolateTable, "isolate") = None
    policy: tables(PolicyTable, "policy") = None
    mbind: tables(MbindTable, "mbind") = None
    cpuset: tables(CpusetTable, "cpuset") = None
    get_mempolicy: tables(GetMempolicyTable, "get_mempolicy") = None
    fault: tables(FaultTable, "fault") = None
    munmap: tables(MunmapTable, "munmap") = None
    fork: tables(ForkTable, "fork") = None
    migrate_pages: tables(MigratePagesTable, "migrate_pages") = None
    move_pages: tables(MovePagesTable, "move_pages") = None
    concurrent: tables(ConcurrentTable, "concurrent") = None
    preemption_bound: ranged(0, 8, "each preemption multiplies the schedules of a pair") = None
    sysctl: tables(SysctlTable, "sysctl") = None
