"""Counterexample traces: replay them, print them as programs, store them as JSON, pin them as tests.

A trace is a tuple of operations (checks/ops.py) applied in order from `scenario.initial()`.

- `replay()` runs a trace, checking properties after every step, and reports each step's result
  and frozen state, the first violation, and the first operation that was not enabled (with why).
- `format_program()` prints a trace as a Python program that rebuilds the machine and replays
  every operation, with the result and the per-zone block map (checks/render.py) as comments.
- `trace_to_json()` / `trace_from_json()` store a counterexample as a JSON document and load it.
- `emit_pytest()` writes a pytest file that pins a counterexample (see its docstring).

A model that crashes or hangs (checks/failure.py) is a counterexample like any other: replay ends
at the operation that failed and reports it as the violation (`model_crash` / `model_hang`, with
`ReplayResult.failure`); the printed program runs the operations and its last statement raises
(a hang runs inside the watchdog, which stops it with ModelHang); the JSON document carries the
failure (exception type, function, file:line); the pinned test asserts the last operation fails so.

How the machine is built in printed code: a scenario whose `params` name a built-in preset
(`{"preset": "buddy-core", "pages": 24, "max_order": 4, ...}`) prints as `preset(name, ...)`
with the preset's own parameters, after checking that this call gives the scenario's topology.
Any other topology prints as a `Topology(...)` expression (fields at their defaults left out;
checked at print time to evaluate back to an equal topology), never as the path of the TOML file
it was read from, so the program does not depend on a file that can move or change.

How the model and properties are named in printed code: `module:NAME` when the object is a
global of a module in the `buddycheck` package, else `/abs/path/file.py:NAME` when it is a
global of a module loaded from a file (a test module, for instance), which the program loads by
path. NAME may also be an entry of a registry (`BY_NAME['no_overlap']`, `ALL[0]`) or any
expression that starts with a global of the module. An explicit reference can always be given
(`model_ref=`, `property_ref=`).
"""

import ast
import importlib
import importlib.util
import json
import os
import sys
import tempfile
import textwrap
from dataclasses import MISSING, dataclass, fields, is_dataclass
from inspect import signature
from pathlib import Path

from buddycheck.model import NodeSpec, Topology, ZoneSpec
from buddycheck.model.environment import IDLE, Environment
from buddycheck.model.errors import ConfigError, ModelError
from buddycheck.model.gfp import format_gfp, parse_gfp
from buddycheck.model.presets import PRESETS, preset

from .explore import HANG, Violation
from .failure import failure_from_dict, failure_of
from .ops import (
    CONTEXT_FLAGS,
    AddTask,
    Alloc,
    AllocPages,
    AllocVma,
    Drain,
    Free,
    GetMempolicy,
    Isolate,
    Mbind,
    Mmap,
    SetCpuset,
    SetMemcgLimit,
    SetMempolicy,
    UndoIsolate,
    env_code,
    gfp_code,
)
from .render import machine_picture
from .report import FAILURE_KINDS
from .watchdog import watch

FORMAT = "buddycheck-counterexample"
FORMAT_VERSION = 1

# The JSON "kind" of each operation class.
OP_KINDS = {"alloc": Alloc, "free": Free, "drain": Drain, "isolate": Isolate, "undo_isolate": UndoIsolate,
            "alloc_pages": AllocPages, "set_mempolicy": SetMempolicy, "set_cpuset": SetCpuset,
            "mmap": Mmap, "alloc_vma": AllocVma, "add_task": AddTask, "mbind": Mbind,
            "set_memcg_limit": SetMemcgLimit, "get_mempolicy": GetMempolicy}
KIND_OF = {cls: kind for kind, cls in OP_KINDS.items()}
# Fields newer than the format's first version: written only when they differ from their default,
# so documents of operations that do not use them read as before.
QUIET_FIELDS = {Alloc: {"nodes", *CONTEXT_FLAGS}, AllocPages: {"env"},
                AllocVma: {"env"}, Isolate: {"migratetype"}, UndoIsolate: {"migratetype"}, SetMempolicy: {"maxnode"}}


class TraceError(ConfigError):
    """A trace that cannot be loaded, replayed or printed; the message names the problem."""


# ---- replay ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One replayed operation: what it returned, the frozen state after it, what it violated."""

    index: int  # 0-based position in the trace
    op: object
    result: object
    state: tuple
    violations: tuple  # ((invariant, message), ...)


