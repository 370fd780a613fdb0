"""`buddycheck show`: the kernel's own views of a scenario's state (checks/procfs.py), in 4.19's formats.

The state is the scenario's booted machine (after its setup; with `--from-proc DIR` and DIR/proc/buddyinfo,
the imported free state), or the state after the operations of
`--after FILE.json`: a counterexample as `explore --json` writes it (checks/trace_json.py; its
scenario and model are used unless --preset/--config/--model say otherwise), or a JSON list of
operations in the same form as a counterexample's "ops". `--tracepoints` also prints the kmem
tracepoint lines those operations fired (checks/tracepoints.py).
"""

import json

from buddycheck.model.errors import ModelError

from .. import procfs
from ..exit_codes import EXIT_OK
from ..scenarios import scenario
from ..trace_error import TraceError
from ..trace_json import op_from_dict, trace_from_json
from ..tracepoints import record_tracepoints, trace_line
from .common import UsageError, add_from_proc_options, load_model, read_text, resolve_scenario

FILES = ("buddyinfo", "pagetypeinfo", "zoneinfo", "numastat")
TITLES = {"buddyinfo": "/proc/buddyinfo", "pagetypeinfo": "/proc/pagetypeinfo", "zoneinfo": "/proc/zoneinfo",
          "numastat": "/sys/devices/system/node/node*/numastat"}


def add_parser(subparsers):
    """Register the `show` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("show", help="/proc/buddyinfo, pagetypeinfo, zoneinfo and numastat of a state")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME", help="a built-in scenario (default: buddy-core, or the "
                                                        "counterexample's own with --after)")
    group.add_argument("--config", metavar="FILE", help="a scenario in TOML (format: checks/scenario_file.py)")
    p.add_argument("--model", metavar="REF", help="the model class: 'module:NAME' or '/path/file.py:NAME'")
    add_from_proc_options(p)
    p.add_argument("--after", metavar="FILE.json", help="the state after these operations (a counterexample "
                                                        "or a JSON list of operations)")
    p.add_argument("--file", choices=(*FILES, "all"), default="all", help="which view to print (default: all)")
    p.add_argument("--tracepoints", action="store_true",
                   help="also print the kmem tracepoint lines the --after operations fired")
    p.set_defaults(func=cmd_show, depth=None)
    return p


def _load_ops(path):
    """(ops, the counterexample's scenario name, params and model ref or None) from --after's file."""
    text = read_text(path, "--after")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"--after {path}: not valid JSON: {e}") from None
    try:
        if isinstance(data, list):
            return tuple(op_from_dict(d, f"[{i}]") for i, d in enumerate(data)), None, {}, None
        doc = trace_from_json(text)
    except TraceError as e:
        raise UsageError(f"--after {path}: {e}") from None
    return doc.ops, doc.scenario or None, doc.params, doc.model_ref


def _scenario(args, doc_scenario, doc_params, doc_model):
    if args.preset or args.config or doc_scenario is None:
        return resolve_scenario(args, "buddy-core")
    sc = scenario(doc_scenario, **doc_params)
    return sc.with_model(load_model(args.model or doc_model))


def cmd_show(args, out):
    """The body of `buddycheck show`."""
    ops, doc_scenario, doc_params, doc_model = ((), None, {}, None) if args.after is None else _load_ops(args.after)
    if args.tracepoints and args.after is None:
        raise UsageError("--tracepoints shows what the --after operations fired: give --after FILE.json")
    sc = _scenario(args, doc_scenario, doc_params, doc_model)
    m = sc.initial()
    lines = []
    for index, op in enumerate(ops):
        try:
            _, records = record_tracepoints(m, op.apply)
        except ModelError as e:
            raise UsageError(f"--after {args.after}: step {index + 1} ({op.code()}) cannot run on scenario "
                             f"{sc.name}: {e}") from None
        lines += [f"# step {index + 1}: {op.code()}"] + [trace_line(r, m.pageblock_order) for r in records]
    start = sc.params.get("free_state")
    where = f"scenario {sc.name}" + (f" after {len(ops)} operations of {args.after}" if args.after
                                     else f", started from {start}" if start else ", booted")
    for name in FILES if args.file == "all" else (args.file,):
        out(f"==> {TITLES[name]} ({where}) <==")
        out(procfs.VIEWS[name](m).rstrip("\n"))
        out("")
    if args.tracepoints:
        out("==> kmem tracepoints <==")
        out("\n".join(lines))
    return EXIT_OK
