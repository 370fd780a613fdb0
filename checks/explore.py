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

A model that fails is a counterexample too (checks/failure.py): an exception other than ModelError
raised by an operation is a `model_crash` violation, and an operation still running after its budget
(`op_budget(seconds)`, default the scenario's `op_budget`, 2 s) is stopped by the watchdog
(checks/watchdog.py) and is a `model_hang` violation, both with the trace that reaches them and the
function and file:line of the model where it happened. A failure while booting or running the
scenario's setup is a counterexample of length 0. The budget is wall-clock time: a loop that never
ends exceeds every budget, and a healthy operation takes well under a millisecond, so only a machine
stalled for the whole budget could make a false hang (which its replay would not confirm).
"""

import time

from buddycheck.model.errors import ModelError
from buddycheck.model.symmetry import UnitSymmetry

from .failure import failure_of
from .level import Level
from .report import CRASH, HANG, Report, SymmetryBroken, Violation, peak_rss_mb  # noqa: F401  (this module's API)


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
        self._workers = 1
        self._deadline = None
        self._coverage = None
        self._op_budget = getattr(scenario, "op_budget", None)

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

    def op_budget(self, seconds):
        """Stop an operation (or the boot) after `seconds` of wall-clock time as a `model_hang` (None: never)."""
        self._op_budget = seconds
        return self

    def workers(self, n):
        """Expand each large BFS level in n forked processes; the result is the same as with one."""
        self._workers = n
        return self

    def time_limit(self, seconds):
        """Stop after `seconds` (between two states): the report gives the depth every sequence reached."""
        self._deadline = None if seconds is None else time.perf_counter() + seconds
        return self

    def coverage(self, measure):
        """Measure which kernel functions run (checks/coverage.py ModelCoverage), boot included."""
        self._coverage = measure
        return self

    def run(self):
        sc = self.scenario
        report = Report(sc.name, sc.model.NAME)
        report.sometimes = {s.name: False for s in sc.sometimes}
        start = time.perf_counter()
        if self._coverage is not None:
            self._coverage.start()
            try:
                return self._run(sc, report, start)
            finally:
                self._coverage.stop()
        return self._run(sc, report, start)

    def _run(self, sc, report, start):
        prepare = self._coverage.count_calls if self._coverage is not None else None
        try:
            m = sc.initial(self._op_budget, prepare)
        except ModelError:
            raise  # the scenario's setup is not enabled on this machine: a bad scenario, not a model failure
        except Exception as e:  # the model crashed or hung while booting or in the setup
            report.violations.append(failure_of(e, sc.model, before_first_op=True).violation(()))
            report.stopped_by = "violation"
            report.seconds = time.perf_counter() - start
            report.peak_memory_mb = peak_rss_mb()
            return report
        init = m.freeze()
        sym = self._symmetry(m)
        if sym is not None:
            report.reductions = (sym.describe(),)
            key_of = _Memo(sym.canonical)
        else:
            key_of = _Exact()
        init_key = key_of(init)
        level = Level(self, m, sym, key_of, {init_key: None}, set())
        frontier = [(init_key, init)]  # under symmetry, a key's state is the first of its orbit reached
        report.reachable_states = 1
        for prop in self._properties:
            if getattr(prop, "per_state", False):
                messages = prop.violations(None, None, None, m)
                if messages:
                    report.violations.append(Violation(prop.name, messages[0], ()))
                    level.seen_invariants.add(prop.name)
        if report.violations and self._stop_at_first:
            report.stopped_by = "violation"
            report.seconds = time.perf_counter() - start
            return report
        level.report, level.started = report, start
        try:
            for depth in range(self._depth):
                slices = level.expand(frontier)
                frontier = self._merge(report, level, slices, depth)
                if report.stopped_by is not None:
                    return report
                if self._deadline is not None and time.perf_counter() > self._deadline and frontier:
                    report.stopped_by = "time"
                    report.depth = depth + 1
                    return report
                if not frontier:
                    report.complete = True
                    report.depth = depth
                    return report
                report.depth = depth + 1
            return report
        except KeyboardInterrupt:
            report.stopped_by = "interrupt"
            return report
        finally:
            report.seconds = time.perf_counter() - start
            report.peak_memory_mb = peak_rss_mb()

    def _merge(self, report, level, slices, depth):
        """Fold the slices of one level into the report, in order: the next frontier.

        A slice records at which of its transitions each thing happened, so a stop at --max-states
        counts exactly what a one-process search would have seen when it stopped.
        """
        next_frontier = []
        parent = level.parent
        for part in slices:
            if part.error is not None:
                raise part.error
            if part.coverage is not None:
                self._coverage.merge(part.coverage)
            stop = None
            for key, state, parent_key, op, at, bad in part.candidates:
                if key in parent:
                    continue
                parent[key] = (parent_key, op)
                level.key_of.remember(state, key)
                if not bad:  # a state violating a 4.19-profile rule is reported, not expanded
                    next_frontier.append((key, state))
                report.reachable_states += 1
                if report.reachable_states >= self._max_states:
                    stop = at
                    break
            upto = part.transitions if stop is None else stop
            report.transitions += upto
            report.audited += sum(1 for at in part.audits if at <= upto)
            for name, at in part.sometimes.items():
                if at <= upto:
                    report.sometimes[name] = True
            for v, at in part.violations:
                if at <= upto and v.invariant not in level.seen_invariants:
                    level.seen_invariants.add(v.invariant)
                    report.violations.append(v)
            if stop is not None:
                report.stopped_by = "max_states"
                report.depth = depth + 1
                return next_frontier
            if part.stopped_by == "interrupt":
                raise KeyboardInterrupt
            if part.stopped_by == "time":
                report.stopped_by = "time"
                report.depth = depth  # the last level every sequence reached; depth + 1 in part
                return next_frontier
            if report.violations and (self._stop_at_first or part.stopped_by == "violation"):
                report.stopped_by = "violation"
                report.depth = depth + 1
                return next_frontier
        return next_frontier

    def _symmetry(self, m):
        if not getattr(self.scenario, "symmetry", False):
            return None
        problem = self.scenario.symmetry_problem()
        if problem:
            raise SymmetryBroken(f"scenario {self.scenario.name}: --symmetry: {problem}")
        sym = UnitSymmetry(m)
        return None if sym.trivial else sym


class _Exact:
    """Without a reduction a state is its own key."""

    def __call__(self, state):
        return state

    def remember(self, state, key):
        pass


class _Memo:
    """Canonical keys of concrete states: one is reached again and again from different representatives."""

    def __init__(self, canonical):
        self.canonical = canonical
        self.cache = {}

    def __call__(self, state):
        key = self.cache.get(state)
        if key is None:
            key = self.cache[state] = self.canonical(state)
        return key

    def remember(self, state, key):
        self.cache[state] = key