@dataclass(frozen=True)
class DisabledStep:
    """An operation of the trace that could not run in the state the earlier steps reached."""

    index: int
    op: object
    reason: str

    def __str__(self):
        return f"step {self.index + 1} ({self.op.code()}) is not enabled: {self.reason}"


@dataclass(frozen=True)
class ReplayResult:
    """Every step that ran, the first violation (trace cut after its step), and a disabled step if any."""

    initial_state: tuple | None  # None when the model failed while booting or in the setup
    steps: tuple
    first_violation: Violation | None = None
    disabled: DisabledStep | None = None
    failure: Violation | None = None  # the model crashed or hung at the operation after the last step


    @property
    def ok(self):
        return self.first_violation is None and self.disabled is None

    def violation_of(self, invariant):
        """The first step at which `invariant` failed (CRASH, HANG: the failure), as a Violation, or None."""
        for step in self.steps:
            for name, message in step.violations:
                if name == invariant:
                    return Violation(name, message, tuple(s.op for s in self.steps[:step.index + 1]))
        if self.failure is not None and self.failure.invariant == invariant:
            return self.failure
        return None


NOT_OFFERED = "the scenario does not offer this operation here (not in its alphabet, or not enabled)"


def replay(scenario, trace, properties=(), *, stop_at_first=False, strict=True):
    """Run `trace` from `scenario.initial()`, checking every property after every step.

    With `strict`, an operation must also be one the scenario offers in that state
    (`scenario.actions(m)`); an operation that raises ModelError, or is not offered, ends the
    replay and is reported in `disabled` with the step and the reason. Any other exception, or an
    operation past the scenario's `op_budget`, ends it too: the model failed (`failure`).
    """
    try:
        m = scenario.initial()
    except ModelError:
        raise
    except Exception as e:  # the model crashed or hung while booting or in the setup
        failed = failure_of(e, scenario.model, before_first_op=True).violation(())
        return ReplayResult(None, (), failed, None, failed)
    initial = m.freeze()
    state = initial
    steps = []
    first = None
    for index, op in enumerate(trace):
        offered = not strict or op in scenario.actions(m)
        try:
            with watch(scenario.op_budget):
                result = op.apply(m)
        except ModelError as e:
            return ReplayResult(initial, tuple(steps), first, DisabledStep(index, op, str(e)))
        except Exception as e:  # the model crashed or hung (ModelHang) on this operation
            if not offered:
                return ReplayResult(initial, tuple(steps), first, DisabledStep(index, op, NOT_OFFERED))
            failed = failure_of(e, scenario.model).violation(tuple(trace[:index + 1]))
            return ReplayResult(initial, tuple(steps), first or failed, None, failed)
        if not offered:
            return ReplayResult(initial, tuple(steps), first, DisabledStep(index, op, NOT_OFFERED))
        verdicts = []
        for prop in properties:
            for message in prop.violations(state, op, result, m):
                verdicts.append((prop.name, message))
        state = m.freeze()
        steps.append(Step(index, op, result, state, tuple(verdicts)))
        if verdicts and first is None:
            first = Violation(verdicts[0][0], verdicts[0][1], tuple(trace[:index + 1]))
            if stop_at_first:
                break
    return ReplayResult(initial, tuple(steps), first, None)


# ---- naming things in printed code --------------------------------------------------------------


def preset_call(params):
    """(name, kwargs) of the built-in preset that `params` names, or None."""
    name = params.get("preset") if isinstance(params, dict) else None
    if name not in PRESETS:
        return None
    accepted = signature(PRESETS[name]).parameters
    return name, {k: params[k] for k in accepted if k in params}


def topology_from_params(params):
    """The topology of the preset named in a scenario's params, or None when they name none."""
    call = preset_call(params)
    return None if call is None else preset(call[0], **call[1])


TOPOLOGY_NAMES = {"Topology": Topology, "NodeSpec": NodeSpec, "ZoneSpec": ZoneSpec, "frozenset": frozenset}


def _default(f):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def value_code(value):
    """Python source for a configuration value; a dataclass shows only the fields that differ from defaults."""
    if is_dataclass(value) and not isinstance(value, type):
        args = [f"{f.name}={value_code(getattr(value, f.name))}" for f in fields(value)
                if f.compare and getattr(value, f.name) != _default(f)]
        return f"{type(value).__name__}({', '.join(args)})"
    if isinstance(value, tuple):
        items = [value_code(v) for v in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, frozenset):
        return "frozenset({" + ", ".join(map(repr, sorted(value))) + "})" if value else "frozenset()"
    return repr(value)


