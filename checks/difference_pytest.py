"""A difference between two models (checks/diff.py) as a pytest file: it fails while they differ.

The test replays the difference's operations on a fresh machine of each model and asserts, step by
step, that the two behave alike as `buddycheck diff` judges it (checks/pair_property.py): the same
observable outcome (checks/observation.py's `observe`: results, events, a refusal, a crash or hang
by exception type) and the same invariants of the catalogue violated; in the initial state, the same
state invariants violated. So it fails at the step where the models part while they differ, and
passes once they agree (the head fixed, or the base brought along), when it stays as a regression
test for this sequence. As in the pair, an operation that fails on a model leaves that model's
machine as it was, and a model's invariants are judged only where it ran the operation.

The models are named as in every printed test (checks/naming.py): `module:NAME`, or a file's path
relative to the written test.
"""

import os
import textwrap

from buddycheck.model.environment import IDLE

from .diff import setup_line
from .naming import import_code, machine_expression, object_reference, op_expr, operation_imports
from .ops import name_imports
from .printing import doc_text, one_line, write_atomic

PYTEST_DOC = '''"""Difference: {base} and {head} differ after {n} operation(s), {summary}
(scenario {scenario}).

{steps}

The test replays the operations on a fresh machine of each model and asserts that the two behave
alike at every step: the same observable outcome (results, events, a refusal or crash) and the same
invariants violated. It FAILS while the models differ (at the step shown above) and passes once
they agree, when it stays as a regression test for this sequence.
"""
'''

PYTEST_BODY = '''
BUDGET = {budget!r}  # seconds of wall-clock time per operation before the watchdog stops it

TRACE = (
{trace}
)


def violated(props, before, op, result, m):
    return tuple(sorted(p.name for p in props if p.violations(before, op, result, m)))


def run(Model):
    """What a caller sees of Model on TRACE, as (observation, invariants violated, how it prints): the
    initial state's, then each operation's; booting or the setup failing is the only entry."""
    props = all_properties()
    try:
        with watch(BUDGET):
            m = Model({machine})
{setup}    except ModelError:
        raise  # the setup is not enabled on this model's machine: the scenario does not fit it
    except Exception as e:
        return [(observe(e), (), outcome_text(e))]
    state_props = [p for p in props if getattr(p, "per_state", False)]
    seen = [(Observation("ok"), violated(state_props, None, None, None, m), "initial state")]
    for op in TRACE:
        before = m.freeze()
        try:
            with watch(BUDGET):
                result = op.apply(m)
        except Exception as e:  # a refusal (ModelError), a crash or a hang is an outcome too
            m.restore(before)
            seen.append((observe(e), (), outcome_text(e)))
            continue
        seen.append((observe(result), violated(props, before, op, result, m), outcome_text(result)))
    return seen


def test_{slug}():
    base, head = run(Base), run(Head)
    for step, (b, h) in enumerate(zip(base, head)):
        differ = differing_fields(b[0], h[0]) + (["invariants"] if b[1] != h[1] else [])
        where = "in the initial state" if step == 0 else f"at step {{step}} ({{TRACE[step - 1].code()}})"
        assert not differ, (f"{{Base.NAME}} and {{Head.NAME}} differ {{where}}: {{', '.join(differ)}}\\n"
                            f"  {{Base.NAME}}: {{b[2]}}; violates {{', '.join(b[1]) or 'none'}}\\n"
                            f"  {{Head.NAME}}: {{h[2]}}; violates {{', '.join(h[1]) or 'none'}}")
    assert len(base) == len(head), "one model failed while booting or in the setup"
'''


def _slug(base_cls, head_cls):
    word = "".join(c if c.isalnum() else "_" for c in f"{head_cls.NAME}_behaves_as_{base_cls.NAME}".lower())
    while "__" in word:
        word = word.replace("__", "_")
    return word.strip("_")[:60].rstrip("_")


def _step_comments(d, base_cls, head_cls):
    """What each model did at each step, as comment lines of TRACE (the differing step in full)."""
    rows = []
    for step in d.steps:
        if step.differs:
            rows += [f"    # step {step.index + 1} differs ({', '.join(step.fields)}):",
                     f"    #   {base_cls.NAME}: {_side_text(step.base)}",
                     f"    #   {head_cls.NAME}: {_side_text(step.head)}"]
        else:
            rows.append(f"    # step {step.index + 1} -> {one_line(step.base.text)}")
        rows.append(f"    {op_expr(step.op)},")
    return rows


def _side_text(side):
    return one_line(side.text) + (f"; violates {', '.join(side.violated)}" if side.violated else "")


def _summary_lines(d, base_cls, head_cls):
    last = d.last
    where = "in the initial state" if not d.steps else f"at step {d.length}: {op_expr(last.op)}"
    return textwrap.indent(f"{where}\n  {base_cls.NAME}: {_side_text(last.base)}\n"
                           f"  {head_cls.NAME}: {_side_text(last.head)}", "    ")


def difference_pytest_source(d, base_cls, head_cls, *, base_ref=None, head_ref=None, relative_to=None):
    """The text emit_difference_pytest() writes; `relative_to`: the directory it goes in."""
    sc = d.scenario
    machine_import, machine = machine_expression(sc)
    op_imports, op_bindings = operation_imports(d.trace)
    imports = [machine_import, *op_imports]
    imports += name_imports([machine, *(setup_line(op) for op in sc.setup), *map(op_expr, d.trace)])
    if any(getattr(op, "env", IDLE) != IDLE for op in d.trace):
        imports.append("from buddycheck.model.environment import Environment")
    imports += ["from buddycheck.checks.observation import Observation, differing_fields, observe, outcome_text",
                "from buddycheck.checks.properties import all_properties",
                "from buddycheck.checks.watchdog import watch",
                "from buddycheck.model.errors import ModelError"]
    refs = [("Base", object_reference(base_cls, base_ref)), ("Head", object_reference(head_cls, head_ref))]
    imports = import_code([*refs, *op_bindings], imports, relative_to=relative_to)
    header = PYTEST_DOC.format(base=doc_text(base_cls.NAME), head=doc_text(head_cls.NAME), n=d.length,
                               summary=doc_text(", ".join(d.fields)) + " differ", scenario=doc_text(sc.name),
                               steps=doc_text(_summary_lines(d, base_cls, head_cls)))
    setup = textwrap.indent("".join(setup_line(op) for op in sc.setup), " " * 8)
    body = PYTEST_BODY.format(budget=sc.op_budget, trace="\n".join(_step_comments(d, base_cls, head_cls)),
                              machine=machine.replace("\n", "\n            "), setup=setup,
                              slug=_slug(base_cls, head_cls))
    text = header + "\n" + "\n".join(imports) + "\n" + body
    compile(text, "<emitted test>", "exec")
    return text


def emit_difference_pytest(path, d, base_cls, head_cls, *, base_ref=None, head_ref=None):
    """Write a pytest file that fails while the two models still differ on d's operations; returns the path.

    Models loaded from files are loaded by their paths relative to the written file; the file is
    written atomically (checks/printing.py's write_atomic).
    """
    return write_atomic(path, difference_pytest_source(d, base_cls, head_cls, base_ref=base_ref, head_ref=head_ref,
                                                       relative_to=os.path.dirname(os.path.abspath(path))))
