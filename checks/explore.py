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

import gc
import multiprocessing as mp
import resource
import signal
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
        self._workers = 1

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

    def workers(self, n):
        """Expand each large BFS level in n forked processes; the result is the same as with one."""
        self._workers = n
        return self

    def run(self):
        sc = self.scenario
        report = Report(sc.name, sc.model.NAME)
        report.sometimes = {s.name: False for s in sc.sometimes}
        start = time.perf_counter()
        m = sc.initial()
        init = m.freeze()
        sym = self._symmetry(m)
        if sym is not None:
            report.reductions = (sym.describe(),)
            key_of = _Memo(sym.canonical)
        else:
            key_of = _identity
        init_key = key_of(init)
        level = _Level(self, m, sym, key_of, {init_key: None}, set())
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
        try:
            for depth in range(self._depth):
                level.report, level.started = report, start
                slices = level.expand(frontier)
                frontier = self._merge(report, level, slices, depth)
                if report.stopped_by is not None:
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
            stop = None
            for key, state, parent_key, op, at in part.candidates:
                if key in parent:
                    continue
                parent[key] = (parent_key, op)
                level.key_of.remember(state, key)
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


_identity.remember = lambda state, key: None


@dataclass
class _Slice:
    """What expanding a run of one level's states found, in the order a sequential search meets it."""

    # each event carries `at`: the number of this slice's transitions up to and including its own
    candidates: list = field(default_factory=list)  # (key, state, parent key, op, at), new to this slice
    violations: list = field(default_factory=list)  # (Violation, at)
    transitions: int = 0
    audits: list = field(default_factory=list)  # at
    sometimes: dict = field(default_factory=dict)  # name -> at, the first time it was reached
    stopped_by: str | None = None  # "violation" or "interrupt"
    error: Exception | None = None  # SymmetryBroken, raised again by the parent process


class _Level:
    """Expands the states of one BFS level, in this process or in forked ones."""

    MIN_PER_WORKER = 64  # below this a fork costs more than it saves

    def __init__(self, explorer, m, sym, key_of, parent, seen_invariants):
        self.explorer, self.m, self.sym, self.key_of = explorer, m, sym, key_of
        self.parent, self.seen_invariants = parent, seen_invariants
        self.audits = sym.swaps() if sym is not None else ()
        self.holds = None  # the frozen state the machine holds, so restores rebuild only what differs
        self.report, self.started = None, 0.0

    def expand(self, frontier):
        n = self.explorer._workers
        budget = self.explorer._max_states - self.report.reachable_states  # new states that can still count
        if n <= 1 or len(frontier) < n * self.MIN_PER_WORKER or "fork" not in mp.get_all_start_methods():
            return [self.expand_slice(frontier, 0, progress=True, budget=budget)]
        size = -(-len(frontier) // n)
        chunks = [(frontier[i:i + size], i) for i in range(0, len(frontier), size)]
        ctx = mp.get_context("fork")
        gc.freeze()  # children share the parent's objects; a collection would copy every page
        procs, readers = [], []
        try:
            for chunk, offset in chunks[1:]:
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=self._child, args=(writer, chunk, offset), daemon=True)
                proc.start()
                writer.close()
                procs.append(proc)
                readers.append(reader)
            first = self.expand_slice(*chunks[0], progress=True, budget=budget)  # this process takes the first run
            if first.stopped_by is not None or first.error is not None:
                return [first]  # what the others found comes after the stop
            try:
                return [first] + [reader.recv() for reader in readers]
            except EOFError:
                raise RuntimeError("a worker process of the exploration died without a result") from None
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                proc.join()
            gc.unfreeze()

    def _child(self, writer, chunk, offset):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent process decides when to stop
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self.holds = None
        # no budget here: some of a later run's states may already be in an earlier run
        writer.send(self.expand_slice(chunk, offset, progress=False, budget=float("inf")))
        writer.close()

    def expand_slice(self, items, offset, progress, budget):
        """Every transition out of `items` (frontier positions offset, offset+1, ...), in order."""
        ex, m, parent, key_of, sym = self.explorer, self.m, self.parent, self.key_of, self.sym
        sc = ex.scenario
        out = _Slice()
        local = set()
        seen = set(self.seen_invariants)
        props = ex._properties
        every = ex._audit_every if sym is not None else 0
        last_tick = time.perf_counter()
        holds = self.holds
        try:
            for index, (state_key, state) in enumerate(items, offset):
                m.restore(state, holds)
                holds = state
                for op_index, op in enumerate(sc.actions(m)):
                    if holds is not state:
                        m.restore(state, holds)
                        holds = state
                    try:
                        result = op.apply(m)
                    except ModelError:
                        holds = None  # the model promises no change on misuse; do not rely on it
                        continue  # not enabled here (e.g. a free the kernel would reject)
                    except Exception as e:  # a corrupted state made the model fail: the kernel would BUG()
                        out.transitions += 1
                        message = f"{CRASH}: the model raised {type(e).__name__}: {e}"
                        trace = Explorer._trace(parent, state_key) + (op,)
                        out.violations.append((Violation(CRASH, message, trace), out.transitions))
                        out.stopped_by = "violation"
                        return out
                    out.transitions += 1
                    at = out.transitions
                    for s in sc.sometimes:
                        if s.name not in out.sometimes and s.reached_by(op, result, m):
                            out.sometimes[s.name] = at
                    new = holds = m.freeze()
                    new_key = key_of(new)
                    fresh = new_key not in parent and new_key not in local
                    for prop in props:
                        if prop.name in seen or (getattr(prop, "per_state", False) and not fresh):
                            continue  # a state invariant is judged once per distinct state
                        messages = prop.violations(state, op, result, m)
                        if messages:
                            seen.add(prop.name)
                            trace = Explorer._trace(parent, state_key) + (op,)
                            out.violations.append((Violation(prop.name, messages[0], trace), at))
                    if out.violations and ex._stop_at_first:
                        out.stopped_by = "violation"
                        return out
                    # which transitions are audited depends on their place in the level, not on the workers
                    if every and (index * 31 + op_index) % every == 0:
                        Explorer._audit(m, sym, self.audits[(index + op_index) % len(self.audits)], state, op, new)
                        out.audits.append(at)
                        holds = None
                    if fresh:
                        local.add(new_key)
                        out.candidates.append((new_key, new, state_key, op, at))
                        if len(out.candidates) >= budget:
                            return out  # the merge stops at --max-states within these
                if progress and ex._progress is not None:
                    now = time.perf_counter()
                    if now - last_tick > 0.5:
                        last_tick = now
                        r = self.report
                        shown = Report(r.scenario, r.model, r.reachable_states + len(out.candidates),
                                       r.transitions + out.transitions, r.depth, seconds=now - self.started)
                        ex._progress(shown)
        except KeyboardInterrupt:
            out.stopped_by = "interrupt"
            holds = None
        except SymmetryBroken as e:
            out.error = e
            holds = None
        finally:
            self.holds = holds
        return out


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