def topology_code(topology, multiline=True):
    """A Topology(...) expression: one node and one zone per line, fields at their defaults left out."""
    if not multiline:
        return value_code(topology)
    lines = ["Topology(", "    nodes=("]
    for node in topology.nodes:
        lines.append(f"        NodeSpec(nid={node.nid}, cpus={value_code(node.cpus)}, zones=(")
        lines += [f"            {value_code(z)}," for z in node.zones]
        lines.append("        )),")
    lines.append("    ),")
    for f in fields(topology):
        value = getattr(topology, f.name)
        if f.name != "nodes" and f.compare and value != _default(f):
            lines.append(f"    {f.name}={value_code(value)},")
    lines.append(")")
    return "\n".join(lines)


def machine_expression(scenario, multiline=True):
    """(import line, Python expression) that builds the scenario's topology; see the module docstring."""
    call = preset_call(scenario.params)
    if call is not None:
        name, kwargs = call
        try:
            same = preset(name, **kwargs) == scenario.topology
        except ModelError:
            same = False
        if same:
            args = "".join(f", {k}={v!r}" for k, v in kwargs.items())
            return "from buddycheck.model import preset", f"preset({name!r}{args})"
    text = topology_code(scenario.topology, multiline)
    try:
        same = eval(text, dict(TOPOLOGY_NAMES)) == scenario.topology  # our own code, evaluated back
    except Exception as e:  # any failure means the code is not replayable
        raise TraceError(f"topology {scenario.topology.name!r}: its code does not evaluate back ({e})") from None
    if not same:
        raise TraceError(f"topology {scenario.topology.name!r}: its code does not evaluate back to an equal topology")
    return "from buddycheck.model import NodeSpec, Topology, ZoneSpec", text


def _public_global(module, obj):
    namespace = getattr(module, "__dict__", None) or {}
    for attr, value in sorted(namespace.items()):
        if value is obj and not attr.startswith("_") and attr.isidentifier():
            return attr
    return None


def _container_entry(module, obj):
    """`NAME[key]` for a public dict (str or int keys) or tuple/list global of module holding obj."""
    namespace = getattr(module, "__dict__", None) or {}
    public = [(a, v) for a, v in sorted(namespace.items()) if not a.startswith("_") and a.isidentifier()]
    for attr, value in public:
        if isinstance(value, dict):
            for key, item in value.items():
                if item is obj and isinstance(key, str | int) and not isinstance(key, bool):
                    return f"{attr}[{key!r}]"
    for attr, value in public:
        if isinstance(value, tuple | list):
            for i, item in enumerate(value):
                if item is obj:
                    return f"{attr}[{i}]"
    return None


def _module_of(obj):
    """(module, expression) naming obj: a module global (its own module first), else a registry entry.

    Registries (`BY_NAME['x']`, `ALL[0]`) are looked for only in buddycheck modules and in the
    module that defines the object's class.
    """
    own = getattr(obj, "__module__", None)
    name = getattr(obj, "__name__", None)
    if isinstance(own, str) and isinstance(name, str):
        parts = own.split(".")
        for i in range(1, len(parts) + 1):  # the shortest public path first: buddycheck.model before .machine
            module = sys.modules.get(".".join(parts[:i]))
            if module is not None and getattr(module, name, None) is obj:
                return module, name
    modules = sorted(list(sys.modules.items()), key=lambda kv: (kv[0] == "__main__", kv[0]))
    for _, module in modules:
        attr = _public_global(module, obj)
        if attr is not None:
            return module, attr
    home = type(obj).__module__
    for module_name, module in modules:
        if module_name == home or module_name == "buddycheck" or module_name.startswith("buddycheck."):
            entry = _container_entry(module, obj)
            if entry is not None:
                return module, entry
    return None


def object_reference(obj, explicit=None):
    """`module:NAME` or `/path/file.py:NAME` naming obj (see the module docstring); TraceError if none.

    NAME may be an expression that starts with a global of the module, e.g. `BY_NAME['no_overlap']`.
    """
    if explicit is not None:
        split_reference(explicit)
        return explicit
    found = _module_of(obj)
    if found is not None:
        module, expr = found
        if module.__name__ == "buddycheck" or module.__name__.startswith("buddycheck."):
            return f"{module.__name__}:{expr}"
        path = getattr(module, "__file__", None)
        if path:
            return f"{os.path.abspath(path)}:{expr}"
    label = getattr(obj, "__name__", None) or getattr(obj, "name", None) or repr(obj)
    raise TraceError(f"cannot name {label!r} in printed code: it is no global of any loaded module; "
                     "pass an explicit reference 'module:NAME' or '/path/file.py:NAME'")


