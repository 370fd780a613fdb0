"""Breadth-first exploration over frozen states: the shortest counterexample, or exhaustion.

Built as a builder: `Explorer(scenario).check(*properties).depth(n).max_states(n).run()`; the search
itself is a strategy (checks/strategies/bfs.py) run on a backend (checks/backends.py), and the
scenario is read only through the surface of checks/protocol.py.
Every state reached is checked against every state property, and every transition against every
step property; a violation found at BFS depth d has no shorter counterexample.

The visited set holds 64-bit fingerprints of states (checks/fingerprint.py; the report gives the
chance that a collision hid a state) unless `exact()` asks for whole states. By default
(`scenario.symmetry == "auto"`) the search quotients by symmetry whenever the scenario's alphabet
allows it and the machine has two or more units in a zone; True insists on it, False turns it off.
Under symmetry the visited set holds one canonical key per orbit under exchanging whole
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

import os
import time

from buddycheck.model.symmetry import UnitSymmetry

from .backends import ForkBackend, LocalBackend
from .report import CRASH, HANG, Report, StopReason, SymmetryBroken, Violation, peak_rss_mb  # noqa: F401  (API)
from .strategies.bfs import BreadthFirst


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
        self._workers = os.cpu_count() or 1
        self._backend = None
        self._exact = False
        self._symmetry_broken = None  # why the audit refused an "auto" reduction
        self._deadline = None
        self._coverage = None
        self._op_budget = getattr(scenario, "op_budget", None)

    def check(self, *properties):
        """Properties with `name`, `per_state` and `violations(before, op, result, m, after=None) -> list[str]`.

        A per-state property is a state invariant, judged once for each distinct state (the initial
        one included); any other property is judged on every transition. `before` and `after` are the
        frozen states around the operation (`before` None for the initial state), `m` the machine after it.
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
        """Expand each large BFS level in n forked processes (None: one per CPU, the default); same result."""
        self._workers = n if n is not None else (os.cpu_count() or 1)
        return self

    def backend(self, b):
        """Expand levels with `b.expand(level, frontier) -> list[Slice]` (checks/backends.py) instead of forking."""
        self._backend = b
        return self

    def exact(self):
        """Keep whole states in the visited set: no fingerprint collision can hide a state, at ~100x the memory."""
        self._exact = True
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
        """The report of the search. Under symmetry "auto", a model the audit finds treating units
        differently is searched again without the reduction (the report says why); under True that
        stops the search with SymmetryBroken."""
        if self._backend is None:
            self._backend = ForkBackend(self._workers) if self._workers > 1 else LocalBackend()
        if self._coverage is not None:
            self._coverage.start()
        try:
            try:
                return BreadthFirst(self).run(self._new_report())
            except SymmetryBroken as e:
                if getattr(self.scenario, "symmetry", False) != "auto":
                    raise
                self._symmetry_broken = str(e)
            report = self._new_report()
            report.symmetry_broken = self._symmetry_broken
            return BreadthFirst(self).run(report)
        finally:
            if self._coverage is not None:
                self._coverage.stop()

    def _new_report(self):
        sc = self.scenario
        report = Report(sc.name, sc.model.NAME, workers=getattr(self._backend, "workers", 1), exact=self._exact)
        report.sometimes = {s.name: False for s in sc.sometimes}
        if getattr(sc, "concurrent", False):
            report.preemption_bound = sc.preemption_bound
        return report

    def resolve_symmetry(self, m):
        """The UnitSymmetry to quotient by on machine `m`, or None (scenario.symmetry: True, False or "auto")."""
        setting = getattr(self.scenario, "symmetry", False)
        if not setting or self._symmetry_broken is not None:
            return None
        problem = self.scenario.symmetry_problem()
        if problem:
            if setting == "auto":
                return None
            raise SymmetryBroken(f"scenario {self.scenario.name}: --symmetry: {problem}")
        sym = UnitSymmetry(m)
        return None if sym.trivial else sym
