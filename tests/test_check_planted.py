"""The default check catches what a user ports: each planted variant of tests/planted_variants.py, which
only one situation reaches, is caught by the default portfolio judged against its base, at a pinned length.

The fast tests explore the portfolio scenario that reaches each variant, to the pinned length, the way
`buddycheck check --model` does (checks/portfolio.py); the slow ones run the plain command.
"""

import json

import planted_variants
import pytest
from planted_variants import VARIANTS

from buddycheck.checks.cli import main
from buddycheck.checks.coverage import ModelCoverage
from buddycheck.checks.portfolio import explore_portfolio
from buddycheck.checks.scenarios import scenario
from buddycheck.model import Kernel419

# variant: (the portfolio scenario where the shortest regression shows, its invariant, its length)
CAUGHT = {
    "cma-fallback-cached-movable": ("cma", "free_accounting", 4),
    "highatomic-count-if-moved": ("highatomic-two-reserves", "highatomic_accounting", 0),  # in its setup
    "highatomic-multiblock-halfport": ("slowpath", "highatomic_accounting", 1),
    "isolate-drain-if-moved": ("isolation", "migratetype_consistency", 4),
    "preferred-not-flags-local": ("policy-modes", "fallback_order", 2),
    "reclaim-memalloc-leak": ("slowpath", "watermark_respect", 1),
}
NEVER_RUN = ("vmstat-drain-whole-batch", "drain_zone_pages")


def regressions(model, name, depth):
    sc = scenario(name)
    sc.depth = depth
    [run] = explore_portfolio([sc], model, seconds=None, base=Kernel419, diff_coverage=False)
    return run


@pytest.mark.parametrize("variant", sorted(CAUGHT))
def test_the_portfolio_scenario_catches_the_variant_against_its_base(variant):
    name, invariant, length = CAUGHT[variant]
    run = regressions(VARIANTS[variant], name, length)
    assert (invariant, length) in [(v.invariant, v.length) for v in run.violations]
    assert all(v.length >= length for v in run.violations)
    assert regressions(Kernel419, name, length).violations == []


@pytest.mark.parametrize("variant", sorted(CAUGHT))
def test_one_operation_less_the_scenario_finds_no_regression(variant):
    name, invariant, length = CAUGHT[variant]
    if length > 1:
        assert invariant not in [v.invariant for v in regressions(VARIANTS[variant], name, length - 1).violations]


def test_the_change_no_operation_reaches_is_named_and_never_ran():
    variant, function = NEVER_RUN
    measure = ModelCoverage(VARIANTS[variant])
    explore_portfolio([scenario("pageblock-steal")], VARIANTS[variant], seconds=2.0, coverage=measure)
    [f] = measure.report().unexercised_overrides()
    assert f.name == function


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(CAUGHT))
def test_plain_check_catches_the_variant(variant, capsys):
    ref = next(f"planted_variants:{attr}" for attr, value in vars(planted_variants).items()
               if value is VARIANTS[variant])
    code = main(["check", "--model", ref, "--json"])
    doc = json.loads(capsys.readouterr().out)
    shortest = min((v["length"], v["invariant"], sc["scenario"]) for sc in doc["scenarios"] for v in sc["violations"])
    name, invariant, length = CAUGHT[variant]
    assert code == 1 and shortest[0] == length and (length, invariant, name) in [
        (v["length"], v["invariant"], sc["scenario"]) for sc in doc["scenarios"] for v in sc["violations"]]


@pytest.mark.slow
def test_plain_check_of_a_change_that_never_runs_is_inconclusive(capsys):
    code = main(["check", "--model", "planted_variants:VmstatDrainWholeBatch"])
    out = capsys.readouterr().out
    assert code == 3 and "your change to drain_zone_pages" in out and "was never executed" in out


@pytest.mark.parametrize("variant, name, kind, function", [
    ("ExpandDivides", "zone-boundary", "model_crash", "expand"),
    ("RmqueueSpins", "highatomic", "model_hang", "__rmqueue_smallest"),
])
def test_a_variant_that_raises_or_loops_is_a_regression_in_one_operation(variant, name, kind, function):
    import planted_failures

    sc = scenario(name)
    sc.op_budget = 0.2  # seconds: a healthy operation takes well under a millisecond
    [run] = explore_portfolio([sc], getattr(planted_failures, variant), seconds=None, base=Kernel419,
                              diff_coverage=False)
    [v] = run.violations
    assert (v.invariant, v.length) == (kind, 1) and f" in {function} at " in v.message


def test_a_head_that_crashes_in_the_setup_differs_from_its_base_at_length_0():
    from planted_failures import ExpandDivides

    from buddycheck.checks.diff import diff

    sc = scenario("highatomic-two-reserves")  # its setup allocations split blocks
    report = diff(Kernel419, ExpandDivides, sc, depth=1, shrink=False)
    d = report.difference
    assert d.length == 0 and d.initial.head.observation.status == "crash"
    assert "ZeroDivisionError" in d.initial.head.text
