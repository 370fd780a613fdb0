"""Shrinking a counterexample to the minimal one, keeping the same invariant failing.

Minimal means, in this order: fewest operations, then the smallest machine (fewest nodes, then
fewest pages), then the smallest arguments (orders, node ids, cpus). `simplicity_key()` is that
order, defined once; `op_key()` is its part for one operation.

`shrink()` runs these passes; every candidate is accepted only if the invariant that failed
still fails (checked by replay or by exploration), and the trace is cut after the first step at
which it fails. A property may be judged by several objects that share its name (the difference
of a pair of models, checks/pair_property.py, is judged per step and per new state): a candidate
must then violate any of them, and all of them are checked. For a model that crashed or hung
(`model_crash`, `model_hang`) the candidate must fail the same way: the same exception type raised
in the same function (checks/failure.py, `Failure.same_as`); no property is needed for it. The passes:
1. remove operations, one at a time;
2. smaller machine: breadth-first re-exploration (`Explorer(...).check(prop).depth(n)`) of every
   smaller machine in increasing size, each bounded by the length of the best trace so far (a
   larger machine must give a strictly shorter trace to win), so the result is the least
   (length, machine) pair among the machines tried;
3. smaller arguments: replace each operation by a smaller one of the same kind that the scenario
   offers in that state (a lower order, node id, cpu, ...), smallest first;
then passes 1 and 3 again until nothing changes. Everything runs in a fixed order: the result is
deterministic.

Decisions:
- Which machines are tried: for the `buddy-core` preset (scenario params `{"preset": "buddy-core",
  "pages": N, "max_order": M, ...}`), every page count from 1 to N-1 with the same MAX_ORDER.
  MAX_ORDER is never lowered: it decides which orders the scenario's requests may ask for, the
  largest block the zone boots with and (in buddy-core) the pageblock order, so a smaller MAX_ORDER
  is a different scenario, not a smaller machine. It is also not part of the §4 measure. The
  alphabet is kept as it is; isolation ranges beyond a smaller zone are never enabled there.
- Other machines (numa2, custom topologies) are kept as they are: removing a node or a zone
  changes which requests are even meaningful. `MACHINE_SHRINKERS` is where another preset's
  smaller machines would be listed.
- Each re-exploration is bounded by `max_states`. A machine whose search hit the bound (or was
  interrupted) without a violation is skipped and named in the result's `notes`: the result is
  then minimal only among the machines searched to the end.
"""

from dataclasses import dataclass, field
from inspect import signature

from buddycheck.model.environment import IDLE
from buddycheck.model.errors import ModelError
from buddycheck.model.presets import PRESETS, preset

from .explore import Explorer, Violation
from .failure import Failure
from .naming import preset_call
from .replay import replay
from .report import FAILURE_KINDS
from .scenario import Scenario


class ShrinkError(RuntimeError):
    """The counterexample given to shrink() does not reproduce, or names a property not given."""


@dataclass(frozen=True)
class ShrunkViolation(Violation):
    """A shrunk counterexample, with the scenario (possibly a smaller machine) it fails on."""

    scenario: Scenario | None = field(default=None, compare=False, hash=False, repr=False)
    original: Violation | None = field(default=None, compare=False, hash=False, repr=False)
    notes: tuple = field(default=(), compare=False, hash=False)


# ---- "simpler", defined once ---------------------------------------------------------------------


def _none_first(value):
    """None (argument not given: the default) sorts before every explicit value."""
    return -1 if value is None else value


def op_key(op):
    """How simple one operation is, smaller is simpler: kind, order, node id, cpu, environment, the rest.

    Kinds in the order of their declared `rank` (alloc, alloc_pages, free, drain, isolate, undo, ...);
    an argument left at its default (None) counts as smaller than any explicit value; an allocation
    with non-idle environment answers is bigger the more answers differ; the rest is what the
    operation declares as its `simplicity()` (gfp bits, node sets, pfns).
    """
    env = getattr(op, "env", IDLE)
    env_changes = tuple((name, getattr(env, name)) for name in env.__dataclass_fields__
                        if getattr(env, name) != getattr(IDLE, name))
    return (op.rank, getattr(op, "order", 0), _none_first(getattr(op, "nid", None)),
            _none_first(getattr(op, "cpu", None)), (len(env_changes), env_changes), op.simplicity())


