"""The catalogue of LTP/numactl NUMA expectations (tests/ltp_expectations.py) is whole and consistent.

Every row has a status its fields agree with; every test a stated row names exists, down to the
parameter; every test of the test_ltp_*.py files is named by some row and names its suite's test in
its docstring; docs/ltp-expectations.md is the catalogue's current rendering.
"""

import importlib
from pathlib import Path

import pytest
from ltp_expectations import CATALOGUE, MISSING, NOT_STATED, ROOT, STATUSES, counts, markdown, summary

TESTS = Path(__file__).resolve().parent
LTP_TEST_FILES = sorted(p.name for p in TESTS.glob("test_ltp_*.py") if p.name != Path(__file__).name)


def split_id(test_id):
    """'file.py::function[param]' -> (module name, function name, param id or None)."""
    path, _, rest = test_id.partition("::")
    name, _, param = rest.partition("[")
    return path.removesuffix(".py"), name, param.removesuffix("]") or None


def param_ids(function):
    """The ids of a test's parametrize cases (pytest.param(..., id=...)); one decorator only."""
    marks = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
    if len(marks) != 1:
        return None
    return [getattr(v, "id", None) for v in marks[0].args[1]]


def test_every_row_is_unique_and_its_fields_fit_its_status():
    keys = [e.key for e in CATALOGUE]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    for e in CATALOGUE:
        assert e.status in STATUSES and e.asserts and e.expects, e.key
        if e.status == NOT_STATED:
            assert e.missing in MISSING and not e.tests and not e.since, e.key
        else:
            assert e.tests and not e.missing, e.key
        assert bool(e.since) == (e.status == "later kernels only"), e.key
    unused = set(MISSING) - {e.missing for e in CATALOGUE}
    assert not unused, f"features no row needs any more: {sorted(unused)}"


@pytest.mark.parametrize("test_id", sorted({t for e in CATALOGUE for t in e.tests}))
def test_every_named_test_exists(test_id):
    module_name, name, param = split_id(test_id)
    assert (TESTS / f"{module_name}.py").is_file(), test_id
    function = getattr(importlib.import_module(module_name), name, None)
    assert callable(function), f"{test_id}: no test {name} in {module_name}.py"
    if param is not None:
        assert param in (param_ids(function) or []), f"{test_id}: no case {param}"


@pytest.mark.parametrize("file_name", LTP_TEST_FILES)
def test_every_ltp_test_is_in_the_catalogue_and_names_its_counterpart(file_name):
    module = importlib.import_module(file_name.removesuffix(".py"))
    rows = {}
    for e in CATALOGUE:
        for t in e.tests:
            module_name, name, param = split_id(t)
            if module_name == module.__name__:
                rows.setdefault(name, []).append((e, param))
    for name in (n for n in dir(module) if n.startswith("test_")):
        named = rows.get(name)
        assert named, f"{file_name}::{name} is named by no row of tests/ltp_expectations.py"
        params = {p for _, p in named}
        if None not in params:  # named case by case: every case must be named
            assert params == set(param_ids(getattr(module, name))), f"{file_name}::{name}: cases named {params}"
        doc = getattr(module, name).__doc__ or ""
        for e, _ in named:
            counterpart = e.test.removesuffix(".c").removesuffix(".sh").split("/")[-1]
            assert counterpart in doc, f"{file_name}::{name}: its docstring does not name {e.test}"


def test_the_document_is_current():
    doc = (ROOT / "docs" / "ltp-expectations.md").read_text()
    assert doc == markdown(), "regenerate: python tests/ltp_expectations.py --markdown > docs/ltp-expectations.md"


def test_the_counts_add_up_and_the_summary_reports_them():
    by_status, by_missing, by_suite = counts()
    assert sum(by_status.values()) == sum(by_suite.values()) == len(CATALOGUE)
    assert sum(by_missing.values()) == by_status[NOT_STATED]
    text = summary({e.key: True for e in CATALOGUE if e.tests})
    assert f": {len(CATALOGUE)} (" in text.splitlines()[0]
    assert f"{NOT_STATED}: {by_status[NOT_STATED]}" in text
    failing = summary({e.key: e.key != CATALOGUE[0].key for e in CATALOGUE if e.tests})
    assert f"({by_status[CATALOGUE[0].status] - 1} of them pass on the model now)" in failing
