"""Naming things in printed code: the machine, the model and properties, configuration and operation values.

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

How an operation value prints (`op_expr`): its class called with the fields that differ from their
defaults, each written as its field description says (checks/ops/fields.py).
"""

import ast
import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import MISSING, fields, is_dataclass
from inspect import signature

from buddycheck.model import NodeSpec, Topology, ZoneSpec
from buddycheck.model import constants as _constants
from buddycheck.model import gfp as _gfp
from buddycheck.model.errors import ModelError
from buddycheck.model.presets import PRESETS, preset

from .ops import OPERATIONS, field_code, gfp_code, is_operation
from .ops.code import CONSTANTS_ALIAS, GFP_ALIAS, zone_type_code
from .ops.fields import OP, field_kind
from .trace_error import TraceError

OPS_PACKAGE = "buddycheck.checks.ops"
# the sys.modules name of a module loaded from a file path (`/path/file.py:NAME`) starts with this
FILE_MODULE_PREFIX = "_buddycheck_ref_"


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


TOPOLOGY_NAMES = {"Topology": Topology, "NodeSpec": NodeSpec, "ZoneSpec": ZoneSpec, "frozenset": frozenset,
                  CONSTANTS_ALIAS: _constants, GFP_ALIAS: _gfp}


def _zone_set_code(zone_types):
    return "frozenset({" + ", ".join(map(zone_type_code, sorted(zone_types))) + "})" if zone_types else "frozenset()"


# configuration fields holding an integer the kernel names: printed by the name (over `C` or `G`)
NAMED_FIELDS = {(ZoneSpec, "zone_type"): zone_type_code, (Topology, "configured_zones"): _zone_set_code,
                (Topology, "gfp_allowed_mask"): gfp_code}


def _default(f):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def value_code(value):
    """Python source for a configuration value; a dataclass shows only the fields that differ from defaults."""
    if is_dataclass(value) and not isinstance(value, type):
        args = [f"{f.name}={_field_value_code(type(value), f.name, getattr(value, f.name))}" for f in fields(value)
                if f.compare and getattr(value, f.name) != _default(f)]
        return f"{type(value).__name__}({', '.join(args)})"
    if isinstance(value, tuple):
        items = [value_code(v) for v in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, frozenset):
        return "frozenset({" + ", ".join(map(repr, sorted(value))) + "})" if value else "frozenset()"
    return repr(value)


def _field_value_code(cls, name, value):
    named = NAMED_FIELDS.get((cls, name))
    return value_code(value) if named is None or value is None else named(value)


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
            lines.append(f"    {f.name}={_field_value_code(Topology, f.name, value)},")
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
            module = _importing(where, lambda: importlib.import_module(where))
        except ImportError as e:
            raise TraceError(f"reference {ref!r}: cannot import {where!r} ({e})") from None
    try:
        return eval(expr, dict(vars(module)))  # the expression is checked to start with a module global
    except Exception as e:  # a missing name, key or index: the reference is wrong
        raise TraceError(f"reference {ref!r}: {type(e).__name__}: {e}") from None


def _load_file(path):
    if os.path.isdir(path):
        raise TraceError(f"reference to {path!r}: a folder, not a Python file")
    if not os.path.isfile(path):
        raise TraceError(f"reference to {path!r}: no such file")
    name = FILE_MODULE_PREFIX + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        _importing(path, lambda: spec.loader.exec_module(module))
    except BaseException:
        del sys.modules[name]  # a failed import leaves nothing half-defined behind
        raise
    return module


def _importing(where, load):
    """load() (the import of a module or file); what goes wrong in it is a TraceError naming file and line.

    A syntax error, an exception raised by the module's own code and a module that calls sys.exit()
    while it is imported are each the reference's fault, not the tool's; Ctrl-C goes on.
    """
    try:
        return load()
    except ImportError:
        raise
    except SyntaxError as e:
        raise TraceError(f"{e.filename or where}:{e.lineno}: {type(e).__name__}: {e.msg}") from None
    except OSError as e:
        raise TraceError(f"{getattr(e, 'filename', None) or where}: cannot read it ({e.strerror or e})") from None
    except SystemExit as e:
        raise TraceError(f"{_raised_at(e, where)}: calls sys.exit({e.code!r}) while it is imported; a model file "
                         "should only define its classes and functions") from None
    except Exception as e:  # the module's own code failed as it ran
        raise TraceError(f"{_raised_at(e, where)}: {type(e).__name__} while it is imported: {e}") from None


