"""`buddycheck diff`: the shortest sequence of operations after which two models behave differently.

`diff(base_cls, head_cls, scenario, depth, max_states)` explores the pair of models as one model
(checks/pair.py): a `PairScenario` whose machine runs each operation on both models and whose
state is the pair of frozen states (base state, head state). The explorer (checks/explore.py)
searches it breadth-first for a violation of the pair's property that the two models behave alike
(checks/pair_property.py): after each operation the observables of the two outcomes are compared
(checks/observation.py: results, events, a refusal or a crash or hang of one model only), and the
verdicts of every invariant of `all_properties()`, judged on each model (one violated in one and
not the other is a difference). The operations come from the base scenario, in the base machine's
state, so a difference is always reached by operations the base model offers.

Breadth-first order makes the first difference found a shortest one, and the explorer gives the
search its workers, progress, time limit and coverage. The difference is then shrunk as every
counterexample is (checks/shrink.py's `shrink()`, with the pair scenario and the difference
property): operations removed, a smaller machine for the buddy-core preset (fewer pages), smaller
operations of the same kind; every candidate must still show a difference at its last step.
Nothing found means the two models are equivalent up to the bound, and the report says which
bound: the depth reached, whether the pair state space was exhausted, and how many pairs of states
were seen (or that --max-states, the time limit or an interrupt stopped it).

Not observed: the reason text of a NULL allocation, statistics, and the state itself (two models
may keep different bookkeeping; only what a caller or an invariant can see counts).
"""

import time
from dataclasses import dataclass, field

from buddycheck.model import Kernel419
from buddycheck.model.variants import VARIANTS

from .explore import Explorer
from .naming import import_code, machine_expression, object_reference, op_expr, operation_imports, resolve_reference
from .observation import OBSERVED_FIELDS, Observation, differing_fields, observe, outcome_text  # noqa: F401  (API)
from .ops import is_operation, name_imports, nodes_code
from .pair import PairScenario
from .pair_property import PairVerdicts, Side, StepPair, pair_properties  # noqa: F401  (this module's API)
from .replay import NOT_OFFERED, replay
from .report import peak_rss_mb
from .scenario import Scenario
from .shrink import ShrinkError
from .shrink import shrink as shrink_violation
from .trace_error import TraceError
from .trace_json import op_to_dict

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


# ---- replay -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairReplay:
    """A trace replayed on both models: every step, the first differing one, or where it stopped being offered."""

    steps: tuple
    initial: StepPair
    first: int | None = None  # index of the first differing step; -1 for the initial state
    disabled: str | None = None


class _Steps:
    """A property for trace.replay that keeps every step as a StepPair judged on every invariant."""

    name = "steps_differ"

    def __init__(self, verdicts):
        self.verdicts = verdicts
        self.steps = []

    def violations(self, before, op, result, m, after=None):
        step = self.verdicts.step_pair(len(self.steps), op, result, m, before)
        self.steps.append(step)
        return ["the models differ"] if step.differs else []


def pair_replay(pair, trace, *, stop_at_first=True):
    """Replay trace on a PairScenario, judging every invariant of both models at every step.

    Each operation must be offered by the base scenario in the base machine's state and run on at
    least one model; otherwise the replay stops and says why in `disabled`.
    """
    verdicts = PairVerdicts()
    init = verdicts.initial_pair(pair.initial())
    if init.differs and stop_at_first:
        return PairReplay((), init, -1)
    record = _Steps(verdicts)
    run = replay(pair, tuple(trace), [record], stop_at_first=stop_at_first)
    first = -1 if init.differs else next((s.index for s in record.steps if s.differs), None)
    disabled = None
    if run.disabled is not None:
        d = run.disabled
        why = "is not offered here" if d.reason == NOT_OFFERED else "is refused by both models"
        disabled = f"step {d.index + 1} ({d.op.code()}) {why}"
    return PairReplay(tuple(record.steps), init, first, disabled)


def replay_pair(base_sc, head_sc, trace, *, stop_at_first=True):
    """`pair_replay()` of the pair (base_sc, head_sc's model) on base_sc's machine and operations."""
    return pair_replay(PairScenario(base_sc, head_sc.model), trace, stop_at_first=stop_at_first)


def difference_of(pair, trace):
    """The Difference that trace shows on a PairScenario (cut after its first differing step), or None."""
    run = pair_replay(pair, tuple(trace))
    if run.disabled is not None or run.first is None:
        return None
    n = run.first + 1
    return Difference(tuple(trace[:n]), run.steps[:n], run.initial, pair.base)


