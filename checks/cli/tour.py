"""`buddycheck tour`: a short scenario run step by step, with block maps (checks/tour.py)."""

from ..exit_codes import EXIT_OK, EXIT_VIOLATION
from ..tour import run_tour


def add_parser(subparsers):
    """Register the `tour` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("tour", help="a short scenario run step by step, with block maps")
    p.set_defaults(func=cmd_tour)
    return p


def cmd_tour(args, out):
    """The body of `buddycheck tour`; exit 1 when a page did not come back."""
    ok = run_tour(out)
    out("\nverdict: " + ("every page came back; free counts equal the boot state" if ok else "PAGES LOST"))
    return EXIT_OK if ok else EXIT_VIOLATION
