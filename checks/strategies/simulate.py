"""Random-walk simulation: a seeded sample of long operation sequences on a machine too large to exhaust.

Built as a builder like the explorer: `Simulator(scenario).check(*properties).seed(n).walks(n).run()`.
Each walk starts from the booted machine (booted once; later walks restore its frozen state) and
takes up to `walk_length` steps (default: the scenario's depth). A step draws one operation
uniformly from `scenario.actions(m)` with a seeded `random.Random`; an operation that raises
ModelError is not enabled there, so another is drawn from the rest. A walk ends early when no
operation is enabled.

Every property is judged at every step, as the explorer judges it: state invariants on every state
a walk reaches (the initial state included, a state reached again judged again), step invariants on
every transition. The scenario's sometimes-goals are recorded, and a crash or hang of the model is
a `model_crash` / `model_hang` violation as in the explorer (checks/failure.py, checks/watchdog.py),
a failure while booting or in the setup one of length 0. The first violation stops the simulation;
its walk's trace is then shrunk (checks/shrink.py shrink()) to a minimal counterexample, which
replaces it in the report (the walk's own trace is kept as the violation's `original`).

Reproducible: walk i draws from `random.Random(f"{seed}/{i}")`, so the same seed gives the same
walks, the same violations and the same report (but its seconds); a walk can be replayed alone.

The report is the explorer's Report with `strategy` "simulation", the `seed`, the `walks` done,
their steps in `transitions`, the longest walk in `depth`, and the distinct states seen in
`reachable_states`, counted by fingerprint (checks/fingerprint.py, the visited set's), so that a
long simulation keeps 8 bytes per state rather than the state (two states sharing a fingerprint
count once; among n states the chance is about n^2 / 2^65). It is never `complete`: a sample says
nothing about the sequences it did not walk. `stopped_by` is "walks" (all walks done), "time",
"violation" or "interrupt".
"""

import random
import time

from buddycheck.model.errors import ModelError

from ..failure import failure_of
from ..fingerprint import fingerprint
from ..report import SIMULATION, Report, Violation, peak_rss_mb
from ..shrink import ShrinkError, shrink
from ..watchdog import watch

DEFAULT_WALKS = 100  # when neither walks(n) nor time_limit(s) is given


