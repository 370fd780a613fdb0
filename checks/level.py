"""Expanding runs of one breadth-first level: every transition out of their states, judged by every property.

A `Level` expands the states it is given and returns a `Slice`: the new states, violations, audits
and sometimes-goals it met, each marked with the transition at which it happened (`at`), and each
state and violation named relative to its parent: the parent's index in its level and the index
of the operation in `actions(parent)`. The strategy (checks/strategies/bfs.py) merges the slices
in order, so the result is the one a single process would have reached, to the transition, and
rebuilds traces from those indices; a slice therefore needs neither the parent map nor the
visited set. Given the visited set (`visited`, as the local and forked backends give it), a slice
judges the state invariants only on states new to the search; without it, on every state new to
the slice, which finds the same violations (a state seen before was judged when first seen).
"""

import time
from dataclasses import dataclass, field

from buddycheck.model.errors import ModelError
from buddycheck.spec.invariants import PROFILE_419, PROFILE_STRICT

from .failure import failure_of
from .fingerprint import fingerprint
from .report import HANG, Report, StopReason, SymmetryBroken, Violation
from .stop import honour as honour_stop
from .stop import requested as stop_requested
from .watchdog import watch


@dataclass
class Slice:
    """What expanding a run of one level's states found, in the order a sequential search meets it."""

    # each event carries `at`: the number of this slice's transitions up to and including its own
    candidates: list = field(default_factory=list)  # (key, state, parent index, op index, at, bad), new to this slice
    violations: list = field(default_factory=list)  # (Violation without its trace, parent index, op index, at)
    transitions: int = 0
    interleavings: list = field(default_factory=list)  # at, of each transition that ran a concurrent pair
    audits: list = field(default_factory=list)  # at
    sometimes: dict = field(default_factory=dict)  # name -> at, the first time it was reached
    stopped_by: StopReason | None = None  # VIOLATION, INTERRUPT or TIME
    coverage: tuple | None = None  # what a forked worker measured (checks/coverage.py payload)
    error: Exception | None = None  # SymmetryBroken, raised again by the merging process


class StateKeys:
    """The key the visited set knows a state by: the fingerprint of its canonical form (or that form, exact).

    Under symmetry one concrete state is reached again and again within a level, so its key is kept
    for the level (at most MEMO_LIMIT of them): canonical forms cost more than a lookup.
    """

    MEMO_LIMIT = 1 << 14

    def __init__(self, sym, exact):
        self.canonical = sym.canonical if sym is not None else None
        self.exact = exact
        self.memo = {}

    def __call__(self, state):
        if self.canonical is None:
            return state if self.exact else fingerprint(state)
        key = self.memo.get(state)
        if key is None:
            key = self.canonical(state)
            if not self.exact:
                key = fingerprint(key)
            if len(self.memo) >= self.MEMO_LIMIT:
                self.memo.clear()
            self.memo[state] = key
        return key

    def new_level(self):
        self.memo.clear()


