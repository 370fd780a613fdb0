"""The explorer must catch every deliberately broken model, with the shortest counterexample.

For each planted bug: breadth-first exploration finds a violation of the expected invariant at
exactly the pinned length; exploring one operation less finds none (minimality); the correct model
passes the same scenario; the counterexample replays to the same violation.
"""

import pytest
from planted_models import PLANTED

from buddycheck.checks.explore import Explorer
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay


def explore(scenario, depth):
    return Explorer(scenario).check(*all_properties()).all_violations().depth(depth).run()


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bug_is_caught_at_the_pinned_length(name):
    model, make, invariant, length = PLANTED[name]
    report = explore(make().with_model(model), length)
    found = {v.invariant: v for v in report.violations}
    assert invariant in found, f"{name}: {invariant} not violated; found {sorted(found)}"
    assert found[invariant].length == length


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_no_shorter_sequence_fails(name):
    model, make, invariant, length = PLANTED[name]
    report = explore(make().with_model(model), length - 1) if length > 1 else None
    if report is not None:
        assert all(v.invariant != invariant for v in report.violations)
        assert report.stopped_by is None


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_the_correct_model_passes_the_same_scenario(name):
    _, make, _, length = PLANTED[name]
    report = explore(make(), length)
    assert report.violations == []


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_counterexample_replays(name):
    model, make, invariant, length = PLANTED[name]
    scenario = make().with_model(model)
    report = explore(scenario, length)
    v = next(v for v in report.violations if v.invariant == invariant)
    props = [p for p in all_properties() if p.name == invariant]
    result = replay(scenario, v.trace, props, strict=False)
    again = result.violation_of(invariant)
    assert again is not None and again.length == length and again.trace == v.trace
