"""Two models as one: the pair machine and the pair scenario that `buddycheck diff` explores.

A `PairScenario(base, head_model)` is a scenario the explorer (checks/explore.py) runs like any
other: its machine is a `PairMachine` holding a machine of each model, booted on the same
topology and setup, and its state is the pair of frozen states (base, head). The operations are
those the base scenario offers in the base machine's state, so a difference is always reached by
operations the base model offers; operations the head alone would offer (a free of a block only
it allocated) are not explored: such a state is reached only after an earlier step already differed.

An operation of checks/ops.py is one call of a machine method (`m.alloc(...)`, `m.free(...)`, with
`m.env` set around it). On a pair machine the call runs on the base machine, then on the head
machine, each within its own budget (the base scenario's `op_budget`, checks/watchdog.py), and
returns a `PairResult` with both outcomes: the result object, or the exception raised (ModelError:
refused; any other: a crash; ModelHang: a hang). An operation both models refuse is not enabled
(the call raises the base's ModelError, as a single machine does). One that failed on a side (a
refusal, a crash or a hang) leaves the pair where it started once frozen: nothing is explored past
a failure. One side failing is a difference; both crashing alike is not, and ends the path.

A head that crashes or hangs while booting or in the setup is kept in the pair machine
(`head_failure`): the initial pair then differs (checks/pair_property.py). A base that cannot boot
is a bad base: ConfigError names it.

Symmetry (model/symmetry.py) is not used for pairs: see `PairScenario.symmetry_problem()`.
"""

from dataclasses import dataclass

from buddycheck.model.errors import ConfigError, ModelError

from .watchdog import watch


@dataclass(frozen=True)
class PairModels:
    """The model of a pair scenario: its two model classes, named "BASE -> HEAD"."""

    base: type
    head: type

    @property
    def NAME(self):  # noqa: N802  (the name every model class has)
        return f"{self.base.NAME} -> {self.head.NAME}"


@dataclass(frozen=True)
class PairResult:
    """One operation's outcome on each model: its result object, or the exception it raised."""

    base: object
    head: object

    @property
    def outcomes(self):
        return (self.base, self.head)

    def __str__(self):
        return f"base: {self.base}; head: {self.head}"


def _own(value):
    """A fresh copy of a mutable argument, so one model's call cannot change what the other is given."""
    if isinstance(value, tuple):
        return tuple(_own(v) for v in value)
    if isinstance(value, dict):
        return {k: _own(v) for k, v in value.items()}
    if isinstance(value, set | list):
        return type(value)(value)
    return value


class PairMachine:
    """A base machine and a head machine in step: a call of a machine method runs on both."""

    __slots__ = ("base", "head", "head_failure", "budget", "_at", "_undo")

    def __init__(self, base, head, budget, head_failure=None):
        for name, value in (("base", base), ("head", head), ("head_failure", head_failure), ("budget", budget),
                            ("_at", None), ("_undo", None)):
            object.__setattr__(self, name, value)

    @property
    def machines(self):
        return (self.base, self.head)

    def __getattr__(self, name):  # only names that are not the pair's own: the machines' methods
        if name.startswith("_") or not callable(getattr(self.base, name, None)):
            raise AttributeError(f"a pair of machines has no single {name!r}: ask its base or its head")
        return lambda *args, **kwargs: self._call(name, args, kwargs)

    def __setattr__(self, name, value):  # `m.env = ...` around an operation: set on both machines
        if name in PairMachine.__slots__:
            object.__setattr__(self, name, value)
            return
        for m in self.machines:
            if m is not None:
                setattr(m, name, value)

    def _call(self, name, args, kwargs):
        if self.head is None:
            raise ModelError(f"the head model failed before the first operation: {self.head_failure}")
        before = self._at if self._at is not None else self.freeze()
        outcomes = []
        for m in self.machines:
            call_args, call_kwargs = _own(args), _own(kwargs)
            try:
                with watch(self.budget):
                    outcomes.append(getattr(m, name)(*call_args, **call_kwargs))
            except Exception as e:  # a refusal (ModelError), a crash, or a hang (ModelHang): an outcome
                outcomes.append(e)
        if all(isinstance(o, ModelError) for o in outcomes):
            raise outcomes[0]  # not enabled on either: a refused call leaves each machine as it was
        self._at = None
        if any(isinstance(o, Exception) for o in outcomes):
            self._undo = before  # kept as it is until frozen, so the outcome can be judged on it
        return PairResult(*outcomes)

    def freeze(self):
        """(base state, head state); after an operation that failed on a side, the state it started from."""
        if self._undo is not None:
            self.restore(self._undo)
            return self._at
        self._at = (self.base.freeze(), None if self.head is None else self.head.freeze())
        return self._at

    def restore(self, frozen, current=None):
        """Both machines to a frozen pair; `current` as for one machine (ignored after a failed operation)."""
        if self._undo is not None:
            current, self._undo = None, None  # what the machines hold is no frozen pair
        base, head = frozen
        self.base.restore(base, None if current is None else current[0])
        if self.head is not None:
            self.head.restore(head, None if current is None else current[1])
        self._at = frozen


class PairScenario:
    """The base scenario's machine, setup, operations and bounds, run on a base and a head model at once."""

    sometimes = ()  # the sometimes-goals are about one model's runs: `explore` reports them
    symmetry = False
    op_budget = None  # no budget around the pair's call: each model's call has its own, inside the pair machine

    def __init__(self, base, head_model):
        self.base = base
        self.head = base.with_model(head_model)
        self.model = PairModels(base.model, head_model)

    # the machine, the setup and the bounds are the base scenario's
    name = property(lambda self: self.base.name)
    description = property(lambda self: self.base.description)
    topology = property(lambda self: self.base.topology)
    params = property(lambda self: self.base.params)
    setup = property(lambda self: self.base.setup)
    depth = property(lambda self: self.base.depth)
    max_states = property(lambda self: self.base.max_states)

    def initial(self, op_budget=None, prepare=None):
        """The pair machine after boot and setup; prepare(m) runs on the head machine (coverage counts its calls)."""
        budget = self.base.op_budget if op_budget is None else op_budget
        try:
            base = self.base.initial(budget)
        except ModelError:
            raise
        except Exception as e:
            raise ConfigError(f"scenario {self.base.name}: the base model {self.model.base.NAME} cannot boot it "
                              f"({type(e).__name__}: {e})") from e
        try:
            return PairMachine(base, self.head.initial(budget, prepare), budget)
        except ModelError:
            raise  # the setup is not enabled on the head's machine: a bad scenario for it
        except Exception as e:  # the head crashed or hung while booting or in the setup: a difference
            return PairMachine(base, None, budget, head_failure=e)

    def actions(self, m):
        """The base scenario's operations in the base machine's state (none once the head failed to boot)."""
        return () if m.head is None else self.base.actions(m.base)

    def symmetry_problem(self):
        return ("a pair of models is explored without symmetry: the audit that keeps a quotient sound relabels "
                "one machine's transitions, and two models that treat units differently would hide a difference")

    def with_machine(self, topology, params):
        """The same pair on another machine (checks/shrink.py's smaller machines)."""
        return PairScenario(self.base.with_machine(topology, params), self.model.head)