class Level:
    """Expands states of the current BFS level (`depth`) on one machine, in this process."""

    def __init__(self, problem, machine, properties, keys, sym=None, visited=None, stop_at_first=True,
                 audit_every=32, op_budget=None, deadline=None, coverage=None, progress=None):
        self.problem, self.m, self.keys, self.sym, self.visited = problem, machine, keys, sym, visited
        # (property, name, judged once per state, a violation stops expanding the state), in the caller's order
        self.judged = [(p, p.name, bool(getattr(p, "per_state", False)),
                        getattr(p, "profile", PROFILE_419) != PROFILE_STRICT) for p in properties]
        self.judged_by_kind = {}  # operation class -> the entries of `judged` that can judge it
        self.stop_at_first, self.op_budget, self.deadline = stop_at_first, op_budget, deadline
        self.every = audit_every if sym is not None else 0
        self.audits = sym.swaps() if sym is not None else ()
        self.coverage, self.progress = coverage, progress
        self.seen_invariants = set()  # invariants already reported: a slice reports each once
        self.depth = 0
        self.budget = float("inf")  # new states the first slice may still count (--max-states)
        self.holds = None  # the frozen state the machine holds, so restores rebuild only what differs
        self.report, self.started = None, 0.0  # for progress lines

    def judged_for(self, kind):
        """The properties that judge operations of class `kind`, in the caller's order.

        A property declaring `applies_to(kind)` false would find nothing in such a transition, so
        leaving it out changes no verdict, only the cost of the transition.
        """
        entries = self.judged_by_kind.get(kind)
        if entries is None:
            entries = self.judged_by_kind[kind] = [
                entry for entry in self.judged
                if not hasattr(entry[0], "applies_to") or entry[0].applies_to(kind)]
        return entries

    def tell_progress(self, new_states=0, transitions=0, now=None):
        """Give the progress callback the search's report so far: the merged levels, plus `new_states` and
        `transitions` of this level not merged yet (nothing without a callback or before the search starts)."""
        r = self.report
        if self.progress is None or r is None:
            return
        now = time.perf_counter() if now is None else now
        self.progress(Report(r.scenario, r.model, r.reachable_states + new_states, r.transitions + transitions,
                             r.depth, seconds=now - self.started))

    def expand_slice(self, items, offset=0, progress=True, budget=None):
        """Every transition out of `items`, (index in level, state) at frontier positions offset, offset+1, ..."""
        m, keys, sym, visited = self.m, self.keys, self.sym, self.visited
        actions, sometimes = self.problem.actions, self.problem.sometimes
        budget = self.budget if budget is None else budget
        op_budget, stop_at_first = self.op_budget, self.stop_at_first
        judged_by_kind, judged_for = self.judged_by_kind, self.judged_for
        out = Slice()
        local = set()
        seen = set(self.seen_invariants)
        every = self.every
        # past the first violation, a state reached by a violating transition is not expanded: what
        # follows a broken state (a crash on a corrupted list, say) is not a finding of its own
        prune = not stop_at_first
        deadline = self.deadline
        show = self.progress if progress else None
        last_tick = time.perf_counter()
        holds = self.holds
        candidates, violations = out.candidates, out.violations
        transitions = 0
        guard = watch(op_budget)  # re-armed per operation, so also in a forked worker
        try:
            for position, (index, state) in enumerate(items, offset):
                if stop_requested:
                    honour_stop()
                if deadline is not None and time.perf_counter() > deadline:
                    out.stopped_by = StopReason.TIME
                    return out
                if holds is not state:
                    m.restore(state, holds)
                    holds = state
                for op_index, op in enumerate(actions(m)):
                    if holds is not state:
                        m.restore(state, holds)
                        holds = state
                    try:
                        with guard:
                            result = op.apply(m)
                    except ModelError:
                        holds = None  # the model promises no change on misuse; do not rely on it
                        continue  # not enabled here (e.g. a free the kernel would reject)
                    except Exception as e:  # a crash (the kernel would BUG()) or a hang (ModelHang)
                        holds = None
                        transitions += 1
                        failure = failure_of(e, self.problem.model)
                        if failure.kind not in seen:  # past the first violation: one per kind, a dead end
                            seen.add(failure.kind)
                            violations.append((failure.violation(()), index, op_index, transitions))
                        if stop_at_first or failure.kind == HANG:  # each further hang would cost a budget
                            out.stopped_by = StopReason.VIOLATION
                            return out
                        continue
                    transitions += 1
                    at = transitions
                    kind = type(op)
                    interleaves = getattr(kind, "interleaves", False)
                    if interleaves:
                        out.interleavings.append(at)
                    for s in sometimes:
                        if s.name not in out.sometimes and s.reached_by(op, result, m):
                            out.sometimes[s.name] = at
                    new = holds = m.freeze()
                    key = keys(new)
                    fresh = key not in local and (visited is None or key not in visited)
                    bad = False
                    judged = judged_by_kind.get(kind) or judged_for(kind)
                    for prop, name, per_state, breaks_419 in judged:
                        if per_state and not fresh and not interleaves:
                            continue  # a state invariant is judged once per distinct state (and a pair's way)
                        if not prune and name in seen:
                            continue
                        messages = prop.violations(state, op, result, m, after=new)
                        if messages:
                            # a state breaking only strict rules is one 4.19 itself reaches: keep expanding it
                            bad = bad or breaks_419
                            if name not in seen:
                                seen.add(name)
                                violations.append((Violation(name, messages[0]), index, op_index, at))
                    if violations and stop_at_first:
                        out.stopped_by = StopReason.VIOLATION
                        return out
                    # which transitions are audited depends on their place in the level, not on the workers
                    if every and (position * 31 + op_index) % every == 0:
                        holds = audit(m, sym, self.audits[(position + op_index) % len(self.audits)], state, op,
                                      new, op_budget)
                        out.audits.append(at)
                    if fresh:
                        local.add(key)
                        candidates.append((key, new, index, op_index, at, bad))
                        if len(candidates) >= budget:
                            return out  # the merge stops at --max-states within these
                if show is not None:
                    now = time.perf_counter()
                    if now - last_tick > 0.5:
                        last_tick = now
                        self.tell_progress(len(candidates), transitions, now)
        except KeyboardInterrupt:
            out.stopped_by = StopReason.INTERRUPT
            stop_requested.clear()  # honoured
            holds = None
        except SymmetryBroken as e:
            out.error = e
            holds = None
        finally:
            out.transitions = transitions
            self.holds = holds
        return out


def audit(m, sym, unit_map, state, op, new, budget=None):
    """Check one transition against its image under a relabelling of units; the state the machine is left in."""
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
    image = m.freeze()
    if image != sym.relabel(new, unit_map):
        raise SymmetryBroken(
            f"{op.code()} and {image_op.code()} lead to states that are not relabellings of each other: "
            f"the model does not treat units {sorted(unit_map)} alike; run with --no-symmetry")
    return image

