"""Breadth-first exploration over frozen states: the shortest counterexample, or exhaustion.

Built as a builder: `Explorer(scenario).check(*properties).depth(n).max_states(n).run()`.
Every state reached is checked against every state property, and every transition against every
step property; a violation found at BFS depth d has no shorter counterexample.

With `scenario.symmetry` the visited set holds one canonical key per orbit under exchanging whole
MAX_ORDER units of a zone (model/symmetry.py) and the frontier holds the first concrete state of
each orbit, so traces stay concrete and replay on the plain model. Every property is about zones,
nodes and block shapes, never a particular pfn, so it has the same verdict on the whole orbit. The
reduction is exact only for a model that treats units alike: every `audit_every`-th transition is
re-run on relabelled units and a difference stops the search with SymmetryBroken.
"""

import resource
import time
from dataclasses import dataclass, field

from buddycheck.model.errors import ModelError
from buddycheck.model.symmetry import UnitSymmetry

CRASH = "model_crash"  # the pseudo-invariant of a model that fails on a corrupted state


@dataclass(frozen=True)
class Violation:
    """An invariant that failed, its message, and the operations from the initial state that reach it."""

    invariant: str
    message: str
    trace: tuple

    @property
    def length(self):
        return len(self.trace)


@dataclass
class Report:
    """What an exploration found and how far it went."""

    scenario: str
    model: str
    reachable_states: int = 0
    transitions: int = 0
    depth: int = 0
    complete: bool = False
    stopped_by: str | None = None  # "max_states", "interrupt", "violation", or None
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    violations: list = field(default_factory=list)
    sometimes: dict = field(default_factory=dict)
    reductions: tuple = ()  # how the state space was quotiented (symmetry), in words
    audited: int = 0  # transitions re-run on relabelled units to check the symmetry

    @property
    def states_per_second(self):
        return self.reachable_states / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self):
        return not self.violations


