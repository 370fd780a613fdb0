"""The `buddycheck` command line. Exit status: 0 all holds, 1 a violation, 2 bad usage or input, 3 inconclusive."""

import argparse
import sys

from buddycheck.model.errors import ModelError

EXIT_OK, EXIT_VIOLATION, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3


class UsageError(Exception):
    """Bad command-line usage or input; printed without a traceback, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def cmd_check(args, out):
    from .tour import run_tour

    ok = run_tour(out)
    out("\nverdict: " + ("every page came back; free counts equal the boot state" if ok else "PAGES LOST"))
    return EXIT_OK if ok else EXIT_VIOLATION


def build_parser():
    parser = Parser(prog="buddycheck", description="Model-check the Linux 4.19 page allocator.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    check = sub.add_parser("check", help="the main job: run the built-in scenario and print the verdict")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv=None):
    out = print
    try:
        args = build_parser().parse_args(argv)
        return args.func(args, out)
    except UsageError as e:
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as e:
        print(f"buddycheck: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("buddycheck: interrupted", file=sys.stderr)
        return EXIT_INCONCLUSIVE


if __name__ == "__main__":
    sys.exit(main())
