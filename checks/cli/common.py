"""What every `buddycheck` command shares: the parser, the option groups (their types are
checks/arg_types.py), scenario and model resolution, the progress line, the coverage options and
the JSON encoding of what the standard encoder does not know.
"""

import argparse
import os
import sys
import time

from tqdm import tqdm

from buddycheck.model import Kernel419
from buddycheck.spec.invariants import PROFILES

from ..arg_types import order_range, positive_float, positive_int, whole_number  # noqa: F401  (the commands' types)
from ..coverage import ModelCoverage
from ..difference_pytest import emit_difference_pytest
from ..exit_codes import EXIT_USAGE
from ..imported_scenario import imported_scenario, with_free_state
from ..model_class import model_class_problem
from ..naming import resolve_reference
from ..printing import emit_pytest
from ..report import peak_rss_mb
from ..scenario_file import load_scenario
from ..scenarios import scenario
from ..trace_error import TraceError
from .paths import check_readable, check_writable, missing, read_text  # noqa: F401  (the commands' path checks)
from .usage import UsageError


class Parser(argparse.ArgumentParser):
    def error(self, message):
        # the error line already starts "buddycheck: error:"; name the subcommand, not the program again
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command}: {message}" if command else message)


def add_scenario_options(p, buddy_core_options=True):
    group = p.add_mutually_exclusive_group()
    group.add_argument("--preset", metavar="NAME", help="a built-in scenario (see `buddycheck scenarios`)")
    group.add_argument("--config", metavar="FILE", help="a scenario in TOML (format: checks/scenario_file.py)")
    p.add_argument("--depth", type=positive_int, metavar="N", help="the number of operations to explore")
    p.add_argument("--model", metavar="REF", help="the model class: 'module:NAME' or '/path/file.py:NAME'")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="expand each large breadth-first level in N processes (same result, sooner; "
                        "default: one per CPU)")
    sym = p.add_mutually_exclusive_group()
    sym.add_argument("--symmetry", action="store_true", default=None,
                     help="insist on treating whole MAX_ORDER blocks of a zone as interchangeable (exact; audited "
                          "as it runs); by default the reduction is on wherever the scenario allows it")
    sym.add_argument("--no-symmetry", dest="symmetry", action="store_false",
                     help="search every state, without the symmetry reduction")
    if buddy_core_options:
        p.add_argument("--pages", type=positive_int, metavar="N",
                       help="buddy-core: pages in the zone; --from-proc: the machine's total")
        p.add_argument("--max-order", type=positive_int, metavar="M", help="buddy-core or --from-proc: MAX_ORDER")
        p.add_argument("--orders", type=order_range, metavar="LO-HI", help="buddy-core: orders to allocate")
    add_from_proc_options(p)


def add_from_proc_options(p):
    p.add_argument("--from-proc", metavar="DIR",
                   help="a real machine: DIR holds proc/zoneinfo and sys/devices/system/node/ copied from it "
                        "(docs/tutorial.md), scaled down; --pages N (default 128) or --scale N sizes it, "
                        "--max-order M (default 4) its blocks; with --config, the file's operations run on it")
    p.add_argument("--scale", type=positive_int, metavar="N", help="--from-proc: N real pages make one page")
    p.add_argument("--buddyinfo", metavar="FILE",
                   help="start from the free state of a /proc/buddyinfo of this very machine, unscaled (what "
                        "`buddycheck show` prints; for a real machine's, put it in --from-proc's DIR/proc)")


def load_model(ref, option="--model"):
    """The model class a reference names; a file or class that is wrong in any way is a UsageError naming it."""
    if ref is None:
        return Kernel419
    where = ref.partition(".py:")[0] + ".py" if ".py:" in ref else ref.partition(":")[0]
    if where.endswith(".py") or os.sep in where:
        check_readable(where, f"{option} {ref}:")
    try:
        model = resolve_reference(ref)
    except TraceError as e:
        raise UsageError(f"{option} {ref}: {e}") from None
    if not (isinstance(model, type) and issubclass(model, Kernel419)):
        raise UsageError(f"{option} {ref}: {model!r} is not a model class (a Kernel419 variant)")
    problem = model_class_problem(model)
    if problem:
        raise UsageError(f"{option} {ref}: {problem}")
    return model


