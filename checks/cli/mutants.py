"""`buddycheck mutants [NAME ...] [--json]`: run the mutant catalogue (checks/mutants) and say which are killed.

Each mutant's scenario is explored breadth-first against the mutant to its pinned counterexample
length (or --depth); a mutant is killed when an invariant fails. The table gives, per mutant,
killed or not, the invariant that caught it, the counterexample length and the seconds it took;
a line below the table names every mutant that was caught otherwise than the catalogue pins
(another invariant or another length). --list prints the catalogue instead.

Exit status: 0 when every mutant asked for is killed, 1 when one is not, 2 for an unknown name or
bad usage. With --json, standard output is one JSON list of objects (name, killed, invariant,
length, seconds, expected_invariant, expected_length, as_expected, also, states, depth, commit, fix_title,
known_bug, kind, message, trace) and nothing else.
"""

import json
import sys

from ..exit_codes import EXIT_OK, EXIT_USAGE, EXIT_VIOLATION
from ..mutants import CATALOGUE, MUTANTS, kill
from .common import Progress, whole_number


def add_parser(subparsers):
    """Register the `mutants` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("mutants", help="re-introduced kernel bugs: is each one caught, by what, how fast")
    p.add_argument("names", nargs="*", metavar="NAME", help="mutants to run (default: the whole catalogue)")
    p.add_argument("--json", action="store_true", help="print one JSON list of results and nothing else")
    p.add_argument("--depth", type=whole_number(0), metavar="N",
                   help="explore N operations instead of each mutant's pinned counterexample length")
    p.add_argument("--list", action="store_true", help="list the catalogue (commit, bug, invariant) and exit")
    p.set_defaults(func=cmd_mutants)
    return p


def result_document(mutant, result):
    return {
        "name": result.name,
        "killed": result.killed,
        "invariant": result.invariant,
        "length": result.length,
        "seconds": round(result.seconds, 3),
        "expected_invariant": result.expected_invariant,
        "expected_length": result.expected_length,
        "as_expected": result.as_expected,
        "also": result.extra.get("also", []),
        "states": result.states,
        "depth": result.depth,
        "commit": mutant.commit,
        "fix_title": mutant.fix_title,
        "known_bug": mutant.known_bug,
        "kind": mutant.kind,
        "message": result.message,
        "trace": [op.code() for op in result.trace],
    }


def render_table(results):
    rows = [("mutant", "killed", "invariant", "length", "seconds")]
    for r in results:
        rows.append((r.name, "yes" if r.killed else "NO", r.invariant or "-",
                     "-" if r.length is None else str(r.length), f"{r.seconds:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(w) if i >= 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for r in results:
        if not r.killed:
            lines.append(f"\n{r.name}: NOT killed within {r.depth} operation(s) ({r.states} states); the catalogue "
                         f"expects {r.expected_invariant} after {r.expected_length}")
        elif not r.as_expected:
            lines.append(f"\n{r.name}: killed by {r.invariant} after {r.length} operation(s); the catalogue expects "
                         f"{r.expected_invariant} after {r.expected_length}")
    return "\n".join(lines)


def list_lines(mutants):
    out = []
    for m in mutants:
        kind = "" if m.kind == "bug" else f" [{m.kind}]"
        out.append(f"{m.name}{kind}: {m.fix_title} ({m.commit or 'commit unknown'}); {m.known_bug}")
        out.append(f"  caught by {m.invariant} after {m.length} operation(s); {m.what_went_wrong}")
        if m.maps_to_419:
            out.append(f"  in 4.19: {m.maps_to_419}")
    return out


def cmd_mutants(args, out):
    """The body of `buddycheck mutants`; returns the exit status."""
    names = [n.lower() for n in (getattr(args, "names", None) or [])]
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        print(f"buddycheck: error: mutants: unknown mutant {', '.join(map(repr, unknown))}; "
              f"the mutants are: {', '.join(MUTANTS)}", file=sys.stderr)
        return EXIT_USAGE
    chosen = [MUTANTS[n] for n in dict.fromkeys(names)] if names else list(CATALOGUE)
    if getattr(args, "list", False):
        if getattr(args, "json", False):
            out(json.dumps([{"name": m.name, "commit": m.commit, "fix_title": m.fix_title, "known_bug": m.known_bug,
                             "kind": m.kind, "invariant": m.invariant, "length": m.length,
                             "what_went_wrong": m.what_went_wrong, "maps_to_419": m.maps_to_419}
                            for m in chosen], indent=2))
        else:
            for line in list_lines(chosen):
                out(line)
        return EXIT_OK
    depth = getattr(args, "depth", None)
    bar = Progress(not getattr(args, "json", False))
    results = []
    for m in chosen:  # each mutant's verdict as soon as it is known: the catalogue takes minutes
        results.append(kill(m, depth))
        r = results[-1]
        bar.announce(f"mutant {r.name}: " + (f"killed by {r.invariant} after {r.length} operation(s)" if r.killed
                                             else "NOT killed") + f" ({r.seconds:.2f} s)")
    status = EXIT_OK if all(r.killed for r in results) else EXIT_VIOLATION
    if getattr(args, "json", False):
        out(json.dumps([result_document(m, r) for m, r in zip(chosen, results)], indent=2))
        return status
    out(render_table(results))
    killed = sum(r.killed for r in results)
    verdict = "all killed" if status == EXIT_OK else "SURVIVORS"
    out(f"\nverdict: {verdict} ({killed}/{len(results)} killed, {sum(r.seconds for r in results):.1f} s)")
    return status
