"""`buddycheck scenarios`: the built-in scenarios, each with its description."""

from ..exit_codes import EXIT_OK
from ..scenarios import DIFF_SCENARIOS, SCENARIOS, portfolio_scenarios


def add_parser(subparsers):
    """Register the `scenarios` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("scenarios", help="list the built-in scenarios")
    p.set_defaults(func=cmd_scenarios)
    return p


def concurrent_note(sc):
    """How a scenario with concurrent pairs says so in the listing ("" for a sequential one)."""
    if not getattr(sc, "concurrent", False):
        return ""
    return f"[concurrent: {len(sc.pairs)} pair(s), preemption bound {sc.preemption_bound}] "


def cmd_scenarios(args, out):
    """The body of `buddycheck scenarios`; returns the exit status."""
    portfolio = portfolio_scenarios()
    width = max(len(name) for name in [*SCENARIOS, *DIFF_SCENARIOS, *(sc.name for sc in portfolio)])
    out("the default portfolio of `buddycheck check` (each is also a --preset):")
    for sc in portfolio:
        out(f"  {sc.name:{width}}  {concurrent_note(sc)}{sc.description}")
    out("presets:")
    for name, make in SCENARIOS.items():
        out(f"  {name:{width}}  {make().description}")
    out("made for `buddycheck diff`:")
    for name, make in DIFF_SCENARIOS.items():
        out(f"  {name:{width}}  {make().description}")
    return EXIT_OK
