"""The concurrent operation: two operations on two CPUs at once, interleaved as one schedule says.

A concurrent pair is one operation of the alphabet: a suspended operation cannot be frozen, so
the pair runs from one state to the next in a single step, and the schedule (which of the two runs
each atomic section, model/interleaving.py) is part of the operation. The scenario offers the pair
once per schedule with at most its preemption bound (checks/scenario.py); each end state is an
ordinary state of the search. The environment's answers (model/environment.py) are the machine's, so
a pair has one, which both of its operations see; each operation's own is the idle one.
"""

from dataclasses import dataclass

from buddycheck.model.environment import IDLE, Environment

from .base import Operation, config_check, operation
from .code import run_with_env, with_env
from .fields import Schedule


@operation
@dataclass(frozen=True)
class Concurrent(Operation):
    """`first` and `second` run at once, each on its own CPU (its `cpu` field, else CPU 0), as `schedule` says."""

    kind = "concurrent"
    rank = 10
    interleaves = True
    quiet_fields = frozenset({"env"})

    first: Operation
    second: Operation
    schedule: Schedule = ()
    env: Environment = IDLE

    @property
    def preemptions(self):
        """The picks of the schedule that switch away from an operation that could go on."""
        return sum(1 for before, pick in zip(self.schedule, self.schedule[1:]) if pick != before)

    def cpus(self):
        """The CPU each operation runs on."""
        return tuple(getattr(op, "cpu", None) or 0 for op in (self.first, self.second))

    def simplicity(self):
        # fewest preemptions first, then the shortest schedule: the shrinker keeps the simplest interleaving
        return (self.preemptions, len(self.schedule), self.schedule, repr(self.first), repr(self.second))

    def validate(self, m, where):
        for name, op in (("first", self.first), ("second", self.second)):
            config_check(not isinstance(op, Concurrent), where, name, op.kind, "a concurrent pair cannot nest")
            config_check(getattr(op, "env", IDLE) == IDLE, where, f"{name}.env", op.code(),
                         "an operation of a concurrent pair runs with the idle environment")
            op.validate(m, f"{where}.{name}")
        config_check(all(pick in (0, 1) for pick in self.schedule), where, "schedule", self.schedule,
                     "each pick is 0 (the first operation) or 1 (the second)")

    def apply(self, m):
        # the operation values, not callables over m: a pair of models (checks/pair.py) runs each on its own machine
        return run_with_env(m, self.env, lambda: m.concurrent(self.first, self.second, schedule=self.schedule))

    def relabel(self, f):
        """The same pair with each operation relabelled (a relabelling of pfns `f`)."""
        def image(op):
            return op.relabel(f) if hasattr(op, "relabel") else op
        return Concurrent(image(self.first), image(self.second), self.schedule, self.env)

    def code(self, m="m"):
        return with_env(f"{m}.concurrent(lambda: {self.first.code(m)}, lambda: {self.second.code(m)}, "
                        f"schedule={self.schedule!r})", self.env, m)