def resolve_scenario(args, default):
    sc = from_proc_scenario(args)
    if sc is not None:
        return finish_scenario(sc, args)
    buddyinfo = getattr(args, "buddyinfo", None)
    if buddyinfo is not None and not (args.preset or args.config or default):
        raise UsageError(f"--buddyinfo {buddyinfo}: name the machine it belongs to with --preset or --config")
    sc = _named_scenario(args, default)
    if buddyinfo is not None:
        sc = with_free_state(sc, check_readable(buddyinfo, "--buddyinfo"))
    return finish_scenario(sc, args)


def _named_scenario(args, default):
    if getattr(args, "scale", None) is not None:
        raise UsageError("--scale N goes with --from-proc DIR")
    core = {k: v for k, v in (("pages", getattr(args, "pages", None)), ("max_order", getattr(args, "max_order", None)),
                              ("orders", getattr(args, "orders", None))) if v is not None}
    if args.config:
        if core:
            raise UsageError("--pages/--max-order/--orders go with --preset buddy-core, not with --config")
        sc = load_scenario(check_readable(args.config, "--config"))
    else:
        name = default if args.preset is None else args.preset
        if core and name != "buddy-core":
            raise UsageError(f"--pages/--max-order/--orders go with --preset buddy-core, not {name}")
        sc = scenario(name, **core)
    return sc


def from_proc_scenario(args):
    """The scenario of --from-proc DIR (with --config's operations if given), or None without --from-proc."""
    root = getattr(args, "from_proc", None)
    if root is None:
        return None
    if getattr(args, "preset", None):
        raise UsageError(f"--from-proc {root} and --preset {args.preset} exclude each other (both name a machine)")
    if getattr(args, "orders", None) is not None:
        raise UsageError("--orders goes with --preset buddy-core, not with --from-proc")
    if getattr(args, "buddyinfo", None) is not None:
        raise UsageError(f"--from-proc {root} and --buddyinfo {args.buddyinfo} exclude each other (the machine's "
                         f"buddyinfo goes in {os.path.join(root, 'proc', 'buddyinfo')})")
    if getattr(args, "pages", None) is not None and args.scale is not None:
        raise UsageError(f"--pages {args.pages} and --scale {args.scale} exclude each other (both size the machine)")
    if not missing(root):  # of a missing one, imported_scenario says what it should hold
        check_readable(root, "--from-proc", folder=True)
    base = load_scenario(check_readable(args.config, "--config")) if args.config else None
    return imported_scenario(root, pages=getattr(args, "pages", None), scale=args.scale,
                             max_order=getattr(args, "max_order", None), base=base)


def finish_scenario(sc, args):
    """--model, --depth and --symmetry applied to a resolved scenario."""
    sc = sc.with_model(load_model(getattr(args, "model", None)))
    if args.depth is not None:
        sc.depth = args.depth
    if getattr(args, "symmetry", None) is not None:
        sc.symmetry = args.symmetry
    return sc


PROGRESS_INTERVAL_VARIABLE = "BUDDYCHECK_PROGRESS_INTERVAL"
DEFAULT_PROGRESS_INTERVAL = 5.0  # seconds between the lines a log gets; a terminal gets the live bar


def progress_interval():
    """The seconds between progress lines off a terminal: $BUDDYCHECK_PROGRESS_INTERVAL, 0 for every update."""
    text = os.environ.get(PROGRESS_INTERVAL_VARIABLE)
    if text is None:
        return DEFAULT_PROGRESS_INTERVAL
    try:
        seconds = float(text)
    except ValueError:
        raise UsageError(f"{PROGRESS_INTERVAL_VARIABLE}={text!r}: not a number of seconds") from None
    if seconds < 0 or seconds != seconds:
        raise UsageError(f"{PROGRESS_INTERVAL_VARIABLE}={text!r}: must be 0 or more seconds")
    return seconds


