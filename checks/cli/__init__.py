"""The `buddycheck` command line: one module per command, what they share in cli/common.py.

Exit status (checks/exit_codes.py): 0 everything asked for holds, 1 a violation or difference was
found, 2 bad usage or input, 3 inconclusive (a Z3 unknown, or a search stopped by --max-states or
Ctrl-C). A search that reaches the depth it was asked for without a violation has done its job and
exits 0; its report says whether the state space was exhausted or bounded at that depth.
"""

import signal
import sys
import threading

from buddycheck.model.errors import ModelError

from ..exit_codes import EXIT_INCONCLUSIVE, EXIT_USAGE
from ..explore import SymmetryBroken
from . import bench, check, diff, explore, mutants, prove, scenarios, tour
from .common import Parser, UsageError

COMMANDS = (check, explore, bench, scenarios, tour, prove, diff, mutants)  # in the order `--help` lists them


def build_parser():
    parser = Parser(prog="buddycheck", description="Model-check the Linux 4.19 page allocator and NUMA policy.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


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
