"""`buddycheck check`: the theorems, the portfolio explored with coverage, and one verdict table.

Without --preset/--config the scenarios are the default portfolio (checks/portfolio_scenarios/),
which together run the whole model. A model with a base (a variant: `--model X`) is judged against
it: a violation the base also has on the same operations is listed as known and does not fail the
check; one it lacks is a regression (exit 1); behavioural differences from the base are listed, and
fail the check only with --fail-on-difference. An overridden kernel function that never ran makes
the verdict inconclusive (exit 3): the check says nothing about it.

The command (its options and the run that collects what is judged here) is checks/cli/check.py.
"""

from buddycheck.spec.agreement import agreement, overridden
from buddycheck.spec.theorems import THEOREMS

from .exit_codes import EXIT_INCONCLUSIVE, EXIT_OK, EXIT_VIOLATION
from .portfolio import is_strict
from .report import CRASH, HANG, IDLE_TEXT
from .trace_json import trace_document
from .watchdog import ModelHang, watch

AGREEMENT_BUDGET = 15.0  # seconds for comparing a variant's functions with the theorems' encodings


def theorem_agreements(model):
    """{theorem: (agrees, text)} for each theorem whose encoded functions the model overrides (spec/agreement.py).

    The comparisons run the variant's own functions, so they run under the watchdog: a function that
    raises or never returns is not the encoding.
    """
    try:
        with watch(AGREEMENT_BUDGET):
            return {a.theorem: (a.agrees, a.text()) for a in agreement(model)}
    except ModelHang:
        why = f"did not finish within {AGREEMENT_BUDGET:.0f} s (a loop?)"
    except Exception as e:  # the variant's function failed on a comparison input
        why = f"raised {type(e).__name__} ({e})"
    out = {}
    for thm in THEOREMS:
        changed = overridden(model, thm.functions + thm.not_compared)
        if changed:
            out[thm.name] = (False, f"{model.NAME}'s {', '.join(changed)} {why} when compared with the encoding: "
                                    f"not proved for {model.NAME}")
    return out


