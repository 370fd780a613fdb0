"""The property of a pair of models (checks/pair.py): they behave alike. A difference violates it.

Two models differ after an operation when
- the observables of the two outcomes differ (checks/observation.py): results, events, a refusal
  by one model only, a crash or hang of one model only (or of different exception types);
- or an invariant of `all_properties()`, judged on each model's own machine, is violated in one and
  not the other (one violated in both is not a difference). A model's invariants are judged only
  where it ran the operation.
In the initial state the state invariants' verdicts are compared, and a head that failed to boot
differs from its base.

The property is judged by two objects sharing the name DIFFERENCE, as the explorer judges the
catalogue: one per transition (the observables and the step invariants), one per new pair of
states (the state invariants, the initial pair included). A pair of states is judged once: seen
again, it was judged when first reached. Replaying a trace judges both at every step.
"""

from dataclasses import dataclass

from .observation import Observation, differing_fields, observe, outcome_text
from .properties import all_properties

DIFFERENCE = "outputs_differ"


@dataclass(frozen=True)
class Side:
    """One model's outcome of one step: the observation, the printed result, the invariants violated."""

    observation: Observation
    text: str
    violations: tuple = ()  # ((invariant, message), ...)

    @property
    def violated(self):
        return tuple(sorted({name for name, _ in self.violations}))


@dataclass(frozen=True)
class StepPair:
    """One operation applied to both models (index 0-based; -1 for the initial state's invariants)."""

    index: int
    op: object
    base: Side
    head: Side

    @property
    def fields(self):
        """What differs: observed fields, and "invariants" when the verdicts differ."""
        out = differing_fields(self.base.observation, self.head.observation)
        if self.base.violated != self.head.violated:
            out.append("invariants")
        return tuple(out)

    @property
    def differs(self):
        return bool(self.fields)


def judge(props, before, op, result, m):
    """(name, first message) of every property violated by this transition."""
    out = []
    for p in props:
        messages = p.violations(before, op, result, m)
        if messages:
            out.append((p.name, messages[0]))
    return tuple(out)


STATES, STEPS, ALL = "states", "steps", "all"


class PairVerdicts:
    """spec/'s catalogue for each model of a pair, judged on that model's own machine."""

    def __init__(self):
        sides = (all_properties(), all_properties())  # one each: a property caches views of one machine
        self.props = {
            ALL: sides,
            STATES: tuple([p for p in props if getattr(p, "per_state", False)] for props in sides),
            STEPS: tuple([p for p in props if not getattr(p, "per_state", False)] for props in sides),
        }

    def initial_pair(self, m):
        """The state invariants' verdicts on both initial machines, as a StepPair of index -1."""
        ok = Observation("ok")
        if m.head is None:  # the head failed while booting or in the setup
            e = m.head_failure
            return StepPair(-1, None, Side(ok, "initial state"), Side(observe(e), outcome_text(e)))
        props = self.props[STATES]
        return StepPair(-1, None, *(Side(ok, "initial state", judge(p, None, None, None, side))
                                    for p, side in zip(props, m.machines)))

    def step_pair(self, index, op, result, m, before, which=ALL):
        """Both outcomes of op, each side judged on the properties `which` (ALL, STATES or STEPS) if it ran."""
        sides = []
        for props, outcome, machine, side_before in zip(self.props[which], result.outcomes, m.machines, before):
            o = observe(outcome)
            violations = judge(props, side_before, op, outcome, machine) if o.status == "ok" else ()
            sides.append(Side(o, outcome_text(outcome), violations))
        return StepPair(index, op, *sides)


class PairDifference:
    """Violated where the two models of a pair differ (see the module docstring); judged per state or per step."""

    name = DIFFERENCE

    def __init__(self, verdicts, per_state):
        self.verdicts = verdicts
        self.per_state = per_state

    def violations(self, before, op, result, m, after=None):
        if op is None:  # the initial pair
            fields = self.verdicts.initial_pair(m).fields
        elif self.per_state:
            pair = self.verdicts.step_pair(None, op, result, m, before, STATES)
            fields = ("invariants",) if pair.base.violated != pair.head.violated else ()
        else:
            fields = self.verdicts.step_pair(None, op, result, m, before, STEPS).fields
        return [f"the models differ: {', '.join(fields)}"] if fields else []


def pair_properties():
    """The difference property of a pair, as the explorer and the shrinker judge it: per step and per state."""
    verdicts = PairVerdicts()
    return [PairDifference(verdicts, per_state=False), PairDifference(verdicts, per_state=True)]