def split_reference(ref):
    """(module or file path, expression) of a reference; TraceError unless the expression starts with a name."""
    if not isinstance(ref, str):
        raise TraceError(f"reference {ref!r}: expected a string 'module:NAME' or '/path/file.py:NAME'")
    if ".py:" in ref:
        cut = ref.index(".py:") + 3
        where, expr = ref[:cut], ref[cut + 1:]
    else:
        where, _, expr = ref.partition(":")
    try:
        node = ast.parse(expr, mode="eval").body if where and expr else None
    except SyntaxError:
        node = None
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    if not isinstance(node, ast.Name):
        raise TraceError(f"reference {ref!r}: expected 'module:NAME' or '/path/file.py:NAME' "
                         "(NAME a global of the module, or an expression that starts with one)")
    return where, expr


def resolve_reference(ref):
    """The object a `module:NAME` or `/path/file.py:NAME` reference names."""
    where, expr = split_reference(ref)
    if where.endswith(".py"):
        module = _load_file(where)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise TraceError(f"reference {ref!r}: cannot import {where!r} ({e})") from None
    try:
        return eval(expr, dict(vars(module)))  # the expression is checked to start with a module global
    except Exception as e:  # a missing name, key or index: the reference is wrong
        raise TraceError(f"reference {ref!r}: {type(e).__name__}: {e}") from None


def _load_file(path):
    if not os.path.isfile(path):
        raise TraceError(f"reference to {path!r}: no such file")
    name = "_buddycheck_ref_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_code(bindings, imports=()):
    """The import section that binds each (alias, reference) pair after the given import lines.

    Standard-library imports come first, then `imports` and the module references, then the
    loading of file references (each file once, registered in sys.modules under its own name).
    """
    froms = list(imports)
    files = {}
    plain = []
    for alias, ref in bindings:
        where, expr = split_reference(ref)
        if where.endswith(".py"):
            files.setdefault(where, []).append((alias, expr))
        elif expr.isidentifier():
            froms.append(f"from {where} import {expr}" + ("" if alias == expr else f" as {alias}"))
        else:
            var = f"_ref{len(plain)}"
            froms.append(f"import {where} as {var}")
            plain.append(f"{alias} = {var}.{expr}")
    lines = list(froms)
    if files:
        lines = ["import importlib.util", "import sys", "", *froms]
    if plain or files:
        lines.append("")
    lines += plain
    for n, (path, names) in enumerate(files.items()):
        var = f"_loaded{n}"
        module_name = f"counterexample_source_{n}"
        lines += [
            f"_spec = importlib.util.spec_from_file_location({module_name!r}, {path!r})",
            f"{var} = sys.modules[{module_name!r}] = importlib.util.module_from_spec(_spec)",
            f"_spec.loader.exec_module({var})",
        ]
        lines += [f"{alias} = {var}.{expr}" for alias, expr in names]
    return lines


def op_expr(op):
    """A Python expression that builds the operation value (over `G` and `Environment`).

    Fields without a default are positional, fields left at their default are omitted.
    """
    if type(op) not in KIND_OF:
        raise TraceError(f"operation {op!r}: not one of the known kinds ({', '.join(OP_KINDS)})")
    args = []
    for f in fields(op):
        value = getattr(op, f.name)
        if f.default is not MISSING and value == f.default:
            continue
        if f.name == "gfp":
            text = gfp_code(value)
        elif f.name == "env":
            text = env_code(value)
        else:
            text = repr(value)
        args.append(text if f.default is MISSING else f"{f.name}={text}")
    return f"{type(op).__name__}({', '.join(args)})"


def _model_binding(scenario, model_ref):
    ref = object_reference(scenario.model, model_ref)
    expr = split_reference(ref)[1]
    return (expr if expr.isidentifier() and expr not in ("m", "G", "PROPERTY", "TRACE") else "Model"), ref


# ---- the program ---------------------------------------------------------------------------------


