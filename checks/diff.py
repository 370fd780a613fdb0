"""`buddycheck diff`: the shortest sequence of operations after which two models behave differently.

`diff(base_cls, head_cls, scenario, depth, max_states)` explores both models breadth-first over the
same operations, over PAIRS of frozen states (base state, head state). The operations come from
`scenario.actions(base machine)`, so a difference is always reached by operations the base model
offers. After each operation the two outcomes are compared:

- the observable of each result (`observe()`, defined once): for an allocation the block or NULL,
  its node and its zone; for a system call, a cpuset write or an isolation the return value (0 or
  -errno) and what it reported; for every operation the events it caused (kind and details). An
  operation that one model refuses (ModelError: not enabled there) and the other runs is a
  difference; one refused by both is not a transition. A model that crashes (any other exception)
  is observed as a crash of that exception type, and an operation still running after the
  scenario's `op_budget` (checks/watchdog.py) as a crash of type ModelHang;
- the verdict of every invariant of `all_properties()`, judged on each model: an invariant violated
  in one and not the other is a difference (one violated in both is not).

Breadth-first order makes the first difference found a shortest one. It is then shrunk the way
counterexamples are (checks/shrink.py's order of simplicity): operations removed, a smaller machine
for the buddy-core preset (fewer pages), smaller operations of the same kind; every candidate must
still show a difference at its last step. Nothing found means the two models are equivalent up to
the bound, and the report says which bound: the depth reached, whether the pair state space was
exhausted, and how many pairs of states were seen (or that --max-states or an interrupt stopped it).

Not observed: the reason text of a NULL allocation (the kernel returns only NULL), statistics, and
the state itself (two models may keep different bookkeeping; only what a caller or an invariant
can see counts). Operations the head model would offer and the base model does not (a free of a
block only the head allocated) are not explored; such a state is reached only after an earlier
step already differed.
"""

import time
from dataclasses import dataclass, field

from buddycheck.model import Kernel419
from buddycheck.model.errors import ModelError
from buddycheck.model.results import AllocResult, OpResult, SyscallResult
from buddycheck.model.variants import VARIANTS

from .level import trace_to
from .naming import import_code, machine_expression, object_reference, op_expr, operation_imports, resolve_reference
from .ops import is_operation, nodes_code
from .properties import all_properties
from .report import peak_rss_mb
from .scenario import Scenario
from .shrink import machine_key, op_key, smaller_machines
from .trace_error import TraceError
from .trace_json import op_to_dict
from .watchdog import DEFAULT_OP_BUDGET, watch

# ---- the observable of one operation, defined once ------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What a caller can see of one operation's outcome; two outcomes differ when these differ.

    status: "ok", "refused" (the model raised ModelError: the operation is not enabled there) or
    "crash" (any other exception). block/node/zone: an allocation's pfn (None for NULL), node and
    zone index. ret: a system call's, cpuset write's or isolation's return value. reported: what
    get_mempolicy wrote (policy, nodes). events: (kind, details) of every event, in order.
    error: the exception class of a refused or crashed operation; `detail` (its message) is shown
    but not compared.
    """

    status: str
    block: int | None = None
    node: int | None = None
    zone: int | None = None
    ret: int | None = None
    reported: tuple | None = None
    events: tuple = ()
    error: str | None = None
    detail: str = field(default="", compare=False)


OBSERVED_FIELDS = ("status", "block", "node", "zone", "ret", "reported", "events", "error")


def observe(outcome):
    """The Observation of an operation's outcome: its result object, or the exception it raised."""
    if isinstance(outcome, ModelError):
        return Observation("refused", error=type(outcome).__name__, detail=str(outcome))
    if isinstance(outcome, BaseException):
        return Observation("crash", error=type(outcome).__name__, detail=str(outcome))
    events = tuple((e.kind, tuple(e.detail)) for e in getattr(outcome, "events", ()))
    if isinstance(outcome, AllocResult):
        return Observation("ok", block=outcome.page, node=outcome.nid, zone=outcome.zone_idx, events=events)
    if isinstance(outcome, SyscallResult):
        nodes = None if outcome.nodes is None else tuple(sorted(outcome.nodes))
        reported = None if outcome.policy is None and nodes is None else (outcome.policy, nodes)
        return Observation("ok", ret=outcome.ret, reported=reported, events=events)
    if isinstance(outcome, OpResult):
        return Observation("ok", ret=outcome.value, events=events)
    return Observation("ok", reported=(str(outcome),), events=events)


