"""Golden numbers: distinct states, transitions, depth and verdict of every built-in scenario.

A change in the model's behaviour shows here as a changed number. After a deliberate change,
regenerate tests/golden/scenarios.json and say why in the commit.
"""

import json
import pathlib

import pytest

from buddycheck.checks.explore import Explorer
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenarios import SCENARIOS, scenario

GOLDEN = json.loads((pathlib.Path(__file__).parent / "golden" / "scenarios.json").read_text())
SLOW = {"numa2-mixed"}  # the default `check` scenario: about 15 s


def test_every_scenario_has_golden_numbers():
    assert set(GOLDEN) == set(SCENARIOS)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in SCENARIOS])
def test_scenario_matches_its_golden_numbers(name):
    sc = scenario(name)
    sc.symmetry = False  # the golden numbers count every state, not one per orbit
    r = Explorer(sc).check(*all_properties()).run()
    got = {"depth_bound": sc.depth, "reachable_states": r.reachable_states, "transitions": r.transitions,
           "depth": r.depth, "complete": r.complete, "violations": [v.invariant for v in r.violations],
           "sometimes": r.sometimes}
    assert got == GOLDEN[name]
