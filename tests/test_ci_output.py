"""Output that fits CI: progress lines in a log, JUnit XML, versioned JSON documents, a quiet closed pipe,
complete --help and --version."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import jsonschema
import pytest

from buddycheck.checks.cli import build_parser, main
from buddycheck.checks.cli.check import scenario_progress, theorem_announcer
from buddycheck.checks.cli.common import PROGRESS_INTERVAL_VARIABLE, Progress
from buddycheck.checks.report import Report
from buddycheck.spec import theorems

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "json-schema.json").read_text())
SMALL = ["--preset", "buddy-core", "--pages", "8", "--max-order", "3", "--orders", "1-1"]
PLANTED = [*SMALL, "--model", "planted_models:ExpandUpper"]  # overlapping blocks after 1 operation
PROVE_ALL = theorems.prove_all


@pytest.fixture(autouse=True)
def one_theorem(monkeypatch):
    """`check` proves one quick theorem rather than the catalogue."""
    monkeypatch.setattr(theorems, "prove_all", lambda **kw: PROVE_ALL(names=["buddy_arithmetic"], **kw))


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def validate(doc):
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(doc, SCHEMA, cls=jsonschema.Draft202012Validator)


# ---- progress ------------------------------------------------------------------------------------------


def report(states, depth=2):
    return Report("buddy-core", "4.19", reachable_states=states, transitions=3 * states, depth=depth)


def test_off_a_terminal_a_progress_line_says_depth_states_transitions_rate_and_memory(capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, "0")
    bar = Progress(True, label="buddy-core")
    bar(report(10))
    bar(report(25, depth=3))
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("progress buddy-core: depth 3, 25 states, 75 transitions, ")
    assert " states/s, " in lines[1] and " MB, " in lines[1]


def test_progress_lines_come_once_per_interval_and_at_once_for_a_new_scenario(capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, "3600")
    show = scenario_progress(Progress(True))
    for states in (1, 2, 3):
        show(type("Sc", (), {"name": "first"}), report(states))
    show(type("Sc", (), {"name": "second"}), report(4))
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["progress first: depth 2", "progress second: depth 2"]
    assert "1 states" in lines[0] and "4 states" in lines[1]


def test_no_progress_when_disabled_as_with_json(capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, "0")
    bar = Progress(False)
    bar(report(5))
    bar.announce("theorem x: proved")
    assert capsys.readouterr().err == ""


def test_bench_says_what_it_measures_and_gives_each_search_a_progress_line(capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, "0")
    code, _, err = run(capsys, "bench", "W1", "largest", "--pages", "8", "--max-states", "40", "--no-spin")
    assert code == 0
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("bench ")] == ["bench W1", "bench largest"]
    last = {}  # each search's last line: its final counts (buddy-core 8 and 9 have 30 states, 10 pages more than 40)
    for line in lines:
        if line.startswith("progress "):
            label, _, rest = line[len("progress "):].partition(": ")
            last[label] = rest
    assert list(last) == ["W1 buddycheck [1 worker]", "largest 8 pages [1 worker]", "largest 9 pages [1 worker]",
                          "largest 10 pages [1 worker]"]
    assert last["W1 buddycheck [1 worker]"].startswith("depth 6, 30 states, 149 transitions, ")
    assert " states/s, " in last["W1 buddycheck [1 worker]"]
    assert ", 40 states, " in last["largest 10 pages [1 worker]"]


def test_bench_with_json_prints_no_progress(capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, "0")
    code, out, err = run(capsys, "bench", "W1", "--pages", "8", "--no-spin", "--json")
    assert code == 0 and err == "" and json.loads(out)["figures"]["W1"]["buddycheck"]["reachable_states"] == 30


def test_a_bad_progress_interval_is_bad_usage(capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, "soon")
    code, _, err = run(capsys, "explore", *SMALL, "--depth", "1")
    assert code == 2 and f"{PROGRESS_INTERVAL_VARIABLE}='soon'" in err


def test_check_announces_each_theorem_as_it_is_proved(capsys):
    code, _, err = run(capsys, "check", *SMALL, "--depth", "1", "--no-coverage")
    assert code == 0
    [announced] = [line for line in err.splitlines() if line.startswith("theorem ")]
    assert announced.startswith("theorem buddy_arithmetic: proved (")


def test_the_announcer_hears_of_each_result_from_prove_all(capsys):
    heard = PROVE_ALL(names=["buddy_arithmetic", "gfp_zone_eligibility"],
                      on_result=theorem_announcer(Progress(True)))
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == ["theorem buddy_arithmetic", "theorem gfp_zone_eligibility"]
    assert [r.name for r in heard] == ["buddy_arithmetic", "gfp_zone_eligibility"]


# ---- JUnit ---------------------------------------------------------------------------------------------


def cases(path):
    root = ET.parse(path).getroot()
    return root, {(c.get("classname"), c.get("name")): c for c in root.iter("testcase")}


def test_explore_junit_fails_the_violated_invariant_with_its_message_and_trace(capsys, tmp_path):
    path = tmp_path / "explore.xml"
    code, _, _ = run(capsys, "explore", *PLANTED, "--depth", "2", "--junit", str(path), "--no-coverage")
    assert code == 1
    root, by_name = cases(path)
    failed = by_name[("buddy-core", "no_overlap")].find("failure")
    assert failed.get("message").startswith("no_overlap violated after 1 operations: ")
    assert "alloc" in failed.text  # the printed program that reaches it
    assert by_name[("buddy-core", "conservation")].find("failure") is None
    assert root.get("failures") == "1" and int(root.get("tests")) == len(by_name) > 5
    assert [p.name for p in tmp_path.iterdir()] == ["explore.xml"]  # the temporary file was renamed


def test_check_junit_has_the_theorems_and_a_case_per_invariant_and_scenario(capsys, tmp_path):
    path = tmp_path / "check.xml"
    code, _, _ = run(capsys, "check", *PLANTED, "--depth", "2", "--junit", str(path), "--no-coverage")
    assert code == 1
    root, by_name = cases(path)
    assert by_name[("theorems", "buddy_arithmetic")].find("failure") is None
    failed = by_name[("buddy-core", "no_overlap")].find("failure")
    assert "no_overlap violated after 1 operations" in failed.get("message") and failed.text.strip()
    assert [s.get("name") for s in root.iter("testsuite")] == ["theorems", "buddy-core"]
    assert root.get("failures") == "1"


def test_a_search_cut_short_skips_its_invariants_rather_than_passing_them(capsys, tmp_path):
    path = tmp_path / "cut.xml"
    code, _, _ = run(capsys, "explore", *SMALL, "--depth", "6", "--max-states", "2", "--junit", str(path),
                     "--no-coverage")
    assert code == 3
    root, by_name = cases(path)
    assert all(c.find("skipped") is not None for c in by_name.values())
    assert root.get("skipped") == root.get("tests") and root.get("failures") == "0"


@pytest.mark.parametrize("command", ["explore", "check"])
def test_a_junit_path_that_cannot_be_written_is_refused_before_the_search(capsys, tmp_path, command):
    code, out, err = run(capsys, command, *SMALL, "--junit", str(tmp_path / "missing" / "x.xml"))
    assert code == 2 and "--junit" in err and "cannot write" in err and out == ""


# ---- JSON documents ------------------------------------------------------------------------------------


def test_the_explore_document_has_version_bounds_and_kinded_rows(capsys):
    code, out, _ = run(capsys, "explore", *SMALL, "--depth", "2", "--max-states", "500", "--json", "--no-coverage")
    doc = json.loads(out)
    validate(doc)
    assert code == 0 and doc["schema_version"] == 1 and doc["command"] == "explore"
    assert doc["bounds"] == {"depth": 2, "states": 500, "seconds": None}
    kinds = {r["invariant"]: r["kind"] for r in doc["verdict"]}
    assert kinds["no_overlap"] == "state invariant"
    assert all(r["result"] == "holds" for r in doc["verdict"] if r["kind"].endswith("invariant"))


def test_the_check_document_carries_the_traces_of_its_violations(capsys):
    code, out, _ = run(capsys, "check", *PLANTED, "--depth", "2", "--json", "--no-coverage")
    doc = json.loads(out)
    validate(doc)
    assert code == 1 and doc["command"] == "check"
    [sc] = doc["scenarios"]
    [v] = sc["violations"]
    assert v["invariant"] == "no_overlap" and v["length"] == 1 and len(v["ops"]) == 1
    assert sc["bounds"]["depth"] == 2 and doc["bounds"]["depth"] == 2
    assert {r["kind"] for r in doc["verdict"]} >= {"theorem", "state invariant"}


def test_the_diff_and_prove_documents_follow_the_schema(capsys):
    code, out, _ = run(capsys, "diff", "4.19", "4.19", *SMALL, "--depth", "2", "--json", "--no-coverage")
    doc = json.loads(out)
    validate(doc)
    assert code == 0 and doc["verdict"] == [{"kind": "difference", "invariant": "behaviour of 4.19 vs 4.19",
                                             "result": "same"}]
    assert doc["bounds"]["depth"] == 2
    code, out, _ = run(capsys, "prove", "--json", "gfp_zone_eligibility")
    doc = json.loads(out)
    validate(doc)
    assert code == 0 and doc["theorems"][0]["kind"] == "theorem"
    assert doc["theorems"][0]["establishes"] == ["zone_eligibility"]
    del doc["theorems"][0]["establishes"]
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_the_schema_rejects_a_document_without_bounds():
    with pytest.raises(jsonschema.ValidationError):
        validate({"schema_version": 1, "command": "explore", "verdict": [], "violations": []})


# ---- pipes, help and version ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["scenarios"], ["explore", *SMALL, "--depth", "1", "--no-coverage"]])
def test_a_closed_pipe_ends_quietly_as_sigpipe_would(argv):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as `| head -1` after its line
    try:
        done = subprocess.run([sys.executable, "-m", "buddycheck.checks.cli", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
    assert done.returncode == 128 + 13


def test_every_option_of_every_command_is_in_its_help():
    parser = build_parser()
    [sub] = [a for a in parser._actions if a.choices and hasattr(a, "add_parser")]
    assert set(sub.choices) >= {"check", "explore", "bench", "scenarios", "tour", "prove", "diff", "mutants"}
    for name, command in sub.choices.items():
        text = command.format_help()
        for action in command._actions:
            for option in action.option_strings:
                assert option in text, f"{name} --help does not list {option}"


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"buddycheck {version('buddycheck')}"


def test_mutants_announce_each_verdict_as_it_is_known(capsys):
    code, out, err = run(capsys, "mutants", "zone-xmerge")
    assert code == 0
    [line] = err.splitlines()
    assert line.startswith("mutant zone-xmerge: killed by zone_containment after 0 operation(s) (")
    code, out, err = run(capsys, "mutants", "zone-xmerge", "--json")
    assert err == "" and json.loads(out)[0]["killed"] is True


def test_a_progress_line_gives_the_search_its_own_rate():
    """In `check` the run's clock includes the theorems and earlier scenarios; the rate is the search's own."""
    from buddycheck.checks.cli.common import progress_line
    from buddycheck.checks.report import Report

    line = progress_line(Report("s", "4.19", 100, 300, 2, seconds=2.0), 10.0, "s")
    assert "50 states/s" in line and line.endswith("10 s")
