"""The `buddycheck` command line.

Exit status: 0 everything asked for holds, 1 a violation or difference was found, 2 bad usage or
input, 3 inconclusive (a Z3 unknown, or a search stopped by --max-states or Ctrl-C). A search that
reaches the depth it was asked for without a violation has done its job and exits 0; its report
says whether the state space was exhausted or bounded at that depth.
"""

import argparse
import json
import signal
import sys
import threading

from buddycheck.model.errors import ModelError

from .explore import SymmetryBroken

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad command-line usage or input; printed without a traceback, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def whole_number(minimum):
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


positive_int = whole_number(1)


def positive_float(text):
    """An argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def order_range(text):
    lo, sep, hi = text.partition("-")
    try:
        lo, hi = int(lo), int(hi if sep else lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an order range LO-HI (for example 1-3)") from None
    return lo, hi


def add_scenario_options(p, buddy_core_options=True):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME", help="a built-in scenario (see `buddycheck scenarios`)")
    group.add_argument("--config", metavar="FILE", help="a scenario in TOML (format: checks/scenario_file.py)")
    p.add_argument("--depth", type=positive_int, metavar="N", help="the number of operations to explore")
    p.add_argument("--model", metavar="REF", help="the model class: 'module:NAME' or '/path/file.py:NAME'")
    p.add_argument("--workers", type=positive_int, metavar="N", default=1,
                   help="expand each large breadth-first level in N processes (same result, sooner)")
    p.add_argument("--symmetry", action="store_true",
                   help="treat whole MAX_ORDER blocks of a zone as interchangeable (exact; audited as it runs)")
    if buddy_core_options:
        p.add_argument("--pages", type=positive_int, metavar="N", help="buddy-core: pages in the zone")
        p.add_argument("--max-order", type=positive_int, metavar="M", help="buddy-core: MAX_ORDER")
        p.add_argument("--orders", type=order_range, metavar="LO-HI", help="buddy-core: orders to allocate")


def load_model(ref):
    from buddycheck.model import Kernel419

    from .trace import resolve_reference

    if ref is None:
        return Kernel419
    model = resolve_reference(ref)
    if not (isinstance(model, type) and issubclass(model, Kernel419)):
        raise UsageError(f"--model {ref}: {model!r} is not a model class (a Kernel419 variant)")
    return model


def resolve_scenario(args, default):
    from .scenario_file import load_scenario
    from .scenarios import scenario

    core = {k: v for k, v in (("pages", getattr(args, "pages", None)), ("max_order", getattr(args, "max_order", None)),
                              ("orders", getattr(args, "orders", None))) if v is not None}
    if args.config:
        if core:
            raise UsageError("--pages/--max-order/--orders go with --preset buddy-core, not with --config")
        sc = load_scenario(args.config)
    else:
        name = args.preset or default
        if core and name != "buddy-core":
            raise UsageError(f"--pages/--max-order/--orders go with --preset buddy-core, not {name}")
        sc = scenario(name, **core)
    sc = sc.with_model(load_model(getattr(args, "model", None)))
    if args.depth is not None:
        sc.depth = args.depth
    if getattr(args, "symmetry", False):
        sc.symmetry = True
    return sc


class Progress:
    """A progress line on a terminal (tqdm), silent when stderr is not a terminal."""

    def __init__(self, enabled):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit=" states", file=sys.stderr, leave=False, dynamic_ncols=True)

    def __call__(self, report):
        if self.bar is not None:
            self.bar.n = report.reachable_states
            self.bar.set_postfix_str(f"depth {report.depth}, {report.transitions} transitions")
            self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def explore_scenario(sc, properties, max_states=None, progress=True, workers=1, coverage=None, keep_going=False):
    from .explore import Explorer

    explorer = Explorer(sc).check(*properties).workers(workers)
    if max_states is not None:
        explorer.max_states(max_states)
    if coverage is not None:
        explorer.coverage(coverage)
    if keep_going:
        explorer.all_violations()
    bar = Progress(progress)
    try:
        return explorer.progress(bar).run()
    finally:
        bar.close()


def add_coverage_options(p):
    p.add_argument("--coverage", metavar="FILE", help="write the per-line coverage of the model as LCOV")
    p.add_argument("--no-coverage", action="store_true",
                   help="do not measure coverage (faster; an overridden function is then not known to have run)")


def add_invariant_options(p):
    from buddycheck.spec.invariants import PROFILES

    p.add_argument("--invariant", action="append", metavar="NAME", help="check only this invariant (repeatable)")
    p.add_argument("--skip", action="append", metavar="NAME", help="do not check this invariant (repeatable)")
    p.add_argument("--invariants", choices=PROFILES, default=PROFILES[0], metavar="PROFILE",
                   help="the profile: 4.19 (the rules 4.19 keeps; default) or strict (adds later kernels' rules)")


def coverage_for(args, model):
    """A ModelCoverage for this command, or None with --no-coverage; --coverage's path is checked first."""
    from .coverage import ModelCoverage

    if args.no_coverage:
        if args.coverage:
            raise UsageError("--coverage FILE and --no-coverage exclude each other")
        return None
    if args.coverage:
        check_writable(args.coverage, "--coverage")
    return ModelCoverage(model)


