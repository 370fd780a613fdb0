"""Random-walk simulation (checks/strategies/simulate.py): reproducible, every property at every step, honest.

The same seed gives the same walks and report, another seed other walks; every state and every
transition a walk reaches is judged; a slip only three operations expose is found and shrunk to
exactly three; a crashing model is a `model_crash`; a machine far too large to exhaust is walked to
the full walk length; the report is a sample, never `complete`.
"""

import json
from dataclasses import dataclass, field

import planted_failures
import planted_walks
import pytest
from planted_walks import PLANTED_SEQUENCES

from buddycheck.checks.cli import main
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Free
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay
from buddycheck.checks.report import CRASH, SIMULATION
from buddycheck.checks.scenarios import scenario
from buddycheck.checks.strategies.simulate import DEFAULT_WALKS, Simulator
from buddycheck.model import Kernel419


@dataclass
class Recorder:
    """A property that never fails and records what it was asked to judge."""

    name: str
    per_state: bool
    seen: list = field(default_factory=list)

    def violations(self, before, op, result, m, after=None):
        self.seen.append((before, None if op is None else op.code(), m.freeze()))
        return []


def core(pages=16, max_order=4, orders=(0, 3), depth=12):
    sc = scenario("buddy-core", pages=pages, max_order=max_order, orders=orders)
    sc.depth = depth
    return sc


def simulate(sc, seed, walks, *properties):
    return Simulator(sc).check(*properties).seed(seed).walks(walks).run()


def outcome(report):
    """Everything a report says but its timings."""
    return (report.reachable_states, report.transitions, report.depth, report.walks, report.stopped_by,
            report.sometimes, [(v.invariant, v.message, v.trace) for v in report.violations], report.notes)


def planted(name):
    model, make, invariant, length = PLANTED_SEQUENCES[name]
    return make().with_model(model), invariant, length


# ---- reproducible -----------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_walks_and_report():
    steps = [Recorder("steps", per_state=False) for _ in range(2)]
    first, second = (simulate(core(), 7, 20, *all_properties(), rec) for rec in steps)
    assert outcome(first) == outcome(second)
    assert steps[0].seen == steps[1].seen and len(steps[0].seen) == first.transitions == 20 * 12


def test_the_same_seed_gives_the_same_counterexample_and_walk():
    sc, _, _ = planted("unmerged-order1-uncounted")
    first, second = (simulate(sc, 3, 50, *all_properties()) for _ in range(2))
    assert first.violations and outcome(first) == outcome(second)
    assert first.violations[0].original.trace == second.violations[0].original.trace


def test_another_seed_walks_elsewhere():
    steps = [Recorder("steps", per_state=False) for _ in range(2)]
    for seed, rec in zip((0, 1), steps):
        simulate(core(), seed, 20, rec)
    assert [op for _, op, _ in steps[0].seen] != [op for _, op, _ in steps[1].seen]


# ---- every property at every step -------------------------------------------------------------------------


def test_state_invariants_judge_every_state_and_step_invariants_every_transition():
    state, step = Recorder("state", per_state=True), Recorder("step", per_state=False)
    report = simulate(core(), 1, 10, state, step)
    assert report.transitions == 10 * 12 and report.stopped_by == "walks"
    assert len(state.seen) == report.transitions + 1  # the initial state, then each state a walk reaches
    assert len(step.seen) == report.transitions
    assert state.seen[0][:2] == (None, None)
    # a state invariant sees the state after the transition; a step invariant also the state before it
    assert [after for _, _, after in state.seen[1:]] == [after for _, _, after in step.seen]
    assert all(before is not None for before, _, _ in step.seen)
    # the walks revisit states, and every visit is judged again
    assert report.reachable_states < len(state.seen)


def test_a_slip_only_three_operations_expose_is_found_and_shrunk_to_three():
    sc, invariant, length = planted("unmerged-order1-uncounted")
    assert Explorer(sc).check(*all_properties()).depth(length - 1).run().violations == []  # none shorter
    report = simulate(sc, 0, 200, *all_properties())
    assert report.stopped_by == "violation" and len(report.violations) == 1
    v = report.violations[0]
    assert v.invariant == invariant and v.length == length
    walk = v.original
    assert walk.invariant == invariant and walk.length >= length
    props = [p for p in all_properties() if p.name == invariant]
    assert replay(sc, walk.trace, props, strict=False).violation_of(invariant).length == walk.length
    assert replay(v.scenario, v.trace, props, strict=False).violation_of(invariant).length == length


def test_the_correct_model_passes_the_same_walks():
    sc, _, _ = planted("unmerged-order1-uncounted")
    report = simulate(sc.with_model(Kernel419), 0, 200, *all_properties())
    assert report.violations == [] and report.walks == 200 and report.stopped_by == "walks"


def test_a_disabled_operation_is_skipped_for_another():
    sc = core(pages=8, max_order=3, orders=(0, 1), depth=6)
    sc.extra_ops = (Free(1000),)  # a pfn in no zone: the model refuses the free in every state (ModelError)
    step = Recorder("step", per_state=False)
    report = simulate(sc, 0, 10, step)
    assert report.transitions == 60 and report.violations == []
    assert "m.free(1000, cpu=0)" not in {op for _, op, _ in step.seen}


def test_a_walk_ends_where_no_operation_is_enabled():
    sc = core(pages=8, max_order=3, orders=(0, 1), depth=6)
    sc.allocs, sc.extra_ops = (), (Free(1000),)
    report = simulate(sc, 0, 5)
    assert (report.walks, report.transitions, report.depth, report.stopped_by) == (5, 0, 0, "walks")