def differing_fields(a, b):
    """The names of the observed fields in which two observations differ.

    When only one model refused the operation the answer is ["enabled"]; when the statuses differ
    otherwise (one crashed) it is ["status"]: the other fields of a refusal or crash mean nothing.
    """
    if a.status != b.status:
        return ["enabled"] if "refused" in (a.status, b.status) else ["status"]
    return [name for name in OBSERVED_FIELDS if getattr(a, name) != getattr(b, name)]


def outcome_text(outcome):
    """How an outcome prints: the result's own text, or the refusal or crash with its message."""
    if isinstance(outcome, ModelError):
        return f"refused: {type(outcome).__name__}: {outcome}"
    if isinstance(outcome, BaseException):
        return f"CRASH: {type(outcome).__name__}: {outcome}"
    return " ".join(str(outcome).split())


# ---- one operation on both models -------------------------------------------------------------------


def judge(props, before, op, result, m, per_state=True):
    """(name, first message) of every property violated by this transition (state ones only if per_state)."""
    out = []
    for p in props:
        if not per_state and getattr(p, "per_state", False):
            continue
        messages = p.violations(before, op, result, m)
        if messages:
            out.append((p.name, messages[0]))
    return tuple(out)


def apply_op(op, m, budget=DEFAULT_OP_BUDGET):
    """(outcome, Observation) of op on m: the result, or the exception it raised (ModelHang past the budget)."""
    try:
        with watch(budget):
            outcome = op.apply(m)
    except Exception as e:  # ModelError: not enabled here; anything else: the model crashed or hung
        return e, observe(e)
    return outcome, observe(outcome)


@dataclass(frozen=True)
class Side:
    """One model's outcome of one step: the observation, the printed result, the invariants violated."""

    observation: Observation
    text: str
    violations: tuple = ()  # ((invariant, message), ...)

    @property
    def violated(self):
        return tuple(sorted({name for name, _ in self.violations}))


@dataclass(frozen=True)
class StepPair:
    """One operation applied to both models (index 0-based; -1 for the initial state's invariants)."""

    index: int
    op: object
    base: Side
    head: Side

    @property
    def fields(self):
        """What differs: observed fields, and "invariants" when the verdicts differ."""
        out = differing_fields(self.base.observation, self.head.observation)
        if self.base.violated != self.head.violated:
            out.append("invariants")
        return tuple(out)

    @property
    def differs(self):
        return bool(self.fields)

    @property
    def enabled_somewhere(self):
        return "refused" not in (self.base.observation.status, self.head.observation.status) or \
            self.base.observation.status != self.head.observation.status


def step_pair(index, op, mb, mh, props_b, props_h, before_b, before_h, per_state=True, budget=DEFAULT_OP_BUDGET):
    """Apply op to both machines (each in its `before` state already) and compare the outcomes.

    Invariants are judged only on a model that ran the operation; with per_state False only the
    step invariants are (see `judged()`).
    """
    rb, ob = apply_op(op, mb, budget)
    rh, oh = apply_op(op, mh, budget)
    return judged(StepPair(index, op, Side(ob, outcome_text(rb)), Side(oh, outcome_text(rh))),
                  (rb, mb, props_b, before_b), (rh, mh, props_h, before_h), per_state)


def judged(pair, base, head, per_state):
    """The pair with each side's violated invariants added; base/head are (outcome, machine, props, before)."""
    sides = []
    for side, (outcome, m, props, before) in ((pair.base, base), (pair.head, head)):
        if side.observation.status == "ok":
            side = Side(side.observation, side.text, judge(props, before, pair.op, outcome, m, per_state))
        sides.append(side)
    return StepPair(pair.index, pair.op, *sides)


def initial_pair(mb, mh, props_b, props_h):
    """The state invariants' verdicts on the two initial states, as a StepPair of index -1."""
    vb = judge([p for p in props_b if getattr(p, "per_state", False)], None, None, None, mb)
    vh = judge([p for p in props_h if getattr(p, "per_state", False)], None, None, None, mh)
    ok = Observation("ok")
    return StepPair(-1, None, Side(ok, "initial state", vb), Side(ok, "initial state", vh))