def check_writable(path, option):
    """Refuse an output path before a search rather than after it."""
    import os

    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: cannot write a file there")


def coverage_lines(report):
    """The coverage summary and the warnings about a variant's overridden functions."""
    lines = ["  coverage: " + report.summary()]
    for f in report.overridden():
        lines.append(f"  overridden {f.name} ({f.where}): {f.calls} calls, lines {f.lines}/{f.lines_total}, "
                     f"branches {f.branches}/{f.branches_total}")
    lines += [f"  WARNING: {w}" for w in report.warnings()]
    return lines


def selected_properties(args, sc):
    from .portfolio import UnknownInvariant, properties_for

    try:
        return properties_for(sc, getattr(args, "invariant", None) or (), getattr(args, "skip", None) or (),
                              strict=getattr(args, "invariants", None) == "strict")
    except UnknownInvariant as e:
        raise UsageError(str(e)) from None


def report_lines(report, sc):
    how = "exhausted" if report.complete else f"bounded at depth {sc.depth}"
    if report.stopped_by == "max_states":
        how = f"stopped at --max-states after depth {report.depth}"
    elif report.stopped_by == "interrupt":
        how = f"interrupted at depth {report.depth}"
    elif report.stopped_by == "violation":
        how = f"stopped at the first violation, depth {report.depth}"
    lines = [
        f"scenario {sc.name} on model {sc.model.NAME}: {sc.description}".rstrip(": "),
        f"  {report.reachable_states} distinct states, {report.transitions} transitions, depth {report.depth}, "
        f"{how}",
        f"  {report.seconds:.2f} s, {report.states_per_second:.0f} states/s, "
        f"peak memory {report.peak_memory_mb:.0f} MB",
    ]
    for reduction in report.reductions:
        lines.append(f"  {reduction}; {report.audited} transitions audited against relabelled units")
    for name, reached in report.sometimes.items():
        lines.append(f"  sometimes {'reached' if reached else 'NOT reached'}: {name}")
    return lines


def shrunk_violations(sc, report, properties):
    from .shrink import shrink

    by_name = {p.name: p for p in properties}
    out = []
    for v in report.violations:
        try:
            out.append(shrink(sc, v, [by_name[v.invariant]] if v.invariant in by_name else []))
        except Exception as e:  # shrinking is best effort: the BFS trace is already the shortest
            print(f"buddycheck: shrinking failed ({e}); showing the breadth-first counterexample", file=sys.stderr)
            out.append(v)
    return out


def exploration_exit(report, coverage=None):
    if report.violations:
        return EXIT_VIOLATION
    if report.stopped_by in ("max_states", "interrupt"):
        return EXIT_INCONCLUSIVE
    if coverage is not None and coverage.unexercised_overrides():
        return EXIT_INCONCLUSIVE  # a changed function that never ran: nothing was checked about it
    return EXIT_OK


