"""`buddycheck bench`: the speed figures of this machine (measured by checks/bench.py)."""

from ..bench import add_bench_arguments, run_bench
from .common import Progress


def add_parser(subparsers):
    """Register the `bench` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("bench", help="speed figures of this machine, by name (--list)")
    add_bench_arguments(p)
    p.set_defaults(func=cmd_bench)
    return p


def cmd_bench(args, out):
    """The body of `buddycheck bench`; returns the exit status."""
    bar = Progress(not args.json)  # what is measured, and each search's states, depth and rate
    try:
        return run_bench(args, out, progress=bar)
    finally:
        bar.close()