# ---- the difference and the report --------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """The operations from the initial state and both models' outcome at each; the last step differs.

    An empty trace means the initial states already differ in an invariant's verdict (`initial`).
    """

    trace: tuple
    steps: tuple  # StepPair per operation
    initial: StepPair | None = None
    scenario: Scenario | None = field(default=None, compare=False, repr=False)

    @property
    def length(self):
        return len(self.trace)

    @property
    def last(self):
        return self.steps[-1] if self.steps else self.initial

    @property
    def fields(self):
        return self.last.fields

    def summary(self):
        last = self.last
        where = "in the initial state" if not self.steps else f"at step {self.length}"
        return f"{where}: {', '.join(last.fields)} differ"


@dataclass
class DiffReport:
    """What a diff found and how far it searched (pairs of states, not single states)."""

    base: str
    head: str
    scenario: str
    depth_bound: int
    max_states: int
    reachable_states: int = 0  # distinct pairs (base state, head state)
    transitions: int = 0
    depth: int = 0
    complete: bool = False
    stopped_by: str | None = None  # "difference", "max_states", "interrupt", or None
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    difference: Difference | None = None
    found: Difference | None = None  # the breadth-first difference before shrinking
    notes: tuple = ()

    @property
    def equivalent(self):
        """No difference, and the search ran to its depth bound or to exhaustion."""
        return self.difference is None and self.stopped_by is None

    def bound_text(self):
        """Which bound the search reached, in words."""
        if self.stopped_by == "difference":
            return "stopped at the first difference"
        if self.stopped_by == "max_states":
            return f"stopped by --max-states ({self.max_states} pairs of states) after depth {self.depth}"
        if self.stopped_by == "interrupt":
            return f"interrupted at depth {self.depth}"
        if self.stopped_by == "time":
            return (f"stopped by its share of the time: every sequence of up to {self.depth} operations, "
                    f"and some of {self.depth + 1}")
        if self.complete:
            return f"exhausted: every reachable pair of states seen, deepest after {self.depth} operation(s)"
        return f"bounded at depth {self.depth_bound}: every sequence of up to {self.depth_bound} operations"


# ---- replay and search -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairReplay:
    """A trace replayed on both models: every step, the first differing one, or where it stopped being offered."""

    steps: tuple
    initial: StepPair
    first: int | None = None  # index of the first differing step; -1 for the initial state
    disabled: str | None = None


def replay_pair(base_sc, head_sc, trace, *, stop_at_first=True):
    """Replay trace on both models from their initial states, judging every invariant at every step.

    Each operation must be offered by `base_sc.actions()` in the base machine's state and run on at
    least one model; otherwise the replay stops and says why in `disabled`.
    """
    mb, mh = base_sc.initial(), head_sc.initial()
    props_b, props_h = all_properties(), all_properties()
    init = initial_pair(mb, mh, props_b, props_h)
    if init.differs and stop_at_first:
        return PairReplay((), init, -1)
    steps, first = [], (-1 if init.differs else None)
    for i, op in enumerate(trace):
        if op not in base_sc.actions(mb):
            return PairReplay(tuple(steps), init, first, f"step {i + 1} ({op.code()}) is not offered here")
        sb, sh = mb.freeze(), mh.freeze()
        pair = step_pair(i, op, mb, mh, props_b, props_h, sb, sh, budget=base_sc.op_budget)
        if not pair.enabled_somewhere:
            return PairReplay(tuple(steps), init, first, f"step {i + 1} ({op.code()}) is refused by both models")
        steps.append(pair)
        if pair.differs and first is None:
            first = i
            if stop_at_first:
                break
    return PairReplay(tuple(steps), init, first)


def reproduce(base_sc, head_sc, trace):
    """The Difference that trace shows (cut after its first differing step), or None."""
    run = replay_pair(base_sc, head_sc, tuple(trace))
    if run.disabled is not None or run.first is None:
        return None
    n = run.first + 1
    return Difference(tuple(trace[:n]), run.steps[:n], run.initial, base_sc)


def search(base_sc, head_sc, depth, max_states, report, progress=None, deadline=None, coverage=None):
    """Breadth-first search over pairs of states; the first difference (a shortest one) or None.

    Fills `report` (pairs seen, transitions, depth, complete, stopped_by) as the explorer fills its report.
    `deadline` (time.perf_counter() value) ends the search between two pairs, as a bound on its depth;
    `coverage` (checks/coverage.py ModelCoverage) counts the head model's calls.
    """
    start = time.perf_counter()
    last_tick = start
    mb = base_sc.initial()  # a base that cannot boot is a bad base: its error propagates
    try:
        mh = head_sc.initial(prepare=None if coverage is None else coverage.count_calls)
    except ModelError:
        raise
    except Exception as e:  # the head crashed or hung while booting or in the setup: a difference of length 0
        report.stopped_by = "difference"
        ok = Observation("ok")
        return Difference((), (), StepPair(-1, None, Side(ok, "initial state"), Side(observe(e), outcome_text(e))),
                          base_sc)
    props_b, props_h = all_properties(), all_properties()
    init = (mb.freeze(), mh.freeze())
    parent = {init: None}
    frontier = [init]
    report.reachable_states = 1
    first = initial_pair(mb, mh, props_b, props_h)
    if first.differs:
        report.stopped_by = "difference"
        return Difference((), (), first, base_sc)
    try:
        for level in range(depth):
            next_frontier = []
            for pair in frontier:
                if deadline is not None and time.perf_counter() > deadline:
                    report.stopped_by = "time"
                    report.depth = level
                    return None
                sb, sh = pair
                mb.restore(sb)
                for op in base_sc.actions(mb):
                    mb.restore(sb)
                    mh.restore(sh)
                    rb, ob = apply_op(op, mb, base_sc.op_budget)
                    rh, oh = apply_op(op, mh, base_sc.op_budget)
                    step = StepPair(level, op, Side(ob, ""), Side(oh, ""))
                    if not step.enabled_somewhere:
                        continue  # refused by both: not enabled here
                    report.transitions += 1
                    ok = ob.status == "ok" and oh.status == "ok"
                    new = (mb.freeze(), mh.freeze()) if ok else None
                    fresh = new is not None and new not in parent
                    # state invariants are judged once per distinct pair, as the explorer judges them
                    step = judged(step, (rb, mb, props_b, sb), (rh, mh, props_h, sh), fresh)
                    if step.differs:
                        report.stopped_by = "difference"
                        report.depth = level + 1
                        trace = trace_to(parent, pair) + (op,)
                        return reproduce(base_sc, head_sc, trace) or Difference(trace, (step,), None, base_sc)
                    if fresh:
                        parent[new] = (pair, op)
                        next_frontier.append(new)
                        report.reachable_states += 1
                        if report.reachable_states >= max_states:
                            report.stopped_by = "max_states"
                            report.depth = level + 1
                            return None
                if progress is not None:
                    now = time.perf_counter()
                    if now - last_tick > 0.5:
                        last_tick = now
                        report.seconds = now - start
                        report.depth = level
                        progress(report)
            if not next_frontier:
                report.complete = True
                report.depth = level
                return None
            frontier = next_frontier
            report.depth = level + 1
        return None
    except KeyboardInterrupt:
        report.stopped_by = "interrupt"
        return None


# ---- shrinking ------------------------------------------------------------------------------------------


def _key(difference):
    return (difference.length, *machine_key(difference.scenario.topology),
            tuple(op_key(op) for op in difference.trace))


def _remove_ops(base_sc, head_sc, current):
    changed = True
    while changed:
        changed = False
        for i in range(current.length):
            found = reproduce(base_sc, head_sc, current.trace[:i] + current.trace[i + 1:])
            if found is not None:
                current, changed = found, True
                break
    return current


def _simplify_ops(base_sc, head_sc, current):
    changed = True
    while changed:
        changed = False
        m = base_sc.initial()
        for i, op in enumerate(current.trace):
            key = op_key(op)
            offered = sorted((a for a in base_sc.actions(m) if type(a) is type(op) and op_key(a) < key), key=op_key)
            for candidate in offered:
                found = reproduce(base_sc, head_sc, current.trace[:i] + (candidate,) + current.trace[i + 1:])
                if found is not None and found.length <= current.length:
                    current, changed = found, True
                    break
            if changed:
                break
            try:
                op.apply(m)
            except ModelError:  # the base model refuses the last step (the head runs it): nothing follows
                break
    return current


def _smaller_machine(base_sc, head_cls, current, max_states, notes):
    candidates = smaller_machines(base_sc)
    best_sc, best = base_sc, current
    for candidate in candidates:
        longest = best.length
        if machine_key(candidate.topology) >= machine_key(best_sc.topology):
            longest -= 1
        if longest < 1:
            break
        probe = DiffReport(base_sc.model.NAME, head_cls.NAME, candidate.name, longest, max_states)
        try:
            found = search(candidate, candidate.with_model(head_cls), longest, max_states, probe)
        except Exception as e:  # a model that cannot boot the smaller machine: not a smaller difference
            notes.append(f"{candidate.topology.name}: booting it raised {type(e).__name__}; skipped")
            continue
        if found is not None:
            best_sc, best = candidate, found
        elif probe.stopped_by == "interrupt":
            notes.append(f"interrupted while searching {candidate.topology.name}: later machines not tried")
            break
        elif probe.stopped_by is not None:
            notes.append(f"{candidate.topology.name}: search stopped by {probe.stopped_by} at depth "
                         f"{probe.depth} without a difference; skipped")
    return best_sc, best


def shrink_difference(base_sc, head_cls, difference, *, max_states=200_000):
    """The simplest difference (fewest operations, then the smallest machine, then the smallest operations).

    Returns (Difference, notes). Only buddy-core machines are made smaller (checks/shrink.py decides
    which machines are smaller); the difference keeps the scenario it was found on in `.scenario`.
    """
    notes = []
    if not difference.trace:
        return difference, notes
    head_sc = base_sc.with_model(head_cls)
    current = _remove_ops(base_sc, head_sc, difference)
    sc, current = _smaller_machine(base_sc, head_cls, current, max_states, notes)
    head_sc = sc.with_model(head_cls)
    while True:
        before = _key(current)
        current = _simplify_ops(sc, head_sc, _remove_ops(sc, head_sc, current))
        if _key(current) == before:
            break
    return current, notes


# ---- the entry point ------------------------------------------------------------------------------------


def diff(base_cls, head_cls, scenario, depth=None, max_states=None, *, shrink=True, progress=None, seconds=None,
         coverage=None):
    """Explore base_cls and head_cls on scenario's operations; a DiffReport with the simplest difference.

    depth and max_states default to the scenario's. The scenario's own model is ignored: both
    models run the same machine, setup and operations. `seconds` bounds the search's time (then the
    depth every sequence reached is the bound); `coverage` measures the search (checks/coverage.py).
    """
    depth = scenario.depth if depth is None else depth
    max_states = scenario.max_states if max_states is None else max_states
    base_sc, head_sc = scenario.with_model(base_cls), scenario.with_model(head_cls)
    report = DiffReport(base_cls.NAME, head_cls.NAME, scenario.name, depth, max_states)
    start = time.perf_counter()
    deadline = None if seconds is None else start + seconds
    try:
        if coverage is not None:
            coverage.start()
        try:
            found = search(base_sc, head_sc, depth, max_states, report, progress, deadline, coverage)
        finally:
            if coverage is not None:
                coverage.stop()
        report.found = found
        report.difference = found
        if found is not None and shrink:
            try:
                report.difference, notes = shrink_difference(base_sc, head_cls, found)
                report.notes = tuple(notes)
            except KeyboardInterrupt:
                report.notes = ("shrinking interrupted: the breadth-first difference is shown",)
    finally:
        report.seconds = time.perf_counter() - start
        report.peak_memory_mb = peak_rss_mb()
    return report


# ---- printing -------------------------------------------------------------------------------------------


def _fmt_violations(side):
    return ", ".join(side.violated) or "none"


def report_lines(report, scenario):
    """The report as text: what was compared, the bound, and the difference side by side."""
    lines = [f"diff {report.base} -> {report.head} on scenario {scenario.name}: {scenario.description}".rstrip(": "),
             f"  {report.reachable_states} distinct pairs of states, {report.transitions} transitions, "
             f"depth {report.depth}, {report.bound_text()}",
             f"  {report.seconds:.2f} s, peak memory {report.peak_memory_mb:.0f} MB"]
    d = report.difference
    if d is None:
        if report.stopped_by is None:
            lines.append(f"  no difference: {report.base} and {report.head} are equivalent up to this bound "
                         "(results, events, errors and invariant verdicts)")
        else:
            lines.append("  no difference found before the search stopped: INCONCLUSIVE")
        return lines
    lines.append("")
    lines.append(f"DIFFERENCE after {d.length} operation(s) {d.summary()}")
    if d.scenario is not None and d.scenario.topology != scenario.topology:
        lines.append(f"  (on a smaller machine: {d.scenario.topology.name})")
    lines += side_by_side(report, d)
    for note in report.notes:
        lines.append(f"  note: {note}")
    return lines


def side_by_side(report, d):
    """Each step's operation with both results; the differing step shows every differing field."""
    width = max(len(report.base), len(report.head), len("violated"))
    lines = []
    if d.initial is not None and d.initial.differs:
        lines.append("  initial state invariants:")
        lines.append(f"    {report.base:<{width}} : {_fmt_violations(d.initial.base)}")
        lines.append(f"    {report.head:<{width}} : {_fmt_violations(d.initial.head)}")
    for step in d.steps:
        mark = "!" if step.differs else " "
        lines.append(f"{mark} step {step.index + 1}: {step.op.code()}")
        if not step.differs:
            lines.append(f"    {'both':<{width}} : {step.base.text}")
            continue
        lines.append(f"    {report.base:<{width}} : {step.base.text}")
        lines.append(f"    {report.head:<{width}} : {step.head.text}")
        if "invariants" in step.fields:
            lines.append(f"    {'violated':<{width}} : {report.base}: {_fmt_violations(step.base)}; "
                         f"{report.head}: {_fmt_violations(step.head)}")
            for who, side in ((report.base, step.base), (report.head, step.head)):
                for name, message in side.violations:
                    lines.append(f"    {'':<{width}}   {who}: {name}: {' '.join(str(message).split())}")
        lines.append(f"    {'differs':<{width}} : {', '.join(step.fields)}")
    return lines


