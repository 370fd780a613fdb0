"""Which kernel functions of the model a check ran, as TLC's `-coverage` and Spin's "unreached" report it.

`ModelCoverage(model_cls)` measures one check (one or several explorations): coverage.py's tracer,
with branch measurement, limited to the model's files (model/) and to the files that hold the
functions a variant overrides, so the explorer, the invariants and the standard library cost nothing
to trace. Calls are counted by a wrapper around each kernel function on the explorer's machine (the
functions call each other through `k.name(...)`, so every call passes through it). Forked workers
send their share back (`payload()` / `merge()`).

A kernel function is a function registered with @kernel_function (model/kernel.py), as the model
class has it: a variant's override is measured in the variant's file. Configuration loading,
printing and the machine's operations are not kernel functions and are not counted.

What it costs: the tracer makes the model about three times slower. `buddycheck check` gives each
scenario a share of its time, so measuring makes the searches shallower, never wrong.
"""

import ast
import inspect
import json
import os
import tempfile
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import coverage

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS

from .atomic_file import write_atomic

MODEL_DIR = Path(inspect.getfile(Kernel419)).resolve().parent


def overridden_functions(model_cls):
    """Names of the kernel functions model_cls replaces (compared with 4.19's), in registration order."""
    return [name for name in KERNEL_FUNCTIONS if getattr(model_cls, name) is not getattr(Kernel419, name)]


@dataclass(frozen=True)
class FunctionCoverage:
    """One kernel function's coverage: calls, and lines and branches executed out of all."""

    name: str
    path: str
    line: int  # first line of its source (decorators included)
    calls: int
    lines: int
    lines_total: int
    branches: int
    branches_total: int
    overridden: bool = False
    missing_branches: tuple = ()  # (from line, to line); a negative "to" leaves the function
    missing_lines: tuple = ()

    @property
    def reached(self):
        return self.lines > 0

    @property
    def where(self):
        return f"{self.path}:{self.line}"

    def to_json(self):
        return {"function": self.name, "file": self.path, "line": self.line, "calls": self.calls,
                "lines": {"executed": self.lines, "of": self.lines_total},
                "branches": {"executed": self.branches, "of": self.branches_total},
                "overridden": self.overridden,
                "missing_branches": [list(arc) for arc in self.missing_branches]}


@dataclass
class CoverageReport:
    """Coverage of every kernel function of one model class over one check."""

    model: str
    functions: list = field(default_factory=list)  # FunctionCoverage, in registration order

    def totals(self):
        f = self.functions
        return {"functions": {"reached": sum(x.reached for x in f), "of": len(f)},
                "lines": {"executed": sum(x.lines for x in f), "of": sum(x.lines_total for x in f)},
                "branches": {"executed": sum(x.branches for x in f), "of": sum(x.branches_total for x in f)}}

    def overridden(self):
        return [f for f in self.functions if f.overridden]

    def unexercised_overrides(self):
        """Overridden functions that never ran: the check says nothing about them."""
        return [f for f in self.overridden() if not f.reached]

    def warnings(self):
        """One sentence per overridden function that never ran, or ran without taking every branch."""
        out = []
        for f in self.overridden():
            if not f.reached:
                out.append(f"your change to {f.name} ({f.where}) was never executed: this check says nothing "
                           f"about it")
            elif f.branches < f.branches_total:
                arcs = ", ".join(f"{a}->{b if b > 0 else 'exit'}" for a, b in f.missing_branches)
                out.append(f"your change to {f.name} ({f.where}) ran, but {f.branches_total - f.branches} of its "
                           f"{f.branches_total} branches were never taken ({arcs}): those paths were not checked")
        return out

    def summary(self):
        t = self.totals()
        return (f"{t['functions']['reached']}/{t['functions']['of']} kernel functions reached, "
                f"{t['lines']['executed']}/{t['lines']['of']} lines, "
                f"{t['branches']['executed']}/{t['branches']['of']} branches "
                f"({percent(t['branches']['executed'], t['branches']['of'])})")

    def to_json(self):
        return {"model": self.model, **self.totals(),
                "overridden": [f.to_json() for f in self.overridden()],
                "warnings": self.warnings(),
                "per_function": [f.to_json() for f in self.functions]}

    def table(self, only=None):
        """One line per kernel function: calls, lines and branches executed out of all."""
        rows = self.functions if only is None else only
        width = max((len(f.name) for f in rows), default=8)
        lines = [f"  {'kernel function':{width}}  {'calls':>8}  {'lines':>9}  {'branches':>9}"]
        for f in rows:
            mark = "  (overridden)" if f.overridden else ""
            lines.append(f"  {f.name:{width}}  {f.calls:8}  {f.lines:4}/{f.lines_total:<4}  "
                         f"{f.branches:4}/{f.branches_total:<4}{mark}")
        return lines


