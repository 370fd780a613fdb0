"""The explorer's view of spec/operation_invariants.py: each operation invariant as a property (see
checks/properties.py for what a property is), judged on the operations of the kinds it names.

An `OperationProperty` names its invariant and the operation classes it judges (`kinds`); the
explorer asks it only about those, and its `judge()` sees only operations of those kinds that
started from a known state.
"""

from functools import partial

from buddycheck.model.constants import PAGE_SIZE
from buddycheck.model.errors import ModelError
from buddycheck.model.page_table import ZERO_PFN, entries_in, lookup
from buddycheck.model.sysctl import INT, VM_TABLE
from buddycheck.spec.operation_invariants import (
    INTERLEAVE_CURSOR,
    MBIND_STRICT_PLACEMENT,
    MIGRATE_PAGES_PLACEMENT,
    MOVE_PAGES_STATUS,
    PAIR_OUTCOMES,
    POLICY_MEETS_CPUSET,
    SYSCTL_WRITE,
    THP_NODE,
    outcome_class,
    strict_bind_judged,
)

from .ops import (
    AddTask,
    AllocVma,
    Concurrent,
    Mbind,
    MigratePages,
    MovePages,
    Operation,
    SetCpuset,
    SetMempolicy,
    Sysctl,
)
from .ops.code import run_with_env


class OperationProperty:
    """An operation invariant judged on every operation of `kinds` (a tuple of operation classes)."""

    per_state = False
    invariant = None
    kinds = (Operation,)

    def __init__(self):
        self.name = self.invariant.name
        self.profile = getattr(self.invariant, "profile", "4.19")

    def applies_to(self, kind):
        return issubclass(kind, self.kinds)

    def violations(self, before, op, result, m, after=None):
        if before is None or not isinstance(op, self.kinds):
            return []
        return [str(v) for v in self.judge(before, op, result, m, after)]

    def judge(self, before, op, result, m, after):
        """The invariant's Violations for op, which ran from the frozen state `before` to machine m (`after`)."""
        raise NotImplementedError


class ThpNodeProperty(OperationProperty):
    """thp_node on every THP that alloc_pages_vma() served."""

    invariant = THP_NODE
    kinds = (AllocVma,)

    def __init__(self, before_cache):
        super().__init__()
        self.before_cache = before_cache

    def judge(self, before, op, result, m, after):
        if not op.hugepage or getattr(result, "page", None) is None:
            return []
        k, _ = self.before_cache.get(m, before)
        task = k.tasks[op.task]
        vma = next((v for v in task.vmas if v.start <= op.addr < v.end), None)
        return self.invariant.check(task, vma, k.topology.cpu_to_node(op.cpu), op.task, result.page, result.nid)


class InterleaveCursorProperty(OperationProperty):
    """interleave_cursor on every transition."""

    invariant = INTERLEAVE_CURSOR

    def judge(self, before, op, result, m, after):
        own = getattr(op, "task", None) if op.moves_interleave_cursor else None
        cursors_after = {t: task.il_prev for t, task in m.tasks.items()} if after is None else frozen_cursors(after)
        cursors = frozen_cursors(before)
        if cursors == cursors_after:
            return []
        return self.invariant.check(cursors, cursors_after, own, op.code())


def frozen_cursors(frozen):
    """task id -> il_prev, read from a frozen state."""
    return {task.tid: task.il_prev for task in frozen.tasks}


class SysctlWriteProperty(OperationProperty):
    """sysctl_write on every sysctl write."""

    invariant = SYSCTL_WRITE
    kinds = (Sysctl,)

    def judge(self, before, op, result, m, after):
        table = VM_TABLE[op.name]
        after = m.freeze() if after is None else after
        return self.invariant.check(op.name, table.data, op.value, result.ret, before, after, table.kind == INT)