# ---- the entry point ------------------------------------------------------------------------------------


STOPPED_BY = {"violation": "difference"}  # the explorer's words for the pair's stops, where they differ


def diff(base_cls, head_cls, scenario, depth=None, max_states=None, *, shrink=True, progress=None, seconds=None,
         coverage=None, workers=1):
    """Explore base_cls and head_cls on scenario's operations; a DiffReport with the simplest difference.

    depth and max_states default to the scenario's. The scenario's own model is ignored: both
    models run the same machine, setup and operations. `seconds` bounds the search's time (then the
    depth every sequence reached is the bound); `coverage` measures the search (checks/coverage.py),
    counting the head model's kernel calls; `workers` expands large levels in forked processes (the
    result is the same as with one).
    """
    depth = scenario.depth if depth is None else depth
    max_states = scenario.max_states if max_states is None else max_states
    pair = PairScenario(scenario.with_model(base_cls), head_cls)
    report = DiffReport(base_cls.NAME, head_cls.NAME, scenario.name, depth, max_states)
    start = time.perf_counter()
    props = pair_properties()
    explorer = Explorer(pair).check(*props).depth(depth).max_states(max_states).workers(workers)
    explorer.time_limit(seconds)
    if progress is not None:
        explorer.progress(progress)
    if coverage is not None:
        explorer.coverage(coverage)
    try:
        searched = explorer.run()
        for name in ("reachable_states", "transitions", "depth", "complete"):
            setattr(report, name, getattr(searched, name))
        report.stopped_by = STOPPED_BY.get(searched.stopped_by, searched.stopped_by)
        if searched.violations:
            report.found = report.difference = _found(pair, searched.violations[0], report)
            if shrink and report.found.trace:
                _shrink_into(report, pair, searched.violations[0], props)
    finally:
        report.seconds = time.perf_counter() - start
        report.peak_memory_mb = peak_rss_mb()
    return report


def _found(pair, violation, report):
    """The search's difference replayed step by step; as the search saw it if the replay does not show it."""
    found = difference_of(pair, violation.trace)
    if found is None:  # a hang near its budget, say: the search's verdict stands, without the steps' details
        run = pair_replay(pair, violation.trace, stop_at_first=False)
        report.notes += (f"the difference ({violation.message}) did not show again when replayed",)
        found = Difference(tuple(violation.trace), run.steps, run.initial, pair.base)
    return found


def _shrink_into(report, pair, violation, props):
    """report.difference and report.notes from shrinking the search's difference (checks/shrink.py)."""
    try:
        shrunk = shrink_violation(pair, violation, props)
    except KeyboardInterrupt:
        report.notes += ("shrinking interrupted: the breadth-first difference is shown",)
        return
    except ShrinkError as e:
        report.notes += (f"not shrunk: {e}",)
        return
    smaller = difference_of(shrunk.scenario, shrunk.trace)
    if smaller is not None:
        report.difference = smaller
    report.notes += tuple(shrunk.notes)


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


def setup_line(op):
    """A setup step as a line of printed code (indented four spaces, ending the line)."""
    if is_operation(op):
        return f"    {op.code()}\n"
    if hasattr(op, "tid") and hasattr(op, "mems"):  # scenario files' task setup step
        return f"    m.add_task({op.tid!r}, {nodes_code(op.mems)})\n"
    raise TraceError(f"setup step {op!r}: no code to print it with")


def format_difference_program(d, base_cls, head_cls, *, base_ref=None, head_ref=None):
    """The difference as a runnable Python program: it replays the trace on both models side by side.

    Each step's results are in the comments; running it prints both outcomes per step and marks the
    steps whose observable (buddycheck.checks.observation.observe) or invariant verdicts differ.
    """
    sc = d.scenario
    machine_import, machine = machine_expression(sc)
    refs = [("Base", object_reference(base_cls, base_ref)), ("Head", object_reference(head_cls, head_ref))]
    op_imports, op_bindings = operation_imports(d.trace)
    refs += op_bindings
    imports = [machine_import]
    imports += name_imports([machine, *(op.code() for op in sc.setup if is_operation(op)), *map(op_expr, d.trace)])
    if any("Environment(" in op_expr(op) for op in d.trace):
        imports.append("from buddycheck.model.environment import Environment")
    imports += op_imports
    imports += ["from buddycheck.checks.observation import observe",
                "from buddycheck.checks.properties import all_properties"]
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
    setup = "".join(setup_line(op) for op in sc.setup)
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