def cmd_explore(args, out):
    from .trace import emit_pytest, format_program, trace_document

    if args.simulate or args.seed is not None or args.walks is not None or args.time is not None:
        return cmd_simulate(args, out)
    sc = resolve_scenario(args, "buddy-core")
    if args.emit_pytest:
        check_writable(args.emit_pytest, "--emit-pytest")
    properties = selected_properties(args, sc)
    measure = coverage_for(args, sc.model)
    report = explore_scenario(sc, properties, args.max_states, progress=not args.json, workers=args.workers,
                              coverage=measure, keep_going=args.keep_going)
    coverage = measure.report() if measure is not None else None
    if args.coverage and measure is not None:
        measure.write_lcov(args.coverage)
    violations = shrunk_violations(sc, report, properties) if report.violations else []
    by_name = {p.name: p for p in properties}

    def props_of(v):  # a crash or hang (model_crash, model_hang) is judged by no property
        return [by_name[v.invariant]] if v.invariant in by_name else []
    if args.emit_pytest and violations:
        v = violations[0]
        emit_pytest(args.emit_pytest, getattr(v, "scenario", None) or sc, v, props_of(v))
    if args.json:
        doc = {
            "scenario": sc.name, "model": sc.model.NAME, "reachable_states": report.reachable_states,
            "transitions": report.transitions, "depth": report.depth, "complete": report.complete,
            "stopped_by": report.stopped_by, "seconds": round(report.seconds, 3),
            "states_per_second": round(report.states_per_second, 1),
            "peak_memory_mb": round(report.peak_memory_mb, 1), "sometimes": report.sometimes,
            "reductions": list(report.reductions), "symmetry_audits": report.audited,
            "violations": [trace_document(getattr(v, "scenario", None) or sc, v) for v in violations],
            "coverage": None if coverage is None else coverage.to_json(),
        }
        out(json.dumps(doc, default=_json_default, indent=2))
        return exploration_exit(report, coverage)
    for line in report_lines(report, sc):
        out(line)
    if coverage is not None:
        for line in coverage_lines(coverage):
            out(line)
    if not violations:
        names = ", ".join(p.name for p in properties)
        if coverage is not None and coverage.unexercised_overrides():
            out(f"  INCONCLUSIVE: no violation, but the changed function(s) "
                f"{', '.join(f.name for f in coverage.unexercised_overrides())} never ran")
        elif report.stopped_by in ("max_states", "interrupt"):
            out(f"  no violation in the part explored (the search was cut short): {names}")
        elif report.complete:
            out(f"  every invariant held in every reachable state: {names}")
        else:
            out(f"  every invariant held to depth {report.depth}: {names}")
    for v in violations:
        out(f"\nVIOLATION of {v.invariant} after {v.length} operations: {v.message}\n")
        out(format_program(getattr(v, "scenario", None) or sc, v.trace, props_of(v), violation=v))
    return exploration_exit(report, coverage)


# ---- explore --simulate: random walks instead of breadth-first search (checks/strategies/simulate.py) ----


def add_simulate_options(p):
    p.add_argument("--simulate", action="store_true",
                   help="random walks of up to --depth operations instead of breadth-first search: a sample, "
                        "for machines too large to exhaust")
    p.add_argument("--seed", type=whole_number(0), metavar="N", help="--simulate: the seed of the walks (default 0)")
    p.add_argument("--walks", type=positive_int, metavar="N",
                   help="--simulate: the number of walks (default 100, or as many as --time allows)")
    p.add_argument("--time", type=positive_float, metavar="SECONDS", help="--simulate: stop walking after SECONDS")