def _doc_text(text):
    """Text that can sit inside a triple-quoted docstring."""
    return str(text).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _one_line(text):
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
    found = violation if violation is not None else result.first_violation
    if found is None:
        return ["# no property was violated by this trace"]
    return [f"# violated: {_one_line(found.invariant)}"] + _comment(str(found.message).splitlines(), "#   ")


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
        lines = [f"# step {step.index + 1} -> {_one_line(step.result)}"]
        lines += _comment(changed) if changed else ["#   (no zone changed)"]
        for name, message in step.violations:
            lines.append(f"#   ! {_one_line(name)}: {_one_line(message)}")
        out.append(lines)
        before = after
    return out


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
    alias, ref = _model_binding(scenario, model_ref)
    needs_env = any(getattr(op, "env", IDLE) != IDLE for op in trace)
    uses_gfp = any(hasattr(op, "gfp") for op in (*scenario.setup, *trace))
    if failed is not None:
        title = f"Counterexample: {found.invariant}, the model fails at operation {len(trace)}"
        if result.initial_state is None:
            title = f"Counterexample: {found.invariant}, the model fails while booting or in the setup"
    elif found is not None:
        title = f"Counterexample: {found.invariant} fails after {len(trace)} operation(s)"
    else:
        title = f"Replay of {len(trace)} operation(s)"
    lines = [
        f'"""{_doc_text(title)} on model {_doc_text(scenario.model.NAME)} (scenario {_doc_text(scenario.name)}).',
        "",
        "Replays the operations on a fresh machine; each step's result and the zones it changed are in",
        "the comments (. free in buddy, p on a per-cpu list, A allocated, | between blocks).",
        '"""',
        "",
    ]
    imports = [machine_import]
    if uses_gfp:
        imports.append("from buddycheck.model import gfp as G")
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
    lines += ["", "print(machine_picture(m))", ""]
    return "\n".join(lines)


def _failing(statements, failed, budget):
    """The statements at which the model fails, with why as a comment; a hang runs under the watchdog."""
    lines = [f"# the model fails here: {_one_line(failed.invariant)}"]
    lines += _comment(str(failed.message).splitlines(), "#   ")
    if failed.invariant != HANG:
        return lines + list(statements)
    lines.append(f"# (the watchdog stops it after {budget:g} s with ModelHang)")
    return lines + [f"with watch({budget!r}):"] + [textwrap.indent(code, "    ") for code in statements]


# ---- JSON --------------------------------------------------------------------------------------


def op_to_dict(op):
    """An operation as a JSON object with a "kind" field and its fields."""
    kind = KIND_OF.get(type(op))
    if kind is None:
        raise TraceError(f"operation {op!r}: not one of the known kinds ({', '.join(OP_KINDS)})")
    out = {"kind": kind}
    quiet = QUIET_FIELDS.get(type(op), ())
    for f in fields(op):
        value = getattr(op, f.name)
        if f.name in quiet and value == f.default:
            continue
        if f.name == "gfp":
            value = format_gfp(value)
        elif f.name == "env":
            value = {n: getattr(value, n) for n in Environment.__dataclass_fields__
                     if getattr(value, n) != getattr(IDLE, n)}
        elif isinstance(value, frozenset):
            value = sorted(value)
        out[f.name] = value
    return out


