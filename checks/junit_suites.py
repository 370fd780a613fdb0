"""What `check` and `explore` found, as the suites and cases of checks/junit.py.

A case fails only where the command's exit status says a violation (a refuted theorem, a violated
invariant, a difference with --fail-on-difference); what the exit status calls inconclusive (an
unknown theorem, a search cut short, a changed function that never ran) is skipped with the reason.
"""

from .junit import Case, Suite, trace_text
from .report import IDLE_TEXT

THEOREMS_SUITE = "theorems"


def theorem_suite(theorems, agreements):
    suite = Suite(THEOREMS_SUITE, seconds=sum(t.seconds for t in theorems))
    for t in theorems:
        case = Case(t.name, seconds=t.seconds)
        status = t.status.value
        agreed = agreements.get(t.name)
        if status == "refuted":
            case.failure = (f"refuted: {t.reason or 'Z3 found a counterexample'}", str(t.counterexample or ""))
        elif status != "proved":
            case.skipped = f"{status}: {t.reason or 'Z3 could not decide'}"
        elif agreed is not None and not agreed[0]:
            case.skipped = agreed[1]
        suite.cases.append(case)
    return suite


def scenario_suite(name, report, properties, violations, known=(), fixed=(), cut_short=False, traces=None):
    """One suite for one search: a case per invariant, and one per model failure (crash, hang) found.

    `traces` maps a violation to its printed trace (explore prints the shrunk program); by default the
    operations, one per line.
    """
    suite = Suite(name, seconds=report.seconds)
    show = traces or trace_text_of
    names = [p.name for p in properties]
    names += sorted({v.invariant for v in violations} - set(names))  # judged by no property: crash, hang
    for invariant in names:
        case = Case(invariant)
        found = [v for v in violations if v.invariant == invariant]
        if found:
            v = found[0]
            case.failure = (f"{invariant} violated after {v.length} operations: {v.message}", show(v))
        elif report.idle:
            case.skipped = IDLE_TEXT
        elif cut_short:
            case.skipped = f"no violation in the part explored; the search was cut short ({report.stopped_by})"
        notes = [f"known in the base after {v.length} operations: {v.message}\n{trace_text(v.trace)}"
                 for v in known if v.invariant == invariant]
        notes += [f"fixed: the base violates it after {v.length} operations: {v.message}\n{trace_text(v.trace)}"
                  for v in fixed if v.invariant == invariant]
        case.output = "\n\n".join(notes)
        suite.cases.append(case)
    return suite


def trace_text_of(violation):
    return trace_text(violation.trace)


def verdict_suites(verdict):
    """The suites of `buddycheck check`: the theorems, then one per scenario of the portfolio."""
    suites = [theorem_suite(verdict.theorems, verdict.agreements)]
    for run in verdict.runs:
        suite = scenario_suite(run.scenario.name, run.report, run.properties, run.violations, run.known, run.fixed,
                               cut_short=run.cut_short)
        d = run.diff
        if d is not None:
            case = Case(f"behaviour vs {verdict.base.NAME}")
            if d.difference is not None:
                text = "\n".join(step.op.code() for step in d.difference.steps)
                message = f"differs {d.difference.summary()} after {d.difference.length} operation(s)"
                if verdict.args.fail_on_difference:
                    case.failure = (message, text)
                else:
                    case.output = f"{message}\n{text}"
            suite.cases.append(case)
        suites.append(suite)
    if verdict.coverage is not None:
        unexercised = verdict.coverage.unexercised_overrides()
        if unexercised:
            suites.append(Suite("overridden functions", [
                Case(f.name, skipped=f"{f.name} ({f.where}) never ran: nothing was checked about it")
                for f in unexercised]))
    return suites