def percent(part, whole):
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


class ModelCoverage:
    """Measures which kernel functions of `model_cls` run while started; see the module docstring."""

    def __init__(self, model_cls):
        self.model_cls = model_cls
        self.overrides = set(overridden_functions(model_cls))
        self.functions = {name: getattr(model_cls, name) for name in KERNEL_FUNCTIONS}
        files = {str(MODEL_DIR / "*")}
        files.update(_source_file(self.functions[name]) for name in self.overrides)
        self.files = sorted(files)
        self.calls = Counter()
        self._cov = coverage.Coverage(data_file=None, branch=True, include=self.files, config_file=False,
                                       concurrency=["thread", "greenlet"])  # concurrent pairs run in greenlets
        self._running = False

    # ---- measuring ---------------------------------------------------------------------------------
    def start(self):
        if not self._running:
            self._cov.start()
            self._running = True

    def stop(self):
        if self._running:
            self._cov.stop()
            self._running = False

    def count_calls(self, m):
        """Count every call of a kernel function on machine m (a wrapper per function, on this instance)."""
        counts = self.calls
        for name in self.functions:
            setattr(m, name, _counted(getattr(m, name), name, counts))
        return m

    def payload(self):
        """What a forked worker measured, to send back: arcs per file and call counts."""
        data = self._cov.get_data()
        return {f: sorted(data.arcs(f) or ()) for f in data.measured_files()}, dict(self.calls)

    def merge(self, payload):
        arcs, calls = payload
        self._cov.get_data().add_arcs(arcs)
        self.calls.update(calls)

    # ---- reading -----------------------------------------------------------------------------------
    def report(self):
        was_running = self._running
        self.stop()
        by_file = self._analysis()
        functions = []
        for name, fn in self.functions.items():
            path = _source_file(fn)
            first, span = _body_span(fn)
            info = by_file.get(path, {})
            executed = [n for n in info.get("executed_lines", ()) if n in span]
            missing = [n for n in info.get("missing_lines", ()) if n in span]
            hit_arcs = [tuple(a) for a in info.get("executed_branches", ()) if a[0] in span]
            missed_arcs = [tuple(a) for a in info.get("missing_branches", ()) if a[0] in span]
            functions.append(FunctionCoverage(
                name, _shown(path), first, self.calls.get(name, 0), len(executed), len(executed) + len(missing),
                len(hit_arcs), len(hit_arcs) + len(missed_arcs), name in self.overrides,
                tuple(sorted(missed_arcs)), tuple(sorted(missing))))
        if was_running:
            self.start()
        return CoverageReport(self.model_cls.NAME, functions)

    def _analysis(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "coverage.json")
            self._cov.json_report(outfile=out, ignore_errors=True)
            with open(out) as f:
                files = json.load(f)["files"]
        return {str(Path(name).resolve()): info for name, info in files.items()}

    def write_lcov(self, path):
        """The per-line detail in LCOV, which coverage tools (genhtml, editors, CI dashboards) read; written
        atomically (checks/printing.py write_atomic), so a full disk leaves no half a file."""
        was_running = self._running
        self.stop()
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "coverage.lcov")
            self._cov.lcov_report(outfile=out, ignore_errors=True)
            with open(out, encoding="utf-8") as f:
                text = f.read()
        write_atomic(path, text)
        if was_running:
            self.start()


def _body_span(fn):
    """(first source line, the range of lines of its body): the def line and docstring ran at import."""
    source, first = inspect.getsourcelines(fn)
    node = ast.parse(textwrap.dedent("".join(source))).body[0]
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return first, range(first + body[0].lineno - 1, first + len(source))


def _counted(fn, name, counts):
    def counted(*args, **kwargs):
        counts[name] += 1
        return fn(*args, **kwargs)

    return counted


def _source_file(fn):
    return str(Path(inspect.getsourcefile(fn)).resolve())


def _shown(path):
    """A path as the report shows it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return path