def _want_int(value, where, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TraceError(f"{where} = {value!r}: expected an integer" + (" or null" if optional else ""))
    return value


def _env_from_dict(value, where):
    if not isinstance(value, dict):
        raise TraceError(f"{where} = {value!r}: expected an object of Environment fields")
    kwargs = {}
    for name, v in value.items():
        if name not in Environment.__dataclass_fields__:
            raise TraceError(f"{where}: unknown Environment field {name!r} "
                             f"(known: {', '.join(Environment.__dataclass_fields__)})")
        default = getattr(IDLE, name)
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise TraceError(f"{where}.{name} = {v!r}: expected true or false")
        else:
            _want_int(v, f"{where}.{name}")
        kwargs[name] = v
    return Environment(**kwargs)


def op_from_dict(data, where="op"):
    """The operation a JSON object describes; TraceError naming the field on any problem."""
    if not isinstance(data, dict):
        raise TraceError(f"{where} = {data!r}: expected an object with a 'kind' field")
    kind = data.get("kind")
    if kind not in OP_KINDS:
        raise TraceError(f"{where}: unknown operation kind {kind!r} (known: {', '.join(OP_KINDS)})")
    cls = OP_KINDS[kind]
    known = {f.name: f for f in fields(cls)}
    extra = sorted(set(data) - set(known) - {"kind"})
    if extra:
        raise TraceError(f"{where}: unknown field(s) {', '.join(map(repr, extra))} for {kind!r} "
                         f"(known: {', '.join(known)})")
    kwargs = {}
    for name, f in known.items():
        if name not in data:
            if f.default is MISSING:
                raise TraceError(f"{where}: {kind!r} needs the field {name!r}")
            continue
        value = data[name]
        fwhere = f"{where}.{name}"
        if name == "gfp":
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise TraceError(f"{fwhere} = {value!r}: expected a gfp mask (a number or 'GFP_KERNEL|...')")
            try:
                value = parse_gfp(value)
            except ValueError as e:
                raise TraceError(f"{fwhere}: {e}") from None
        elif name == "env":
            value = _env_from_dict(value, fwhere)
        elif name in ("nodes", "mems"):
            if value is None and f.default is None:
                pass
            elif not isinstance(value, list):
                raise TraceError(f"{fwhere} = {value!r}: expected a list of node ids")
            else:
                value = frozenset(_want_int(v, f"{fwhere}[{i}]") for i, v in enumerate(value))
        elif isinstance(f.default, bool):
            if not isinstance(value, bool):
                raise TraceError(f"{fwhere} = {value!r}: expected true or false")
        else:
            value = _want_int(value, fwhere, optional=f.default is None)
        kwargs[name] = value
    return cls(**kwargs)


@dataclass(frozen=True)
class TraceDocument:
    """A counterexample loaded from JSON."""

    scenario: str
    params: dict
    model: str
    model_ref: str | None
    invariant: str
    message: str
    ops: tuple
    failure: object = None  # for model_crash / model_hang: the checks.failure.Failure

    @property
    def length(self):
        return len(self.ops)

    def violation(self):
        return Violation(self.invariant, self.message, self.ops, failure=self.failure)


def trace_document(scenario, violation, *, model_ref=None):
    """The counterexample as a JSON-ready dict (what trace_to_json() writes), e.g. for a larger report."""
    try:
        ref = object_reference(scenario.model, model_ref)
    except TraceError:
        ref = None
    try:
        machine = machine_expression(scenario, multiline=False)[1]
    except TraceError:
        machine = None
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "scenario": scenario.name,
        "params": scenario.params,
        "model": scenario.model.NAME,
        "model_ref": ref,
        "machine": machine,
        "invariant": violation.invariant,
        "message": violation.message,
        "length": len(violation.trace),
        "ops": [op_to_dict(op) for op in violation.trace],
        **({"failure": violation.failure.as_dict()} if getattr(violation, "failure", None) is not None else {}),
    }


def trace_to_json(scenario, violation, *, model_ref=None, indent=2):
    """The counterexample as a JSON document (scenario name and params, model, ops, invariant, message)."""
    doc = trace_document(scenario, violation, model_ref=model_ref)
    try:
        return json.dumps(doc, indent=indent)
    except (TypeError, ValueError) as e:
        raise TraceError(f"scenario {scenario.name!r}: its params cannot be written as JSON ({e})") from None


def trace_from_json(text):
    """Load a document written by trace_to_json(); TraceError naming the problem if it is malformed."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"counterexample: not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise TraceError(f"counterexample: expected a JSON object, got {type(doc).__name__}")
    if doc.get("format", FORMAT) != FORMAT:
        raise TraceError(f"counterexample: format {doc.get('format')!r} is not {FORMAT!r}")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise TraceError(f"counterexample: version {doc.get('version')!r} is not {FORMAT_VERSION}")
    for key in ("invariant", "ops"):
        if key not in doc:
            raise TraceError(f"counterexample: missing key {key!r}")
    if not isinstance(doc["ops"], list):
        raise TraceError(f"counterexample: 'ops' = {doc['ops']!r}: expected a list of operations")
    for key in ("scenario", "model", "invariant", "message"):
        if key in doc and not isinstance(doc[key], str):
            raise TraceError(f"counterexample: {key!r} = {doc[key]!r}: expected a string")
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise TraceError(f"counterexample: 'params' = {params!r}: expected an object")
    ops = tuple(op_from_dict(d, f"ops[{i}]") for i, d in enumerate(doc["ops"]))
    if "length" in doc and doc["length"] != len(ops):
        raise TraceError(f"counterexample: 'length' is {doc['length']!r} but there are {len(ops)} ops")
    model_ref = doc.get("model_ref")
    if model_ref is not None:
        if not isinstance(model_ref, str):
            raise TraceError(f"counterexample: 'model_ref' = {model_ref!r}: expected a string or null")
        split_reference(model_ref)
    failure = doc.get("failure")
    if failure is not None:
        if not isinstance(failure, dict) or failure.get("kind") not in FAILURE_KINDS:
            raise TraceError(f"counterexample: 'failure' = {failure!r}: expected an object with 'kind' "
                             f"one of {', '.join(map(repr, FAILURE_KINDS))}")
        failure = failure_from_dict(failure)
    return TraceDocument(doc.get("scenario", ""), params, doc.get("model", ""), model_ref,
                         doc["invariant"], doc.get("message", ""), ops, failure)


# ---- pytest ----------------------------------------------------------------------------------------


def write_atomic(path, text):
    """Write text to path through a temporary file in the same directory and a rename.

    Either the whole text is at `path` afterwards or the file is as it was; an OSError (no such
    directory, no space, no permission) becomes a TraceError naming the path.
    """
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise TraceError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


PYTEST_DOC = '''"""Pinned counterexample: {invariant} fails after {n} operation(s)
on model {model} (scenario {scenario}).

