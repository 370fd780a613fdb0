"""`buddycheck trace FILE`: replay a recorded kmem trace on a model machine (checks/kmem_trace.py).

Exit status: 0 when the model follows the whole trace, 1 at the first divergence (printed with the
model's events for that step, the events before it and the model's machine), 2 for a trace that
cannot be read (file, line and text named) or bad usage. --events chooses which events are compared.
"""

from ..exit_codes import EXIT_OK, EXIT_VIOLATION
from ..kmem_trace import (
    ALL_EVENTS,
    SHORT_NAMES,
    TraceFormatError,
    check_pfn_offset,
    parse_event_selection,
    parse_kmem_trace,
    replay_kmem,
)
from .common import UsageError, add_from_proc_options, positive_int, read_text, resolve_scenario, whole_number


def add_parser(subparsers):
    """Register the `trace` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("trace", help="replay a recorded kmem trace (trace-cmd report or the ftrace buffer) "
                                            "on the model and report the first divergence")
    p.add_argument("file", metavar="FILE", help="the text of `trace-cmd report` or of /sys/kernel/tracing/trace")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME", help="the machine of a built-in scenario (default: buddy-core)")
    group.add_argument("--config", metavar="FILE", help="the machine of a scenario in TOML")
    p.add_argument("--model", metavar="REF", help="the model class: 'module:NAME' or '/path/file.py:NAME'")
    p.add_argument("--pages", type=positive_int, metavar="N",
                   help="buddy-core: pages in the zone; --from-proc: the machine's total")
    p.add_argument("--max-order", type=positive_int, metavar="M", help="buddy-core or --from-proc: MAX_ORDER")
    add_from_proc_options(p)
    p.add_argument("--pfn-offset", type=whole_number(0), default=0, metavar="N",
                   help="model pfn = recorded pfn - N, a multiple of the model's MAX_ORDER_NR_PAGES (default: 0)")
    p.add_argument("--cpu", type=whole_number(0), metavar="N", help="run every event on model CPU N "
                                                                  "(default: the recorded CPU)")
    p.add_argument("--context", type=whole_number(0), default=5, metavar="K",
                   help="events shown before a divergence (default: 5)")
    p.add_argument("--events", metavar="LIST", default=",".join(SHORT_NAMES),
                   help="the events compared, comma-separated: alloc and free (always) and any of zone_locked, "
                        "pcpu_drain, extfrag (default: all)")
    p.set_defaults(func=cmd_trace, depth=None)
    return p


def cmd_trace(args, out):
    """The body of `buddycheck trace`; returns the exit status."""
    text = read_text(args.file, "trace:")
    try:
        selected = parse_event_selection(args.events)
    except ValueError as e:
        raise UsageError(f"trace: --events {args.events}: {e}") from None
    try:
        events = parse_kmem_trace(text, args.file)
    except TraceFormatError as e:
        raise UsageError(f"trace: malformed trace: {e}") from None
    sc = resolve_scenario(args, "buddy-core")
    m = sc.initial()
    if args.cpu is not None and args.cpu not in m.topology.cpus:
        raise UsageError(f"trace: --cpu {args.cpu}: the model has cpus {list(m.topology.cpus)}")
    offset = check_pfn_offset(m, args.pfn_offset, args.file)
    try:
        result = replay_kmem(m, events, offset, args.cpu, args.context, selected, args.file)
    except TraceFormatError as e:
        raise UsageError(f"trace: cannot replay: {e}") from None
    shown = "all" if selected == ALL_EVENTS else ",".join(k for k, v in SHORT_NAMES.items() if v in selected)
    out(f"trace {args.file} on {sc.name} ({sc.model.NAME}), pfn offset {offset}, events {shown}: "
        f"{result.replayed} of {len(events)} events replayed, {result.compared} compared with the model's")
    if result.followed:
        out("verdict: the model follows the whole trace")
        return EXIT_OK
    for line in result.divergence.lines(args.file):
        out(line)
    out("verdict: DIVERGES")
    return EXIT_VIOLATION
