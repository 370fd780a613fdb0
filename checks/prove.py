"""The results of proving the theorems of spec/theorems.py: one table row per theorem and one exit status.

Exit status: 0 when every theorem is proved, 1 when one is refuted, 3 when one is unknown (a Z3 unknown,
a timeout or a vacuous set of assumptions) and none is refuted. The command is checks/cli/prove.py.
"""

from .exit_codes import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATION


def format_params(params):
    return " ".join(f"{k}={v}" for k, v in params.items() if isinstance(v, (int, float, str, bool))) or "-"


def exit_status(results):
    statuses = {r.status.value for r in results}
    if "refuted" in statuses:
        return EXIT_VIOLATION
    if "unknown" in statuses:
        return EXIT_INCONCLUSIVE
    return EXIT_OK


def render_table(results):
    rows = [("theorem", "parameters", "status", "seconds")]
    rows += [(r.name, format_params(r.params), r.status.value, f"{r.seconds:.2f}") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    for r in results:
        if r.status.value == "refuted":
            lines.append(f"\n{r.name}: REFUTED ({r.reason}); counterexample:")
            for k, v in (r.counterexample or {}).items():
                lines.append(f"  {k}: {v}")
        elif r.status.value == "unknown":
            lines.append(f"\n{r.name}: UNKNOWN, not a proof: {r.reason}")
    return "\n".join(lines)
