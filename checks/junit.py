"""JUnit XML for CI dashboards (`check --junit FILE`, `explore --junit FILE`).

One <testsuite> per scenario (plus one for the theorems), one <testcase> per invariant checked in it: a
violation is a <failure> carrying the message and the trace, a check that was cut short or could not
decide is <skipped> with the reason (never a pass: honest verdicts), the rest pass.

Written with the standard library's xml.etree: the format is a handful of elements, and the one
dedicated library (junit-xml) has not been released for years; escaping is what etree already does.
The file is written to a temporary file beside it and renamed, so a reader never sees half of it.
"""

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .printing import write_atomic


@dataclass
class Case:
    """One test case: `failure` (message, text) fails it, `skipped` (a reason) marks it undecided."""

    name: str
    failure: tuple[str, str] | None = None
    skipped: str | None = None
    output: str = ""  # what a reader should know about a pass (a known violation of the base)
    seconds: float = 0.0


@dataclass
class Suite:
    name: str
    cases: list[Case] = field(default_factory=list)
    seconds: float = 0.0


def document(suites, name="buddycheck"):
    """The <testsuites> element of `suites`."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite in suites:
        failures = sum(c.failure is not None for c in suite.cases)
        skipped = sum(c.failure is None and c.skipped is not None for c in suite.cases)
        element = ET.SubElement(root, "testsuite", name=suite.name, tests=str(len(suite.cases)),
                                failures=str(failures), errors="0", skipped=str(skipped),
                                time=f"{suite.seconds:.3f}")
        for case in suite.cases:
            item = ET.SubElement(element, "testcase", classname=suite.name, name=case.name,
                                 time=f"{case.seconds:.3f}")
            if case.failure is not None:
                message, text = case.failure
                ET.SubElement(item, "failure", message=message, type="violation").text = text
            elif case.skipped is not None:
                ET.SubElement(item, "skipped", message=case.skipped)
            if case.output:
                ET.SubElement(item, "system-out").text = case.output
        totals["tests"] += len(suite.cases)
        totals["failures"] += failures
        totals["skipped"] += skipped
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("errors", "0")
    return root


def write(path, suites):
    """Write the JUnit XML of `suites` to `path` atomically (checks/printing.py write_atomic)."""
    root = document(suites)
    ET.indent(root)
    write_atomic(path, ET.tostring(root, encoding="utf-8", xml_declaration=True))


def trace_text(trace):
    """A counterexample as the operations that reach it, one per line."""
    return "\n".join(op.code() for op in trace)
