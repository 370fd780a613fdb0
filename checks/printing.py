"""Printing counterexamples: as a runnable program, and as a pytest file that fails until the bug is fixed.

- `format_program()` prints a trace as a Python program that rebuilds the machine and replays
  every operation, with the result and the per-zone block map (checks/render.py) as comments; its
  last statement raises the violation (AssertionError with the invariant's message), so running it
  exits non-zero while it shows one.
- `emit_pytest()` writes a pytest file that asserts the invariant along the counterexample (see its
  docstring), like a Hypothesis reproducer: it fails while the bug is there, passes once fixed.
  An invariant a scenario file declares is loaded from that file in the test (`scenario_invariant`).
  (The test of a difference between two models is checks/difference_pytest.py's.)

A model that crashes or hangs (checks/failure.py): the printed program runs the operations and its
last statement raises (a hang runs inside the watchdog, which stops it with ModelHang); the written
test asserts every operation runs. How the machine, the model and the properties are named
in the printed code is checks/naming.py's.
"""

import os
import textwrap

from buddycheck.model.environment import IDLE
from buddycheck.model.results import once_each

from .atomic_file import write_atomic  # noqa: F401  (where the printed files are written)
from .explore import HANG
from .naming import import_code, machine_expression, model_binding, object_reference, op_expr, operation_imports
from .ops import name_imports
from .properties import all_properties, property_named
from .render import machine_picture
from .replay import replay
from .report import FAILURE_KINDS
from .scenario_file import scenario_invariant
from .trace_error import TraceError

CATALOGUE_NAMES = frozenset(p.name for p in all_properties())  # what property_named() can rebuild


