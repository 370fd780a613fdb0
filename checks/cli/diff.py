"""`buddycheck diff BASE HEAD`: the shortest sequence of operations after which two models differ.

    buddycheck diff BASE HEAD [--preset NAME | --config FILE] [--depth N] [--max-states N] [--workers N] [--json]
                              [--emit-pytest FILE]

BASE and HEAD are variant names of model/variants.py (`4.19`, `4.19.0`, `5.8-classzone`) or
references 'module:NAME' / '/path/file.py:NAME' to a Kernel419 subclass. The scenario is a built-in
one (`buddycheck scenarios`, plus the diff scenarios of checks/diff.py: rebind-4node,
classzone-2node), a TOML file, or numa2-mixed by default; --pages/--max-order/--orders size
buddy-core as for `explore`.

Exit status: 0 no difference up to the bound (the report says which bound), 1 a difference (shrunk
and printed side by side, with a program that replays it on both models), 2 bad usage (an unknown
variant is named with the list of known ones), 3 the search was stopped by --max-states or Ctrl-C
before the bound. With --json, standard output is one JSON document and nothing else. --emit-pytest
FILE writes the difference as a test that fails while the models differ (checks/difference_pytest.py).
"""

import json

from buddycheck.model.errors import ModelError

from ..diff import diff, difference_document, format_difference_program, report_lines, resolve_model
from ..exit_codes import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATION
from ..json_document import DIFFERENCE, bounds, envelope
from .common import (
    Progress,
    UsageError,
    add_coverage_options,
    check_writable,
    coverage_for,
    coverage_lines,
    emit_difference_test,
    json_default,
    order_range,
    positive_int,
    resolve_scenario,
)
from .output import OutputFiles

DEFAULT_DIFF_SCENARIO = "numa2-mixed"


def add_parser(subparsers):
    """Register the `diff` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("diff", help="the shortest sequence of operations after which two models differ")
    p.add_argument("base", metavar="BASE", help="a variant (4.19, 4.19.0, 5.8-classzone) or 'module:NAME'")
    p.add_argument("head", metavar="HEAD", help="a variant or a reference, compared against BASE")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME",
                       help=f"a built-in scenario or a diff scenario (default {DEFAULT_DIFF_SCENARIO})")
    group.add_argument("--config", metavar="FILE", help="a scenario in TOML (format: checks/scenario_file.py)")
    p.add_argument("--depth", type=positive_int, metavar="N", help="the number of operations to explore")
    p.add_argument("--max-states", type=positive_int, metavar="N", help="stop after N distinct pairs of states")
    p.add_argument("--workers", type=positive_int, metavar="N", default=1,
                   help="expand each large breadth-first level in N processes (same result, sooner)")
    p.add_argument("--pages", type=positive_int, metavar="N", help="buddy-core: pages in the zone")
    p.add_argument("--max-order", type=positive_int, metavar="M", help="buddy-core: MAX_ORDER")
    p.add_argument("--orders", type=order_range, metavar="LO-HI", help="buddy-core: orders to allocate")
    p.add_argument("--json", action="store_true", help="one JSON document on standard output")
    p.add_argument("--emit-pytest", metavar="FILE",
                   help="write the difference as a pytest file that fails while the two models differ on it")
    add_coverage_options(p)
    p.set_defaults(func=cmd_diff)
    return p


def load_variant(name, which):
    try:
        return resolve_model(name)
    except ModelError as e:
        raise UsageError(f"diff {which}: {e}") from None


def diff_scenario(args):
    """The scenario named by --preset/--config (any built-in scenario, a TOML file), numa2-mixed by default."""
    return resolve_scenario(args, DEFAULT_DIFF_SCENARIO)


def diff_exit(report, coverage=None):
    if report.difference is not None:
        return EXIT_VIOLATION
    if report.stopped_by in ("max_states", "interrupt"):
        return EXIT_INCONCLUSIVE
    if coverage is not None and coverage.unexercised_overrides():
        return EXIT_INCONCLUSIVE  # "equivalent" would claim something about code that never ran
    return EXIT_OK


def cmd_diff(args, out):
    """The body of `buddycheck diff`; returns the exit status."""
    base = load_variant(args.base, "BASE")
    head = load_variant(args.head, "HEAD")
    sc = diff_scenario(args)
    if args.emit_pytest:
        check_writable(args.emit_pytest, "--emit-pytest")
    measure = coverage_for(args, head)
    bar = Progress(not args.json)
    try:
        report = diff(base, head, sc, sc.depth, args.max_states, progress=bar, coverage=measure, workers=args.workers)
    finally:
        bar.close()
    coverage = measure.report() if measure is not None else None
    files = OutputFiles()
    try:
        print_diff(args, out, report, sc, base, head, coverage)
    finally:  # the LCOV file after the report (checks/cli/output.py)
        if args.coverage and measure is not None:
            files.write("--coverage", args.coverage, lambda: measure.write_lcov(args.coverage))
    return files.status(emitted(args, report, base, head) or diff_exit(report, coverage))


def print_diff(args, out, report, sc, base, head, coverage):
    """The report of `diff`: the side-by-side table and the program, or with --json the document."""
    if args.json:
        doc = difference_document(report, sc, base, head)
        doc["coverage"] = None if coverage is None else coverage.to_json()
        doc["verdict"] = [{"kind": DIFFERENCE, "invariant": f"behaviour of {head.NAME} vs {base.NAME}",
                           "result": "differs" if report.difference is not None else "same"}]
        doc = envelope("diff", doc, bounds(report.depth_bound, report.max_states))
        out(json.dumps(doc, indent=2, default=json_default))
        return
    for line in report_lines(report, sc):
        out(line)
    if coverage is not None:
        for line in coverage_lines(coverage):
            out(line)
    if report.difference is not None and report.difference.trace:
        try:
            program = format_difference_program(report.difference, base, head)
        except Exception as e:  # printing is best effort: the side-by-side table above is the result
            out(f"\n(the replay program cannot be printed: {e})")
        else:
            out("\nThe difference as a program (run it with python):\n")
            out(program)


def emitted(args, report, base, head):
    """--emit-pytest, after the report: the test of the (shrunk) difference; 2 if it cannot be written, else None."""
    if not (args.emit_pytest and report.difference is not None):
        return None
    return emit_difference_test(args.emit_pytest, report.difference, base, head)
