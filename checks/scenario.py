"""Scenarios: a machine, the operations that may happen on it, and the bounds of the search.

The alphabet is fixed allocation requests (gfp, order, CPU, environment answers), a free of any
allocated block, drains, and isolation of pageblock ranges and its undo.
"""

from dataclasses import dataclass, field

from buddycheck.model import Kernel419

from .ops import Free, Isolate, UndoIsolate
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
    symmetry: bool = False  # quotient by exchangeable MAX_ORDER units (model/symmetry.py)
    description: str = ""
    params: dict = field(default_factory=dict)
    op_budget: float = DEFAULT_OP_BUDGET  # wall-clock seconds for one operation (checks/watchdog.py)

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

    def with_model(self, model):
        """The same scenario run against another model class (a variant or a mutant)."""
        return Scenario(**{**self.__dict__, "model": model})

    def symmetry_problem(self):
        """Why this alphabet is not closed under exchanging units, or None."""
        if self.isolations:
            return "isolation ranges name pfns, so exchanging units would change the operations"
        for op in self.allocs + self.extra_ops:
            if isinstance(op, Free | Isolate | UndoIsolate):
                return f"{op.code()} names a pfn, so exchanging units would change the operations"
        return None

    def actions(self, m):
        """Every operation enabled in the machine's current state, in a fixed order."""
        ops = list(self.allocs)
        ops.extend(self.extra_ops)
        for pfn in sorted(m.allocated):
            for cpu in self.free_cpus:
                ops.append(Free(pfn, cpu))
        ops.extend(self.drains)
        for start, end in self.isolations:
            ops.append(Isolate(start, end))
            ops.append(UndoIsolate(start, end))
        return ops
