"""The exploration engine: its protocol, fingerprints, compact storage, typed report and backend seam."""

import json
import os
import subprocess
import sys
from array import array

import pytest
from planted_models import PLANTED

from buddycheck.checks.backends import LocalBackend
from buddycheck.checks.cli import main
from buddycheck.checks.explore import Explorer
from buddycheck.checks.fingerprint import collision_probability, fingerprint
from buddycheck.checks.properties import all_properties
from buddycheck.checks.protocol import Machine, Operation, SearchProblem
from buddycheck.checks.report import StopReason
from buddycheck.checks.scenarios import buddy_core, scenario
from buddycheck.checks.visited import FingerprintSet, ParentMap
from buddycheck.model.mempolicy import MPOL_BIND, Mempolicy


def outcome(report):
    return (report.reachable_states, report.transitions, report.depth, report.complete, report.stopped_by,
            report.sometimes, report.audited, [(v.invariant, v.message, v.trace) for v in report.violations])


def plain(sc):
    sc.symmetry = False
    return sc


# ---- the protocol --------------------------------------------------------------------------------------
def test_a_scenario_satisfies_the_search_protocol():
    sc = scenario("numa2-kernel")
    assert isinstance(sc, SearchProblem)
    m = sc.initial()
    assert isinstance(m, Machine)
    assert sc.actions(m) and all(isinstance(op, Operation) for op in sc.actions(m))
    assert not isinstance(object(), SearchProblem)


# ---- fingerprints --------------------------------------------------------------------------------------
def test_equal_states_have_equal_fingerprints_and_distinct_ones_differ():
    a = Mempolicy(MPOL_BIND, nodes=frozenset([0, 8, 16]))
    b = Mempolicy(MPOL_BIND, nodes=frozenset([16, 8, 0]))  # equal, built in another order
    assert fingerprint(((1, None), a, "x")) == fingerprint(((1, None), b, "x"))
    assert fingerprint(((1, None), a)) != fingerprint(((1, None), Mempolicy(MPOL_BIND, nodes=frozenset([0, 8]))))
    assert fingerprint((1, 2)) != fingerprint((2, 1)) != fingerprint(((1, 2),))
    assert fingerprint(()) != 0


