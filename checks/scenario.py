"""Scenarios: a machine, the operations that may happen on it, and the bounds of the search.

The alphabet is fixed allocation requests (gfp, order, CPU, environment answers), a free of any
allocated block no task maps (a mapped page is freed by munmap), drains, and isolation of pageblock
ranges and its undo; and concurrent pairs of fixed operations (`pairs`), each offered once per
schedule with at most `preemption_bound` preemptions (model/interleaving.py), fewest preemptions first.
"""

from dataclasses import dataclass, field
from functools import partial

from buddycheck.model import Kernel419
from buddycheck.model.environment import IDLE
from buddycheck.model.errors import ConfigError, ModelError
from buddycheck.model.interleaving import schedules

from .ops import Concurrent, Free, Isolate, UndoIsolate
from .ops import config_check as _check
from .ops.code import run_with_env
from .watchdog import DEFAULT_OP_BUDGET, watch


@dataclass(frozen=True)
class Sometimes:
    """A property that should hold at least once in an exploration (`sometimes`), so a vacuous run shows."""

    name: str
    predicate: object  # (op, result, machine) -> bool

    def reached_by(self, op, result, m):
        return bool(self.predicate(op, result, m))


def fell_back_to_remote_node(op, result, m):
    return getattr(result, "page", None) is not None and result.nid != m.numa_node_id()


def split_a_block(op, result, m):
    """An allocation was served from a larger block (expand ran)."""
    return getattr(result, "page", None) is not None and any(
        pfn > result.page and pfn < result.page + (2 << result.order) for pfn in m.page_buddy)


def allocation_failed(op, result, m):
    return hasattr(result, "page") and result.page is None


def merged_on_free(op, result, m):
    """A free left a block larger than the freed one."""
    return isinstance(op, Free) and any(order > 0 for order in m.page_buddy.values())


STANDARD_SOMETIMES = (
    Sometimes("an allocation split a larger block", split_a_block),
    Sometimes("an allocation failed", allocation_failed),
)


