"""`buddycheck prove`: prove the theorems of spec/theorems.py and print one line per theorem.

Exit status: 0 when every theorem is proved, 1 when one is refuted, 3 when one is unknown (a Z3 unknown,
a timeout or a vacuous set of assumptions) and none is refuted, 2 for bad usage. With --json, standard
output is one JSON object and nothing else: the schema version, the time limit per theorem and the list
`theorems` of objects (kind, name, params, establishes, status, seconds, counterexample, reason, vacuity,
assumptions_satisfiable); docs/json-schema.md. `establishes` names the invariants (spec/invariants.py,
spec/steps.py) the theorem backs, as `Theorem.establishes` declares them.
"""

import json
import sys

from buddycheck.spec.theorems import DEFAULT_TIMEOUT_S, THEOREMS, THEOREMS_BY_NAME, undecided

from ..exit_codes import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATION
from ..json_document import SCHEMA_VERSION, THEOREM
from ..prove import exit_status, format_params, render_table
from .common import UsageError, positive_float, theorem_line
from .signals import stop_listening


def add_parser(subparsers):
    """Register the `prove` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("prove", help="prove the Z3 theorems (buddy arithmetic, split/merge, interleave, ...)")
    p.add_argument("theorems", nargs="*", metavar="THEOREM", help="theorems to prove (default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON list of results and nothing else")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="time limit per theorem (default: 30); running out is 'unknown', never a proof")
    p.add_argument("--list", action="store_true", help="list the theorems with their statements and exit")
    p.set_defaults(func=cmd_prove)
    return p


def cmd_prove(args, out):
    """The body of `buddycheck prove`; returns the exit status."""
    names = list(getattr(args, "theorems", None) or [])
    unknown = [n for n in names if n not in THEOREMS_BY_NAME]
    if unknown:
        raise UsageError(f"prove: unknown theorem {', '.join(map(repr, unknown))}; "
                         f"the theorems are: {', '.join(THEOREMS_BY_NAME)}")
    timeout = DEFAULT_TIMEOUT_S if getattr(args, "timeout", None) is None else args.timeout
    if not 0 < timeout < float("inf"):  # a caller that built args itself; the parser refuses these already
        raise UsageError(f"prove: --timeout {timeout:g}: must be a finite number of seconds above 0")
    chosen = [THEOREMS_BY_NAME[n] for n in names] if names else list(THEOREMS)
    if getattr(args, "list", False):
        if args.json:
            out(json.dumps([{"name": t.name, "params": t.params, "statement": t.statement, "kernel": t.kernel,
                             "establishes": list(t.establishes)} for t in chosen], indent=2))
        else:
            for t in chosen:
                out(f"{t.name} ({format_params(t.params)})\n  {t.statement}\n  kernel: {t.kernel}\n"
                    f"  establishes: {', '.join(t.establishes) or '(no invariant)'}")
        return EXIT_OK
    results = []
    try:
        for t in chosen:
            results.append(t.prove(timeout))
            print(theorem_line(results[-1]), file=sys.stderr, flush=True)  # progress, off standard output
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what was decided, the rest unknown (exit 3)
        stop_listening()
        results += undecided(chosen, results)
    if args.json:
        doc = {"schema_version": SCHEMA_VERSION, "command": "prove", "timeout_seconds": timeout,
               "theorems": [{"kind": THEOREM, **r.to_json(), "establishes": list(t.establishes)}
                            for t, r in zip(chosen, results)]}
        out(json.dumps(doc, indent=2, default=str))
    else:
        out(render_table(results))
        status = exit_status(results)
        verdict = {EXIT_OK: "all proved", EXIT_VIOLATION: "REFUTED", EXIT_INCONCLUSIVE: "INCONCLUSIVE"}[status]
        out(f"\nverdict: {verdict} ({sum(r.proved for r in results)}/{len(results)} proved, "
            f"{sum(r.seconds for r in results):.1f} s)")
    return exit_status(results)