class PairOutcomesProperty(OperationProperty):
    """pair_outcomes on every concurrent pair.

    The two sequential orders run on a scratch machine from the pair's start state, once per start state
    and pair (every schedule of the pair from there is judged against the same two orders).
    """

    invariant = PAIR_OUTCOMES
    kinds = (Concurrent,)
    ORDERS_KEPT = 1024

    def __init__(self):
        super().__init__()
        self._machine = None
        self._orders = {}

    def judge(self, before, op, result, m, after):
        classes = tuple(outcome_class(r) for r in result.results)
        sequential = self.sequential_outcomes(m, before, op.first, op.second, op.env)
        return self.invariant.check(classes, sequential, op.code())

    def sequential_outcomes(self, m, before, first, second, env):
        """The (first, second) outcome classes of each sequential order from `before` that the model runs."""
        key = (type(m), m.topology, before, first, second, env)
        if key not in self._orders:
            if len(self._orders) >= self.ORDERS_KEPT:
                self._orders.clear()
            self._orders[key] = tuple(self._run_orders(m, before, first, second, env))
        return self._orders[key]

    def _run_orders(self, m, before, first, second, env):
        if self._machine is None or type(self._machine) is not type(m) or self._machine.topology != m.topology:
            self._machine = m.copy()
        k = self._machine
        for swapped in (False, True):
            k.restore(before)
            try:
                a, b = run_with_env(k, env, partial(_in_order, k, first, second, swapped))
            except ModelError:
                continue  # an order the model refuses is no order
            yield (outcome_class(a), outcome_class(b))


def _in_order(k, first, second, swapped):
    """Run the pair's operations one after the other on k; their results in the pair's order."""
    if swapped:
        b = second.apply(k)
        return first.apply(k), b
    a = first.apply(k)
    return a, second.apply(k)


class PolicyMeetsCpusetProperty(OperationProperty):
    """policy_meets_cpuset on the state after every operation that writes a task's policy or mems, and at
    each switch of a concurrent pair (mbind writes VMA policies, which it does not judge)."""

    invariant = POLICY_MEETS_CPUSET
    kinds = (Concurrent, SetMempolicy, SetCpuset, AddTask)

    def judge(self, before, op, result, m, after):
        tasks = m.tasks.values() if after is None else after.tasks
        out = list(self.invariant.check(tasks))
        for n, switch in enumerate(getattr(result, "switches", ()), 1):
            where = f"at preemption {n} (operation {switch.slot} set aside at {switch.point}): "
            out += self.invariant.check(switch.state.tasks, where)
        return out


def mapped_pages(m, task, start=0, end=1 << 64):
    """(address, pfn, node, mapcount) of each page other than the zero page that task maps in [start, end) on m."""
    mapped = m.mapped_pfns()
    return [(addr, pfn, m.page_zone(pfn).nid, len(mapped[pfn]))
            for addr, pfn, _ in entries_in(m.tasks[task].page_table, start, end) if pfn != ZERO_PFN]


class MbindStrictPlacementProperty(OperationProperty):
    """mbind_strict_placement on every mbind it judges, over the task's pages after."""

    invariant = MBIND_STRICT_PLACEMENT
    kinds = (Mbind,)

    def judge(self, before, op, result, m, after):
        if getattr(result, "ret", None) != 0 or not strict_bind_judged(op.mode, op.flags, op.maxnode):
            return []
        end = op.start + -(-op.length // PAGE_SIZE) * PAGE_SIZE
        pages = mapped_pages(m, op.task, op.start, end)
        return self.invariant.check(op.mode, op.nodes or frozenset(), op.flags, 0, pages)


class MigratePagesPlacementProperty(OperationProperty):
    """migrate_pages_placement on every migrate_pages, over the target's pages after."""

    invariant = MIGRATE_PAGES_PLACEMENT
    kinds = (MigratePages,)

    def judge(self, before, op, result, m, after):
        if getattr(result, "ret", None) != 0 or op.maxnode is not None:
            return []
        target = op.task if op.pid == 0 else op.pid
        return self.invariant.check(op.old_nodes or (), op.new_nodes or (), op.cap_sys_nice, 0,
                                    mapped_pages(m, target))


class MovePagesStatusProperty(OperationProperty):
    """move_pages_status on every move_pages, over the target's pages after."""

    invariant = MOVE_PAGES_STATUS
    kinds = (MovePages,)

    def judge(self, before, op, result, m, after):
        status = getattr(result, "status", None)
        if status is None or not any(v is not None and v >= 0 for v in status):
            return []
        target = op.task if op.pid == 0 else op.pid
        table = m.tasks[target].page_table
        where = {}
        for addr in op.pages:
            entry = lookup(table, addr)
            if entry is not None and entry[1] != ZERO_PFN:
                where[addr] = m.page_zone(entry[1]).nid
        return self.invariant.check(list(op.pages), list(status), where)


def operation_properties(before_cache):
    """A fresh property for each operation invariant, in the catalogue's order."""
    return [ThpNodeProperty(before_cache), InterleaveCursorProperty(), SysctlWriteProperty(), PairOutcomesProperty(),
            PolicyMeetsCpusetProperty(), MbindStrictPlacementProperty(), MigratePagesPlacementProperty(),
            MovePagesStatusProperty()]