# ---- the difference as a program --------------------------------------------------------------------------


PROGRAM_RUN = '''


def run(Model):
    """Replay TRACE on a fresh machine of Model: (outcome, invariants violated) per step."""
    m = Model({machine})
{setup}    props = all_properties()
    out = []
    for op in TRACE:
        before = m.freeze()
        try:
            result = op.apply(m)
        except Exception as e:  # a refusal (ModelError) or a crash is an outcome too
            out.append((e, ()))
            continue
        out.append((result, tuple(sorted({{p.name for p in props if p.violations(before, op, result, m)}}))))
    return out


for step, (op, (b, vb), (h, vh)) in enumerate(zip(TRACE, run(Base), run(Head)), 1):
    same = observe(b) == observe(h) and vb == vh
    print(f"{{'  ' if same else '! '}}step {{step}}: {{op}}")
    print(f"    {{Base.NAME}}: {{b}}" + (f"  violates {{', '.join(vb)}}" if vb else ""))
    print(f"    {{Head.NAME}}: {{h}}" + (f"  violates {{', '.join(vh)}}" if vh else ""))
'''


def _setup_line(op):
    if is_operation(op):
        return f"    {op.code()}\n"
    if hasattr(op, "tid") and hasattr(op, "mems"):  # scenario files' task setup step
        return f"    m.add_task({op.tid!r}, {nodes_code(op.mems)})\n"
    raise TraceError(f"setup step {op!r}: no code to print it with")


