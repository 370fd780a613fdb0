"""`buddycheck check`: the theorems, then the default scenario explored, then one verdict table."""

import json
import time

from .cli import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATION, explore_scenario, report_lines, resolve_scenario


def run_check(args, out):
    from buddycheck.spec.theorems import Status, prove_all

    from .properties import all_properties
    from .scenarios import DEFAULT_SCENARIO

    sc = resolve_scenario(args, DEFAULT_SCENARIO)
    started = time.perf_counter()
    theorems = prove_all()
    properties = all_properties()
    report = explore_scenario(sc, properties, progress=not args.json, workers=args.workers)
    seconds = time.perf_counter() - started

    cut_short = report.stopped_by in ("max_states", "interrupt")
    how = "exhausted" if report.complete else f"every sequence of up to {sc.depth} operations"
    if cut_short:
        how = f"only the part explored before the search was cut short ({report.stopped_by})"
    if report.reductions:
        how += ", one state per exchange of whole MAX_ORDER blocks"
    clean = "no violation" if cut_short else "holds"
    rows = []
    for t in theorems:
        params = ", ".join(f"{k}={v}" for k, v in t.params.items())
        rows.append((t.name, f"Z3 proof for all inputs ({params})" if params else "Z3 proof for all inputs",
                     t.status.value, round(t.seconds, 2)))
    violated = {v.invariant: v for v in report.violations}
    for p in properties:
        kind = "every state" if getattr(p, "per_state", False) else "every transition"
        where = f"{kind} of {sc.name}, {how} ({report.reachable_states} states)"
        rows.append((p.name, where, "violated" if p.name in violated else clean, None))
    for name, reached in report.sometimes.items():
        rows.append((f"sometimes: {name}", f"{sc.name}, {how}", "reached" if reached else "NOT reached", None))

    refuted = any(t.status is Status.REFUTED for t in theorems)
    unknown = any(t.status is Status.UNKNOWN for t in theorems)
    if refuted or report.violations:
        code = EXIT_VIOLATION
    elif unknown or report.stopped_by in ("max_states", "interrupt"):
        code = EXIT_INCONCLUSIVE
    else:
        code = EXIT_OK

    if args.json:
        out(json.dumps({
            "theorems": [t.to_json() for t in theorems],
            "exploration": {"scenario": sc.name, "model": sc.model.NAME, "reachable_states": report.reachable_states,
                            "transitions": report.transitions, "depth": report.depth, "complete": report.complete,
                            "stopped_by": report.stopped_by, "seconds": round(report.seconds, 3),
                            "states_per_second": round(report.states_per_second, 1),
                            "sometimes": report.sometimes, "reductions": list(report.reductions),
                            "violations": [{"invariant": v.invariant, "message": v.message, "length": v.length}
                                           for v in report.violations]},
            "verdict": [{"invariant": r[0], "checked": r[1], "result": r[2]} for r in rows],
            "seconds": round(seconds, 2),
            "exit": code,
        }, indent=2))
        return code

    out("theorems (Z3):")
    for t in theorems:
        out(f"  {t.name:26} {t.status.value:8} {t.seconds:6.2f} s" + (f"  {t.reason}" if t.reason and
                                                                    t.status is not Status.PROVED else ""))
    out("")
    for line in report_lines(report, sc):
        out(line)
    for v in report.violations:
        out(f"  VIOLATION of {v.invariant} after {v.length} operations: {v.message}")
        out("    " + "; ".join(op.code() for op in v.trace))
        out(f"    (run `buddycheck explore --preset {sc.name} --depth {max(v.length, 1)}` for the shrunk program)")
    out("")
    width = max(len(r[0]) for r in rows)
    out(f"{'invariant':{width}}  {'result':11}  how it was checked")
    for name, checked, result, _ in rows:
        out(f"{name:{width}}  {result:11}  {checked}")
    verdict = {EXIT_OK: "everything holds", EXIT_VIOLATION: "VIOLATED",
               EXIT_INCONCLUSIVE: "inconclusive"}[code]
    out(f"\nverdict: {verdict} ({seconds:.1f} s)")
    return code