def test_fingerprints_are_the_same_in_another_process():
    state = ((0, (1, None)), "zone", (Mempolicy(MPOL_BIND, nodes=frozenset([1, 3])),), True)
    code = ("from buddycheck.checks.fingerprint import fingerprint; from buddycheck.model.mempolicy import "
            "Mempolicy, MPOL_BIND; print(fingerprint(((0, (1, None)), 'zone', (Mempolicy(MPOL_BIND, "
            "nodes=frozenset([3, 1])),), True)))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashes differ from this process's
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert int(out.stdout) == fingerprint(state)


def test_the_collision_bound_is_tlcs_estimate():
    assert collision_probability(1) == 0.0
    assert collision_probability(2 ** 20) == pytest.approx(2.0 ** 40 / 2 ** 65, rel=1e-5)


def test_the_fingerprint_set_grows_and_keeps_every_member():
    s = FingerprintSet(capacity=8)
    values = [fingerprint((i,)) for i in range(5000)]
    assert all(s.add(v) for v in values)
    assert not any(s.add(v) for v in values)
    assert len(s) == 5000 and all(v in s for v in values)
    assert fingerprint((-1,)) not in s


def test_storage_per_state_is_at_most_100_bytes():
    # the structures' own sizes for a million states, as a 32-page buddy core's search fills them
    n = 1_000_000
    visited, parents = FingerprintSet(), ParentMap()
    per_level = n // 20
    for level in range(20):
        parents.new_level()
        for i in range(per_level):
            fp = fingerprint((level, i))
            visited.add(fp)
            parents.add(fp, i // 3, i % 7)
    assert len(visited) == len(parents) == n
    assert (visited.nbytes + parents.nbytes) / n <= 100
    assert isinstance(parents.keys[0], array) and parents.keys[0].itemsize == 8


def test_the_report_measures_its_own_storage():
    r = Explorer(buddy_core(16, 4, (1, 3))).check(*all_properties()).run()
    assert r.symmetry and not r.exact and r.bytes_per_state <= 100
    assert 0 < r.collision_probability < 1e-12


# ---- exact mode, symmetry by default -------------------------------------------------------------------
@pytest.mark.parametrize("symmetry", [False, True])
def test_exact_states_give_the_same_report_as_fingerprints(symmetry):
    sc = buddy_core(16, 4, (1, 3))
    sc.symmetry = symmetry
    fp = Explorer(sc).check(*all_properties()).workers(1).run()
    exact = Explorer(sc).check(*all_properties()).workers(1).exact().run()
    assert outcome(exact) == outcome(fp)
    assert exact.exact and exact.collision_probability == 0.0 and exact.bytes_per_state is None


def test_symmetry_is_on_by_default_where_the_alphabet_allows_it():
    on = Explorer(buddy_core(16, 4, (1, 3))).run()
    assert on.symmetry and on.reachable_states == 917  # tests/test_symmetry.py: the brute force's orbit count
    off = Explorer(scenario("numa2-isolation")).depth(1).run()  # isolation ranges name pfns
    assert not off.symmetry and off.reductions == ()


def test_auto_symmetry_that_the_audit_refuses_falls_back_to_every_state():
    from test_symmetry import FirstUnitFirst

    sc = buddy_core(16, 4, (1, 3)).with_model(FirstUnitFirst)
    r = Explorer(sc).check(*all_properties()).audit_every(1).run()
    assert not r.symmetry and "does not treat units [0, 1] alike" in r.symmetry_broken
    assert (r.reachable_states, r.complete, r.violations) == (Explorer(plain(sc)).run().reachable_states, True, [])


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bugs_keep_their_counterexample_lengths_by_default(name):
    model, make, invariant, length = PLANTED[name]
    found = []
    for sc in (make().with_model(model), plain(make().with_model(model))):
        r = Explorer(sc).check(*all_properties()).all_violations().depth(length).run()
        found.append(sorted((v.invariant, v.length) for v in r.violations))
    assert (invariant, length) in found[0] and found[0] == found[1]


# ---- the typed report ----------------------------------------------------------------------------------
def test_the_stop_reason_is_an_enum_and_its_json_is_its_value():
    r = Explorer(buddy_core(16, 4, (1, 3))).max_states(10).run()
    assert r.stopped_by is StopReason.MAX_STATES
    doc = json.loads(json.dumps(r.to_json()))
    assert doc["stopped_by"] == "max_states" and doc["symmetry"] is True and doc["workers"] == r.workers
    assert doc["fingerprint_collision_probability"] == r.collision_probability


def test_the_cli_json_says_how_the_search_was_made(capsys):
    assert main(["explore", "--pages", "16", "--json", "--workers", "2", "--no-coverage"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["reachable_states"], doc["symmetry"], doc["workers"], doc["exact"]) == (917, True, 2, False)
    assert doc["stopped_by"] is None and doc["complete"] is True
    assert main(["explore", "--pages", "16", "--json", "--no-symmetry", "--exact", "--no-coverage"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["reachable_states"], doc["symmetry"], doc["exact"]) == (1829, False, True)
    assert doc["fingerprint_collision_probability"] == 0.0


# ---- the backend seam ----------------------------------------------------------------------------------
class RemoteLike:
    """A backend whose slices run without the visited set, one frontier state each, as on other machines."""

    workers = 1

    def __init__(self):
        self.calls = 0

    def expand(self, level, frontier):
        self.calls += 1
        visited, level.visited = level.visited, None
        try:
            return [level.expand_slice(frontier[i:i + 1], i, progress=False) for i in range(len(frontier))]
        finally:
            level.visited = visited


@pytest.mark.parametrize("name", ["buddy-core", "numa2-kernel"])
def test_a_backend_without_the_visited_set_gives_the_same_report(name):
    sc = scenario(name) if name != "buddy-core" else buddy_core(16, 4, (1, 3))
    local = Explorer(sc).check(*all_properties()).backend(LocalBackend()).run()
    remote = RemoteLike()
    other = Explorer(sc).check(*all_properties()).backend(remote).run()
    assert remote.calls == other.depth + other.complete and outcome(other) == outcome(local)


def test_a_violation_found_by_a_backend_has_its_trace_rebuilt():
    model, make, invariant, length = PLANTED["expand-upper"]
    r = Explorer(make().with_model(model)).check(*all_properties()).backend(RemoteLike()).run()
    v = r.violations[0]
    assert (v.invariant, v.length) == (invariant, length) and r.stopped_by == StopReason.VIOLATION
    assert v.trace and all(hasattr(op, "apply") for op in v.trace)
