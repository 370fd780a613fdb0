"""The `buddycheck` command line: one module per command, what they share in cli/common.py.

Exit status (checks/exit_codes.py): 0 everything asked for holds, 1 a violation or difference was
found, 2 bad usage or input, 3 inconclusive (a Z3 unknown, or a search stopped by --max-states or
Ctrl-C). A search that reaches the depth it was asked for without a violation has done its job and
exits 0; its report says whether the state space was exhausted or bounded at that depth.
"""

import os
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version

from buddycheck.model.errors import ModelError

from ..exit_codes import EXIT_INCONCLUSIVE, EXIT_USAGE
from ..explore import SymmetryBroken
from . import bench, check, diff, explore, mutants, prove, replay, scenarios, show, tour, trace
from .common import Parser, UsageError

# in the order `--help` lists them
COMMANDS = (check, explore, replay, trace, bench, scenarios, tour, show, prove, diff, mutants)


def build_parser():
    parser = Parser(prog="buddycheck", description="Model-check the Linux 4.19 page allocator and NUMA policy.")
    parser.add_argument("--version", action="version", version=f"buddycheck {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


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


def _terminated(signum, frame):
    # `timeout` and job schedulers send SIGTERM: end like Ctrl-C, with the partial report
    raise KeyboardInterrupt


def main(argv=None):
    out = print
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args, out)
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except UsageError as e:
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ModelError, SymmetryBroken) as e:
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("buddycheck: interrupted", file=sys.stderr)
        return EXIT_INCONCLUSIVE