def machine_key(topology):
    """How small a machine is: (nodes, pages spanned by its zones)."""
    return (len(topology.nodes), sum(z.pages for n in topology.nodes for z in n.zones))


def simplicity_key(trace, topology):
    """The §4 order: fewest operations, then fewest nodes, then fewest pages, then the operations' keys."""
    return (len(trace), *machine_key(topology), tuple(op_key(op) for op in trace))


# ---- smaller machines -------------------------------------------------------------------------------


def buddy_core_machines(scenario):
    """The same buddy-core scenario on 1 .. N-1 pages, same MAX_ORDER, smallest first."""
    _, kwargs = preset_call(scenario.params)
    defaults = {name: p.default for name, p in signature(PRESETS["buddy-core"]).parameters.items()}
    pages = kwargs.get("pages", defaults["pages"])
    max_order = kwargs.get("max_order", defaults["max_order"])
    return [scenario.with_machine(preset("buddy-core", pages=p, max_order=max_order), {**scenario.params, "pages": p})
            for p in range(1, pages)]


# preset name -> function(scenario) giving strictly smaller scenarios, in increasing machine_key order
MACHINE_SHRINKERS = {"buddy-core": buddy_core_machines}


def smaller_machines(scenario):
    """Smaller variants of the scenario's machine, smallest first; () when it cannot be shrunk."""
    call = preset_call(scenario.params)
    if call is None or call[0] not in MACHINE_SHRINKERS:
        return ()
    if preset(call[0], **call[1]) != scenario.topology:
        return ()  # the params do not describe the topology: nothing safe to shrink
    return tuple(MACHINE_SHRINKERS[call[0]](scenario))


# ---- the passes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SameProperty:
    """What a candidate must show when shrinking an invariant's violation: the property, violated again.

    `props` are the objects judging it, all of one name (usually one).
    """

    props: tuple

    @property
    def name(self):
        return self.props[0].name

    def matches(self, violation):
        return violation.invariant == self.name


@dataclass(frozen=True)
class SameFailure:
    """What a candidate must show when shrinking a crash or hang: a failure that is `same_as` this one."""

    failure: Failure

    @property
    def name(self):
        return self.failure.kind

    def matches(self, violation):
        return self.failure.same_as(getattr(violation, "failure", None))


def matches(prop, violation):
    """Whether a violation found on a candidate is the one being shrunk (prop: a target or one property)."""
    if isinstance(prop, SameFailure | SameProperty):
        return prop.matches(violation)
    return violation.invariant == prop.name


def reproduce(scenario, trace, target):
    """The violation of the target (SameProperty or SameFailure) when trace is replayed, cut after its first
    failing step, or None."""
    if isinstance(target, SameFailure):
        result = replay(scenario, trace)
        found = result.failure
        return found if result.disabled is None and found is not None and target.matches(found) else None
    if not trace:  # a state invariant broken by the boot itself
        m = scenario.initial()
        for prop in target.props:
            messages = prop.violations(None, None, None, m) if getattr(prop, "per_state", False) else []
            if messages:
                return Violation(prop.name, messages[0], ())
        return None
    result = replay(scenario, trace, target.props, stop_at_first=True)
    if result.disabled is not None:
        return None
    return result.violation_of(target.name)


def remove_ops(scenario, violation, prop):
    """Drop single operations while the invariant still fails."""
    changed = True
    while changed:
        changed = False
        trace = violation.trace
        for i in range(len(trace)):
            found = reproduce(scenario, trace[:i] + trace[i + 1:], prop)
            if found is not None:
                violation, changed = found, True
                break
    return violation


