"""`buddycheck explore`: breadth-first exploration of one scenario, its shortest counterexample shrunk and printed;
with --simulate, seeded random walks instead (checks/strategies/simulate.py); with --cluster, the
same search with each level expanded on a Dask cluster (checks/cluster.py).

A search that reaches the depth it was asked for without a violation exits 0; its report says whether
the state space was exhausted or bounded at that depth. A violation exits 1, a search stopped by
--max-states or Ctrl-C (or an overridden function that never ran) 3.
"""

import json
import sys

from ..cluster import ClusterBackend, ClusterUnavailable, close, connect
from ..exit_codes import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATION
from ..explore import Explorer
from ..json_document import bounds, envelope, exploration_rows
from ..junit import write as write_junit
from ..junit_suites import scenario_suite
from ..portfolio import UnknownInvariant, properties_for
from ..printing import format_program
from ..report import IDLE_TEXT
from ..shrink import shrink
from ..strategies.simulate import Simulator
from ..trace_json import trace_document
from .common import (
    Progress,
    UsageError,
    add_coverage_options,
    add_invariant_options,
    add_junit_option,
    add_scenario_options,
    check_writable,
    coverage_for,
    coverage_lines,
    emit_test,
    json_default,
    positive_float,
    positive_int,
    resolve_scenario,
    whole_number,
)
from .output import OutputFiles
from .picture_option import add_picture_option, picture_usage, write_picture_of


def add_parser(subparsers):
    """Register the `explore` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("explore", help="breadth-first exploration of a scenario")
    add_scenario_options(p)
    p.add_argument("--max-states", type=positive_int, metavar="N", help="stop after N distinct states")
    p.add_argument("--json", action="store_true", help="one JSON document on standard output")
    p.add_argument("--emit-pytest", metavar="FILE", help="write the counterexample as a pytest file")
    add_picture_option(p)
    p.add_argument("--exact", action="store_true",
                   help="keep whole states in the visited set instead of 64-bit fingerprints (no collision "
                        "possible, far more memory)")
    p.add_argument("--keep-going", action="store_true",
                   help="explore past the first violation: one counterexample per invariant")
    add_invariant_options(p)
    add_coverage_options(p)
    add_junit_option(p)
    add_simulate_options(p)
    add_cluster_option(p)
    p.set_defaults(func=cmd_explore)
    return p


def explore_scenario(sc, properties, max_states=None, progress=True, workers=None, coverage=None, keep_going=False,
                     exact=False, cluster=None):
    explorer = Explorer(sc).check(*properties).workers(workers)
    if exact:
        explorer.exact()
    if max_states is not None:
        explorer.max_states(max_states)
    if coverage is not None:
        explorer.coverage(coverage)
    if keep_going:
        explorer.all_violations()
    bar = Progress(progress)
    try:
        if cluster is not None:
            return explore_on_cluster(explorer.progress(bar), cluster)
        return explorer.progress(bar).run()
    finally:
        bar.close()


def selected_properties(args, sc):
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
    if report.symmetry_broken:
        lines.append(f"  no symmetry reduction: the audit refused it ({report.symmetry_broken}); every state searched")
    elif not report.reductions:
        lines.append("  no symmetry reduction: every state searched")
    if report.exact:
        lines.append(f"  {report.workers} worker(s); visited set of whole states (no fingerprint collision possible)")
    else:
        per_state = "" if report.bytes_per_state is None else f", {report.bytes_per_state:.0f} bytes per state"
        lines.append(f"  {report.workers} worker(s); visited set of 64-bit fingerprints{per_state}; the chance "
                     f"that a collision hid a state is at most {report.collision_probability:.1e}")
    if report.preemption_bound is not None:
        lines.append(f"  concurrent pairs: every schedule with at most {report.preemption_bound} preemption(s); "
                     f"{report.interleavings} interleavings explored")
    for name, reached in report.sometimes.items():
        lines.append(f"  sometimes {'reached' if reached else 'NOT reached'}: {name}")
    return lines


def shrunk_violations(sc, report, properties):
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
    if report.stopped_by in ("max_states", "interrupt") or report.idle:
        return EXIT_INCONCLUSIVE
    if coverage is not None and coverage.unexercised_overrides():
        return EXIT_INCONCLUSIVE  # a changed function that never ran: nothing was checked about it
    return EXIT_OK


def cmd_explore(args, out):
    """The body of `buddycheck explore`; returns the exit status."""
    if args.simulate or args.seed is not None or args.walks is not None or args.time is not None:
        return cmd_simulate(args, out)
    sc = resolve_scenario(args, "buddy-core")
    if args.emit_pytest:
        check_writable(args.emit_pytest, "--emit-pytest")
    picture_usage(args)
    if args.junit:
        check_writable(args.junit, "--junit")
    properties = selected_properties(args, sc)
    cluster_usage(args)
    measure = coverage_for(args, sc.model) if args.cluster is None else None
    report = explore_scenario(sc, properties, args.max_states, progress=not args.json, workers=args.workers,
                              coverage=measure, keep_going=args.keep_going, exact=args.exact, cluster=args.cluster)
    coverage = measure.report() if measure is not None else None
    violations = shrunk_violations(sc, report, properties) if report.violations else []
    by_name = {p.name: p for p in properties}

    def props_of(v):  # a crash or hang (model_crash, model_hang) is judged by no property
        return [by_name[v.invariant]] if v.invariant in by_name else []

    def finish(status):
        """The files asked for, after the report (checks/cli/output.py); the exit status."""
        files = OutputFiles()
        if args.coverage and measure is not None:
            files.write("--coverage", args.coverage, lambda: measure.write_lcov(args.coverage))
        if violations:
            write_picture_of(args, getattr(violations[0], "scenario", None) or sc, violations[0], files)
        if args.junit:
            cut_short = report.stopped_by in ("max_states", "interrupt")
            files.write("--junit", args.junit, lambda: write_junit(args.junit, [scenario_suite(
                sc.name, report, properties, violations, cut_short=cut_short,
                traces=lambda v: format_program(getattr(v, "scenario", None) or sc, v.trace, props_of(v),
                                                violation=v))]))
        return files.status(emitted(args, sc, violations, props_of) or status)
    status = exploration_exit(report, coverage)
    if args.json:
        doc = report.to_json([trace_document(getattr(v, "scenario", None) or sc, v) for v in violations],
                             None if coverage is None else coverage.to_json())
        doc["verdict"] = exploration_rows(report, properties, report.stopped_by in ("max_states", "interrupt"))
        doc = envelope("explore", doc, bounds(sc.depth, args.max_states))
        out(json.dumps(doc, default=json_default, indent=2))
        return finish(status)
    for line in report_lines(report, sc):
        out(line)
    if coverage is not None:
        for line in coverage_lines(coverage):
            out(line)
    elif args.cluster is not None:
        out("  coverage: not measured on a cluster")
    if not violations:
        names = ", ".join(p.name for p in properties)
        if coverage is not None and coverage.unexercised_overrides():
            out(f"  INCONCLUSIVE: no violation, but the changed function(s) "
                f"{', '.join(f.name for f in coverage.unexercised_overrides())} never ran")
        elif report.idle:
            out(f"  INCONCLUSIVE: {IDLE_TEXT}")
        elif report.stopped_by in ("max_states", "interrupt"):
            out(f"  no violation in the part explored (the search was cut short): {names}")
        elif report.complete:
            out(f"  every invariant held in every reachable state: {names}")
        else:
            out(f"  every invariant held to depth {report.depth}: {names}")
    for v in violations:
        out(f"\nVIOLATION of {v.invariant} after {v.length} operations: {v.message}\n")
        out(format_program(getattr(v, "scenario", None) or sc, v.trace, props_of(v), violation=v))
    return finish(status)


def emitted(args, sc, violations, props_of):
    """--emit-pytest, after the report: the first counterexample's test; 2 if it cannot be written, else None."""
    if not (args.emit_pytest and violations):
        return None
    v = violations[0]
    return emit_test(args.emit_pytest, getattr(v, "scenario", None) or sc, v, props_of(v))


