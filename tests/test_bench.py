"""`buddycheck bench`'s structure, on tiny parameters; and benchmarks (pytest-benchmark) of allocation and free.

The structure: figures chosen by name, the fields of --json, a search cut short never called
exhausted, a signal stopping the bench with what it measured. Nothing here asserts a speed.
Run the benchmarks with `python -m pytest -q tests/test_bench.py --benchmark-enable`; by default each
body runs once as a plain test.
"""

import json
import signal
import subprocess
import sys
import time

import pytest
from brute_buddy import BruteBuddy

from buddycheck.checks.bench import CYCLE, DEFAULT, FIGURES, alloc_free_round
from buddycheck.checks.cli import main
from buddycheck.checks.explore import Explorer
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.report import StopReason
from buddycheck.checks.scenarios import scenario
from buddycheck.checks.spin import missing_tools
from buddycheck.checks.watchdog import DEFAULT_OP_BUDGET, watch
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.spec.view import static_view, view_from_frozen, view_of


@pytest.mark.parametrize("name, params", [
    ("buddy-core", {"pages": 64, "max_order": 4}),
    ("numa2", {}),
    ("x86-64-1g", {}),
])
def test_alloc_free_throughput(benchmark, name, params):
    m = Kernel419(preset(name, **params))
    cpus = m.topology.cpus
    n = benchmark(alloc_free_round, m)
    assert n == len(CYCLE) * len(cpus)  # every request fits on these machines
    assert not m.allocated


def test_freeze_restore(benchmark):
    m = Kernel419(preset("numa2"))
    alloc_free_round(m)
    m.alloc(G.GFP_KERNEL, 1)
    frozen = m.freeze()
    benchmark(m.restore, frozen)
    assert m.freeze() == frozen


def test_view_from_frozen(benchmark):
    m = Kernel419(preset("numa2"))
    alloc_free_round(m)
    m.alloc(G.GFP_KERNEL, 1)
    static, frozen = static_view(m), m.freeze()
    view = benchmark(view_from_frozen, static, frozen)
    assert view == view_of(m)


def test_watched_operation(benchmark):
    """The watchdog's cost per transition: entering and leaving one operation's budget."""
    def watched():
        with watch(DEFAULT_OP_BUDGET):
            pass

    benchmark(watched)


def test_exploration_per_transition(benchmark):
    """W1's space (buddy-core 24/4/1-3, every invariant) cut at 3,000 states: the inner loop's cost."""
    def search():
        sc = scenario("buddy-core", pages=24, max_order=4, orders=(1, 3))
        return Explorer(sc).check(*properties_for(sc)).max_states(3000).run()

    report = benchmark.pedantic(search, rounds=1, iterations=1)
    assert report.reachable_states == 3000 and report.stopped_by == StopReason.MAX_STATES
    assert not report.violations


# ---- the bench command ---------------------------------------------------------------------------