def simplify_ops(scenario, violation, prop):
    """Replace operations by smaller ones of the same kind the scenario offers there, smallest first."""
    changed = True
    while changed:
        changed = False
        trace = violation.trace
        if not trace:
            break
        run = replay(scenario, trace)
        m = scenario.initial()
        for i, op in enumerate(trace):
            m.restore(run.initial_state if i == 0 else run.steps[i - 1].state)
            key = op_key(op)
            candidates = sorted((a for a in scenario.actions(m) if type(a) is type(op) and op_key(a) < key),
                                key=op_key)
            for candidate in candidates:
                found = reproduce(scenario, trace[:i] + (candidate,) + trace[i + 1:], prop)
                if found is not None:
                    violation, changed = found, True
                    break
            if changed:
                break
    return violation


def shrink_machine(scenario, violation, prop, max_states, notes):
    """(scenario, violation) on the least (trace length, machine) found by bounded re-exploration."""
    candidates = smaller_machines(scenario)
    if not candidates:
        notes.append(f"machine kept: {scenario.topology.name} (no smaller machines defined for it)")
        return scenario, violation
    best_scenario, best = scenario, violation
    for candidate in candidates:
        longest = len(best.trace)
        if machine_key(candidate.topology) >= machine_key(best_scenario.topology):
            longest -= 1  # no smaller than the best machine: only a strictly shorter trace is simpler
        if longest < 0:
            break
        explorer = Explorer(candidate).depth(longest).max_states(max_states)
        if isinstance(prop, SameProperty):
            explorer.check(*prop.props)
        try:
            report = explorer.run()
        except ModelError as e:  # the setup is not enabled on this machine: no counterexample there
            notes.append(f"{candidate.topology.name}: {e}; skipped")
            continue
        found = [v for v in report.violations if matches(prop, v)]
        if found:
            best_scenario, best = candidate, found[0]
        elif report.violations:
            notes.append(f"{candidate.topology.name}: the search stopped at another violation "
                         f"({report.violations[0].message}); skipped")
        elif report.stopped_by == "interrupt":
            notes.append(f"interrupted while searching {candidate.topology.name}: later machines not tried")
            break
        elif report.stopped_by is not None:
            notes.append(f"{candidate.topology.name}: search stopped by {report.stopped_by} at depth "
                         f"{report.depth} without a violation; skipped")
    return best_scenario, best


def shrink(scenario, violation, properties, *, max_states=200_000):
    """The minimal counterexample (see the module docstring) for the invariant `violation` names.

    Returns a ShrunkViolation: a Violation whose `scenario` is the scenario it fails on (a smaller
    machine when one was found), with the `original` violation and `notes` on what was skipped.
    """
    named = tuple(p for p in properties if p.name == violation.invariant)
    prop = SameProperty(named) if named else None
    if violation.invariant in FAILURE_KINDS:
        prop = _failure_target(scenario, violation)
    if prop is None:
        raise ShrinkError(f"no property named {violation.invariant!r} among {[p.name for p in properties]}")
    current = reproduce(scenario, tuple(violation.trace), prop)
    if current is None:
        raise ShrinkError(f"the counterexample for {violation.invariant!r} does not reproduce on "
                          f"{scenario.name} when replayed; nothing to shrink")
    notes = []
    current = remove_ops(scenario, current, prop)
    scenario, current = shrink_machine(scenario, current, prop, max_states, notes)
    while True:
        before = current.trace
        current = simplify_ops(scenario, remove_ops(scenario, current, prop), prop)
        if current.trace == before:
            break
    return ShrunkViolation(current.invariant, current.message, current.trace, failure=current.failure,
                           scenario=scenario, original=violation, notes=tuple(notes))


def _failure_target(scenario, violation):
    """The SameFailure to shrink a crash or hang towards (from the violation, else from its replay), or None."""
    failure = violation.failure
    if failure is None:
        found = replay(scenario, tuple(violation.trace)).failure
        failure = found.failure if found is not None and found.invariant == violation.invariant else None
    return None if failure is None else SameFailure(failure)
