"""The `buddycheck` command line: one module per command, what they share in cli/common.py.

Exit status (checks/exit_codes.py, listed by `buddycheck --help`): 0 everything asked for holds, 1 a
violation or difference was found, 2 bad usage or input (or an output that could not be written:
checks/cli/output.py), 3 inconclusive (a Z3 unknown, or a search stopped by --max-states, Ctrl-C or
SIGTERM: checks/cli/signals.py), 4 an internal error (checks/cli/internal_error.py). A search that
reaches the depth it was asked for without a violation has done its job and exits 0; its report says
whether the state space was exhausted or bounded at that depth.
"""

import os
import signal
import sys

from ..exit_codes import EXIT_INCONCLUSIVE, EXIT_INTERNAL, EXIT_USAGE


def _started_as_program():
    """Whether this import is the start of the `buddycheck` program (not a test or a library importing it)."""
    argv = getattr(sys, "orig_argv", sys.argv)
    return os.path.basename(sys.argv[0]) == "buddycheck" or ("-m", __name__) in zip(argv, argv[1:])


def _stop_while_starting(signum, frame):
    raise KeyboardInterrupt


if _started_as_program() and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _stop_while_starting)  # SIGTERM while the modules load: as Ctrl-C there

try:  # a Ctrl-C while the modules load (z3 takes a moment) ends like one during a run, without a traceback
    import argparse
    from importlib.metadata import PackageNotFoundError, version

    from buddycheck.model.errors import ModelError

    from ..explore import SymmetryBroken
    from . import bench, check, diff, explore, mutants, prove, replay, scenarios, show, tour, trace
    from .common import Parser, UsageError
    from .internal_error import TRACEBACK_VARIABLE, report_internal_error
    from .output import OutputLost, flush_report, print_report
    from .signals import stop_signals, stopping
except KeyboardInterrupt:
    print("buddycheck: interrupted while starting", file=sys.stderr)
    sys.exit(EXIT_INCONCLUSIVE)

# in the order `--help` lists them
COMMANDS = (check, explore, replay, trace, bench, scenarios, tour, show, prove, diff, mutants)


def build_parser():
    parser = Parser(prog="buddycheck", description="Model-check the Linux 4.19 page allocator and NUMA policy.",
                    epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"buddycheck {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


EXIT_STATUS_HELP = f"""exit status:
  0  everything asked for holds
  1  a violation, a refuted theorem or a difference was found
  2  bad usage or input (an option, a file that cannot be read, a --model that cannot be loaded), or an
     output that could not be written (the report was printed as far as it could be)
  3  inconclusive: a Z3 unknown, a search cut short by --max-states, Ctrl-C or SIGTERM (with the partial report)
  4  internal error: buddycheck itself failed; {TRACEBACK_VARIABLE}=1 prints the traceback to report
  141  standard output was closed early (`buddycheck ... | head`): no message"""


def empty_values(parser, args):
    """Refuse an option given as '' (`--config ""`): it would otherwise quietly mean the default."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
    names = {a.dest: (a.option_strings[-1] if a.option_strings else a.metavar or a.dest) for a in sub._actions}
    for dest, value in vars(args).items():
        if value == "" or isinstance(value, list) and "" in value:
            raise UsageError(f"{args.command}: {names.get(dest, dest)} '': an empty value")


def installed_version():
    try:
        return version("buddycheck")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


# a reader that closed the pipe (`buddycheck scenarios | head -1`) wants no more: end as a program killed by
# SIGPIPE would, status 128 + 13, without a traceback
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def _quiet_stdout():
    """Point standard output at /dev/null so the interpreter's final flush cannot fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv=None):
    try:
        with stop_signals():
            parser = build_parser()
            args = parser.parse_args(argv)
            empty_values(parser, args)
            code = args.func(args, print_report)
            flush_report()  # a closed pipe or a full disk shows here, not at the interpreter's exit
            return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except OutputLost as e:
        _quiet_stdout()
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (UsageError, ModelError, SymmetryBroken) as e:
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("buddycheck: interrupted", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    except Exception as e:  # anything else is a bug of buddycheck's, never a verdict
        if stopping():  # unless a signal came first: then it is the signal, wrapped by a library
            print(f"buddycheck: interrupted ({type(e).__name__}: {e})", file=sys.stderr)
            return EXIT_INCONCLUSIVE
        report_internal_error(e)
        return EXIT_INTERNAL
