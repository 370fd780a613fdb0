"""Checking a model on a list of scenarios within one time budget: what `buddycheck check` runs.

Each scenario is explored breadth-first with every selected invariant, past the first violation (one
counterexample per invariant), for a share of the time: the time left divided by the scenarios left,
so a scenario that is exhausted early leaves its time to the next ones and the search goes deepest
where states are cheap. A search stopped by its share is bounded at the last depth every sequence
reached, which the report says; it is not cut short in the sense of --max-states or Ctrl-C.

Against a base model (a variant is checked against the model it derives from):
- each violation of the model is replayed on the base: if the base also violates the invariant on
  the same operations it is `known` in the base; otherwise it is a regression;
- the base is explored too, for a small share of the time, and each of its violations is replayed on
  the model: one the model does not have on the same operations is `fixed`;
- the same scenarios are explored as a diff of base and model (checks/diff.py), for the rest of the
  time, so that every behavioural change is listed with its shortest sequence.
"""

import time
from dataclasses import dataclass, field

from buddycheck.spec.invariants import PROFILE_419, PROFILE_STRICT

from .diff import diff
from .explore import Explorer
from .properties import all_properties
from .replay import replay
from .shrink import shrink

DIFF_SHARE = 0.35  # of the exploration time, given to the diff against the base when there is one
BASE_SHARE = 0.10  # of the exploration time, given to the base's own search (what the variant fixed)


class UnknownInvariant(ValueError):
    """--invariant or --skip named an invariant the catalogue does not have."""


def properties_for(scenario, only=(), skip=(), strict=False):
    """Fresh property objects for one scenario: the catalogue plus the scenario's own, selected by name.

    The strict profile's rules (spec/invariants.py) come only with `strict`, or when the scenario's model
    declares the strict profile (a class attribute PROFILE = "strict"): it is then judged by the strict
    form of a rule in place of the 4.19 form the strict one `replaces` (unless `only` names it).
    """
    declared = model_profile(getattr(scenario, "model", None)) == PROFILE_STRICT
    props = select(all_properties() + list(getattr(scenario, "invariants", ())), only, skip, strict or declared)
    if declared:
        gone = {p.replaces for p in props if getattr(p, "replaces", None)} - set(only)
        props = [p for p in props if p.name not in gone]
    return props


def model_profile(model):
    """The profile a model is judged by: its class attribute PROFILE, "4.19" when it declares none."""
    return getattr(model, "PROFILE", PROFILE_419)


def is_strict(prop):
    return getattr(prop, "profile", PROFILE_419) == PROFILE_STRICT


def select(props, only=(), skip=(), strict=False):
    names = [p.name for p in props]
    for name in (*only, *skip):
        if name not in names:
            raise UnknownInvariant(f"unknown invariant {name!r}; the invariants are: {', '.join(names)}")
    for p in props:
        if p.name in only and is_strict(p) and not strict:
            raise UnknownInvariant(f"invariant {p.name!r} is a rule of the strict profile: add --invariants strict")
    return [p for p in props
            if (not only or p.name in only) and p.name not in skip and (strict or not is_strict(p))]


@dataclass
class ScenarioRun:
    """One scenario's exploration (and diff) within the portfolio."""

    scenario: object
    report: object  # checks/report.py Report
    share: float | None  # seconds given to its exploration (None: no time limit)
    properties: list
    violations: list = field(default_factory=list)  # regressions: violations the base does not have
    known: list = field(default_factory=list)  # violations the base has on the same operations (or is)
    fixed: list = field(default_factory=list)  # the base's violations the model does not have on those operations
    diff: object = None  # checks/diff.py DiffReport, when checked against a base

    def reach(self):
        """How far the search went, in words that claim no more than it did."""
        how = self._depth_reached()
        if self.report.reductions:
            how += ", one state per exchange of whole MAX_ORDER blocks"
        if self.report.preemption_bound is not None:
            how += (f", concurrent pairs under every schedule with at most {self.report.preemption_bound} "
                    f"preemption(s) ({self.report.interleavings} interleavings)")
        return how

    def _depth_reached(self):
        r = self.report
        if r.complete:
            return f"exhausted at depth {r.depth}"
        if r.stopped_by == "time":
            return f"every sequence of up to {r.depth} operations, some of {r.depth + 1} (time share)"
        if r.stopped_by == "max_states":
            return f"stopped at {r.reachable_states} states (max_states) after depth {r.depth}"
        if r.stopped_by == "interrupt":
            return f"interrupted after depth {r.depth}"
        return f"every sequence of up to {r.depth} operations"

    @property
    def cut_short(self):
        return self.report.stopped_by in ("max_states", "interrupt")