class Progress:
    """How a long search shows it is alive: a tqdm bar on a terminal; off one (CI logs, files), a plain line
    every few seconds on standard error, like TLC's Progress lines. `label` names the search (a scenario);
    `describe` moves the label when one run searches several scenarios in turn.
    """

    def __init__(self, enabled, label=None):
        self.enabled = enabled
        self.label = label
        self.bar = None
        self.interval = progress_interval() if enabled else None
        self.started = time.perf_counter()
        self.last_line = None  # when the last plain line was printed
        if enabled and sys.stderr.isatty():
            self.bar = tqdm(total=None, unit=" states", file=sys.stderr, leave=False, dynamic_ncols=True)

    def describe(self, label):
        if label != self.label:
            self.label = label
            self.last_line = None  # a new search says so at once
            if self.bar is not None:
                self.bar.set_description_str(label)

    def __call__(self, report):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.n = report.reachable_states
            self.bar.set_postfix_str(f"depth {report.depth}, {report.transitions} transitions")
            self.bar.refresh()
            return
        now = time.perf_counter()
        if self.last_line is not None and now - self.last_line < self.interval:
            return
        self.last_line = now
        print(progress_line(report, now - self.started, self.label), file=sys.stderr, flush=True)

    def announce(self, text):
        """A milestone (a theorem proved): a line of its own, above the bar on a terminal."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def theorem_line(result):
    """The line that tells a theorem was decided (the proofs take a while): its name, status and time."""
    return f"theorem {result.name}: {result.status.value} ({result.seconds:.2f} s)"


def progress_line(report, seconds, label=None):
    """One line of a log: where the search is, how fast it goes and the memory it holds.

    The rate is the search's own (its report's seconds) when known; `seconds` is the time of the whole
    run, which for `check` spans the theorems and the scenarios before this one.
    """
    own = report.seconds if report.seconds > 0 else seconds
    rate = report.reachable_states / own if own > 0 else 0.0
    where = f" {label}:" if label else ""
    return (f"progress{where} depth {report.depth}, {report.reachable_states} states, {report.transitions} "
            f"transitions, {rate:.0f} states/s, {peak_rss_mb():.0f} MB, {seconds:.0f} s")


def add_junit_option(p):
    p.add_argument("--junit", metavar="FILE",
                   help="also write JUnit XML for CI: a test case per invariant and scenario, failures with the trace")


def add_coverage_options(p):
    p.add_argument("--coverage", metavar="FILE", help="write the per-line coverage of the model as LCOV")
    p.add_argument("--no-coverage", action="store_true",
                   help="do not measure coverage (faster; an overridden function is then not known to have run)")


def add_invariant_options(p):
    p.add_argument("--invariant", action="append", metavar="NAME", help="check only this invariant (repeatable)")
    p.add_argument("--skip", action="append", metavar="NAME", help="do not check this invariant (repeatable)")
    p.add_argument("--invariants", choices=PROFILES, default=PROFILES[0], metavar="PROFILE",
                   help="the profile: 4.19 (the rules 4.19 keeps; default) or strict (adds later kernels' rules)")


def coverage_for(args, model):
    """A ModelCoverage for this command, or None with --no-coverage; --coverage's path is checked first."""
    if args.no_coverage:
        if args.coverage:
            raise UsageError("--coverage FILE and --no-coverage exclude each other")
        return None
    if args.coverage:
        check_writable(args.coverage, "--coverage")
    return ModelCoverage(model)


def emit_test(path, scenario, violation, properties):
    """--emit-pytest after the report: write the test of the first counterexample; 2 if it cannot be, else None.

    The report is already out, so a test that cannot be written loses nothing but itself.
    """
    try:
        written = emit_pytest(path, scenario, violation, properties)
    except TraceError as e:
        print(f"buddycheck: error: --emit-pytest {path}: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"buddycheck: wrote {written}: a test of {violation.invariant} that fails until the bug is fixed",
          file=sys.stderr)
    return None


def emit_difference_test(path, difference, base, head):
    """diff --emit-pytest after the report: write the test that the two models agree on the difference's
    operations; 2 if it cannot be written, else None."""
    try:
        written = emit_difference_pytest(path, difference, base, head)
    except TraceError as e:
        print(f"buddycheck: error: --emit-pytest {path}: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"buddycheck: wrote {written}: a test that {head.NAME} behaves as {base.NAME} on these operations, "
          "which fails while they differ", file=sys.stderr)
    return None


def coverage_lines(report):
    """The coverage summary and the warnings about a variant's overridden functions."""
    lines = ["  coverage: " + report.summary()]
    for f in report.overridden():
        lines.append(f"  overridden {f.name} ({f.where}): {f.calls} calls, lines {f.lines}/{f.lines_total}, "
                     f"branches {f.branches}/{f.branches_total}")
    lines += [f"  WARNING: {w}" for w in report.warnings()]
    return lines


def json_default(value):
    """json.dumps' `default`: sets as sorted lists, plain objects as their public fields, the rest as text."""
    if isinstance(value, frozenset | set):
        return sorted(value)
    if hasattr(value, "__dict__"):
        return {k: v for k, v in value.__dict__.items() if not k.startswith("_")}
    return str(value)
