"""What every JSON document of `buddycheck` carries besides its findings (docs/json-schema.md).

`schema_version` changes when a field is removed or changes meaning (adding one does not); `command`
names the document's shape; `bounds` says how far the search was allowed to go, so a reader can tell
"held to depth 5" from "held"; `verdict` has one row per thing judged, each with its kind.
"""

SCHEMA_VERSION = 1

# the kinds of verdict row (checks/verdict.py rows and the rows of explore and diff)
THEOREM = "theorem"
STATE_INVARIANT = "state invariant"
STEP_INVARIANT = "step invariant"
GOAL = "goal"
DIFFERENCE = "difference"


def bounds(depth, max_states=None, seconds=None):
    """The limits the search was given: its depth, its number of distinct states, its time (None: none)."""
    return {"depth": depth, "states": max_states, "seconds": seconds}


def envelope(command, document, search_bounds):
    """`document` with the schema version and the command first and the bounds of the search."""
    return {"schema_version": SCHEMA_VERSION, "command": command, **document, "bounds": search_bounds}


def invariant_kind(prop):
    return STATE_INVARIANT if getattr(prop, "per_state", False) else STEP_INVARIANT


def exploration_rows(report, properties, cut_short):
    """The verdict rows of one search: each invariant checked, each model failure found, each goal."""
    violated = {v.invariant for v in report.violations}
    clean = "no violation" if cut_short or report.idle else "holds"  # an idle search checked nothing
    rows = [{"kind": invariant_kind(p), "invariant": p.name, "result": "violated" if p.name in violated else clean}
            for p in properties]
    checked = {p.name for p in properties}
    rows += [{"kind": "model failure", "invariant": name, "result": "violated"} for name in sorted(violated - checked)]
    rows += [{"kind": GOAL, "invariant": f"sometimes: {goal}", "result": "reached" if reached else "NOT reached"}
             for goal, reached in report.sometimes.items()]
    return rows
