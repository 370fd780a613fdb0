"""Parallel expansion (explore --workers N): the same report as one process, field for field.

Each level is cut into runs of consecutive states; forked processes expand all runs but the first,
this process the first, and the runs are merged in order. Here every level is split, however small
(MIN_PER_WORKER lowered), so the merge is exercised on every scenario.
"""

import pytest
from planted_models import PLANTED

from buddycheck.checks.backends import ForkBackend
from buddycheck.checks.cli import main
from buddycheck.checks.explore import Explorer, SymmetryBroken
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenarios import buddy_core, scenario


@pytest.fixture(autouse=True)
def split_every_level(monkeypatch):
    monkeypatch.setattr(ForkBackend, "MIN_PER_WORKER", 1)


def outcome(report):
    return (report.reachable_states, report.transitions, report.depth, report.complete, report.stopped_by,
            report.sometimes, report.audited, [(v.invariant, v.message, v.trace) for v in report.violations])


def run(sc, workers, **bounds):
    explorer = Explorer(sc).check(*all_properties()).workers(workers)
    if "depth" in bounds:
        explorer.depth(bounds["depth"])
    if "max_states" in bounds:
        explorer.max_states(bounds["max_states"])
    if bounds.get("all_violations"):
        explorer.all_violations()
    return explorer.run()


def symmetric(sc):
    sc.symmetry = True
    return sc


SCENARIOS = {
    "buddy-core 16": (lambda: buddy_core(16, 4, (1, 3)), {}),
    "buddy-core 16 symmetric": (lambda: symmetric(buddy_core(16, 4, (1, 3))), {}),
    "buddy-core 8 with order 0": (lambda: buddy_core(8, 3, (0, 2)), {}),
    "numa2-kernel": (lambda: scenario("numa2-kernel"), {"depth": 3}),
    "numa2-policy": (lambda: scenario("numa2-policy"), {"depth": 4}),
    "numa2-isolation": (lambda: scenario("numa2-isolation"), {"depth": 3}),
    "buddy-core 16 cut by max-states": (lambda: buddy_core(16, 4, (1, 3)), {"max_states": 700}),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("workers", [2, 3])
def test_the_report_is_the_same_with_more_workers(name, workers):
    make, bounds = SCENARIOS[name]
    one = run(make(), 1, **bounds)
    many = run(make(), workers, **bounds)
    assert outcome(many) == outcome(one)


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bugs_give_the_same_counterexamples(name):
    model, make, invariant, length = PLANTED[name]
    one = run(make().with_model(model), 1, depth=length, all_violations=True)
    two = run(make().with_model(model), 2, depth=length, all_violations=True)
    assert outcome(two) == outcome(one)
    assert any(v.invariant == invariant and v.length == length for v in two.violations)


def test_a_first_violation_stops_the_search_as_in_one_process():
    model, make, invariant, length = PLANTED["buddy-plus"]
    one = run(make().with_model(model), 1)
    two = run(make().with_model(model), 2)
    assert outcome(two) == outcome(one) and two.stopped_by == "violation"


def test_a_broken_symmetry_found_by_a_worker_is_reported():
    from test_symmetry import FirstUnitFirst

    sc = symmetric(buddy_core(16, 4, (1, 3)).with_model(FirstUnitFirst))
    with pytest.raises(SymmetryBroken, match="does not treat units"):
        Explorer(sc).workers(2).audit_every(1).run()


def test_the_cli_takes_workers(capsys):
    assert main(["explore", "--pages", "16", "--workers", "2", "--no-symmetry"]) == 0
    assert "1829 distinct states, 12611 transitions, depth 12, exhausted" in capsys.readouterr().out
    assert main(["explore", "--pages", "16", "--workers", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err
