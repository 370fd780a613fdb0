"""`buddycheck mutants`: the table, --json, --list, --depth and the exit statuses."""

import argparse
import json

import pytest

from buddycheck.checks import cli
from buddycheck.checks.cli.mutants import add_parser
from buddycheck.checks.exit_codes import EXIT_OK, EXIT_USAGE, EXIT_VIOLATION
from buddycheck.checks.mutants import MUTANTS


def run(*argv):
    """Parse `mutants ARGV` with a parser of our own and run it; (status, printed lines)."""
    parser = argparse.ArgumentParser(prog="buddycheck")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mutants", *argv])
    lines = []
    status = args.func(args, lines.append)
    return status, "\n".join(lines)


def test_the_table_names_each_mutant_with_its_invariant_and_length():
    status, text = run("cma-wmark", "wmark-neg")
    assert status == EXIT_OK
    lines = text.splitlines()
    assert lines[0].split() == ["mutant", "killed", "invariant", "length", "seconds"]
    rows = {line.split()[0]: line.split() for line in lines[2:4]}
    # CMA-WMARK: the second unmovable allocation takes the last usable page (length 2)
    assert rows["cma-wmark"][:4] == ["cma-wmark", "yes", "watermark_respect", "2"]
    # WMARK-NEG: order 0, GFP_ATOMIC order 1 reserving its pageblock, then the order-0 one below min (length 3)
    assert rows["wmark-neg"][:4] == ["wmark-neg", "yes", "watermark_respect", "3"]
    assert float(rows["wmark-neg"][4]) >= 0
    assert "verdict: all killed (2/2 killed" in text


def test_the_whole_catalogue_is_killed():
    status, text = run()
    assert status == EXIT_OK
    for name in MUTANTS:
        assert any(line.split()[:2] == [name, "yes"] for line in text.splitlines() if line.strip())
    assert f"({len(MUTANTS)}/{len(MUTANTS)} killed" in text


def test_json_is_a_list_with_the_required_fields():
    status, text = run("il-next-rebind", "pcp-stale-isolate", "--json")
    assert status == EXIT_OK
    doc = json.loads(text)
    assert [d["name"] for d in doc] == ["il-next-rebind", "pcp-stale-isolate"]
    for d in doc:
        assert {"name", "killed", "invariant", "length", "seconds"} <= set(d)
        assert d["killed"] is True and d["as_expected"] is True
        assert isinstance(d["seconds"], float)
    assert doc[0]["invariant"] == "interleave_cursor" and doc[0]["length"] == 2
    assert doc[0]["trace"] == ["m.set_mempolicy(P.MPOL_INTERLEAVE, {0, 1, 2}, task=0)", "m.set_cpuset(0, {1, 2})"]
    assert doc[1]["invariant"] == "migratetype_consistency" and doc[1]["also"] == ["free_accounting"]


def test_a_survivor_exits_1_and_is_named():
    # one operation short of WMARK-NEG's shortest counterexample: nothing can fail yet
    status, text = run("wmark-neg", "cma-wmark", "--depth", "2")
    assert status == EXIT_VIOLATION
    assert any(line.split()[:3] == ["wmark-neg", "NO", "-"] for line in text.splitlines() if line.strip())
    assert "wmark-neg: NOT killed within 2 operation(s)" in text
    assert "verdict: SURVIVORS (1/2 killed" in text


def test_a_survivor_in_json():
    status, text = run("cma-iso-count", "--depth", "0", "--json")
    assert status == EXIT_VIOLATION
    (d,) = json.loads(text)
    assert d["killed"] is False and d["invariant"] is None and d["length"] is None and d["depth"] == 0


def test_an_unknown_name_exits_2_and_lists_the_mutants(capsys):
    status, text = run("cma-wmark", "no-such-bug")
    assert status == EXIT_USAGE and text == ""
    err = capsys.readouterr().err
    assert "unknown mutant 'no-such-bug'" in err and "cma-wmark" in err


def test_names_are_case_insensitive_and_deduplicated():
    status, text = run("CMA-WMARK", "cma-wmark", "--json")
    assert status == EXIT_OK
    assert [d["name"] for d in json.loads(text)] == ["cma-wmark"]


def test_list_prints_the_catalogue_without_running_it():
    status, text = run("--list", "iso-undo-no-merge", "ha-steal")
    assert status == EXIT_OK
    assert "iso-undo-no-merge [partial revert]: " in text
    assert "ha-steal: mm: don't steal highatomic pageblock (88ed365ea227)" in text
    assert "caught by highatomic_reserve_exact after 5 operation(s)" in text
    status, text = run("--list", "--json")
    assert status == EXIT_OK and len(json.loads(text)) == len(MUTANTS)


def test_a_negative_depth_is_a_usage_error():
    with pytest.raises(SystemExit):
        run("--depth", "-1")


def test_the_buddycheck_command_line_runs_mutants():
    assert cli.main(["mutants", "cma-wmark"]) == EXIT_OK
    assert cli.main(["mutants", "no-such-bug"]) == EXIT_USAGE