def format_difference_program(d, base_cls, head_cls, *, base_ref=None, head_ref=None):
    """The difference as a runnable Python program: it replays the trace on both models side by side.

    Each step's results are in the comments; running it prints both outcomes per step and marks the
    steps whose observable (buddycheck.checks.diff.observe) or invariant verdicts differ.
    """
    sc = d.scenario
    machine_import, machine = machine_expression(sc)
    refs = [("Base", object_reference(base_cls, base_ref)), ("Head", object_reference(head_cls, head_ref))]
    op_imports, op_bindings = operation_imports(d.trace)
    refs += op_bindings
    ops_used = tuple(d.trace) + tuple(op for op in sc.setup if is_operation(op))
    imports = [machine_import]
    if any(op.allocates for op in ops_used):
        imports.append("from buddycheck.model import gfp as G")
    if any("Environment(" in op_expr(op) for op in d.trace):
        imports.append("from buddycheck.model.environment import Environment")
    imports += op_imports
    imports += ["from buddycheck.checks.diff import observe", "from buddycheck.checks.properties import all_properties"]
    title = f"Difference between {base_cls.NAME} and {head_cls.NAME} after {d.length} operation(s)"
    lines = [f'"""{title} (scenario {sc.name}): {d.summary()}.', "",
             "Replays the operations on a fresh machine of each model and prints both outcomes per step;",
             "'!' marks a step whose observable result or invariant verdicts differ.", '"""', ""]
    lines += import_code(refs, imports)
    lines += ["", "TRACE = ("]
    for step in d.steps:
        lines.append(f"    {op_expr(step.op)},")
        if step.differs:
            lines.append(f"    # step {step.index + 1} differs ({', '.join(step.fields)}):")
            lines.append(f"    #   {base_cls.NAME}: {step.base.text}")
            lines.append(f"    #   {head_cls.NAME}: {step.head.text}")
        else:
            lines.append(f"    # step {step.index + 1} -> {step.base.text}")
    lines.append(")")
    setup = "".join(_setup_line(op) for op in sc.setup)
    text = "\n".join(lines) + PROGRAM_RUN.format(machine=machine.replace("\n", "\n    "), setup=setup)
    compile(text, "<difference program>", "exec")
    return text


