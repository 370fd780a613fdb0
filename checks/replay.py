"""Replaying a counterexample trace: each step's result and frozen state, and what it violated.

A trace is a tuple of operations (checks/ops/) applied in order from `scenario.initial()`.
`replay()` runs a trace, checking properties after every step, and reports each step's result
and frozen state, the first violation, and the first operation that was not enabled (with why).

A model that crashes or hangs (checks/failure.py) is a counterexample like any other: replay ends
at the operation that failed and reports it as the violation (`model_crash` / `model_hang`, with
`ReplayResult.failure`).
"""

from dataclasses import dataclass

from buddycheck.model.errors import ModelError

from .explore import Violation
from .failure import failure_of
from .watchdog import watch


@dataclass(frozen=True)
class Step:
    """One replayed operation: what it returned, the frozen state after it, what it violated."""

    index: int  # 0-based position in the trace
    op: object
    result: object
    state: tuple
    violations: tuple  # ((invariant, message), ...)


@dataclass(frozen=True)
class DisabledStep:
    """An operation of the trace that could not run in the state the earlier steps reached."""

    index: int
    op: object
    reason: str

    def __str__(self):
        return f"step {self.index + 1} ({self.op.code()}) is not enabled: {self.reason}"


@dataclass(frozen=True)
class ReplayResult:
    """Every step that ran, the first violation (trace cut after its step), and a disabled step if any."""

    initial_state: tuple | None  # None when the model failed while booting or in the setup
    steps: tuple
    first_violation: Violation | None = None
    disabled: DisabledStep | None = None
    failure: Violation | None = None  # the model crashed or hung at the operation after the last step


    @property
    def ok(self):
        return self.first_violation is None and self.disabled is None

    def violation_of(self, invariant):
        """The first step at which `invariant` failed (CRASH, HANG: the failure), as a Violation, or None."""
        for step in self.steps:
            for name, message in step.violations:
                if name == invariant:
                    return Violation(name, message, tuple(s.op for s in self.steps[:step.index + 1]))
        if self.failure is not None and self.failure.invariant == invariant:
            return self.failure
        return None


NOT_OFFERED = "the scenario does not offer this operation here (not in its alphabet, or not enabled)"


def replay(scenario, trace, properties=(), *, stop_at_first=False, strict=True):
    """Run `trace` from `scenario.initial()`, checking every property after every step.

    With `strict`, an operation must also be one the scenario offers in that state
    (`scenario.actions(m)`); an operation that raises ModelError, or is not offered, ends the
    replay and is reported in `disabled` with the step and the reason. Any other exception, or an
    operation past the scenario's `op_budget`, ends it too: the model failed (`failure`).
    """
    try:
        m = scenario.initial()
    except ModelError:
        raise
    except Exception as e:  # the model crashed or hung while booting or in the setup
        failed = failure_of(e, scenario.model, before_first_op=True).violation(())
        return ReplayResult(None, (), failed, None, failed)
    initial = m.freeze()
    state = initial
    steps = []
    first = None
    for index, op in enumerate(trace):
        offered = not strict or op in scenario.actions(m)
        try:
            with watch(scenario.op_budget):
                result = op.apply(m)
        except ModelError as e:
            return ReplayResult(initial, tuple(steps), first, DisabledStep(index, op, str(e)))
        except Exception as e:  # the model crashed or hung (ModelHang) on this operation
            if not offered:
                return ReplayResult(initial, tuple(steps), first, DisabledStep(index, op, NOT_OFFERED))
            failed = failure_of(e, scenario.model).violation(tuple(trace[:index + 1]))
            return ReplayResult(initial, tuple(steps), first or failed, None, failed)
        if not offered:
            return ReplayResult(initial, tuple(steps), first, DisabledStep(index, op, NOT_OFFERED))
        verdicts = []
        for prop in properties:
            for message in prop.violations(state, op, result, m):
                verdicts.append((prop.name, message))
        state = m.freeze()
        steps.append(Step(index, op, result, state, tuple(verdicts)))
        if verdicts and first is None:
            first = Violation(verdicts[0][0], verdicts[0][1], tuple(trace[:index + 1]))
            if stop_at_first:
                break
    return ReplayResult(initial, tuple(steps), first, None)

