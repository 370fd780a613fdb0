"""Generated bad input on the command line (tests/fuzz_inputs.py): exit 2 naming the key, option or file and
line, never a traceback, never exit 0.

Each test draws bad input only (the expected status is always 2), runs it in process through
`buddycheck.checks.cli.main(argv)` and asserts the outcome is a clean error. A small sample runs by
default; the slow test counts outcomes over a larger one with tests/fuzz_measure.py and asserts every
input got a clean error.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_inputs import (
    BASES,
    Case,
    command_line_cases,
    counterexample_cases,
    outcome,
    scenario_cases,
    toml_text,
    topology_cases,
    trace_cases,
)
from fuzz_measure import measure
from hypothesis import HealthCheck, given, settings

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_clean(case, folder):
    kind, status, stderr = outcome(case, folder)
    assert kind == "clean", f"{kind} (status {status}) for {case.argv}:\n{stderr}"


@pytest.mark.parametrize("base", BASES, ids=lambda b: b.doc["name"])
def test_the_scenarios_the_generators_mutate_are_valid(tmp_path, base):
    """The mutations make bad input out of good: each unmutated scenario explores and holds."""
    case = Case(("explore", "--workers", "1", "--no-coverage", "--config", "{dir}/ok.toml"), (),
                (("ok.toml", toml_text(base.doc)),))
    kind, status, stderr = outcome(case, str(tmp_path))
    assert (kind, status) == ("success", 0), stderr


@FAST
@given(case=scenario_cases())
def test_a_malformed_scenario_file_exits_2_naming_file_and_key(tmp_path_factory, case):
    assert_clean(case, str(tmp_path_factory.mktemp("sc")))


@FAST
@given(case=topology_cases())
def test_a_topology_no_machine_has_exits_2_naming_file_and_key(tmp_path_factory, case):
    assert_clean(case, str(tmp_path_factory.mktemp("topo")))


@FAST
@given(case=trace_cases())
def test_a_broken_kmem_trace_exits_2_naming_file_and_line(tmp_path_factory, case):
    assert_clean(case, str(tmp_path_factory.mktemp("trace")))


@FAST
@given(case=command_line_cases())
def test_a_bad_option_value_or_file_exits_2_naming_it(tmp_path_factory, case):
    assert_clean(case, str(tmp_path_factory.mktemp("cli")))


@FAST
@given(case=counterexample_cases())
def test_a_malformed_counterexample_exits_2_naming_file_and_key(tmp_path_factory, case):
    assert_clean(case, str(tmp_path_factory.mktemp("replay")))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["scenario", "topology", "trace", "command", "replay"])
def test_a_large_sample_of_bad_input_gets_only_clean_errors(kind):
    counts, samples = measure(kind, 400)
    bad = {o: samples[o][:3] for o in samples}
    assert sum(counts.values()) == counts["clean"], f"{dict(counts)}; examples: {bad}"


def test_the_measuring_script_prints_counts_per_kind():
    script = Path(__file__).parent / "fuzz_measure.py"
    out = subprocess.run([sys.executable, str(script), "--examples", "5", "--kind", "trace", "--show", "0"],
                         capture_output=True, text=True, timeout=300).stdout
    assert out.startswith("trace     tried ") and "clean " in out and "traceback " in out
    assert out.splitlines()[-1].startswith("all       tried ")