# ---- explore --cluster: the same search, each level expanded on a Dask cluster (checks/cluster.py) ----------


def add_cluster_option(p):
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="expand each level on a Dask cluster: a scheduler (tcp://host:8786) or local:N (N worker "
                        "processes here); same result; coverage is not measured (pip install 'buddycheck[cluster]')")


def cluster_usage(args):
    """Refuse what --cluster cannot do, before connecting."""
    if args.cluster is None:
        return
    if args.workers is not None:
        raise UsageError("--workers N and --cluster ADDRESS exclude each other (the cluster's workers expand)")
    if args.coverage:
        raise UsageError("--coverage FILE is not measured on a cluster: drop --cluster or --coverage")


def explore_on_cluster(explorer, address):
    try:
        client = connect(address)
    except ClusterUnavailable as e:
        raise UsageError(str(e)) from None
    try:
        return explorer.backend(ClusterBackend(client)).run()
    except ClusterUnavailable as e:
        raise UsageError(str(e)) from None
    finally:
        close(client)


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
    if not args.simulate:
        raise UsageError("--seed, --walks and --time go with --simulate")
    for given, option in ((args.max_states, "--max-states"), (args.keep_going, "--keep-going"),
                          (args.symmetry is True, "--symmetry"), (args.symmetry is False, "--no-symmetry"),
                          (args.workers is not None, "--workers"), (args.exact, "--exact"),
                          (args.cluster is not None, "--cluster")):
        if given:
            raise UsageError(f"{option} applies to breadth-first search, not to --simulate")
    sc = resolve_scenario(args, "buddy-core")
    if args.emit_pytest:
        check_writable(args.emit_pytest, "--emit-pytest")
    picture_usage(args)
    if args.junit:
        check_writable(args.junit, "--junit")
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
    by_name = {p.name: p for p in properties}
    props_of = lambda v: [by_name[v.invariant]] if v.invariant in by_name else []  # a crash is judged by none
    scenario_of = lambda v: getattr(v, "scenario", None) or sc  # a shrunk trace may be on a smaller machine

    def finish(status):
        """The files asked for, after the report (checks/cli/output.py); the exit status."""
        files = OutputFiles()
        if args.coverage and measure is not None:
            files.write("--coverage", args.coverage, lambda: measure.write_lcov(args.coverage))
        if report.violations:
            write_picture_of(args, scenario_of(report.violations[0]), report.violations[0], files)
        if args.junit:
            files.write("--junit", args.junit, lambda: write_junit(args.junit, [scenario_suite(
                sc.name, report, properties, report.violations,
                traces=lambda v: format_program(scenario_of(v), v.trace, props_of(v), violation=v))]))
        return files.status(emitted(args, sc, report.violations, props_of) or status)
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
            "verdict": exploration_rows(report, properties, cut_short=False),
        }
        doc = envelope("explore", doc, bounds(sc.depth, None, args.time))
        out(json.dumps(doc, default=json_default, indent=2))
        return finish(status)
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
    return finish(status)
