"""`buddycheck check`: the theorems, the portfolio explored with coverage, and one verdict table.

The judging (what each row says, the exit status, the JSON document) is checks/verdict.py; this is
the command: its options, the scenarios it names and the run that collects what is judged.
"""

import json
import time

from buddycheck.spec import theorems

from ..json_document import bounds, envelope
from ..junit import write as write_junit
from ..junit_suites import verdict_suites
from ..portfolio import UnknownInvariant, explore_portfolio
from ..scenarios import portfolio_scenarios
from ..verdict import Verdict, theorem_agreements
from .common import (
    Progress,
    UsageError,
    add_coverage_options,
    add_invariant_options,
    add_junit_option,
    add_scenario_options,
    check_writable,
    coverage_for,
    emit_difference_test,
    emit_test,
    load_model,
    positive_float,
    resolve_scenario,
    theorem_line,
)
from .output import OutputFiles
from .picture_option import add_picture_option, picture_usage, write_picture_of
from .signals import stop_listening

DEFAULT_SECONDS = 36.0  # exploration time of the whole portfolio; theorems and shrinking come on top


def add_parser(subparsers):
    """Register the `check` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("check", help="the main job: theorems, the default portfolio, then a verdict")
    add_scenario_options(p)
    p.add_argument("--json", action="store_true", help="one JSON document on standard output")
    p.add_argument("--time", type=positive_float, metavar="SECONDS",
                   help=f"exploration time shared by the scenarios (default: {DEFAULT_SECONDS:g} for the portfolio; "
                        "a single scenario goes to its depth)")
    add_picture_option(p)
    p.add_argument("--emit-pytest", metavar="FILE",
                   help="write the first violation that fails the check (not one known in the base) as a pytest "
                        "file that fails until the bug is fixed; with --fail-on-difference and no such violation, "
                        "the first difference from the base, as a test that fails while the two differ")
    p.add_argument("--fail-on-difference", action="store_true",
                   help="with --model: a behavioural difference from the base fails the check (exit 1)")
    add_invariant_options(p)
    add_coverage_options(p)
    add_junit_option(p)
    p.set_defaults(func=cmd_check)
    return p


def scenarios_of(args):
    """The scenario the user named, or the default portfolio."""
    if args.preset or args.config or args.from_proc or args.buddyinfo:
        return [resolve_scenario(args, None)]
    scenarios = portfolio_scenarios()
    for sc in scenarios:
        if args.depth is not None:
            sc.depth = min(sc.depth, args.depth)
        if args.symmetry is False:  # --no-symmetry; by default each scenario is reduced where it allows it
            sc.symmetry = False
    return scenarios


def scenario_progress(bar):
    """The portfolio's callback: the shared progress line, labelled with the scenario being searched."""
    def show(sc, report):
        bar.describe(sc.name)
        bar(report)
    return show


def theorem_announcer(bar):
    """Each theorem on a line of its own as soon as Z3 has decided it (the proofs take a while)."""
    return lambda result: bar.announce(theorem_line(result))


def cmd_check(args, out):
    """The body of `buddycheck check`; returns the exit status."""
    model = load_model(args.model)
    base = model.base_model()
    scenarios = scenarios_of(args)
    seconds = args.time if args.time is not None else (DEFAULT_SECONDS if len(scenarios) > 1 else None)
    measure = coverage_for(args, model)
    if args.emit_pytest:
        check_writable(args.emit_pytest, "--emit-pytest")
    picture_usage(args)
    if args.junit:
        check_writable(args.junit, "--junit")
    started = time.perf_counter()
    bar = Progress(not args.json)
    announce = theorem_announcer(bar)
    proved, runs, agreements = [], [], {}
    try:
        try:
            theorems.prove_all(on_result=lambda result: (proved.append(result), announce(result)))
        except KeyboardInterrupt:  # the whole run stops, not only the theorem Z3 was deciding
            stop_listening()
            proved += theorems.undecided(theorems.THEOREMS, proved)
        else:
            agreements = theorem_agreements(model)
            runs = explore_portfolio(scenarios, model, seconds=seconds, base=base, only=args.invariant or (),
                                     skip=args.skip or (), coverage=measure, workers=args.workers,
                                     progress=scenario_progress(bar), profile=args.invariants)
    except UnknownInvariant as e:
        raise UsageError(str(e)) from None
    finally:
        bar.close()
    coverage = measure.report() if measure is not None and runs else None
    elapsed = time.perf_counter() - started

    verdict = Verdict(model, base, proved, runs, coverage, args, agreements)
    code = verdict.exit_code(theorems.Status)
    files = OutputFiles()
    try:
        print_verdict(args, out, verdict, code, elapsed, runs, seconds)
    finally:  # the files after the report, so that a full disk cannot lose the report
        if args.coverage and coverage is not None:
            files.write("--coverage", args.coverage, lambda: measure.write_lcov(args.coverage))
        if verdict.regressions():
            run, v = verdict.regressions()[0]
            write_picture_of(args, getattr(v, "scenario", None) or run.scenario, v, files)
        if args.junit:
            files.write("--junit", args.junit, lambda: write_junit(args.junit, verdict_suites(verdict)))
    return files.status(emitted(args, verdict) or code)


def print_verdict(args, out, verdict, code, elapsed, runs, seconds):
    """The report: the verdict table, or with --json the document."""
    if args.json:
        doc = verdict.document(code, elapsed)
        for entry, run in zip(doc["scenarios"], runs):
            entry["bounds"] = bounds(run.scenario.depth, None, None if run.share is None else round(run.share, 3))
        doc = envelope("check", doc, bounds(args.depth, None, seconds))
        out(json.dumps(doc, indent=2, default=str))
        return
    for line in verdict.text(code, elapsed, theorems.Status):
        out(line)


def emitted(args, verdict):
    """--emit-pytest, after the report: the test of the first violation that fails the check, on the scenario it
    was shrunk on, or, when only a difference fails it (--fail-on-difference), the test of that difference;
    2 if it cannot be written, else None (nothing to write included)."""
    if not args.emit_pytest:
        return None
    if not verdict.regressions():
        if args.fail_on_difference and verdict.differences():
            d = verdict.differences()[0].diff.difference
            return emit_difference_test(args.emit_pytest, d, verdict.base, verdict.model)
        return None
    run, v = verdict.regressions()[0]
    properties = [p for p in run.properties if p.name == v.invariant]  # none for a crash or hang
    return emit_test(args.emit_pytest, getattr(v, "scenario", None) or run.scenario, v, properties)
