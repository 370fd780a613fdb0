"""`buddycheck check --model X`: a verdict relative to the base, coverage of X's changes, invariant selection.

The theorems are left out here (tests/test_prove_cli.py and tests/test_cli.py run them); these tests
are about what the exploration part of the verdict says.
"""

import json
from pathlib import Path

import pytest
from check_variants import ExpandUpperToo, NeverRuns
from planted_models import ExpandUpper

import buddycheck.spec.theorems as theorems
from buddycheck.checks.cli import main
from buddycheck.checks.portfolio import explore_portfolio
from buddycheck.checks.scenarios import scenario
from buddycheck.model import Kernel419
from buddycheck.model.variants import Kernel58Classzone

PROVE_ALL = theorems.prove_all
SMALL = ["--preset", "buddy-core", "--pages", "8", "--max-order", "3", "--orders", "1-1"]


@pytest.fixture(autouse=True)
def no_theorems(monkeypatch):
    monkeypatch.setattr(theorems, "prove_all", lambda **_: [])


def check(capsys, *argv):
    code = main(["check", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(doc):
    return {(r["kind"], r["invariant"]): r for r in doc["verdict"]}


def test_a_variant_whose_change_never_ran_is_inconclusive_and_names_the_function(capsys):
    code, out, _ = check(capsys, *SMALL, "--model", "check_variants:NeverRuns")
    assert code == 3
    assert "WARNING: your change to reserve_highatomic_pageblock (" in out and "was never executed" in out
    assert out.rstrip().splitlines()[-1].startswith(
        "verdict: inconclusive: the changed function(s) reserve_highatomic_pageblock never ran")
    code, out, _ = check(capsys, *SMALL, "--model", "check_variants:NeverRuns", "--json")
    doc = json.loads(out)
    assert code == 3 and doc["exit"] == 3
    [f] = doc["coverage"]["overridden"]
    assert f["function"] == "reserve_highatomic_pageblock" and f["calls"] == 0 and f["lines"]["executed"] == 0
    assert rows(doc)[("overridden function", "reserve_highatomic_pageblock")]["result"] == "never ran"


def test_the_coverage_object_of_the_json_document(capsys):
    code, out, _ = check(capsys, *SMALL, "--json")
    cov = json.loads(out)["coverage"]
    assert code == 0
    for key, part in (("functions", "reached"), ("lines", "executed"), ("branches", "executed")):
        assert 0 < cov[key][part] < cov[key]["of"]
    assert cov["functions"]["of"] == len(cov["per_function"])
    expand = next(f for f in cov["per_function"] if f["function"] == "expand")
    assert expand["calls"] > 0 and expand["lines"]["executed"] == expand["lines"]["of"]


def test_a_regression_fails_with_the_shrunk_counterexample_and_a_rerun_hint(capsys):
    code, out, _ = check(capsys, *SMALL, "--model", "planted_models:ExpandUpper")
    assert code == 1
    assert "VIOLATION of no_overlap in buddy-core after 1 operations (the base 4.19 keeps it on these operations)" \
        in out
    assert "(rerun: buddycheck explore --preset buddy-core --depth 1 --model planted_models:ExpandUpper)" in out


def test_a_violation_the_base_has_too_is_known_and_does_not_fail(capsys):
    assert ExpandUpperToo.base_model() is ExpandUpper
    code, out, _ = check(capsys, *SMALL, "--model", "check_variants:ExpandUpperToo", "--json")
    doc = json.loads(out)
    assert code == 0, out
    [sc] = doc["scenarios"]
    assert sc["violations"] == [] and [k["invariant"] for k in sc["known"]] == ["no_overlap"]
    assert rows(doc)[("state invariant", "no_overlap")]["result"] == "known in base"
    assert doc["base"] == "expand-upper"


def test_behaviour_differences_are_listed_and_fail_only_when_asked(capsys):
    argv = ["--preset", "classzone-2node", "--model", "buddycheck.model.variants:Kernel58Classzone"]
    code, out, _ = check(capsys, *argv)
    assert code == 0
    assert "behaviour differs from 4.19 in classzone-2node at step 2" in out
    code, out, _ = check(capsys, *argv, "--fail-on-difference", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["scenarios"][0]["difference"]["length"] == 2


def test_invariants_can_be_chosen_and_skipped(capsys):
    code, out, _ = check(capsys, *SMALL, "--invariant", "no_overlap", "--invariant", "conservation", "--json")
    names = [r["invariant"] for r in json.loads(out)["verdict"] if r["kind"].endswith("invariant")]
    assert code == 0 and names == ["no_overlap", "conservation"]
    code, out, _ = check(capsys, *SMALL, "--skip", "no_overlap", "--model", "planted_models:ExpandUpper", "--json")
    doc = json.loads(out)
    assert ("state invariant", "no_overlap") not in rows(doc)
    code, _, err = check(capsys, *SMALL, "--invariant", "no_such_rule")
    assert code == 2 and "unknown invariant 'no_such_rule'" in err


def test_each_scenario_gets_a_share_of_the_time_and_says_how_far_it_went():
    scenarios = [scenario("numa2-mixed"), scenario("buddy-core", pages=8, max_order=3, orders=(1, 2))]
    runs = explore_portfolio(scenarios, Kernel419, seconds=1.0)
    mixed, core = runs
    assert mixed.report.stopped_by == "time" and not mixed.report.complete
    reduced = ", one state per exchange of whole MAX_ORDER blocks" if mixed.report.reductions else ""
    assert mixed.reach() == f"every sequence of up to {mixed.report.depth} operations, some of " \
                            f"{mixed.report.depth + 1} (time share){reduced}"
    assert core.report.complete and core.reach().startswith("exhausted at depth")
    assert not mixed.cut_short


def test_the_base_of_a_variant_is_the_model_it_derives_from():
    assert Kernel419.base_model() is Kernel419
    assert NeverRuns.base_model() is Kernel419 and Kernel58Classzone.base_model() is Kernel419


def test_explore_and_diff_say_when_a_changed_function_never_ran(capsys, tmp_path):
    code = main(["explore", *SMALL, "--model", "check_variants:NeverRuns", "--coverage", str(tmp_path / "x.lcov")])
    out = capsys.readouterr().out
    assert code == 3 and "INCONCLUSIVE: no violation, but the changed function(s) reserve_highatomic_pageblock" in out
    assert "SF:" in (tmp_path / "x.lcov").read_text()
    code = main(["diff", "4.19", "check_variants:NeverRuns", *SMALL, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 3 and doc["equivalent"] and doc["coverage"]["overridden"][0]["lines"]["executed"] == 0


def test_explore_keeps_going_past_the_first_violation(capsys):
    code = main(["explore", *SMALL, "--model", "planted_models:ExpandUpper", "--keep-going", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and [v["invariant"] for v in doc["violations"]][:1] == ["no_overlap"]


def test_an_output_path_that_cannot_be_written_is_refused_before_the_search(capsys, tmp_path):
    code = main(["explore", *SMALL, "--coverage", str(tmp_path / "missing" / "x.lcov")])
    assert code == 2 and "--coverage" in capsys.readouterr().err


def test_a_theorem_whose_encoded_function_the_variant_changed_is_not_proved_for_it(capsys, monkeypatch):
    monkeypatch.setattr(theorems, "prove_all", lambda **kw: PROVE_ALL(names=["buddy_arithmetic"], **kw))
    code, out, _ = check(capsys, *SMALL, "--model", "planted_models:BuddyPlus", "--json")
    doc = json.loads(out)
    row = rows(doc)[("theorem", "buddy_arithmetic")]
    assert row["result"] == "not proved for buddy-plus"
    assert row["checked"].startswith("proved for 4.19's encoding; buddy-plus's __find_buddy_pfn differs from the "
                                     "encoding at pfn=")
    assert doc["agreement"]["buddy_arithmetic"]["agrees"] is False
    code, out, _ = check(capsys, *SMALL, "--json")
    assert rows(json.loads(out))[("theorem", "buddy_arithmetic")]["result"] == "proved"


def test_a_crash_and_a_hang_are_regressions_with_the_function_named(capsys):
    code, out, _ = check(capsys, "--preset", "buddy-core", "--pages", "8", "--max-order", "3", "--orders", "0-0",
                         "--model", "planted_failures:ExpandDivides", "--json")
    doc = json.loads(out)
    [v] = doc["scenarios"][0]["violations"]
    assert code == 1 and v["invariant"] == "model_crash" and v["length"] == 1
    assert "ZeroDivisionError" in v["message"] and "in expand at" in v["message"]
    assert rows(doc)[("state invariant", "no_overlap")]["result"] == "holds"
    assert rows(doc)[("model failure", "model_crash")]["result"] == "violated"


def test_past_the_first_violation_a_crash_is_a_dead_end_not_the_end():
    from planted_failures import ExpandDivides

    from buddycheck.checks.explore import Explorer
    from buddycheck.checks.properties import all_properties

    sc = scenario("buddy-core", pages=8, max_order=3, orders=(0, 1)).with_model(ExpandDivides)
    first = Explorer(sc).check(*all_properties()).run()
    every = Explorer(sc).check(*all_properties()).all_violations().run()
    assert first.stopped_by == "violation" and [v.invariant for v in first.violations] == ["model_crash"]
    assert [v.invariant for v in every.violations] == ["model_crash"] and every.complete
    assert every.reachable_states > first.reachable_states


def test_a_strict_rule_4_19_breaks_is_known_4_19_behaviour_not_a_failure(capsys):
    argv = ["--preset", "highatomic-two-reserves", "--depth", "4", "--invariant", "highatomic_reserve_exact"]
    code, out, _ = check(capsys, *argv, "--invariants", "strict", "--json")
    doc = json.loads(out)
    [sc] = doc["scenarios"]
    assert code == 0 and sc["violations"] == []
    [known] = sc["known"]
    assert known["invariant"] == "highatomic_reserve_exact" and known["length"] == 4
    assert rows(doc)[("state invariant", "highatomic_reserve_exact")]["result"] == "known in base"
    code, out, err = check(capsys, *argv)  # the 4.19 profile does not have the rule
    assert code == 2 and "'highatomic_reserve_exact' is a rule of the strict profile: add --invariants strict" in err


def test_a_variant_breaking_a_strict_rule_where_its_base_keeps_it_has_regressed(capsys):
    code, out, _ = check(capsys, "--preset", "highatomic-one-pageblock", "--depth", "5",
                         "--model", "buddycheck.checks.mutants.highatomic:HaSteal", "--json")
    doc = json.loads(out)
    [v] = doc["scenarios"][0]["violations"]
    assert code == 1 and (v["invariant"], v["length"]) == ("highatomic_reserve_exact", 5)


def test_past_the_first_violation_a_hang_still_ends_the_search():
    from planted_failures import RmqueueSpins, buddy_core

    from buddycheck.checks.explore import Explorer
    from buddycheck.checks.properties import all_properties

    sc = buddy_core(12, 4, (1,)).with_model(RmqueueSpins)
    report = Explorer(sc).check(*all_properties()).all_violations().run()
    assert report.stopped_by == "violation" and [(v.invariant, v.length) for v in report.violations] == \
        [("model_hang", 3)]


def test_a_violation_the_base_has_and_the_variant_does_not_is_reported_fixed(capsys):
    # 4.19 merges a HIGHATOMIC pageblock with an Unmovable buddy after 4 operations; the later kernel's
    # merge refusal (tests/hygiene_variants.py LaterMerge) does not
    fresh = str(Path(__file__).parent / "hygiene_scenarios" / "two-reserves-fresh.toml")
    code, out, _ = check(capsys, "--config", fresh, "--depth", "4",
                         "--model", "hygiene_variants:LaterMerge", "--invariant", "no_mixed_merge", "--json")
    doc = json.loads(out)
    [sc] = doc["scenarios"]
    assert code == 0 and sc["violations"] == [] and sc["known"] == []
    assert [(v["invariant"], v["length"]) for v in sc["fixed"]] == [("no_mixed_merge", 4)]
    assert rows(doc)[("state invariant", "no_mixed_merge")]["result"] == "fixed"