# ---- failures of the model ----------------------------------------------------------------------------------


def test_a_crash_is_a_model_crash_located_and_shrunk():
    model, make, kind, _, function = planted_failures.FAILING["expand-divides"]
    report = simulate(make().with_model(model), 0, 50, *all_properties())
    assert report.stopped_by == "violation"
    v = report.violations[0]
    assert (v.invariant, v.failure.function) == (kind, function) == (CRASH, "expand")
    assert v.length == 1 and v.original.length >= 1  # as the explorer's shrunk crash (tests/test_crash_hang.py)


def test_a_hang_is_a_model_hang_in_the_function_that_loops():
    model, make, kind, _, function = planted_failures.FAILING["rmqueue-spins"]
    report = simulate(make().with_model(model), 0, 50, *all_properties())
    v = report.violations[0]
    assert (v.invariant, v.failure.function, v.length) == (kind, function, 1)


def test_a_crash_while_booting_is_a_counterexample_of_length_0():
    model, make, kind, _, function = planted_failures.FAILING["boot-free-fails"]
    report = simulate(make().with_model(model), 0, 5, *all_properties())
    assert report.walks == 0 and report.stopped_by == "violation"
    assert (report.violations[0].invariant, report.violations[0].length) == (kind, 0)


# ---- large machines, and what the report claims -----------------------------------------------------------


def test_a_machine_too_large_to_exhaust_is_walked_to_the_full_length():
    sc = core(pages=1024, max_order=11, orders=(0, 3), depth=100)
    bfs = Explorer(sc).max_states(3000).run()
    assert bfs.stopped_by == "max_states" and not bfs.complete and bfs.depth < 10  # 3000 states: a few levels
    report = simulate(sc, 0, 4, *all_properties())
    assert (report.walks, report.transitions, report.depth, report.stopped_by) == (4, 400, 100, "walks")
    assert report.violations == [] and report.reachable_states > 100


def test_the_report_is_a_sample_never_complete():
    report = simulate(core(pages=4, max_order=3, orders=(0, 2)), 0, 300)
    assert report.strategy == SIMULATION and report.sample and not report.complete
    assert not Explorer(core(pages=4, max_order=3, orders=(0, 2))).run().sample


def test_without_walks_or_time_it_takes_the_default_number_of_walks():
    report = Simulator(core(pages=4, max_order=3, orders=(0, 2), depth=2)).run()
    assert report.walks == DEFAULT_WALKS and report.stopped_by == "walks"


def test_a_time_limit_already_past_stops_before_the_first_walk():
    report = Simulator(core()).time_limit(1e-9).run()
    assert (report.stopped_by, report.walks, report.transitions) == ("time", 0, 0)


# ---- the command line ------------------------------------------------------------------------------------------


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_simulate_says_mode_seed_walks_steps_and_states(capsys):
    code, out, _ = run(capsys, "explore", "--simulate", "--seed", "4", "--walks", "5", "--depth", "7",
                       "--pages", "16", "--max-order", "4", "--orders", "0-3", "--no-coverage")
    assert code == 0
    assert "simulation with seed 4: 5 walks of up to 7 operations, 35 steps" in out
    assert "a sample, not exhaustion" in out and "exhausted" not in out
    code, out, _ = run(capsys, "explore", "--simulate", "--seed", "4", "--walks", "5", "--depth", "7",
                       "--pages", "16", "--max-order", "4", "--orders", "0-3", "--no-coverage", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["mode"] == "simulation" and doc["complete"] is False
    assert (doc["seed"], doc["walks"], doc["steps"], doc["stopped_by"]) == (4, 5, 35, "walks")
    assert 1 < doc["distinct_states"] <= 36


def test_cli_simulate_prints_the_shrunk_counterexample(capsys):
    code, out, _ = run(capsys, "explore", "--simulate", "--depth", "8", "--pages", "8", "--max-order", "3",
                       "--orders", "0-1", "--model", f"{planted_walks.__file__}:UnmergedUncounted", "--json",
                       "--no-coverage")
    doc = json.loads(out)
    assert code == 1 and doc["stopped_by"] == "violation"
    v = doc["violations"][0]
    assert (v["invariant"], v["length"]) == ("free_accounting", 3) and v["walk_length"] >= 3


def test_cli_simulate_walks_until_time_or_the_default_number_of_walks(capsys):
    small = ("--depth", "3", "--pages", "4", "--max-order", "3", "--orders", "0-1", "--no-coverage", "--json")
    code, out, _ = run(capsys, "explore", "--simulate", "--time", "0.2", *small)
    assert code == 0 and json.loads(out)["stopped_by"] == "time"
    code, out, _ = run(capsys, "explore", "--simulate", *small)
    doc = json.loads(out)
    assert code == 0 and (doc["walks"], doc["stopped_by"]) == (DEFAULT_WALKS, "walks")


@pytest.mark.parametrize("argv, message", [
    (("--seed", "1"), "go with --simulate"),
    (("--simulate", "--max-states", "10"), "--max-states applies to breadth-first search"),
    (("--simulate", "--symmetry"), "--symmetry applies to breadth-first search"),
    (("--simulate", "--walks", "0"), "must be at least 1"),
])
def test_cli_simulate_bad_usage_exits_2(capsys, argv, message):
    code, _, err = run(capsys, "explore", *argv)
    assert code == 2 and message in err and "Traceback" not in err

