"""`buddycheck prove`: the table, --json (one JSON object, nothing else), and the exit statuses 0/1/2/3."""

import json

import pytest
import z3

from buddycheck.checks import cli
from buddycheck.checks.cli.common import Parser, UsageError
from buddycheck.checks.cli.prove import add_parser, cmd_prove
from buddycheck.checks.exit_codes import EXIT_USAGE
from buddycheck.spec import theorems as T


def run(argv):
    """Parse argv with a parser that has the prove command and run it as cli.main would; (status, stdout lines)."""
    parser = Parser(prog="buddycheck")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    add_parser(sub)
    lines = []
    try:
        args = parser.parse_args(argv)
        status = args.func(args, lines.append)
    except UsageError as e:
        return EXIT_USAGE, [str(e)]
    return status, lines


FAST = ["gfp_zone_eligibility", "policy_nodemask_cpuset"]


def test_table_lists_each_theorem_with_parameters_status_and_seconds():
    status, lines = run(["prove", *FAST])
    assert status == 0
    text = "\n".join(lines)
    header = text.splitlines()[0].split()
    assert header == ["theorem", "parameters", "status", "seconds"]
    assert "policy_nodemask_cpuset  max_numnodes=1024" in text
    rows = [line.split() for line in text.splitlines()[2:4]]
    assert [r[0] for r in rows] == FAST and all(r[-2] == "proved" for r in rows)
    assert "verdict: all proved (2/2 proved" in text


def test_json_is_one_document_and_nothing_else():
    status, lines = run(["prove", "--json", *FAST])
    assert status == 0 and len(lines) == 1
    whole = json.loads(lines[0])
    assert whole["schema_version"] == 1 and whole["command"] == "prove" and whole["timeout_seconds"] == 30
    doc = whole["theorems"]
    assert [d["name"] for d in doc] == FAST and {d["kind"] for d in doc} == {"theorem"}
    for d in doc:
        assert d["status"] == "proved" and isinstance(d["seconds"], float)
        assert d["vacuity"] is True and d["counterexample"] is None
        assert set(d) >= {"name", "status", "seconds", "params", "reason"}
        assert d["establishes"] == list(T.THEOREMS_BY_NAME[d["name"]].establishes)
    assert doc[0]["establishes"] == ["zone_eligibility"] and doc[1]["establishes"] == ["nodemask_respect"]


def test_refuted_theorem_exits_1_and_prints_the_counterexample(monkeypatch):
    broken = T.Theorem("buddy_plus", "buddy with + instead of xor", "-",
                       lambda **kw: T.build_buddy_arithmetic(find_buddy=lambda p, o: p + (z3.BitVecVal(1, 64) << o)),
                       {"max_order": 11})
    monkeypatch.setitem(T.THEOREMS_BY_NAME, "buddy_plus", broken)
    status, lines = run(["prove", "buddy_plus"])
    assert status == 1
    text = "\n".join(lines)
    assert "buddy_plus: REFUTED" in text and "pfn: 0x" in text and "verdict: REFUTED" in text
    status, lines = run(["prove", "--json", "buddy_plus"])
    doc = json.loads(lines[0])["theorems"]
    assert status == 1 and doc[0]["status"] == "refuted"
    assert "buddy of the buddy is the block" in doc[0]["counterexample"]["failed"]


def test_timeout_is_inconclusive_exit_3():
    status, lines = run(["prove", "--json", "--timeout", "0.001", "split_merge_preserve"])
    assert status == 3
    assert json.loads(lines[0])["theorems"][0]["status"] == "unknown"


@pytest.mark.parametrize("argv", [["prove", "no_such_theorem"], ["prove", "--timeout", "-1"],
                                  ["prove", "--timeout", "soon"]])
def test_bad_usage_exits_2(argv):
    status, lines = run(argv)
    assert status == 2


def test_list_prints_statements_without_proving():
    status, lines = run(["prove", "--list", "interleave_fairness"])
    assert status == 0
    assert "interleave_fairness (max_numnodes=1024)" in lines[0] and "exactly once" in lines[0]
    assert lines[0].splitlines()[-1] == "  establishes: interleave_fairness"


def test_list_json_names_the_invariants_each_theorem_establishes():
    status, lines = run(["prove", "--list", "--json", "zonelist_nodemask", "split_merge_preserve"])
    assert status == 0
    assert [d["establishes"] for d in json.loads(lines[0])] == [
        ["zone_eligibility", "nodemask_respect"],
        ["no_overlap", "conservation", "buddy_alignment", "maximal_coalescing"]]


def test_cmd_prove_is_callable_with_a_plain_namespace():
    import argparse
    out = []
    status = cmd_prove(argparse.Namespace(theorems=["gfp_zone_eligibility"], json=True, timeout=None, list=False),
                       out.append)
    assert status == 0 and json.loads(out[0])["theorems"][0]["status"] == "proved"


def test_wired_into_the_buddycheck_command(capsys):
    assert cli.main(["prove", "--json", "gfp_zone_eligibility"]) == 0
    assert json.loads(capsys.readouterr().out)["theorems"][0]["name"] == "gfp_zone_eligibility"