def cmd_simulate(args, out):
    """`explore --simulate`: seeded random walks, the first violation shrunk; exit 0 means none in the sample."""
    from .strategies.simulate import Simulator
    from .trace import emit_pytest, format_program, trace_document

    if not args.simulate:
        raise UsageError("--seed, --walks and --time go with --simulate")
    for given, option in ((args.max_states, "--max-states"), (args.keep_going, "--keep-going"),
                          (args.symmetry, "--symmetry"), (args.workers != 1, "--workers")):
        if given:
            raise UsageError(f"{option} applies to breadth-first search, not to --simulate")
    sc = resolve_scenario(args, "buddy-core")
    if args.emit_pytest:
        check_writable(args.emit_pytest, "--emit-pytest")
    properties = selected_properties(args, sc)
    measure = coverage_for(args, sc.model)
    seed = args.seed or 0
    simulator = Simulator(sc).check(*properties).seed(seed).walks(args.walks).time_limit(args.time)
    if measure is not None:
        simulator.coverage(measure)
    bar = Progress(not args.json)
    try:
        report = simulator.progress(bar).run()
    finally:
        bar.close()
    coverage = measure.report() if measure is not None else None
    if args.coverage and measure is not None:
        measure.write_lcov(args.coverage)
    by_name = {p.name: p for p in properties}
    props_of = lambda v: [by_name[v.invariant]] if v.invariant in by_name else []  # a crash is judged by none
    scenario_of = lambda v: getattr(v, "scenario", None) or sc  # a shrunk trace may be on a smaller machine
    if args.emit_pytest and report.violations:
        v = report.violations[0]
        emit_pytest(args.emit_pytest, scenario_of(v), v, props_of(v))
    status = exploration_exit(report, coverage)  # the walks asked for, or --time, done without a violation: 0
    if args.json:
        doc = {
            "mode": "simulation", "scenario": sc.name, "model": sc.model.NAME, "seed": seed, "walks": report.walks,
            "walk_length": sc.depth, "steps": report.transitions, "distinct_states": report.reachable_states,
            "longest_walk": report.depth, "complete": False, "stopped_by": report.stopped_by,
            "seconds": round(report.seconds, 3), "peak_memory_mb": round(report.peak_memory_mb, 1),
            "sometimes": report.sometimes, "notes": report.notes,
            "violations": [{**trace_document(scenario_of(v), v), "walk_length": getattr(v, "original", v).length}
                           for v in report.violations],
            "coverage": None if coverage is None else coverage.to_json(),
        }
        out(json.dumps(doc, default=_json_default, indent=2))
        return status
    stopped = {"walks": f"all {report.walks} walks done", "time": "stopped by --time",
               "violation": f"stopped at the first violation, in walk {report.walks}",
               "interrupt": "interrupted"}.get(report.stopped_by, report.stopped_by)
    out(f"scenario {sc.name} on model {sc.model.NAME}: {sc.description}".rstrip(": "))
    out(f"  simulation with seed {seed}: {report.walks} walks of up to {sc.depth} operations, {report.transitions} "
        f"steps, {report.reachable_states} distinct states; {stopped}")
    out("  a sample, not exhaustion: sequences no walk took are unchecked")
    out(f"  {report.seconds:.2f} s, {report.transitions / report.seconds if report.seconds else 0:.0f} steps/s, "
        f"peak memory {report.peak_memory_mb:.0f} MB")
    for name, reached in report.sometimes.items():
        out(f"  sometimes {'reached' if reached else 'NOT reached'}: {name}")
    if coverage is not None:
        for line in coverage_lines(coverage):
            out(line)
    for note in report.notes:
        out(f"  note: {note}")
    if not report.violations:
        if coverage is not None and coverage.unexercised_overrides():
            out(f"  INCONCLUSIVE: no violation, but the changed function(s) "
                f"{', '.join(f.name for f in coverage.unexercised_overrides())} never ran")
        else:
            out(f"  no violation in the {report.walks} walks sampled: {', '.join(p.name for p in properties)}")
    for v in report.violations:
        walked = getattr(v, "original", None)
        how = f"shrunk from a walk of {walked.length}" if walked is not None else "the walk's own trace"
        out(f"\nVIOLATION of {v.invariant} after {v.length} operations ({how}): {v.message}\n")
        out(format_program(scenario_of(v), v.trace, props_of(v), violation=v))
    return status


