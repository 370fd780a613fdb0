"""Expanding one breadth-first level: every transition out of its states, in one process or several.

A level is cut into runs of consecutive states. With one worker there is one run; with n, forked
processes expand all runs but the first while this process expands the first, and each sends back
a `Slice`: the new states, violations, audits and sometimes-properties it met, each marked with
the transition at which it happened. `Explorer` merges the slices in order, so the result is the
one a single process would have reached, to the transition.
"""

import gc
import multiprocessing as mp
import signal
import time
from dataclasses import dataclass, field

from buddycheck.model.errors import ModelError
from buddycheck.spec.invariants import PROFILE_419, PROFILE_STRICT

from .failure import failure_of
from .report import HANG, Report, SymmetryBroken, Violation
from .watchdog import watch


@dataclass
class Slice:
    """What expanding a run of one level's states found, in the order a sequential search meets it."""

    # each event carries `at`: the number of this slice's transitions up to and including its own
    candidates: list = field(default_factory=list)  # (key, state, parent key, op, at, bad), new to this slice
    violations: list = field(default_factory=list)  # (Violation, at)
    transitions: int = 0
    audits: list = field(default_factory=list)  # at
    sometimes: dict = field(default_factory=dict)  # name -> at, the first time it was reached
    stopped_by: str | None = None  # "violation", "interrupt" or "time"
    coverage: tuple | None = None  # what a forked worker measured (checks/coverage.py payload)
    error: Exception | None = None  # SymmetryBroken, raised again by the parent process


class Level:
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
        measure = self.explorer._coverage
        if measure is not None:
            measure.calls.clear()  # the parent's counts are its own; send back this process's only
        # no budget here: some of a later run's states may already be in an earlier run
        out = self.expand_slice(chunk, offset, progress=False, budget=float("inf"))
        if measure is not None:
            out.coverage = measure.payload()
        writer.send(out)
        writer.close()

    def expand_slice(self, items, offset, progress, budget):
        """Every transition out of `items` (frontier positions offset, offset+1, ...), in order."""
        ex, m, parent, key_of, sym = self.explorer, self.m, self.parent, self.key_of, self.sym
        sc = ex.scenario
        out = Slice()
        local = set()
        seen = set(self.seen_invariants)
        props = ex._properties
        every = ex._audit_every if sym is not None else 0
        # past the first violation, a state reached by a violating transition is not expanded: what
        # follows a broken state (a crash on a corrupted list, say) is not a finding of its own
        prune = not ex._stop_at_first
        deadline = ex._deadline
        last_tick = time.perf_counter()
        holds = self.holds
        try:
            for index, (state_key, state) in enumerate(items, offset):
                if deadline is not None and time.perf_counter() > deadline:
                    out.stopped_by = "time"
                    return out
                m.restore(state, holds)
                holds = state
                for op_index, op in enumerate(sc.actions(m)):
                    if holds is not state:
                        m.restore(state, holds)
                        holds = state
                    try:
                        with watch(ex._op_budget):  # re-armed per operation, so also in a forked worker
                            result = op.apply(m)
                    except ModelError:
                        holds = None  # the model promises no change on misuse; do not rely on it
                        continue  # not enabled here (e.g. a free the kernel would reject)
                    except Exception as e:  # a crash (the kernel would BUG()) or a hang (ModelHang)
                        holds = None
                        out.transitions += 1
                        failure = failure_of(e, sc.model)
                        if failure.kind not in seen:  # past the first violation: one per kind, a dead end
                            seen.add(failure.kind)
                            trace = trace_to(parent, state_key) + (op,)
                            out.violations.append((failure.violation(trace), out.transitions))
                        if ex._stop_at_first or failure.kind == HANG:  # each further hang would cost a budget
                            out.stopped_by = "violation"
                            return out
                        continue
                    out.transitions += 1
                    at = out.transitions
                    for s in sc.sometimes:
                        if s.name not in out.sometimes and s.reached_by(op, result, m):
                            out.sometimes[s.name] = at
                    new = holds = m.freeze()
                    new_key = key_of(new)
                    fresh = new_key not in parent and new_key not in local
                    bad = False
                    for prop in props:
                        if getattr(prop, "per_state", False) and not fresh:
                            continue  # a state invariant is judged once per distinct state
                        if prop.name in seen and not prune:
                            continue
                        messages = prop.violations(state, op, result, m)
                        if messages:
                            # a state breaking only strict rules is one 4.19 itself reaches: keep expanding it
                            bad = bad or getattr(prop, "profile", PROFILE_419) != PROFILE_STRICT
                            if prop.name not in seen:
                                seen.add(prop.name)
                                trace = trace_to(parent, state_key) + (op,)
                                out.violations.append((Violation(prop.name, messages[0], trace), at))
                    if out.violations and ex._stop_at_first:
                        out.stopped_by = "violation"
                        return out
                    # which transitions are audited depends on their place in the level, not on the workers
                    if every and (index * 31 + op_index) % every == 0:
                        audit(m, sym, self.audits[(index + op_index) % len(self.audits)], state, op, new, ex._op_budget)
                        out.audits.append(at)
                        holds = None
                    if fresh:
                        local.add(new_key)
                        out.candidates.append((new_key, new, state_key, op, at, bad))
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


def audit(m, sym, unit_map, state, op, new, budget=None):
    """Check one transition against its image under a relabelling of units."""
    f = sym.pfn_map(unit_map)
    image_op = op.relabel(f) if hasattr(op, "relabel") else op
    m.restore(sym.relabel(state, unit_map))
    try:
        with watch(budget):
            image_op.apply(m)
    except Exception as e:
        raise SymmetryBroken(
            f"{image_op.code()} raised {type(e).__name__} ({e}) on the relabelled state, while {op.code()} "
            f"succeeded on the original: the model does not treat units {sorted(unit_map)} alike") from None
    if m.freeze() != sym.relabel(new, unit_map):
        raise SymmetryBroken(
            f"{op.code()} and {image_op.code()} lead to states that are not relabellings of each other: "
            f"the model does not treat units {sorted(unit_map)} alike; run without --symmetry")


def trace_to(parent, key):
    """The operations from the initial state to the state with this key, along the parent links."""
    ops = []
    while parent[key] is not None:
        key, op = parent[key]
        ops.append(op)
    return tuple(reversed(ops))