class Simulator:
    """Seeded random walks through a scenario's state space."""

    def __init__(self, scenario):
        self.scenario = scenario
        self._properties = []
        self._seed = 0
        self._walks = None
        self._deadline = None
        self._walk_length = scenario.depth
        self._op_budget = getattr(scenario, "op_budget", None)
        self._coverage = None
        self._progress = None
        self._shrink_max_states = 200_000

    def check(self, *properties):
        """Properties as for Explorer.check: a per-state property on every state, any other on every step."""
        self._properties.extend(properties)
        return self

    def seed(self, n):
        self._seed = n
        return self

    def walks(self, n):
        """Stop after n walks (with time_limit as well: whichever comes first)."""
        self._walks = n
        return self

    def time_limit(self, seconds):
        """Stop after `seconds` (between two steps); the walk cut short counts as done."""
        self._deadline = None if seconds is None else time.perf_counter() + seconds
        return self

    def walk_length(self, n):
        self._walk_length = n
        return self

    def op_budget(self, seconds):
        """Stop an operation (or the boot) after `seconds` of wall-clock time as a `model_hang` (None: never)."""
        self._op_budget = seconds
        return self

    def coverage(self, measure):
        """Measure which kernel functions run (checks/coverage.py ModelCoverage), boot included."""
        self._coverage = measure
        return self

    def progress(self, callback):
        """callback(report) every ~0.5 s."""
        self._progress = callback
        return self

    def shrink_max_states(self, n):
        """The bound of each re-exploration while shrinking (checks/shrink.py)."""
        self._shrink_max_states = n
        return self

    def run(self):
        sc = self.scenario
        report = Report(sc.name, sc.model.NAME, strategy=SIMULATION, seed=self._seed)
        if getattr(sc, "concurrent", False):
            report.preemption_bound = sc.preemption_bound
        report.sometimes = {s.name: False for s in sc.sometimes}
        start = time.perf_counter()
        if self._coverage is not None:
            self._coverage.start()
        try:
            self._run(sc, report)
        except KeyboardInterrupt:
            report.stopped_by = "interrupt"
        finally:
            if self._coverage is not None:
                self._coverage.stop()
            report.seconds = time.perf_counter() - start
            report.peak_memory_mb = peak_rss_mb()
        if report.violations:
            self._shrink_first(report)
        return report

    def _run(self, sc, report):
        prepare = self._coverage.count_calls if self._coverage is not None else None
        try:
            m = sc.initial(self._op_budget, prepare)
        except ModelError:
            raise  # the scenario's setup is not enabled on this machine: a bad scenario, not a model failure
        except Exception as e:  # the model crashed or hung while booting or in the setup
            report.violations.append(failure_of(e, sc.model, before_first_op=True).violation(()))
            report.stopped_by = "violation"
            return
        init = m.freeze()
        seen = {fingerprint(init)}
        report.reachable_states = 1
        if self._judge(report, None, None, None, m, (), init):
            return
        holds = init  # the frozen state the machine holds, so a restore rebuilds only what differs
        self._last_tick = time.perf_counter()
        limit = self._walks
        if limit is None and self._deadline is None:
            limit = DEFAULT_WALKS
        walk = 0
        while limit is None or walk < limit:
            if self._out_of_time():
                report.stopped_by = "time"
                return
            m.restore(init, holds)
            stop, holds = self._walk(sc, m, init, random.Random(f"{self._seed}/{walk}"), seen, report)
            walk += 1
            report.walks = walk
            if stop is not None:
                report.stopped_by = stop
                return
        report.stopped_by = "walks"

    def _walk(self, sc, m, init, rng, seen, report):
        """One walk from `init` (which m holds): (why the simulation stops or None, the state m holds)."""
        state, trace = init, ()
        for _ in range(self._walk_length):
            if self._out_of_time():
                return "time", state
            self._tick(report)
            enabled = sc.actions(m)
            while enabled:
                op = enabled.pop(rng.randrange(len(enabled)))
                try:
                    with watch(self._op_budget):
                        result = op.apply(m)
                    break
                except ModelError:
                    m.restore(state)  # not enabled here; the model promises no change on misuse: do not rely on it
                except Exception as e:  # a crash (the kernel would BUG()) or a hang (ModelHang)
                    report.transitions += 1
                    report.violations.append(failure_of(e, sc.model).violation(trace + (op,)))
                    return "violation", None
            else:
                return None, state  # no operation is enabled: the walk ends here
            report.transitions += 1
            if getattr(type(op), "interleaves", False):
                report.interleavings += 1
            trace += (op,)
            report.depth = max(report.depth, len(trace))
            for s in sc.sometimes:
                if not report.sometimes[s.name] and s.reached_by(op, result, m):
                    report.sometimes[s.name] = True
            new = m.freeze()
            key = fingerprint(new)
            if key not in seen:
                seen.add(key)
                report.reachable_states += 1
            if self._judge(report, state, op, result, m, trace, new):
                return "violation", new
            state = new
        return None, state

    def _judge(self, report, before, op, result, m, trace, after):
        """Every property on this state (and on the transition that reached it); True at a violation."""
        for prop in self._properties:
            if before is None and not getattr(prop, "per_state", False):
                continue  # the initial state is reached by no transition
            messages = prop.violations(before, op, result, m, after=after)
            if messages:
                report.violations.append(Violation(prop.name, messages[0], trace))
                return True
        return False

    def _out_of_time(self):
        return self._deadline is not None and time.perf_counter() > self._deadline

    def _tick(self, report):
        if self._progress is not None:
            now = time.perf_counter()
            if now - self._last_tick > 0.5:
                self._last_tick = now
                self._progress(report)

    def _shrink_first(self, report):
        """Replace the first violation's walk by a minimal counterexample (kept as is if it does not replay)."""
        v = report.violations[0]
        try:
            report.violations[0] = shrink(self.scenario, v, self._properties, max_states=self._shrink_max_states)
        except ShrinkError as e:
            report.notes.append(f"the counterexample of {v.invariant} is the walk's own, not shrunk: {e}")