def doc_text(text):
    """Text that can sit inside a triple-quoted docstring."""
    return str(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def one_line(text):
    return " ".join(str(text).split())


def _zone_lines(m):
    return machine_picture(m, indent="").splitlines()


def _comment(lines, indent="#   "):
    return [indent + line for line in lines]


def _replayed(scenario, trace, properties):
    result = replay(scenario, trace, properties)
    if result.disabled is not None:
        raise TraceError(f"cannot replay the trace on {scenario.name}: {result.disabled}")
    return result


def _ending(violation, result):
    """The last lines: the machine printed, then the violation raised, so running the program exits non-zero."""
    found = violation if violation is not None else result.first_violation
    if found is None:
        return ["# no property was violated by this trace", "", "print(machine_picture(m))", ""]
    message = f"{one_line(found.invariant)}: {one_line(found.message)}"
    return ([f"# violated: {one_line(found.invariant)}"] + _comment(str(found.message).splitlines(), "#   ")
            + ["", "print(machine_picture(m))", f"raise AssertionError({message!r})", ""])


def step_comments(scenario, result):
    """Per step: the result and the zones whose block map or counts changed (all zones at the start)."""
    m = scenario.initial()
    m.restore(result.initial_state)
    before = _zone_lines(m)
    out = [["# initial state:"] + _comment(before)]
    for step in result.steps:
        m.restore(step.state)
        after = _zone_lines(m)
        changed = [line for old, line in zip(before, after) if old != line]
        lines = [f"# step {step.index + 1} -> {one_line(step.result)}"]
        if getattr(step.result, "sections", None):
            lines += schedule_comments(m, step.op, step.result, before)
        lines += _comment(changed) if changed else ["#   (no zone changed)"]
        lines += once_each([f"#   ! {one_line(name)}: {one_line(message)}" for name, message in step.violations])
        out.append(lines)
        before = after
    return out


def schedule_comments(m, op, result, before):
    """A concurrent pair's schedule: which CPU ran which atomic section, and the zones it changed.

    Restores m to each section's end state in turn and leaves it in the last one (the pair's end state).
    """
    ops, cpus = (op.first, op.second), op.cpus()
    lines = [f"#   schedule {result.schedule!r}: {result.preemptions} preemption(s)"]
    for n, section in enumerate(result.sections, 1):
        until = "to its end" if section.ended_at == "end" else f"until {section.ended_at}"
        lines.append(f"#   section {n}: CPU {cpus[section.slot]} runs {ops[section.slot].code()} {until}")
        m.restore(section.state)
        after = _zone_lines(m)
        changed = [line for old, line in zip(before, after) if old != line]
        lines += _comment(changed, "#       ") if changed else ["#       (no zone changed)"]
        before = after
    lines.append("#   after the pair:")
    return lines


def format_program(scenario, trace, properties=(), *, violation=None, model_ref=None):
    """The counterexample as a runnable Python program (see the module docstring).

    `properties` are checked at every step and their violations shown as comments; the ending names
    `violation` if given, else the first violation found while replaying.
    """
    trace = tuple(trace)
    result = _replayed(scenario, trace, properties)
    failed = result.failure
    found = violation if violation is not None else result.first_violation
    if failed is not None:
        found = failed  # nothing after the failing operation runs
    machine_import, machine = machine_expression(scenario)
    alias, ref = model_binding(scenario, model_ref)
    needs_env = any(getattr(op, "env", IDLE) != IDLE for op in trace)
    if failed is not None:
        title = f"Counterexample: {found.invariant}, the model fails at operation {len(trace)}"
        if result.initial_state is None:
            title = f"Counterexample: {found.invariant}, the model fails while booting or in the setup"
    elif found is not None:
        title = f"Counterexample: {found.invariant} fails after {len(trace)} operation(s)"
    else:
        title = f"Replay of {len(trace)} operation(s)"
    lines = [
        f'"""{doc_text(title)} on model {doc_text(scenario.model.NAME)} (scenario {doc_text(scenario.name)}).',
        "",
        "Replays the operations on a fresh machine; each step's result and the zones it changed are in",
        "the comments (. free in buddy, p on a per-cpu list, A allocated, | between blocks).",
        '"""',
        "",
    ]
    imports = [machine_import]
    imports += name_imports([machine, *(op.code() for op in (*scenario.setup, *trace))])
    if needs_env:
        imports.append("from buddycheck.model.environment import IDLE, Environment")
    imports.append("from buddycheck.checks.render import machine_picture")
    if failed is not None and failed.invariant == HANG:
        imports.append("from buddycheck.checks.watchdog import watch")
    lines += import_code([(alias, ref)], imports)
    boot = [f"m = {alias}({machine})", *(op.code() for op in scenario.setup)]
    if result.initial_state is None:  # booting or the setup fails: nothing else runs
        return "\n".join(lines + [""] + _failing(boot, failed, scenario.op_budget) + [""])
    lines += [""] + boot
    comments = step_comments(scenario, result)
    lines += comments[0]
    for op, comment in zip(trace, comments[1:]):
        lines.append(op.code())
        lines += comment
    if failed is not None:
        op = trace[len(result.steps)]
        return "\n".join(lines + _failing([op.code()], failed, scenario.op_budget) + [""])
    lines += _ending(found, result)
    return "\n".join(lines)


def _failing(statements, failed, budget):
    """The statements at which the model fails, with why as a comment; a hang runs under the watchdog."""
    lines = [f"# the model fails here: {one_line(failed.invariant)}"]
    lines += _comment(str(failed.message).splitlines(), "#   ")
    if failed.invariant != HANG:
        return lines + list(statements)
    lines.append(f"# (the watchdog stops it after {budget:g} s with ModelHang)")
    return lines + [f"with watch({budget!r}):"] + [textwrap.indent(code, "    ") for code in statements]



PYTEST_DOC = '''"""Counterexample: {invariant} fails after {n} operation(s)
on model {model} (scenario {scenario}).

{message}

The test replays the operations on the model and asserts that the invariant holds after every
step: it FAILS while the bug is present (with the invariant's message at the step that breaks it)
and passes once the bug is fixed, when it stays as a regression test for this sequence.
"""
'''

PYTEST_BODY = '''
INVARIANT = {invariant!r}

TRACE = (
{trace}
)


def test_{slug}():
    assert PROPERTY.name == INVARIANT
    m = {model}({machine})
{setup}
    if getattr(PROPERTY, "per_state", False):  # a state invariant holds in the initial state too
        messages = list(PROPERTY.violations(None, None, None, m))
        assert not messages, f"{{INVARIANT}} violated in the initial state: {{'; '.join(map(str, messages))}}"
    for step, op in enumerate(TRACE, 1):
        before = m.freeze()
        result = op.apply(m)
        messages = list(PROPERTY.violations(before, op, result, m))
        assert not messages, f"{{INVARIANT}} violated at step {{step}}: {{'; '.join(map(str, messages))}}"
'''


PYTEST_FAILURE_DOC = '''"""Counterexample: the model fails ({invariant}) at operation {n}
on model {model} (scenario {scenario}).

{message}

The test replays the operations on the model and asserts that every one of them runs: it FAILS
while the bug is present ({what} in {function} at operation {n}; 0: booting or the setup) and
passes once the bug is fixed, when it stays as a regression test for this sequence.
"""
'''

PYTEST_FAILURE_BODY = '''
KIND = {kind!r}
BUDGET = {budget!r}  # seconds of wall-clock time per operation before the watchdog stops it

TRACE = (
{trace}
)


def run():
    """(operation number, Failure) of the first step that fails (0: booting or the setup), or None."""
    step = 0
    try:
        with watch(BUDGET):
            m = {model}({machine})
{setup}        for step, op in enumerate(TRACE, 1):
            with watch(BUDGET):
                op.apply(m)
    except ModelError:
        raise  # an operation that is not enabled: the trace no longer fits the model
    except Exception as e:
        return step, failure_of(e, {model})
    return None


def test_{slug}():
    failed = run()
    assert failed is None, f"{{KIND}} at operation {{failed[0]}}: {{failed[1].message}}"
'''


def failure_pytest_source(scenario, violation, *, model_ref=None, relative_to=None):
    """The test of a crash or hang: it asserts every operation runs, so it fails while the model still fails."""
    trace = tuple(violation.trace)
    result = _replayed(scenario, trace, ())
    failed = result.failure
    if failed is None or len(failed.trace) != len(trace) or failed.invariant != violation.invariant or (
            violation.failure is not None and not violation.failure.same_as(failed.failure)):
        raise TraceError(f"the {violation.invariant} counterexample does not reproduce on {scenario.name} "
                         f"when replayed (got {failed.message if failed is not None else 'no failure'})")
    failure = failed.failure
    machine_import, machine = machine_expression(scenario)
    alias, ref = model_binding(scenario, model_ref)
    what = "stopped by the watchdog" if failure.kind == HANG else f"raising {failure.error}"
    header = PYTEST_FAILURE_DOC.format(invariant=failure.kind, n=len(trace), what=what, function=failure.function,
                                       model=doc_text(scenario.model.NAME), scenario=doc_text(scenario.name),
                                       message=textwrap.fill(doc_text(failed.message), 100))
    imports = [machine_import, "from buddycheck.checks.failure import failure_of",
               "from buddycheck.checks.watchdog import watch", "from buddycheck.model.errors import ModelError"]
    op_imports, op_bindings = operation_imports(trace)
    imports += op_imports
    imports += name_imports([machine, *(op.code() for op in scenario.setup), *map(op_expr, trace)])
    if any(getattr(op, "env", IDLE) != IDLE for op in trace):
        imports.append("from buddycheck.model.environment import Environment")
    imports = import_code([(alias, ref), *op_bindings], imports, relative_to=relative_to)
    rows = []
    for i, op in enumerate(trace):
        outcome = one_line(result.steps[i].result) if i < len(result.steps) else f"fails: {failure.kind}"
        rows += [f"    # step {i + 1} -> {outcome}", f"    {op_expr(op)},"]
    setup = "".join(f"        with watch(BUDGET):\n            {op.code()}\n" for op in scenario.setup)
    body = PYTEST_FAILURE_BODY.format(kind=failure.kind, budget=scenario.op_budget, trace="\n".join(rows),
                                      slug=_slug(failure.kind), model=alias,
                                      machine=machine.replace("\n", "\n            "), setup=setup)
    text = header + "\n" + "\n".join(imports) + "\n" + body
    compile(text, "<emitted test>", "exec")
    return text


def _slug(text):
    word = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    while "__" in word:
        word = word.replace("__", "_")
    return word[:60].rstrip("_")


def property_reference(prop, explicit=None):
    """How printed code names a property: explicit, else a catalogue one by its name, else as any object."""
    if explicit is None and prop.name in CATALOGUE_NAMES:
        return f"{property_named.__module__}:{property_named.__name__}({prop.name!r})"
    return object_reference(prop, explicit)


def scenario_invariant_code(name, source, imports, relative_to=None):
    """`imports` (an import section) followed by the lines that bind PROPERTY to the invariant `name`
    of the scenario file `source`.

    The test loads the file again (relative to itself when `relative_to` is its directory), so it
    judges the very predicate the file names, and goes on judging it if the predicate changes.
    """
    where = repr(source)
    if relative_to is not None:
        where = f"os.path.join(os.path.dirname(os.path.abspath(__file__)), {os.path.relpath(source, relative_to)!r})"
    head = [] if "import os" in imports else ["import os", *([""] if imports and imports[0].startswith("from") else [])]
    return [*head, *imports, "",
            f"SCENARIO_FILE = {where}",
            f"PROPERTY = {scenario_invariant.__name__}(SCENARIO_FILE, {name!r})  # the file's own [[invariant]]"]


def pytest_source(scenario, violation, properties, *, model_ref=None, property_ref=None, relative_to=None):
    """The text emit_pytest() writes; `relative_to`: the directory it goes in (file references relative to it)."""
    if violation.invariant in FAILURE_KINDS:
        return failure_pytest_source(scenario, violation, model_ref=model_ref, relative_to=relative_to)
    prop = next((p for p in properties if p.name == violation.invariant), None)
    if prop is None:
        raise TraceError(f"no property named {violation.invariant!r} among "
                         f"{[p.name for p in properties]}: the test needs it to check the trace")
    trace = tuple(violation.trace)
    result = _replayed(scenario, trace, [prop])
    machine_import, machine = machine_expression(scenario)
    alias, ref = model_binding(scenario, model_ref)
    declared = getattr(prop, "source", None) if property_ref is None else None  # a scenario file's invariant
    pref = None if declared else property_reference(prop, property_ref)
    header = PYTEST_DOC.format(invariant=doc_text(violation.invariant), n=len(trace),
                               model=doc_text(scenario.model.NAME), scenario=doc_text(scenario.name),
                               message=textwrap.fill(doc_text(violation.message), 100))
    imports = [machine_import]
    op_imports, op_bindings = operation_imports(trace)
    imports += op_imports
    imports += name_imports([machine, *(op.code() for op in scenario.setup), *map(op_expr, trace)])
    if any(getattr(op, "env", IDLE) != IDLE for op in trace):
        imports.append("from buddycheck.model.environment import Environment")
    if declared:
        imports.append(f"from {scenario_invariant.__module__} import {scenario_invariant.__name__}")
    bindings = [(alias, ref), *([] if declared else [("PROPERTY", pref)]), *op_bindings]
    imports = import_code(bindings, imports, relative_to=relative_to)
    if declared:
        imports = scenario_invariant_code(prop.name, declared, imports, relative_to)
    rows = []
    for op, step in zip(trace, result.steps):
        rows += [f"    # step {step.index + 1} -> {one_line(step.result)}", f"    {op_expr(op)},"]
    body = PYTEST_BODY.format(invariant=violation.invariant, trace="\n".join(rows), slug=_slug(violation.invariant),
                              model=alias, machine=machine.replace("\n", "\n    "),
                              setup="\n".join(f"    {op.code()}" for op in scenario.setup))
    text = header + "\n" + "\n".join(imports) + "\n" + body
    compile(text, "<emitted test>", "exec")
    return text


def emit_pytest(path, scenario, violation, properties, *, model_ref=None, property_ref=None):
    """Write a pytest file that fails while the counterexample still reproduces.

    The test replays `violation.trace` on `scenario.model` and asserts that the property named
    `violation.invariant` holds after every step: it fails with the invariant's message while the
    bug is present and passes once it is fixed (a regression test from then on). A crash or hang
    (`model_crash`, `model_hang`) needs no property: the test asserts every operation runs.
    A model loaded from a file is loaded by its path relative to the written file, and so is a
    scenario file whose own invariant failed: the test loads that invariant from it by name.
    The file is written atomically (a temporary file renamed into place). Returns the path.
    """
    return write_atomic(path, pytest_source(scenario, violation, properties, model_ref=model_ref,
                                            property_ref=property_ref,
                                            relative_to=os.path.dirname(os.path.abspath(path))))