{message}

While the bug is present this test PASSES: it replays the operations on the model and asserts that
the invariant is violated at the last step and at no earlier one. Once the bug is fixed it FAILS, so
the fix is noticed. Then flip it into a regression test: set EXPECT_VIOLATION = False, and the test
asserts that the invariant holds after every step of this same sequence.
"""
'''

PYTEST_BODY = '''
EXPECT_VIOLATION = True
INVARIANT = {invariant!r}

TRACE = (
{trace}
)


def test_{slug}():
    assert PROPERTY.name == INVARIANT
    m = {model}({machine})
{setup}
    verdicts = []
    for op in TRACE:
        before = m.freeze()
        result = op.apply(m)
        verdicts.append(list(PROPERTY.violations(before, op, result, m)))
    failing = [(step + 1, messages) for step, messages in enumerate(verdicts) if messages]
    if EXPECT_VIOLATION:
        assert failing and failing[0][0] == len(TRACE), (
            f"{{INVARIANT}}: expected the first violation at step {{len(TRACE)}}, got {{failing or 'none'}} "
            "(if the bug was fixed, see the module docstring)")
    else:
        assert not failing, f"{{INVARIANT}} violated: {{failing}}"
'''


PYTEST_FAILURE_DOC = '''"""Pinned counterexample: the model fails ({invariant}) at operation {n}
on model {model} (scenario {scenario}).

{message}