def difference_document(report, scenario, base_cls, head_cls):
    """The report as a JSON-ready dict (what `buddycheck diff --json` prints)."""
    def ref(cls):
        try:
            return object_reference(cls)
        except TraceError:
            return None

    doc = {
        "base": {"name": report.base, "ref": ref(base_cls)},
        "head": {"name": report.head, "ref": ref(head_cls)},
        "scenario": scenario.name,
        "params": scenario.params,
        "depth_bound": report.depth_bound,
        "max_states": report.max_states,
        "depth": report.depth,
        "complete": report.complete,
        "stopped_by": report.stopped_by,
        "pair_states": report.reachable_states,
        "transitions": report.transitions,
        "seconds": round(report.seconds, 3),
        "equivalent": report.equivalent,
        "bound": report.bound_text(),
        "difference": None,
        "notes": list(report.notes),
    }
    d = report.difference
    if d is not None:
        def side(s):
            o = s.observation
            return {"result": s.text, "status": o.status, "block": o.block, "node": o.node, "zone": o.zone,
                    "ret": o.ret, "reported": o.reported, "events": [[k, dict(v)] for k, v in o.events],
                    "error": o.error, "violated": list(s.violated)}

        doc["difference"] = {
            "length": d.length,
            "fields": list(d.fields),
            "topology": d.scenario.topology.name if d.scenario is not None else None,
            "ops": [op_to_dict(op) for op in d.trace],
            "steps": [{"step": s.index + 1, "op": s.op.code(), "differs": list(s.fields),
                       "base": side(s.base), "head": side(s.head)} for s in d.steps],
            "initial": None if d.steps else {"base": side(d.initial.base), "head": side(d.initial.head)},
        }
    return doc


def resolve_model(name):
    """A model class from a variant name (model.variants.VARIANTS) or a 'module:NAME' / 'file.py:NAME' reference.

    Raises TraceError (a ModelError) naming the known variants when the name is neither.
    """
    if name in VARIANTS:
        return VARIANTS[name]
    known = ", ".join(VARIANTS)
    if ":" not in name:
        raise TraceError(f"unknown variant {name!r}; the known variants are: {known} "
                         "(or a reference 'module:NAME' or '/path/file.py:NAME' to a Kernel419 subclass)")
    model = resolve_reference(name)
    if not (isinstance(model, type) and issubclass(model, Kernel419)):
        raise TraceError(f"{name}: {model!r} is not a model class (a Kernel419 variant); "
                         f"the known variants are: {known}")
    return model
