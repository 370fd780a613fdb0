"""The command line: each command's output and exit status; bad usage exits 2 without a traceback."""

import json

import pytest

from buddycheck.checks.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tour_runs_and_every_page_comes_back(capsys):
    code, out, _ = run(capsys, "tour")
    assert code == 0
    assert "verdict: every page came back" in out
    assert "alloc order 4 GFP_KERNEL -> NULL (order >= MAX_ORDER)" in out


def test_explore_buddy_core_exhausts_and_reports(capsys):
    # 8 pages, MAX_ORDER 3, orders 0-2: the brute-force count (tests/test_brute_force.py) is 1829 states
    code, out, _ = run(capsys, "explore", "--pages", "8", "--max-order", "3", "--orders", "0-2", "--no-symmetry")
    assert code == 0
    assert "1829 distinct states" in out and "exhausted" in out and "no symmetry reduction" in out


def test_explore_json_is_one_document(capsys):
    code, out, _ = run(capsys, "explore", "--pages", "4", "--max-order", "3", "--orders", "1-2", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["complete"] is True and doc["violations"] == []
    for key in ("reachable_states", "transitions", "depth", "seconds"):
        assert key in doc


def test_explore_stopped_by_max_states_is_inconclusive(capsys):
    code, out, _ = run(capsys, "explore", "--pages", "16", "--max-order", "4", "--orders", "1-3",
                       "--max-states", "50", "--json")
    assert code == 3
    doc = json.loads(out)
    assert doc["stopped_by"] == "max_states" and doc["complete"] is False


@pytest.mark.parametrize("argv, words", [
    (["frobnicate"], "invalid choice"),
    ([], "required"),
    (["explore", "--preset", "nope"], "unknown scenario 'nope'"),
    (["explore", "--pages", "0"], "must be at least 1"),
    (["explore", "--orders", "x-y"], "order range"),
    (["explore", "--pages", "8", "--max-order", "3", "--orders", "2-5"], "need 0 <= LO <= HI < max-order 3"),
    (["explore", "--preset", "numa2-kernel", "--pages", "8"], "go with --preset buddy-core"),
    (["explore", "--config", "/nonexistent.toml"], "no such file"),
    (["explore", "--model", "buddycheck.model:preset"], "is not a model class"),
    (["explore", "--model", "no.such.module:X"], "cannot import"),
])
def test_bad_usage_exits_2_without_traceback(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert words in err
    assert "Traceback" not in err and out == ""


def test_explore_finds_a_planted_bug_and_prints_a_program(capsys, tmp_path):
    bug = tmp_path / "bug.py"
    bug.write_text(
        "from buddycheck.model import Kernel419\n"
        "Bad = Kernel419.variant('no-zone-check')\n"
        "@Bad.override\n"
        "def expand(k, zone, page, low, high, migratetype):\n"
        "    size = 1 << high\n"
        "    while high > low:\n"
        "        high -= 1\n"
        "        size >>= 1\n"
        "        zone.free_area[high].free_list[migratetype].insert(0, page + size)\n"
        "        k.page_buddy[page + size] = high\n"
        "        # nr_free not incremented: free_accounting must catch it\n"
    )
    code, out, _ = run(capsys, "explore", "--pages", "8", "--max-order", "3", "--orders", "1-1",
                       "--model", f"{bug}:Bad")
    assert code == 1
    assert "VIOLATION of free_accounting after 1 operations" in out
    assert "m.alloc(G.GFP_KERNEL, 1, cpu=0)" in out


def test_explore_json_reports_the_violation_with_its_trace(capsys, tmp_path):
    bug = tmp_path / "bug.py"
    bug.write_text(
        "from buddycheck.model import Kernel419\n"
        "Bad = Kernel419.variant('double-count')\n"
        "@Bad.override\n"
        "def rmqueue_bulk(k, zone, order, count, lst, migratetype):\n"
        "    got = Kernel419.rmqueue_bulk(k, zone, order, count, lst, migratetype)\n"
        "    zone.nr_free_pages += got  # forgets that the pages left buddy\n"
        "    return got\n"
    )
    code, out, _ = run(capsys, "explore", "--pages", "4", "--max-order", "3", "--orders", "0-0",
                       "--model", f"{bug}:Bad", "--json")
    assert code == 1
    doc = json.loads(out)
    (v,) = doc["violations"]
    assert v["invariant"] == "free_accounting" and v["length"] == 1
    assert v["ops"] == [{"kind": "alloc", "gfp": "GFP_KERNEL", "order": 0, "cpu": 0, "nid": None, "env": {}}]


def test_interrupt_ends_with_a_partial_report():
    # Ctrl-C during a search: the explorer returns what it has, marked as interrupted (exit 3 in the CLI)
    from buddycheck.checks.explore import Explorer
    from buddycheck.checks.scenarios import scenario

    class Interrupt:
        name, per_state, calls = "interrupt", False, 0

        def violations(self, before, op, result, m, after=None):
            self.calls += 1
            if self.calls == 50:
                raise KeyboardInterrupt
            return []

    report = Explorer(scenario("buddy-core")).check(Interrupt()).run()
    assert report.stopped_by == "interrupt" and not report.complete
    assert 1 < report.reachable_states < 1829 and report.transitions == 50


def test_sigterm_ends_like_ctrl_c_with_a_partial_report():
    # `timeout` sends SIGTERM: the report of what was explored still prints, marked as cut short
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "buddycheck.checks.cli", "explore", "--pages", "24"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # well past start-up (the handler is installed first thing), far before the end (minutes)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "interrupted at depth" in out
    assert "no violation in the part explored (the search was cut short)" in out
    assert "Traceback" not in err


def test_a_complete_search_says_every_reachable_state(capsys):
    code, out, _ = run(capsys, "explore", "--pages", "4", "--max-order", "3", "--orders", "1-2")
    assert code == 0 and "every invariant held in every reachable state" in out
    code, out, _ = run(capsys, "explore", "--pages", "16", "--max-order", "4", "--orders", "1-3", "--depth", "3")
    assert code == 0 and "every invariant held to depth 3" in out


def test_check_proves_explores_and_prints_one_verdict_table(capsys):
    code, out, _ = run(capsys, "check", "--preset", "buddy-core", "--pages", "8", "--max-order", "3", "--orders", "1-2",
                       "--symmetry")
    assert code == 0
    assert "split_merge_preserve" in out and "proved" in out
    assert "symmetry: interchangeable 4-page units per zone (2)" in out
    row = next(line for line in out.splitlines() if line.split()[2:3] == ["no_overlap"])
    assert "holds" in row and "exhausted at depth" in row and "one state per exchange of whole MAX_ORDER blocks" in row
    assert out.rstrip().splitlines()[-1].startswith("verdict: everything holds")


def test_check_of_a_broken_model_exits_1_with_the_violation(capsys):
    code, out, _ = run(capsys, "check", "--preset", "buddy-core", "--pages", "8", "--max-order", "3", "--orders", "1-1",
                       "--json", "--model", "planted_models:ExpandUpper")
    assert code == 1
    doc = json.loads(out)
    assert doc["exit"] == 1
    [sc] = doc["scenarios"]
    assert [(v["invariant"], v["length"]) for v in sc["violations"]] == [("no_overlap", 1)]
    rows = {r["invariant"]: r["result"] for r in doc["verdict"]}
    assert rows["no_overlap"] == "violated" and rows["conservation"] == "holds"