While the bug is present this test PASSES: it replays the operations on the model and asserts that
the first one to fail is operation {n} (0: booting or the setup), {what} in {function}.
Once the bug is fixed it FAILS, so the fix is noticed. Then flip it into a regression test:
set EXPECT_FAILURE = False, and the test asserts that every operation of this sequence runs.
"""
'''

PYTEST_FAILURE_BODY = '''
EXPECT_FAILURE = True
KIND = {kind!r}
ERROR = {error!r}
FUNCTION = {function!r}
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
    if EXPECT_FAILURE:
        assert failed is not None, "no operation failed (if the bug was fixed, see the module docstring)"
        step, failure = failed
        assert (step, failure.kind, failure.error, failure.function) == (len(TRACE), KIND, ERROR, FUNCTION), (
            f"expected {{KIND}} ({{ERROR}} in {{FUNCTION}}) at operation {{len(TRACE)}}, got {{failure.message}} "
            f"at operation {{step}}")
    else:
        assert failed is None, f"operation {{failed[0]}}: {{failed[1].message}}"
'''


def failure_pytest_source(scenario, violation, *, model_ref=None):
    """The pinned test of a crash or hang: the last operation fails with the same exception in the same function."""
    trace = tuple(violation.trace)
    result = _replayed(scenario, trace, ())
    failed = result.failure
    if failed is None or len(failed.trace) != len(trace) or failed.invariant != violation.invariant or (
            violation.failure is not None and not violation.failure.same_as(failed.failure)):
        raise TraceError(f"the {violation.invariant} counterexample does not reproduce on {scenario.name} "
                         f"when replayed (got {failed.message if failed is not None else 'no failure'})")
    failure = failed.failure
    machine_import, machine = machine_expression(scenario)
    alias, ref = _model_binding(scenario, model_ref)
    what = "stopped by the watchdog" if failure.kind == HANG else f"raising {failure.error}"
    header = PYTEST_FAILURE_DOC.format(invariant=failure.kind, n=len(trace), what=what, function=failure.function,
                                       model=_doc_text(scenario.model.NAME), scenario=_doc_text(scenario.name),
                                       message=textwrap.fill(_doc_text(failed.message), 100))
    imports = [machine_import, "from buddycheck.checks.failure import failure_of",
               "from buddycheck.checks.watchdog import watch", "from buddycheck.model.errors import ModelError"]
    kinds = sorted({type(op).__name__ for op in trace})
    if kinds:
        imports.append(f"from buddycheck.checks.ops import {', '.join(kinds)}")
    if any(hasattr(op, "gfp") for op in (*scenario.setup, *trace)):
        imports.append("from buddycheck.model import gfp as G")
    if any(isinstance(op, Alloc) and op.env != IDLE for op in trace):
        imports.append("from buddycheck.model.environment import Environment")
    imports = import_code([(alias, ref)], imports)
    rows = []
    for i, op in enumerate(trace):
        outcome = _one_line(result.steps[i].result) if i < len(result.steps) else f"fails: {failure.kind}"
        rows += [f"    # step {i + 1} -> {outcome}", f"    {op_expr(op)},"]
    setup = "".join(f"        with watch(BUDGET):\n            {op.code()}\n" for op in scenario.setup)
    body = PYTEST_FAILURE_BODY.format(kind=failure.kind, error=failure.error, function=failure.function,
                                      budget=scenario.op_budget, trace="\n".join(rows),
                                      slug=_slug(failure.kind), model=alias,
                                      machine=machine.replace("\n", "\n            "), setup=setup)
    text = header + "\n" + "\n".join(imports) + "\n" + body
    compile(text, "<emitted test>", "exec")
    return text


def _slug(text):
    word = "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")
    while "__" in word:
        word = word.replace("__", "_")
    return ("pinned_" + word)[:60].rstrip("_")


def pytest_source(scenario, violation, properties, *, model_ref=None, property_ref=None):
    """The text emit_pytest() writes."""
    if violation.invariant in FAILURE_KINDS:
        return failure_pytest_source(scenario, violation, model_ref=model_ref)
    prop = next((p for p in properties if p.name == violation.invariant), None)
    if prop is None:
        raise TraceError(f"no property named {violation.invariant!r} among "
                         f"{[p.name for p in properties]}: the test needs it to check the trace")
    trace = tuple(violation.trace)
    result = _replayed(scenario, trace, [prop])
    machine_import, machine = machine_expression(scenario)
    alias, ref = _model_binding(scenario, model_ref)
    pref = object_reference(prop, property_ref)
    header = PYTEST_DOC.format(invariant=_doc_text(violation.invariant), n=len(trace),
                               model=_doc_text(scenario.model.NAME), scenario=_doc_text(scenario.name),
                               message=textwrap.fill(_doc_text(violation.message), 100))
    imports = [machine_import]
    kinds = sorted({type(op).__name__ for op in trace})
    imports.append(f"from buddycheck.checks.ops import {', '.join(kinds)}")
    if any(hasattr(op, "gfp") for op in (*scenario.setup, *trace)):
        imports.append("from buddycheck.model import gfp as G")
    if any(getattr(op, "env", IDLE) != IDLE for op in trace):
        imports.append("from buddycheck.model.environment import Environment")
    imports = import_code([(alias, ref), ("PROPERTY", pref)], imports)
    rows = []
    for op, step in zip(trace, result.steps):
        rows += [f"    # step {step.index + 1} -> {_one_line(step.result)}", f"    {op_expr(op)},"]
    body = PYTEST_BODY.format(invariant=violation.invariant, trace="\n".join(rows), slug=_slug(violation.invariant),
                              model=alias, machine=machine.replace("\n", "\n    "),
                              setup="\n".join(f"    {op.code()}" for op in scenario.setup))
    text = header + "\n" + "\n".join(imports) + "\n" + body
    compile(text, "<emitted test>", "exec")
    return text


def emit_pytest(path, scenario, violation, properties, *, model_ref=None, property_ref=None):
    """Write a pytest file pinning the counterexample: it passes while the invariant still fails.

    The test replays `violation.trace` on `scenario.model` and asserts that the property named
    `violation.invariant` is violated at the last step (and not before), so it starts failing when
    the bug is fixed. To keep it as a regression test after the fix, set `EXPECT_VIOLATION = False`
    in the written file: it then asserts the invariant holds at every step of the same sequence.
    A crash or hang (`model_crash`, `model_hang`) needs no property: the test asserts that the last
    operation fails with the same exception type in the same function of the model.
    The file is written atomically (a temporary file renamed into place). Returns the path.
    """
    return write_atomic(path, pytest_source(scenario, violation, properties, model_ref=model_ref,
                                            property_ref=property_ref))