def shrunk(scenario, violation, properties):
    """The violation shrunk (checks/shrink.py), or as found when shrinking cannot improve it."""
    try:
        return shrink(scenario, violation, properties)
    except Exception:  # shrinking is best effort: the breadth-first trace is already a shortest one
        return violation


def violated_on(base_scenario, violation, properties):
    """Does the scenario's model (the base, or the variant) violate the same invariant on the same operations?"""
    prop = next((p for p in properties if p.name == violation.invariant), None)
    if prop is None:  # the model crashed or hung: does the base fail on the same operations too?
        try:
            base_scenario.initial() if not violation.trace else replay(base_scenario, violation.trace, (), strict=False)
        except Exception:
            return True
        return False
    if not violation.trace:
        m = base_scenario.initial()
        return bool(prop.violations(None, None, None, m)) if getattr(prop, "per_state", False) else False
    try:
        result = replay(base_scenario, violation.trace, [prop], strict=False)
    except Exception:  # the base crashes on these operations: that is not the same violation
        return False
    return result.violation_of(violation.invariant) is not None


def time_shares(seconds, count):
    """Seconds for each of `count` searches in turn: the time left over the searches left (None: no limit)."""
    deadline = None if seconds is None else time.perf_counter() + seconds
    for i in range(count):
        yield None if deadline is None else max(0.0, (deadline - time.perf_counter()) / (count - i))


def find_fixed(runs, base, seconds, workers):
    """Explore the base on each run's scenario with the same rules: its violations the model lacks are fixed."""
    for run, share in zip(runs, time_shares(seconds, len(runs))):
        base_sc = run.scenario.with_model(base)
        props = run.properties
        report = Explorer(base_sc).check(*props).all_violations().workers(workers).time_limit(share).run()
        for v in report.violations:
            if not violated_on(run.scenario, v, props):  # the model keeps the rule on the base's operations
                run.fixed.append(v)
        if report.stopped_by == "interrupt":
            break


def explore_portfolio(scenarios, model, *, seconds, base=None, only=(), skip=(), coverage=None, workers=1,
                      progress=None, diff_coverage=True, profile=PROFILE_419):
    """Explore every scenario on `model` within `seconds` in all; a list of ScenarioRun.

    With `base` (a model class other than `model`), violations are split into regressions and ones
    known in the base, and a share of the time goes to diffing base and model on the same scenarios.
    The strict profile's rules are judged against the base: for a variant always, for the base model
    itself with profile "strict", where each of its violations is known behaviour of the base.
    `progress(scenario, report)` is called as each search goes.
    """
    against = base is not None and base is not model
    strict = against or profile == PROFILE_STRICT
    explore_seconds = None if seconds is None else seconds * (1 - DIFF_SHARE - BASE_SHARE) if against else seconds
    runs = []
    for sc, share in zip(scenarios, time_shares(explore_seconds, len(scenarios))):
        sc = sc.with_model(model)
        props = properties_for(sc, only, skip, strict)
        explorer = Explorer(sc).check(*props).all_violations().workers(workers).time_limit(share)
        if coverage is not None:
            explorer.coverage(coverage)
        if progress is not None:
            explorer.progress(lambda report, sc=sc: progress(sc, report))
        report = explorer.run()
        run = ScenarioRun(sc, report, share, props)
        for v in report.violations:
            v = shrunk(sc, v, props)
            where = getattr(v, "scenario", None) or sc  # shrinking may have found a smaller machine
            if against and violated_on(where.with_model(base), v, props) or not against and is_strict(
                    next((p for p in props if p.name == v.invariant), None)):
                run.known.append(v)  # a strict rule the base model itself breaks: its known behaviour
            else:
                run.violations.append(v)
        runs.append(run)
        if report.stopped_by == "interrupt":
            break
    if against and not any(r.report.stopped_by == "interrupt" for r in runs):
        find_fixed(runs, base, None if seconds is None else seconds * BASE_SHARE, workers)
        for run, share in zip(runs, time_shares(None if seconds is None else seconds * DIFF_SHARE, len(runs))):
            run.diff = diff(base, model, run.scenario, seconds=share, workers=workers,
                            coverage=coverage if diff_coverage else None)
            if run.diff.stopped_by == "interrupt":
                break
    return runs
