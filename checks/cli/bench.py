"""`buddycheck bench`: the speed figures of this machine (measured by checks/bench.py)."""

from ..bench import add_bench_arguments, run_bench


def add_parser(subparsers):
    """Register the `bench` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("bench", help="speed figures of this machine, by name (--list)")
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)
    return p


def cmd_bench(args, out):
    """The body of `buddycheck bench`; returns the exit status."""
    return run_bench(args, out)
