"""Counterexamples as JSON: the codec of operations and the counterexample document.

`trace_to_json()` / `trace_from_json()` store a counterexample as a JSON document and load it;
`op_to_dict()` / `op_from_dict()` are the codec of one operation, which reads what each operation
class declares (checks/ops/base.py: its `kind`, its `quiet_fields`; checks/ops/fields.py: what each
field holds). A model that crashed or hung carries its failure (exception type, function,
file:line) in the document.
"""

import json
from dataclasses import MISSING, dataclass, fields

from buddycheck.model.environment import IDLE, Environment
from buddycheck.model.gfp import format_gfp, parse_gfp

from .explore import Violation
from .failure import failure_from_dict
from .naming import machine_expression, object_reference, split_reference
from .ops import OPERATIONS, is_operation
from .ops.fields import BOOL, ENV, GFP, NODES, OP, SCHEDULE, STR, SYSCTL_VALUE, WORDS, field_kind
from .report import FAILURE_KINDS
from .trace_error import TraceError

FORMAT = "buddycheck-counterexample"
FORMAT_VERSION = 1


def op_to_dict(op):
    """An operation as a JSON object with a "kind" field and its fields (quiet fields only when not at default)."""
    if not is_operation(op):
        raise TraceError(f"operation {op!r}: not one of the known kinds ({', '.join(OPERATIONS)})")
    out = {"kind": op.kind}
    for f in fields(op):
        value = getattr(op, f.name)
        if f.name in op.quiet_fields and value == f.default:
            continue
        kind = field_kind(f).kind
        if kind == GFP:
            value = format_gfp(value)
        elif kind == ENV:
            value = {n: getattr(value, n) for n in Environment.__dataclass_fields__
                     if getattr(value, n) != getattr(IDLE, n)}
        elif kind == NODES and value is not None:
            value = sorted(value)
        elif kind == OP:
            value = op_to_dict(value)
        elif kind in (SCHEDULE, WORDS) and value is not None:
            value = list(value)
        elif kind == SYSCTL_VALUE and isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


# plain integer fields that number a CPU, node, task, order or pfn: never negative in any counterexample
# (a system call's raw arguments, such as maxnode, may be)
COUNTING_FIELDS = frozenset({"cpu", "nid", "task", "tid", "order", "pfn", "start_pfn", "end_pfn", "pages"})


def _int_list(value, described, fwhere, what, make):
    """A JSON list of ints as `make` (frozenset, tuple) of them; None where the field is optional."""
    if value is None and described.optional:
        return None
    if not isinstance(value, list):
        raise TraceError(f"{fwhere} = {value!r}: expected a list of {what}")
    return make(_want_int(v, f"{fwhere}[{i}]") for i, v in enumerate(value))


def _want_int(value, where, optional=False):
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise TraceError(f"{where} = {value!r}: expected an integer" + (" or null" if optional else ""))
    return value


def _sysctl_value(value, where):
    """A sysctl write's value: an integer, a string, or a list of integers (kept as a tuple)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return tuple(_want_int(v, f"{where}[{i}]") for i, v in enumerate(value))
    if not isinstance(value, int) or isinstance(value, bool):
        raise TraceError(f"{where} = {value!r}: expected an integer, a string or a list of integers")
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
    if not isinstance(kind, str) or kind not in OPERATIONS:
        raise TraceError(f"{where}: unknown operation kind {kind!r} (known: {', '.join(OPERATIONS)})")
    cls = OPERATIONS[kind]
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
        described = field_kind(f)
        if described.kind == GFP:
            if isinstance(value, bool) or not isinstance(value, int | str) or (isinstance(value, int) and value < 0):
                raise TraceError(f"{fwhere} = {value!r}: expected a gfp mask (a number or 'GFP_KERNEL|...')")
            try:
                value = parse_gfp(value)
            except ValueError as e:
                raise TraceError(f"{fwhere}: {e}") from None
        elif described.kind == ENV:
            value = _env_from_dict(value, fwhere)
        elif described.kind == NODES:
            value = _int_list(value, described, fwhere, "node ids", frozenset)
        elif described.kind == BOOL:
            if not isinstance(value, bool):
                raise TraceError(f"{fwhere} = {value!r}: expected true or false")
        elif described.kind == OP:
            value = op_from_dict(value, fwhere)
        elif described.kind == SCHEDULE:
            if not isinstance(value, list) or any(v not in (0, 1) or isinstance(v, bool) for v in value):
                raise TraceError(f"{fwhere} = {value!r}: expected a list of picks, each 0 or 1")
            value = tuple(value)
        elif described.kind == WORDS:
            value = _int_list(value, described, fwhere, "integers", tuple)
        elif described.kind == STR:
            if not isinstance(value, str):
                raise TraceError(f"{fwhere} = {value!r}: expected a string")
        elif described.kind == SYSCTL_VALUE:
            value = _sysctl_value(value, fwhere)
        else:
            value = _want_int(value, fwhere, optional=described.optional)
            if name in COUNTING_FIELDS and value is not None and value < 0:
                raise TraceError(f"{fwhere} = {value!r}: expected a non-negative integer")
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