class SymmetryBroken(Exception):
    """The model treated two exchangeable units differently: quotienting by them would be unsound."""


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Explorer:
    """Breadth-first search of a scenario's state space."""

    def __init__(self, scenario):
        self.scenario = scenario
        self._properties = []
        self._depth = scenario.depth
        self._max_states = scenario.max_states
        self._stop_at_first = True
        self._progress = None
        self._audit_every = 32

    def check(self, *properties):
        """Properties with `name`, `per_state` and `violations(before, op, result, m) -> list[str]`.

        A per-state property is a state invariant, judged once for each distinct state (the initial
        one included); any other property is judged on every transition.
        """
        self._properties.extend(properties)
        return self

    def depth(self, n):
        self._depth = n
        return self

    def max_states(self, n):
        self._max_states = n
        return self

    def all_violations(self):
        """Keep exploring after the first violation (one counterexample per invariant)."""
        self._stop_at_first = False
        return self

    def audit_every(self, n):
        """Under symmetry, re-run every n-th transition on relabelled units and compare (0: never)."""
        self._audit_every = n
        return self

    def progress(self, callback):
        """callback(report) every ~0.5 s."""
        self._progress = callback
        return self

    def run(self):
        sc = self.scenario
        report = Report(sc.name, sc.model.NAME)
        report.sometimes = {s.name: False for s in sc.sometimes}
        start = time.perf_counter()
        last_tick = start
        m = sc.initial()
        init = m.freeze()
        sym = self._symmetry(m)
        if sym is not None:
            report.reductions = (sym.describe(),)
            key_of = _memoized(sym.canonical)
            audits = sym.swaps()
        else:
            key_of = _identity
        init_key = key_of(init)
        parent = {init_key: None}  # state key -> (previous state's key, operation)
        frontier = [(init_key, init)]  # under symmetry, a key's state is the first of its orbit reached
        seen_invariants = set()
        report.reachable_states = 1
        for prop in self._properties:
            if getattr(prop, "per_state", False):
                messages = prop.violations(None, None, None, m)
                if messages:
                    report.violations.append(Violation(prop.name, messages[0], ()))
                    seen_invariants.add(prop.name)
        if report.violations and self._stop_at_first:
            report.stopped_by = "violation"
            report.seconds = time.perf_counter() - start
            return report
        holds = init  # the frozen state the machine holds, so restores rebuild only what differs
        try:
            for level in range(self._depth):
                next_frontier = []
                for state_key, state in frontier:
                    m.restore(state, holds)
                    holds = state
                    for op in sc.actions(m):
                        if holds is not state:
                            m.restore(state, holds)
                            holds = state
                        try:
                            result = op.apply(m)
                        except ModelError:
                            holds = None  # the model promises no change on misuse; do not rely on it
                            continue  # not enabled here (e.g. a free the kernel would reject)
                        except Exception as e:  # a corrupted state made the model fail: the kernel would BUG()
                            report.transitions += 1
                            trace = self._trace(parent, state_key) + (op,)
                            message = f"{CRASH}: the model raised {type(e).__name__}: {e}"
                            report.violations.append(Violation(CRASH, message, trace))
                            report.stopped_by = "violation"
                            report.depth = level + 1
                            return report
                        report.transitions += 1
                        for s in sc.sometimes:
                            if not report.sometimes[s.name] and s.reached_by(op, result, m):
                                report.sometimes[s.name] = True
                        new = holds = m.freeze()
                        new_key = key_of(new)
                        fresh = new_key not in parent
                        for prop in self._properties:
                            if prop.name in seen_invariants or (getattr(prop, "per_state", False) and not fresh):
                                continue  # a state invariant is judged once per distinct state
                            messages = prop.violations(state, op, result, m)
                            if messages:
                                seen_invariants.add(prop.name)
                                trace = self._trace(parent, state_key) + (op,)
                                report.violations.append(Violation(prop.name, messages[0], trace))
                        if report.violations and self._stop_at_first:
                            report.stopped_by = "violation"
                            report.depth = level + 1
                            return report
                        if sym is not None and self._audit_every and report.transitions % self._audit_every == 0:
                            self._audit(m, sym, audits[report.transitions // self._audit_every % len(audits)],
                                        state, op, new)
                            report.audited += 1
                            holds = None
                        if fresh:
                            parent[new_key] = (state_key, op)
                            next_frontier.append((new_key, new))
                            report.reachable_states += 1
                            if report.reachable_states >= self._max_states:
                                report.stopped_by = "max_states"
                                report.depth = level + 1
                                return report
                    if self._progress is not None:
                        now = time.perf_counter()
                        if now - last_tick > 0.5:
                            last_tick = now
                            report.seconds = now - start
                            report.depth = level
                            self._progress(report)
                if not next_frontier:
                    report.complete = True
                    report.depth = level
                    return report
                frontier = next_frontier
                report.depth = level + 1
            return report
        except KeyboardInterrupt:
            report.stopped_by = "interrupt"
            return report
        finally:
            report.seconds = time.perf_counter() - start
            report.peak_memory_mb = peak_rss_mb()

    def _symmetry(self, m):
        if not getattr(self.scenario, "symmetry", False):
            return None
        problem = self.scenario.symmetry_problem()
        if problem:
            raise SymmetryBroken(f"scenario {self.scenario.name}: --symmetry: {problem}")
        sym = UnitSymmetry(m)
        return None if sym.trivial else sym

    @staticmethod
    def _audit(m, sym, unit_map, state, op, new):
        """Check one transition against its image under a relabelling of units."""
        f = sym.pfn_map(unit_map)
        image_op = op.relabel(f) if hasattr(op, "relabel") else op
        m.restore(sym.relabel(state, unit_map))
        try:
            image_op.apply(m)
        except Exception as e:
            raise SymmetryBroken(
                f"{image_op.code()} raised {type(e).__name__} ({e}) on the relabelled state, while {op.code()} "
                f"succeeded on the original: the model does not treat units {sorted(unit_map)} alike") from None
        if m.freeze() != sym.relabel(new, unit_map):
            raise SymmetryBroken(
                f"{op.code()} and {image_op.code()} lead to states that are not relabellings of each other: "
                f"the model does not treat units {sorted(unit_map)} alike; run without --symmetry")

    @staticmethod
    def _trace(parent, key):
        ops = []
        while parent[key] is not None:
            key, op = parent[key]
            ops.append(op)
        return tuple(reversed(ops))


def _identity(state):
    return state


def _memoized(canonical):
    # a concrete state is reached again and again from different representatives
    cache = {}

    def key_of(state):
        key = cache.get(state)
        if key is None:
            key = cache[state] = canonical(state)
        return key

    return key_of
