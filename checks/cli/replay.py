"""`buddycheck replay FILE.json`: run an exported counterexample again and say whether it still fails.

FILE is a counterexample document (checks/trace_json.py), or the report of `explore --json`, whose
first violation is replayed. The scenario is rebuilt from the document's `params` (a buddy-core
preset with its size, a scenario file by its path) or else its `scenario` name; the model is
`--model REF` if given, else the document's `model_ref`.

Exit status: 1 when the invariant (or the crash or hang) is still there, at the step it fails; 0 when
the operations all run and the invariant holds after every one; 3 when an operation of the trace is
no longer enabled on the model (nothing can be said); 2 for a file that cannot be read or rebuilt,
naming the file, the key and the value.
"""

import json

from buddycheck.model.errors import ConfigError

from ..exit_codes import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATION
from ..portfolio import UnknownInvariant, properties_for
from ..replay import replay
from ..report import FAILURE_KINDS
from ..scenario_file import load_scenario
from ..scenarios import scenario
from ..trace_json import trace_from_json
from .common import UsageError, load_model, read_text


def add_parser(subparsers):
    """Register the `replay` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("replay", help="replay an exported counterexample (JSON) on its model")
    p.add_argument("file", metavar="FILE.json",
                   help="a counterexample document, or the report of `explore --json` (its first violation)")
    p.add_argument("--model", metavar="REF",
                   help="replay on this model ('module:NAME' or '/path/file.py:NAME'), not the one the file names")
    p.set_defaults(func=cmd_replay)
    return p


def read_document(path):
    """The TraceDocument in `path` (a counterexample, or an explore report's first violation)."""
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON: {e}") from None
    if isinstance(doc, dict) and "violations" in doc and "ops" not in doc:  # the report of explore --json
        found = doc["violations"]
        if not isinstance(found, list) or not found:
            raise UsageError(f"{path}: 'violations' = {found!r}: no counterexample to replay")
        text = json.dumps(found[0])
    try:
        return trace_from_json(text)
    except ConfigError as e:
        raise UsageError(f"{path}: {e}") from None


def rebuild_scenario(path, doc):
    """The scenario the counterexample was found on, from its params (or its name)."""
    params = doc.params
    try:
        if isinstance(params.get("path"), str):
            return load_scenario(params["path"])
        if params.get("preset") == "buddy-core":
            sizes = {k: params[k] for k in ("pages", "max_order") if k in params}
            bad = {k: v for k, v in sizes.items() if isinstance(v, bool) or not isinstance(v, int)}
            if bad:
                raise ValueError(f"{', '.join(f'{k} = {v!r}' for k, v in bad.items())}: expected a whole number")
            if "orders" in params:
                sizes["orders"] = tuple(params["orders"])
            return scenario("buddy-core", **sizes)
        return scenario(doc.scenario)
    except (ConfigError, TypeError, ValueError) as e:
        raise UsageError(f"{path}: 'scenario' = {doc.scenario!r}, 'params' = {params!r}: cannot rebuild it ({e})") \
            from None


def cmd_replay(args, out):
    """The body of `buddycheck replay`; returns the exit status."""
    doc = read_document(args.file)
    ref = args.model or doc.model_ref
    if ref is None:
        raise UsageError(f"{args.file}: 'model_ref' = null: the file does not say which model; give --model REF")
    sc = rebuild_scenario(args.file, doc).with_model(load_model(ref))
    if doc.invariant in FAILURE_KINDS:
        properties = []
    else:
        try:
            properties = properties_for(sc, only=[doc.invariant])
        except UnknownInvariant as e:
            raise UsageError(f"{args.file}: 'invariant' = {doc.invariant!r}: {e}") from None
    out(f"replaying {doc.length} operation(s) of {doc.invariant} on model {sc.model.NAME} (scenario {sc.name})")
    result = replay(sc, doc.ops, properties, stop_at_first=True)
    for step in result.steps:
        out(f"  step {step.index + 1}: {step.op.code()} -> {step.result}")
    found = result.violation_of(doc.invariant)
    if found is not None:
        where = f"step {len(found.trace)}" if found.trace or result.initial_state is not None else "booting"
        out(f"VIOLATION of {doc.invariant} at {where}: {found.message}")
        return EXIT_VIOLATION
    if result.disabled is not None:
        out(f"INCONCLUSIVE: {result.disabled}; the trace no longer fits the model")
        return EXIT_INCONCLUSIVE
    if result.failure is not None:  # another failure than the one recorded
        out(f"VIOLATION of {result.failure.invariant} at step {len(result.failure.trace)}: {result.failure.message}")
        return EXIT_VIOLATION
    out(f"  {doc.invariant} holds after every step: the counterexample no longer reproduces")
    return EXIT_OK