def _raised_at(error, where):
    """file:line of the deepest frame of error's traceback inside the imported file (else its last frame)."""
    frames = traceback.extract_tb(error.__traceback__)
    inside = [f for f in frames if os.path.abspath(f.filename) == os.path.abspath(where)]
    frame = (inside or frames[-1:] or [None])[-1]
    return where if frame is None else f"{frame.filename}:{frame.lineno}"


def import_code(bindings, imports=(), *, relative_to=None):
    """The import section that binds each (alias, reference) pair after the given import lines.

    Standard-library imports come first, then `imports` and the module references, then the
    loading of file references (each file once, registered in sys.modules under its own name).
    With `relative_to` (the directory the printed file will sit in), a file reference is loaded by
    its path relative to the printed file, so the two can move together.
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
        lines = ["import importlib.util", *(["import os"] if relative_to is not None else []), "import sys", "", *froms]
    if plain or files:
        lines.append("")
    lines += plain
    if files and relative_to is not None:
        lines.append("_HERE = os.path.dirname(os.path.abspath(__file__))")
    for n, (path, names) in enumerate(files.items()):
        var = f"_loaded{n}"
        module_name = f"counterexample_source_{n}"
        where = repr(path)
        if relative_to is not None:
            where = f"os.path.join(_HERE, {os.path.relpath(os.path.abspath(path), os.path.abspath(relative_to))!r})"
        lines += [
            f"_spec = importlib.util.spec_from_file_location({module_name!r}, {where})",
            f"{var} = sys.modules[{module_name!r}] = importlib.util.module_from_spec(_spec)",
            f"_spec.loader.exec_module({var})",
        ]
        lines += [f"{alias} = {var}.{expr}" for alias, expr in names]
    return lines


def operation_imports(ops):
    """(import lines, (alias, reference) bindings) that bind the class of every operation in `ops` by its name.

    The built-in operations come in one line from buddycheck.checks.ops; an operation class defined
    elsewhere (a test module, for instance) is bound by its reference like a model.
    """
    builtin, bindings = [], []
    for cls in sorted({type(op) for op in _with_nested(ops)}, key=lambda c: c.__name__):
        ref = object_reference(cls)
        where, expr = split_reference(ref)
        if where == OPS_PACKAGE and expr == cls.__name__:
            builtin.append(expr)
        else:
            bindings.append((cls.__name__, ref))
    lines = [f"from {OPS_PACKAGE} import {', '.join(builtin)}"] if builtin else []
    return lines, bindings


def _with_nested(ops):
    """The operations and, depth first, the operations their fields hold (a concurrent pair's two)."""
    for op in ops:
        yield op
        if is_operation(op):
            yield from _with_nested([getattr(op, f.name) for f in fields(op) if field_kind(f).kind == OP])


def op_expr(op):
    """A Python expression that builds the operation value (over `Environment` and the aliases of
    checks/ops/code.py: `G`, `P`, `C`, whose imports `name_imports` gives).

    Fields without a default are positional, fields left at their default are omitted; each is written as
    its annotation says (checks/ops/fields.py), so a mode or a migratetype prints by its kernel name.
    """
    if not is_operation(op):
        raise TraceError(f"operation {op!r}: not one of the known kinds ({', '.join(OPERATIONS)})")
    args = []
    for f in fields(op):
        value = getattr(op, f.name)
        if f.default is not MISSING and value == f.default:
            continue
        text = op_expr(value) if field_kind(f).kind == OP else field_code(f, value)
        args.append(text if f.default is MISSING else f"{f.name}={text}")
    return f"{type(op).__name__}({', '.join(args)})"


def model_binding(scenario, model_ref):
    """(alias, reference) the printed code binds the scenario's model class to."""
    ref = object_reference(scenario.model, model_ref)
    expr = split_reference(ref)[1]
    return (expr if expr.isidentifier() and expr not in ("m", "G", "P", "C", "PROPERTY", "TRACE") else "Model"), ref