def _json_default(value):
    if isinstance(value, frozenset | set):
        return sorted(value)
    if hasattr(value, "__dict__"):
        return {k: v for k, v in value.__dict__.items() if not k.startswith("_")}
    return str(value)


def cmd_scenarios(args, out):
    from .scenarios import DIFF_SCENARIOS, SCENARIOS, portfolio_scenarios

    portfolio = portfolio_scenarios()
    width = max(len(name) for name in [*SCENARIOS, *DIFF_SCENARIOS, *(sc.name for sc in portfolio)])
    out("the default portfolio of `buddycheck check` (each is also a --preset):")
    for sc in portfolio:
        out(f"  {sc.name:{width}}  {sc.description}")
    out("presets:")
    for name, make in SCENARIOS.items():
        out(f"  {name:{width}}  {make().description}")
    out("made for `buddycheck diff`:")
    for name, make in DIFF_SCENARIOS.items():
        out(f"  {name:{width}}  {make().description}")
    return EXIT_OK


def cmd_tour(args, out):
    from .tour import run_tour

    ok = run_tour(out)
    out("\nverdict: " + ("every page came back; free counts equal the boot state" if ok else "PAGES LOST"))
    return EXIT_OK if ok else EXIT_VIOLATION


def build_parser():
    parser = Parser(prog="buddycheck", description="Model-check the Linux 4.19 page allocator and NUMA policy.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    check = sub.add_parser("check", help="the main job: theorems, the default portfolio, then a verdict")
    add_scenario_options(check)
    check.add_argument("--json", action="store_true", help="one JSON document on standard output")
    check.add_argument("--time", type=positive_float, metavar="SECONDS",
                       help="exploration time shared by the scenarios (default: 36 for the portfolio; a single "
                            "scenario goes to its depth)")
    check.add_argument("--fail-on-difference", action="store_true",
                       help="with --model: a behavioural difference from the base fails the check (exit 1)")
    add_invariant_options(check)
    add_coverage_options(check)
    check.set_defaults(func=cmd_check)

    explore = sub.add_parser("explore", help="breadth-first exploration of a scenario")
    add_scenario_options(explore)
    explore.add_argument("--max-states", type=positive_int, metavar="N", help="stop after N distinct states")
    explore.add_argument("--json", action="store_true", help="one JSON document on standard output")
    explore.add_argument("--emit-pytest", metavar="FILE", help="write the counterexample as a pytest file")
    explore.add_argument("--keep-going", action="store_true",
                         help="explore past the first violation: one counterexample per invariant")
    add_invariant_options(explore)
    add_coverage_options(explore)
    add_simulate_options(explore)
    explore.set_defaults(func=cmd_explore)

    bench = sub.add_parser("bench", help="speed figures of this machine")
    bench.add_argument("--json", action="store_true", help="one JSON document on standard output")
    bench.set_defaults(func=cmd_bench)

    scenarios = sub.add_parser("scenarios", help="list the built-in scenarios")
    scenarios.set_defaults(func=cmd_scenarios)

    tour = sub.add_parser("tour", help="a short scenario run step by step, with block maps")
    tour.set_defaults(func=cmd_tour)

    from .diff_cmd import add_diff_parser
    from .mutants_cmd import add_mutants_parser
    from .prove import add_prove_parser

    add_prove_parser(sub)
    add_diff_parser(sub)
    add_mutants_parser(sub)
    return parser


def cmd_check(args, out):
    from .verdict import run_check

    return run_check(args, out)


def cmd_bench(args, out):
    from .bench import run_bench

    return run_bench(args, out)


def _terminated(signum, frame):
    # `timeout` and job schedulers send SIGTERM: end like Ctrl-C, with the partial report
    raise KeyboardInterrupt


def main(argv=None):
    out = print
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    try:
        args = build_parser().parse_args(argv)
        return args.func(args, out)
    except UsageError as e:
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ModelError, SymmetryBroken) as e:
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("buddycheck: interrupted", file=sys.stderr)
        return EXIT_INCONCLUSIVE


if __name__ == "__main__":
    sys.exit(main())
