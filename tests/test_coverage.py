"""Coverage of the model's kernel functions: what ran, counted per function, merged across workers."""

from check_variants import NeverRuns
from planted_models import ExpandUpper

from buddycheck.checks.backends import ForkBackend
from buddycheck.checks.coverage import ModelCoverage, overridden_functions
from buddycheck.checks.explore import Explorer
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenarios import scenario
from buddycheck.model import Kernel419


def measured(sc, workers=1):
    measure = ModelCoverage(sc.model)
    Explorer(sc).check(*all_properties()).workers(workers).coverage(measure).run()
    return measure


def by_name(report):
    return {f.name: f for f in report.functions}


def test_a_buddy_core_run_reaches_the_buddy_functions_and_not_the_highatomic_ones():
    report = measured(scenario("buddy-core", pages=8, max_order=3, orders=(1, 2))).report()
    f = by_name(report)
    assert f["expand"].reached and f["expand"].calls > 0 and f["expand"].lines == f["expand"].lines_total
    assert f["__free_one_page"].calls > 0
    # only GFP_KERNEL requests: no high-order atomic reserve, no steal from another migratetype
    assert not f["reserve_highatomic_pageblock"].reached and f["reserve_highatomic_pageblock"].calls == 0
    assert not f["steal_suitable_fallback"].reached
    for fc in report.functions:
        assert 0 <= fc.lines <= fc.lines_total and 0 <= fc.branches <= fc.branches_total
        assert fc.branches_total - fc.branches == len(fc.missing_branches)
    t = report.totals()
    assert t["functions"]["of"] == len(report.functions) and 0 < t["functions"]["reached"] < t["functions"]["of"]
    assert t["branches"]["executed"] == sum(fc.branches for fc in report.functions)
    assert report.overridden() == [] and report.warnings() == []


def test_an_overridden_function_is_measured_in_the_variants_file():
    assert overridden_functions(ExpandUpper) == ["expand"]
    report = measured(scenario("buddy-core", pages=8, max_order=3, orders=(1, 1)).with_model(ExpandUpper)).report()
    [f] = report.overridden()
    assert f.name == "expand" and f.path.endswith("planted_models.py") and f.reached and f.calls > 0


def test_an_override_that_never_runs_is_a_warning_naming_it():
    sc = scenario("buddy-core", pages=8, max_order=3, orders=(1, 1)).with_model(NeverRuns)
    report = measured(sc).report()
    [f] = report.unexercised_overrides()
    assert f.name == "reserve_highatomic_pageblock" and f.calls == 0
    [warning] = report.warnings()
    assert warning.startswith("your change to reserve_highatomic_pageblock (") and "was never executed" in warning


def test_forked_workers_send_back_what_they_ran(monkeypatch):
    monkeypatch.setattr(ForkBackend, "MIN_PER_WORKER", 2)  # fork on every level of a small machine
    sc = scenario("buddy-core", pages=8, max_order=3, orders=(1, 2))
    one, two = measured(sc).report(), measured(sc, workers=2).report()
    assert [(f.name, f.calls, f.lines, f.branches) for f in one.functions] == \
        [(f.name, f.calls, f.lines, f.branches) for f in two.functions]


def test_the_per_line_detail_is_written_as_lcov(tmp_path):
    measure = measured(scenario("buddy-core", pages=8, max_order=3, orders=(1, 1)))
    out = tmp_path / "model.lcov"
    measure.write_lcov(out)
    text = out.read_text()
    assert "SF:" in text and "buddy.py" in text and "DA:" in text and "BRDA:" in text
    assert text.rstrip().endswith("end_of_record")


def test_the_base_model_has_no_overrides():
    assert overridden_functions(Kernel419) == []


def test_lines_run_in_the_greenlets_of_concurrent_pairs_are_counted_where_they_ran():
    # without coverage.py's greenlet support, a switch at a preemption point credits the lines that follow to
    # whatever frame the tracer last saw, among them functions no operation ever calls
    report = measured(scenario("concurrent")).report()
    f = by_name(report)
    assert f["set_migratetype_isolate"].calls > 0 and f["set_migratetype_isolate"].lines > 0
    for fc in report.functions:
        assert fc.calls > 0 or fc.lines == 0, fc