class Verdict:
    """The rows of one check and the exit status they give."""

    def __init__(self, model, base, theorems, runs, coverage, args, agreements=None):
        self.model, self.base, self.theorems, self.runs, self.coverage = model, base, theorems, runs, coverage
        self.args = args
        self.against = base is not model
        self.agreements = agreements or {}

    # ---- what was found ----------------------------------------------------------------------------
    def regressions(self):
        return [(run, v) for run in self.runs for v in run.violations]

    def known(self):
        return [(run, v) for run in self.runs for v in run.known]

    def fixed(self):
        return [(run, v) for run in self.runs for v in run.fixed]

    def differences(self):
        return [run for run in self.runs if run.diff is not None and run.diff.difference is not None]

    def cut_short(self):
        return [run for run in self.runs if run.cut_short]

    def idle(self):
        """The scenarios whose search made no transition: nothing was checked on them."""
        return [run for run in self.runs if run.report.idle]

    def exit_code(self, Status):
        if any(t.status is Status.REFUTED for t in self.theorems) or self.regressions():
            return EXIT_VIOLATION
        if self.coverage is not None and self.coverage.unexercised_overrides():
            return EXIT_INCONCLUSIVE
        if any(t.status is Status.UNKNOWN for t in self.theorems) or self.cut_short() or self.idle():
            return EXIT_INCONCLUSIVE
        if self.args.fail_on_difference and self.differences():
            return EXIT_VIOLATION
        return EXIT_OK

    # ---- rows --------------------------------------------------------------------------------------
    def rows(self):
        """(kind, name, result, how it was checked) per theorem, invariant, goal and overridden function."""
        rows = []
        for t in self.theorems:
            params = ", ".join(f"{k}={v}" for k, v in t.params.items())
            how = f"Z3 proof for all inputs ({params})" if params else "Z3 proof for all inputs"
            result = t.status.value
            agreed = self.agreements.get(t.name)
            if agreed is not None and t.status.value == "proved":
                how = f"{t.status.value} for 4.19's encoding; {agreed[1]} ({how})"
                result = "proved" if agreed[0] else f"not proved for {self.model.NAME}"
            rows.append(("theorem", t.name, result, how))
        states = sum(run.report.reachable_states for run in self.runs)
        scope = f"{len(self.runs)} scenario{'s' if len(self.runs) != 1 else ''}, {states} states"
        if len(self.runs) == 1:
            scope = f"{self.runs[0].scenario.name}, {self.runs[0].reach()} ({states} states)"
        clean = "no violation" if self.cut_short() or self.idle() else "holds"
        names = []
        for run in self.runs:
            for p in run.properties:
                if p.name not in names:
                    names.append(p.name)
        per_state = {p.name: getattr(p, "per_state", False) for run in self.runs for p in run.properties}
        regressed = {v.invariant for _, v in self.regressions()}
        known = {v.invariant for _, v in self.known()}
        fixed = {v.invariant for _, v in self.fixed()}
        for name in names:
            kind = "state invariant" if per_state[name] else "step invariant"
            where = f"every {'state' if per_state[name] else 'transition'} of {scope}"
            if name in regressed:
                result = "violated"
            elif name in known:
                result = "known in base"
                where += (f"; the base {self.base.NAME} violates it on the same operations" if self.against else
                          f"; a strict rule {self.model.NAME} itself breaks (known behaviour, docs/invariants.md)")
            elif name in fixed:
                result = "fixed"
                where += f"; the base {self.base.NAME} violates it where {self.model.NAME} keeps it"
            else:
                result = clean
            rows.append((kind, name, result, where))
        for name in sorted({v.invariant for _, v in self.regressions() + self.known()} - set(names)):
            # the model crashed, hung or touched memory outside every zone: judged by no property
            result = "violated" if name in regressed else "known in base"
            rows.append(("model failure", name, result, f"every operation of {scope}"))
        for run in self.runs:
            for goal, reached in run.report.sometimes.items():
                if not reached:
                    rows.append(("goal", f"sometimes: {goal}", "NOT reached", f"{run.scenario.name}, {run.reach()}"))
        if self.coverage is not None:
            for f in self.coverage.overridden():
                result = "never ran" if not f.reached else ("ran" if f.branches == f.branches_total else "partly")
                rows.append(("overridden function", f.name, result,
                             f"{f.calls} calls, lines {f.lines}/{f.lines_total}, branches "
                             f"{f.branches}/{f.branches_total} ({f.where})"))
        for run in self.runs:
            if run.diff is not None:
                d = run.diff
                result = "differs" if d.difference is not None else "same"
                how = (f"{run.scenario.name}: {d.difference.summary()} after {d.difference.length} operation(s)"
                       if d.difference is not None else f"{run.scenario.name}: {d.bound_text()}")
                rows.append(("difference", f"behaviour vs {self.base.NAME}", result, how))
        return rows

    # ---- text --------------------------------------------------------------------------------------
    def text(self, code, elapsed, Status):
        lines = ["theorems (Z3):"]
        for t in self.theorems:
            lines.append(f"  {t.name:26} {t.status.value:8} {t.seconds:6.2f} s" + (
                f"  {t.reason}" if t.reason and t.status is not Status.PROVED else ""))
        what = f"model {self.model.NAME}" + (f", judged against its base {self.base.NAME}" if self.against else "")
        lines += ["", f"scenarios ({what}):"]
        if not self.runs:
            lines.append("  none explored: the run was interrupted during the theorems")
        width = max((len(run.scenario.name) for run in self.runs), default=0)
        for run in self.runs:
            r = run.report
            goals = sum(r.sometimes.values())
            for reduction in r.reductions:
                lines.append(f"  {run.scenario.name}: {reduction}; {r.audited} transitions audited")
            lines.append(f"  {run.scenario.name:{width}}  {r.reachable_states:7} states  {r.transitions:8} transitions"
                         f"  {r.seconds:5.1f} s  goals {goals}/{len(r.sometimes)}  {run.reach()}")
        if self.coverage is not None:
            lines += ["", "coverage: " + self.coverage.summary()]
            partial = [f for f in self.coverage.functions
                       if f.overridden or f.lines < f.lines_total or f.branches < f.branches_total]
            shown = [f for f in partial if f.overridden or not f.reached or f.branches < f.branches_total]
            lines += self.coverage.table(shown)
            hidden = len(self.coverage.functions) - len(shown)
            lines.append(f"  ({hidden} kernel functions with every branch taken not shown; --json lists all, "
                         f"--coverage FILE writes every line)")
            for w in self.coverage.warnings():
                lines.append(f"  WARNING: {w}")
        for run, v in self.regressions():
            lines += ["", self._violation_heading(run, v)]
            lines.append("    " + "; ".join(op.code() for op in v.trace))
            lines.append(f"    (rerun: {self.rerun_hint(run, v)})")
        for run, v in self.known():
            lines += ["", f"known in {self.base.NAME}: {v.invariant} in {run.scenario.name} after "
                          f"{v.length} operations: {v.message}",
                      "    " + "; ".join(op.code() for op in v.trace)]
        for run, v in self.fixed():
            lines += ["", f"fixed: the base {self.base.NAME} violates {v.invariant} in {run.scenario.name} after "
                          f"{v.length} operations, {self.model.NAME} does not: {v.message}",
                      "    " + "; ".join(op.code() for op in v.trace)]
        for run in self.differences():
            d = run.diff.difference
            lines += ["", f"behaviour differs from {self.base.NAME} in {run.scenario.name} {d.summary()}:"]
            for step in d.steps:
                mark = "!" if step.differs else " "
                lines.append(f"  {mark} {step.op.code()}")
                if step.differs:
                    lines.append(f"      {self.base.NAME}: {step.base.text}")
                    lines.append(f"      {self.model.NAME}: {step.head.text}")
            lines.append(f"    (details: buddycheck diff {self._ref(self.base)} {self._ref(self.model)} "
                         f"{self._scenario_option(run)})")
        lines.append("")
        rows = self.rows()
        width = max(len(r[1]) for r in rows)
        result_width = max(13, *(len(r[2]) for r in rows))
        lines.append(f"{'':20}{'':2}{'invariant':{width}}  {'result':{result_width}}  how it was checked")
        for kind, name, result, how in rows:
            lines.append(f"{kind:20}  {name:{width}}  {result:{result_width}}  {how}")
        text = {EXIT_OK: "everything holds", EXIT_VIOLATION: "VIOLATED", EXIT_INCONCLUSIVE: "inconclusive"}[code]
        if code == EXIT_INCONCLUSIVE and self.coverage is not None and self.coverage.unexercised_overrides():
            names = ", ".join(f.name for f in self.coverage.unexercised_overrides())
            text += f": the changed function(s) {names} never ran"
        elif code == EXIT_INCONCLUSIVE and self.idle():
            text += f": in {', '.join(run.scenario.name for run in self.idle())}, {IDLE_TEXT}"
        lines.append(f"\nverdict: {text} ({elapsed:.1f} s)")
        return lines

    def _violation_heading(self, run, v):
        keeps = "runs them" if v.invariant in (CRASH, HANG) else "keeps it on these operations"
        why = f" (the base {self.base.NAME} {keeps})" if self.against else ""
        return f"VIOLATION of {v.invariant} in {run.scenario.name} after {v.length} operations{why}: {v.message}"

    def _ref(self, cls):
        return self.args.model if cls is self.model and self.args.model else cls.NAME

    def _scenario_option(self, run):
        path = run.scenario.params.get("path") if isinstance(run.scenario.params, dict) else None
        return f"--config {path}" if path else f"--preset {run.scenario.name}"

    def rerun_hint(self, run, v):
        """The command that shows this counterexample shrunk and printed as a program."""
        parts = ["buddycheck explore", self._scenario_option(run), f"--depth {max(v.length, 1)}"]
        if self.args.model:
            parts.append(f"--model {self.args.model}")
        if any(p.name == v.invariant and is_strict(p) for p in run.properties):
            parts.append("--invariants strict")
        return " ".join(parts)

    # ---- JSON --------------------------------------------------------------------------------------
    def document(self, code, elapsed):
        def trace_doc(run, v):
            try:
                return trace_document(getattr(v, "scenario", None) or run.scenario, v)
            except Exception:  # a scenario that cannot be named in printed code: keep the essentials
                return {"invariant": v.invariant, "message": v.message, "length": v.length,
                        "ops": [op.code() for op in v.trace]}

        scenarios = []
        for run in self.runs:
            r = run.report
            entry = {"scenario": run.scenario.name, "reachable_states": r.reachable_states,
                     "transitions": r.transitions, "depth": r.depth, "complete": r.complete,
                     "stopped_by": r.stopped_by, "reach": run.reach(), "seconds": round(r.seconds, 3),
                     "share_seconds": None if run.share is None else round(run.share, 3),
                     "sometimes": r.sometimes, "reductions": list(r.reductions),
                     "violations": [trace_doc(run, v) for v in run.violations],
                     "known": [trace_doc(run, v) for v in run.known],
                     "fixed": [trace_doc(run, v) for v in run.fixed]}
            if r.preemption_bound is not None:
                entry.update(preemption_bound=r.preemption_bound, interleavings=r.interleavings)
            if run.diff is not None:
                d = run.diff
                entry["difference"] = None if d.difference is None else {
                    "length": d.difference.length, "summary": d.difference.summary(),
                    "ops": [step.op.code() for step in d.difference.steps],
                    "base": d.difference.last.base.text, "head": d.difference.last.head.text}
                entry["diff_bound"] = d.bound_text()
            scenarios.append(entry)
        return {
            "model": self.model.NAME, "base": self.base.NAME,
            "theorems": [t.to_json() for t in self.theorems],
            "agreement": {name: {"agrees": ok, "text": text} for name, (ok, text) in self.agreements.items()},
            "scenarios": scenarios,
            "coverage": None if self.coverage is None else self.coverage.to_json(),
            "verdict": [{"kind": k, "invariant": n, "result": r, "checked": h} for k, n, r, h in self.rows()],
            "warnings": [] if self.coverage is None else self.coverage.warnings(),
            "seconds": round(elapsed, 2),
            "exit": code,
        }

