"""Breadth-first exhaustion: the shortest counterexample, or every reachable state.

Level by level: a backend (checks/backends.py) expands the frontier into slices (checks/level.py),
and the merge folds them in frontier order into the visited set, the parent map and the report,
so the result does not depend on how the level was cut. The visited set and the parent map hold
fingerprints and indices (checks/visited.py); only the frontier holds whole states. A trace is
rebuilt when a violation is reported, by replaying operation indices from the initial state.
"""

import dataclasses
import time

from buddycheck.model.errors import ModelError

from ..failure import failure_of
from ..fingerprint import collision_probability
from ..level import Level, StateKeys
from ..report import StopReason, Violation, peak_rss_mb
from ..visited import ExactSet, FingerprintSet, ParentMap


class BreadthFirst:
    """One breadth-first search, as an Explorer configured it."""

    def __init__(self, explorer):
        self.ex = explorer

    def run(self, report):
        ex = self.ex
        sc = ex.scenario
        start = time.perf_counter()
        prepare = ex._coverage.count_calls if ex._coverage is not None else None
        try:
            m = sc.initial(ex._op_budget, prepare)
        except ModelError:
            raise  # the scenario's setup is not enabled on this machine: a bad scenario, not a model failure
        except Exception as e:  # the model crashed or hung while booting or in the setup
            report.violations.append(failure_of(e, sc.model, before_first_op=True).violation(()))
            report.stopped_by = StopReason.VIOLATION
            report.seconds = time.perf_counter() - start
            report.peak_memory_mb = peak_rss_mb()
            return report
        self.m, self.initial = m, m.freeze()
        sym = ex.resolve_symmetry(m)
        if sym is not None:
            report.reductions = (sym.describe(),)
        report.symmetry = sym is not None
        keys = StateKeys(sym, ex._exact)
        self.visited = ExactSet() if ex._exact else FingerprintSet()
        self.parents = ParentMap(ex._exact)
        self.parents.new_level()
        init_key = keys(self.initial)
        self.visited.add(init_key)
        self.parents.add(init_key, 0, 0)
        self.level = level = Level(sc, m, ex._properties, keys, sym=sym, visited=self.visited,
                                   stop_at_first=ex._stop_at_first, audit_every=ex._audit_every,
                                   op_budget=ex._op_budget, deadline=ex._deadline, coverage=ex._coverage,
                                   progress=ex._progress)
        report.reachable_states = 1
        try:
            for prop in ex._properties:
                if getattr(prop, "per_state", False):
                    messages = prop.violations(None, None, None, m, after=self.initial)
                    if messages:
                        report.violations.append(Violation(prop.name, messages[0], ()))
                        level.seen_invariants.add(prop.name)
            if report.violations and ex._stop_at_first:
                report.stopped_by = StopReason.VIOLATION
                return report
            if report.reachable_states >= ex._max_states:  # --max-states 1: the initial state is all it may count
                report.stopped_by = StopReason.MAX_STATES
                return report
            level.report, level.started = report, start
            frontier = [(0, self.initial)]  # (index in its level, state); under symmetry the first of its orbit
            return self._levels(report, frontier)
        except KeyboardInterrupt:
            report.stopped_by = StopReason.INTERRUPT
            return report
        finally:
            report.seconds = time.perf_counter() - start
            report.peak_memory_mb = peak_rss_mb()
            n = len(self.visited)
            report.collision_probability = 0.0 if ex._exact else collision_probability(n)
            if not ex._exact:
                report.bytes_per_state = (self.visited.nbytes + self.parents.nbytes) / n

    def _levels(self, report, frontier):
        ex, level = self.ex, self.level
        for depth in range(ex._depth):
            level.depth = depth
            level.keys.new_level()
            level.budget = ex._max_states - report.reachable_states  # new states that can still count
            slices = ex._backend.expand(level, frontier)
            self.parents.new_level()
            frontier = self._merge(report, slices, depth)
            if report.stopped_by is not None:
                return report
            if ex._deadline is not None and time.perf_counter() > ex._deadline and frontier:
                report.stopped_by = StopReason.TIME
                report.depth = depth + 1
                return report
            if not frontier:
                report.complete = True
                report.depth = depth
                return report
            report.depth = depth + 1
        return report

    def _merge(self, report, slices, depth):
        """Fold the slices of one level into the report, in order: the next frontier.

        A slice records at which of its transitions each thing happened, so a stop at --max-states
        counts exactly what a one-process search would have seen when it stopped.
        """
        ex, level, visited, parents = self.ex, self.level, self.visited, self.parents
        next_frontier = []
        for part in slices:
            if part.error is not None:
                raise part.error
            if part.coverage is not None:
                ex._coverage.merge(part.coverage)
            stop = None
            for key, state, parent, op_index, at, bad in part.candidates:
                if not visited.add(key):
                    continue
                index = parents.add(key, parent, op_index)
                if not bad:  # a state violating a 4.19-profile rule is reported, not expanded
                    next_frontier.append((index, state))
                report.reachable_states += 1
                if report.reachable_states >= ex._max_states:
                    stop = at
                    break
            upto = part.transitions if stop is None else stop
            report.transitions += upto
            report.audited += sum(1 for at in part.audits if at <= upto)
            report.interleavings += sum(1 for at in part.interleavings if at <= upto)
            for name, at in part.sometimes.items():
                if at <= upto:
                    report.sometimes[name] = True
            for v, parent, op_index, at in part.violations:
                if at <= upto and v.invariant not in level.seen_invariants:
                    level.seen_invariants.add(v.invariant)
                    report.violations.append(dataclasses.replace(v, trace=self.trace(depth, parent, op_index)))
            if stop is not None:
                report.stopped_by = StopReason.MAX_STATES
                report.depth = depth + 1
                return next_frontier
            if part.stopped_by == StopReason.INTERRUPT:
                raise KeyboardInterrupt
            if part.stopped_by == StopReason.TIME:
                report.stopped_by = StopReason.TIME
                report.depth = depth  # the last level every sequence reached; depth + 1 in part
                return next_frontier
            if report.violations and (ex._stop_at_first or part.stopped_by == StopReason.VIOLATION):
                report.stopped_by = StopReason.VIOLATION
                report.depth = depth + 1
                return next_frontier
        return next_frontier

    def trace(self, depth, index, op_index):
        """The operations reaching state `index` of level `depth`, then operation `op_index` of its actions.

        Replayed from the initial state on the search's machine (the model is deterministic, so the
        same indices reach the same states); the last operation is looked up, not run.
        """
        m, actions = self.m, self.ex.scenario.actions
        m.restore(self.initial)
        self.level.holds = None
        ops = []
        for i in self.parents.path(depth, index):
            op = actions(m)[i]
            op.apply(m)
            ops.append(op)
        ops.append(actions(m)[op_index])
        return tuple(ops)