@dataclass
class Scenario:
    """What gets checked: topology, operation alphabet, bounds, and sometimes-properties."""

    name: str
    topology: object
    allocs: tuple = ()
    extra_ops: tuple = ()  # other operations always enabled: policies, cpusets, task allocations
    setup: tuple = ()  # operations applied once to the booted machine before the search
    free_cpus: tuple = (0,)
    drains: tuple = ()
    isolations: tuple = ()
    depth: int = 6
    max_states: int = 2_000_000
    sometimes: tuple = STANDARD_SOMETIMES
    model: type = Kernel419
    # quotient by exchangeable MAX_ORDER units (model/symmetry.py): True, False, or "auto" (when the alphabet
    # allows it: symmetry_problem() is None, and some zone has two units)
    symmetry: bool | str = "auto"
    description: str = ""
    params: dict = field(default_factory=dict)
    op_budget: float = DEFAULT_OP_BUDGET  # wall-clock seconds for one operation (checks/watchdog.py)
    invariants: tuple = ()  # the scenario's own properties (checks/user_checks.py), checked besides spec/'s
    pairs: tuple = ()  # (first, second) or (first, second, env): run at once on their CPUs, under every schedule
    preemption_bound: int = 2  # the most preemptions a pair's schedule may have

    @property
    def concurrent(self):
        """Whether the alphabet has concurrent pairs."""
        return bool(self.pairs)

    def initial(self, op_budget=None, prepare=None):
        """The booted machine after the setup; booting and each setup operation run within the budget.

        prepare(m), when given, runs on the new machine before it boots (to count its kernel calls).
        """
        budget = self.op_budget if op_budget is None else op_budget
        m = self.model.__new__(self.model)
        if prepare is not None:
            prepare(m)
        with watch(budget):
            m.__init__(self.topology)
        for op in self.setup:
            with watch(budget):
                op.apply(m)
        return m

    def validate(self, where=None, origins=None):
        """ConfigError naming the operation, field and value for what the machine could never run.

        A CPU, node or task that does not exist, an order >= MAX_ORDER, a gfp mask the machine
        rejects, an isolation range outside the zones or not aligned as 4.19's callers align it, an
        address in no VMA: such an operation would be silently disabled in every state. `origins`
        maps an operation (or isolation range) to the key path of the table it came from, for the message.
        """
        where = where or f"scenario {self.name}"
        origins = origins or {}

        def at(item):  # where an operation came from: its table in the file, when known
            return f"{where}.{origins[item]}" if item in origins else where
        m = self.model(self.topology)
        for op in self.setup:
            try:
                result = op.apply(m)
            except ModelError as e:
                raise ConfigError(f"{at(op)}: setup step {op.code()} fails: {e}") from None
            if op.allocates and not result.ok:
                raise ConfigError(f"{at(op)}: setup allocation {op.code()} fails: {result.reason}")
        t = self.topology
        for cpu in self.free_cpus:
            _check(cpu in t.cpus, where, "free.cpus", cpu, f"no such CPU (cpus: {list(t.cpus)})")
        ops = self.allocs + self.extra_ops + self.drains
        paired = tuple(o for pair in self.pairs for o in pair[:2])
        made = frozenset(t for op in ops + paired for t in op.creates_tasks())
        for op in ops:
            _validate_op(m, op, f"{at(op)}: {op.code()}", made)
        _check(isinstance(self.preemption_bound, int) and self.preemption_bound >= 0, where, "preemption_bound",
               self.preemption_bound, "a number of preemptions, 0 or more")
        for pair in self.pairs:
            pair_op = Concurrent(*pair_parts(pair))
            for op in pair[:2]:
                _validate_op(m, op, f"{at(pair)}: {op.code()}", made)
            pair_op.validate(m, f"{at(pair)}: {pair_op.code()}")
        align = max(1 << (t.max_order - 1), 1 << t.pageblock_order)
        for iso in self.isolations:
            start, end, *_ = iso
            where = at(iso)
            # 4.19's callers (alloc_contig_range, offlining) isolate MAX_ORDER-aligned ranges; a narrower one
            # reaches states they never produce, where the invariants' preconditions do not hold
            _check(start % align == 0 and end % align == 0 and start < end, where, "isolate", f"{start}..{end}",
                   f"an isolation range must be non-empty and aligned to {align} pages (MAX_ORDER_NR_PAGES and "
                   "pageblocks), as 4.19's callers align it")
            try:
                m._check_isolation_range(start, end)
            except ModelError as e:
                raise ConfigError(f"{where}: isolate = {start}..{end}: {e}") from None
        return self

    def with_model(self, model):
        """The same scenario run against another model class (a variant or a mutant)."""
        return Scenario(**{**self.__dict__, "model": model})

    def with_machine(self, topology, params):
        """The same scenario on another machine (a smaller one, when shrinking), described by `params`."""
        return Scenario(**{**self.__dict__, "topology": topology, "params": params})

    def with_goals(self, sometimes):
        """The same scenario with other sometimes-goals."""
        return Scenario(**{**self.__dict__, "sometimes": tuple(sometimes)})

    def symmetry_problem(self):
        """Why this alphabet is not closed under exchanging units, or None."""
        if self.isolations:
            return "isolation ranges name pfns, so exchanging units would change the operations"
        for op in self.allocs + self.extra_ops + tuple(op for pair in self.pairs for op in pair[:2]):
            if op.names_pfns:
                return f"{op.code()} names a pfn, so exchanging units would change the operations"
        return None

    def isolation_ops(self):
        """The isolations and undos of the alphabet (a range given as (start, end) or (start, end, migratetype))."""
        ops = []
        for iso in self.isolations:
            ops.append(Isolate(*iso))
            ops.append(UndoIsolate(*iso))
        return ops

    def actions(self, m):
        """Every operation enabled in the machine's current state, in a fixed order."""
        ops = list(self.allocs)
        ops.extend(self.extra_ops)
        mapped = m.mapped_pfns()
        cached = m.page_cache_pfns()  # pages of a page cache: only a shmem object's eviction frees them
        for pfn in sorted(m.allocated):
            if pfn in mapped or pfn in cached:
                continue
            for cpu in self.free_cpus:
                ops.append(Free(pfn, cpu))
        ops.extend(self.drains)
        ops.extend(self.isolation_ops())
        for pair in self.pairs:
            first, second, _, env = pair_parts(pair)
            found = run_with_env(m, env, partial(schedules, m, _runner(first, m), _runner(second, m),
                                                 self.preemption_bound))
            ops.extend(Concurrent(first, second, schedule, env) for schedule in found)
        return ops


def pair_parts(pair):
    """(first, second, schedule, env) of a scenario's pair, (first, second) or (first, second, env)."""
    first, second, *env = pair
    return first, second, (), env[0] if env else IDLE


def _runner(op, m):
    """A callable running op on m (one operation of a concurrent pair)."""
    return lambda: op.apply(m)


def _validate_op(m, op, w, made=frozenset()):
    """The static checks of one operation against the booted machine `m` (after the scenario's setup).

    Every operation's cpu and task must exist (or be one `made` by an operation of the scenario, a
    fork's child), an allocating one's order and gfp mask must be ones the machine takes; the rest is
    the operation's own `validate()`, run only for a task that exists. `w` names the operation in errors.
    """
    t = m.topology
    cpu = getattr(op, "cpu", None)
    if cpu is not None:
        _check(cpu in t.cpus, w, "cpu", cpu, f"no such CPU (cpus: {list(t.cpus)})")
    task = getattr(op, "task", None)
    if task is not None:
        _check(task in m.tasks or task in made, w, "task", task,
               f"no such task (tasks: {sorted(m.tasks)}; add one with [[task]] or [[fork]])")
    if op.allocates:
        _check(0 <= op.order < t.max_order, w, "order", op.order, f"not below MAX_ORDER = {t.max_order}")
        try:
            m.validate_gfp(op.gfp)
        except ModelError as e:
            raise ConfigError(f"{w}: gfp = {op.gfp:#x}: {e}") from None
    if task is None or task in m.tasks:
        op.validate(m, w)