def bench(capsys, *argv):
    code = main(["bench", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def bench_json(capsys, *argv):
    code, out, err = bench(capsys, *argv, "--json")
    return code, json.loads(out)


def test_list_names_every_figure_and_marks_the_default_ones(capsys):
    code, out, _ = bench(capsys, "--list")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(FIGURES)
    assert {"W1", "W2", "largest", "numa2", "alloc-free", "symmetry", "theorems"} <= set(FIGURES)
    assert [line.split()[0] for line in lines if line.endswith("(default)")] == list(DEFAULT)


def test_an_unknown_figure_is_bad_usage_naming_the_figures(capsys):
    code, out, err = bench(capsys, "W9")
    assert code == 2 and out == ""
    assert "no figure named 'W9'" in err and "W1" in err and "Traceback" not in err


def test_a_named_figure_runs_alone_with_every_field(capsys):
    code, doc = bench_json(capsys, "W1", "--pages", "8", "--no-spin")
    assert code == 0 and doc["interrupted"] is None
    assert list(doc["figures"]) == ["W1"]
    bc = doc["figures"]["W1"]["buddycheck"]
    assert bc["reachable_states"] == BruteBuddy(8, 4).explore(range(1, 4)).states
    assert bc["exhausted"] is True and bc["stopped_by"] is None
    for field in ("transitions", "depth", "seconds", "cpu_seconds", "states_per_second",
                  "microseconds_per_transition", "peak_memory_mb", "violations"):
        assert field in bc
    assert doc["figures"]["W1"]["spin"] == {"missing": "left out (--no-spin)"}
    assert doc["figures"]["W1"]["comparison"]["ratio"] is None


def test_the_concurrency_figure_searches_each_concurrent_scenario_at_bounds_0_to_3(capsys):
    from buddycheck.checks.bench_concurrency import BOUNDS, makers
    code, doc = bench_json(capsys, "concurrency")
    assert code == 0 and doc["interrupted"] is None
    searches = doc["figures"]["concurrency"]["searches"]
    names = [name for name, _ in makers()]
    assert names[0] == "concurrent" and "highatomic-pair" in names and "isolate-vs-isolate" in names
    assert [(f["scenario"], f["preemption_bound"]) for f in searches] == [
        (name, bound) for name in names for bound in BOUNDS]
    for name in names:
        rows = [f for f in searches if f["scenario"] == name]
        assert all(f["stopped_by"] is None for f in rows)  # every schedule of every pair, to the depth
        assert rows[0]["interleavings_ratio"] == rows[0]["cpu_seconds_ratio"] == 1.0
        assert all(f["rounds"] >= 1 and f["cpu_seconds_per_search"] > 0 for f in rows)
        counts = [f["interleavings"] for f in rows]
        assert counts == sorted(counts) and counts[0] < counts[-1]  # a higher bound never explores fewer
    pair = {f["preemption_bound"]: f for f in searches if f["scenario"] == "highatomic-pair"}
    assert [pair[b]["interleavings"] for b in BOUNDS] == [2, 8, 26, 44]
    assert pair[3]["interleavings_ratio"] == 22.0


@pytest.mark.skipif(missing_tools() is not None, reason=f"Spin's half needs Spin and a C compiler: {missing_tools()}")
@pytest.mark.parametrize("name, hash_compact", [("W1", False), ("W2", True)])
def test_spin_is_set_against_buddycheck_on_the_same_states(capsys, name, hash_compact):
    code, doc = bench_json(capsys, name, "--pages", "8", "--max-order", "3", "--orders", "0-1")
    w = doc["figures"][name]
    assert code == 0
    assert w["spin"]["exhausted"] and w["spin"]["states_stored"] == w["buddycheck"]["reachable_states"]
    assert w["spin"]["depth"] == w["buddycheck"]["depth"]
    assert ("-DHC4" in w["spin"]["options"]) == hash_compact and "-DBFS" in w["spin"]["options"]
    assert w["comparison"]["same_states"] is True and w["comparison"]["ratio"] is not None


def test_a_search_stopped_at_max_states_is_cut_short_not_exhausted(capsys):
    code, doc = bench_json(capsys, "W1", "--pages", "16", "--max-states", "100", "--no-spin")
    bc = doc["figures"]["W1"]["buddycheck"]
    assert code == 0
    assert (bc["exhausted"], bc["stopped_by"], bc["reachable_states"]) == (False, "max_states", 100)
    code, out, _ = bench(capsys, "W1", "--pages", "16", "--max-states", "100", "--no-spin")
    line = next(line for line in out.splitlines() if "buddycheck [" in line)
    assert "cut short (max_states)" in line and "exhausted" not in line


def test_a_search_stopped_by_time_is_cut_short_not_exhausted(capsys):
    # numa2-mixed is far from exhausted in a fraction of a second on any machine
    code, doc = bench_json(capsys, "numa2", "--time", "0.2")
    f = doc["figures"]["numa2"]["search"]
    assert code == 0
    assert (f["exhausted"], f["stopped_by"]) == (False, "time")


def test_largest_is_the_last_size_exhausted_before_the_first_cut_short(capsys):
    # with a cap of 40 states: 4..9 pages have at most 30 states, 10 pages has 88
    code, doc = bench_json(capsys, "largest", "--pages", "4", "--max-states", "40")
    f = doc["figures"]["largest"]
    assert code == 0
    assert f["largest_exhausted"] == 9
    assert [t["pages"] for t in f["tried"]] == list(range(4, 11))
    assert all(t["exhausted"] for t in f["tried"][:-1])
    assert (f["tried"][-1]["exhausted"], f["tried"][-1]["stopped_by"]) == (False, "max_states")


def test_sigterm_stops_the_bench_with_what_it_measured():
    proc = subprocess.Popen([sys.executable, "-u", "-m", "buddycheck.checks.cli", "bench", "W1", "--no-spin"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    header = proc.stdout.readline()  # printed just before the 24-page search, which takes minutes
    assert header.startswith("W1: buddy-core"), header
    time.sleep(5)  # into the search
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    line = next(line for line in out.splitlines() if "buddycheck [" in line)
    assert "cut short (interrupt)" in line and "exhausted" not in line
    assert "bench: interrupted during W1" in out
    assert "Traceback" not in err
