"""`--emit-pytest` from the command line, and the printed program: both fail while the bug is there.

Each case explores (or checks, or diffs against 4.19) a planted model from the command line with
--emit-pytest, then runs the written test with pytest in a subprocess: it must fail with the
invariant's message (or the models' difference) against the buggy model and pass once the model is
fixed. The model is loaded from a models file away from the test, so "fixing the bug" is rewriting
that file, as a user would. A scenario file's own invariant is loaded by the test from the file.
"""

import os
import subprocess
import sys

import planted_failures
import planted_models
import planted_variants
import pytest

BUDDYCHECK = [sys.executable, "-m", "buddycheck.checks.cli"]

# name: (planted module, model, explore arguments, invariant, message excerpt)
CASES = {
    "state": (planted_models, "ExpandUpper", ["--preset", "buddy-core"], "no_overlap", "overlaps free block"),
    "step": (planted_models, "BindIgnored", ["--preset", "policy-modes"], "nodemask_respect",
             "outside the nodemask [1]"),
    "crash": (planted_failures, "ExpandDivides",
              ["--preset", "buddy-core", "--pages", "6", "--max-order", "3", "--orders", "0-0"], "model_crash",
              "ZeroDivisionError"),
    "hang": (planted_failures, "RmqueueSpins",
             ["--preset", "buddy-core", "--pages", "12", "--max-order", "4", "--orders", "1-1"], "model_hang",
             "model_hang at operation"),
}

BUGGY = """import importlib.util
_spec = importlib.util.spec_from_file_location("planted_source", {path!r})
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
Model = _module.{name}
"""
FIXED = "from buddycheck.model import Kernel419 as Model\n"


def buddycheck(*argv, cwd):
    return subprocess.run([*BUDDYCHECK, *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


def pytest_run(path):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                          cwd=path.parent, capture_output=True, text=True, timeout=300)


def planted_models_file(tmp_path, module, name):
    """tmp_path/models/models.py binding Model to the planted model `name` of `module`."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "models.py").write_text(BUGGY.format(path=os.path.abspath(module.__file__), name=name))
    return models


def emit(tmp_path, case, test_dir):
    module, name, options, invariant, _ = CASES[case]
    models = planted_models_file(tmp_path, module, name)
    test_dir.mkdir(parents=True, exist_ok=True)
    target = test_dir / f"test_{case}_counterexample.py"
    done = buddycheck("explore", *options, "--model", "models/models.py:Model", "--emit-pytest",
                      os.path.relpath(target, tmp_path), cwd=tmp_path)
    return done, target, models / "models.py"


@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_test_fails_on_the_bug_and_passes_once_fixed(tmp_path, case):
    _, _, _, invariant, excerpt = CASES[case]
    done, target, models = emit(tmp_path, case, tmp_path / "elsewhere" / "tests")
    assert done.returncode == 1, done.stderr
    assert f"VIOLATION of {invariant}" in done.stdout  # the report is printed as well as the test written
    assert f"wrote {os.path.join('elsewhere', 'tests', target.name)}" in done.stderr
    text = target.read_text()
    assert str(tmp_path) not in text  # the models file is found relative to the test
    buggy = pytest_run(target)
    assert buggy.returncode == 1, buggy.stdout
    assert "AssertionError" in buggy.stdout and excerpt in buggy.stdout
    assert invariant in buggy.stdout or case == "hang"
    models.write_text(FIXED)
    fixed = pytest_run(target)
    assert fixed.returncode == 0, fixed.stdout


def test_the_test_and_the_models_move_together(tmp_path):
    done, target, _ = emit(tmp_path, "state", tmp_path)
    assert done.returncode == 1, done.stderr
    moved = tmp_path / "moved"
    moved.mkdir()
    (tmp_path / "models").rename(moved / "models")
    target.rename(moved / target.name)
    assert "no_overlap violated at step 1" in pytest_run(moved / target.name).stdout


def printed_program(stdout):
    """The program printed after the first VIOLATION line (up to the next one)."""
    after = stdout.split("\nVIOLATION of ", 1)[1].split("\n", 2)[2]
    return after.split("\nVIOLATION of ", 1)[0]


@pytest.mark.parametrize("case", ["state", "step", "crash"])
def test_the_printed_program_raises_at_the_violation(tmp_path, case):
    _, _, _, invariant, excerpt = CASES[case]
    done, _, _ = emit(tmp_path, case, tmp_path)
    program = tmp_path / "program.py"
    program.write_text(printed_program(done.stdout))
    ran = subprocess.run([sys.executable, str(program)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1
    last = ran.stderr.strip().splitlines()[-1]
    assert excerpt in last
    if case != "crash":
        assert last.startswith(f"AssertionError: {invariant}: ")


# ---- check and diff, and a scenario file's own invariant -------------------------------------------------


def emitted_by(tmp_path, command, module, name, *options):
    """Run `buddycheck COMMAND ... --emit-pytest` on a planted model; (run, test file, models file)."""
    models = planted_models_file(tmp_path, module, name)
    target = tmp_path / "elsewhere" / "tests" / f"test_{command}_counterexample.py"
    target.parent.mkdir(parents=True)
    model = "models/models.py:Model"
    argv = [command, "4.19", model] if command == "diff" else [command, "--model", model]
    done = buddycheck(*argv, *options, "--emit-pytest", os.path.relpath(target, tmp_path), cwd=tmp_path)
    return done, target, models / "models.py"


def fails_then_passes_once_fixed(target, models, *excerpts):
    """The written test fails with every excerpt against the buggy model and passes against 4.19."""
    buggy = pytest_run(target)
    assert buggy.returncode == 1, buggy.stdout
    for excerpt in excerpts:
        assert excerpt in buggy.stdout
    models.write_text(FIXED)
    fixed = pytest_run(target)
    assert fixed.returncode == 0, fixed.stdout


def test_check_writes_the_test_of_its_first_violation(tmp_path):
    done, target, models = emitted_by(tmp_path, "check", planted_models, "ExpandUpper", "--preset", "buddy-core")
    assert done.returncode == 1, done.stderr
    assert "verdict: VIOLATED" in done.stdout  # the report is printed as well as the test written
    assert f"wrote {os.path.join('elsewhere', 'tests', target.name)}: a test of no_overlap" in done.stderr
    text = target.read_text()
    assert "no_overlap fails after 1 operation(s)" in text and str(tmp_path) not in text
    fails_then_passes_once_fixed(target, models, "AssertionError: no_overlap violated at step 1",
                                 "overlaps free block")


def test_a_violation_in_the_setup_is_asserted_on_the_initial_state(tmp_path):
    done, target, models = emitted_by(tmp_path, "check", planted_variants, "HighatomicCountIfMoved",
                                      "--preset", "highatomic-two-reserves")
    assert done.returncode == 1, done.stderr
    assert "highatomic_accounting fails after 0 operation(s)" in target.read_text()
    fails_then_passes_once_fixed(target, models, "highatomic_accounting violated in the initial state: "
                                                 "node 0 zone Normal: nr_reserved_highatomic = 0")


# name: (planted module, model, diff arguments, the length of the shrunk difference, message excerpts)
DIFF_CASES = {
    "initial": (planted_variants, "HighatomicCountIfMoved", ["--preset", "highatomic-two-reserves"], 0,
                ["differ in the initial state: invariants", "highatomic-count-if-moved: initial state; violates "
                 "highatomic_accounting, highatomic_reserve_exact"]),
    "invariants": (planted_models, "ExpandUpper", ["--preset", "buddy-core"], 1,
                   ["differ at step 1 (m.alloc(G.GFP_KERNEL, 1, cpu=0)): invariants",
                    "expand-upper: alloc order 1 GFP_KERNEL -> pfn 0 (node 0 Normal); violates no_overlap"]),
    "result": (planted_variants, "PreferredNotFlagsLocal", ["--preset", "policy-modes"], 2,
               ["differ at step 2 (m.alloc_pages(G.GFP_KERNEL_ACCOUNT, 0, cpu=0, task=0)): block, node, invariants",
                "4.19: alloc order 0 GFP_KERNEL_ACCOUNT -> pfn 6 (node 1 Normal); violates none"]),
}


@pytest.mark.parametrize("case", sorted(DIFF_CASES))
def test_diff_writes_a_test_that_fails_while_the_models_differ(tmp_path, case):
    module, name, options, length, excerpts = DIFF_CASES[case]
    done, target, models = emitted_by(tmp_path, "diff", module, name, *options)
    assert done.returncode == 1, done.stderr
    assert f"DIFFERENCE after {length} operation(s)" in done.stdout
    assert f"wrote {os.path.join('elsewhere', 'tests', target.name)}: a test that" in done.stderr
    text = target.read_text()
    assert f"differ after {length} operation(s)" in text and str(tmp_path) not in text
    assert text.split("TRACE = (", 1)[1].split("\n)\n", 1)[0].count("\n    # step ") == length
    fails_then_passes_once_fixed(target, models, *excerpts)


def classzone_emitted(tmp_path, *options):
    """`check --emit-pytest` on the 5.x classzone variant (it differs from 4.19 and breaks no invariant)."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "models.py").write_text("from buddycheck.model.variants import Kernel58Classzone as Model\n")
    target = tmp_path / "elsewhere" / "tests" / "test_check_difference.py"
    target.parent.mkdir(parents=True)
    done = buddycheck("check", "--model", "models/models.py:Model", "--preset", "classzone-2node", *options,
                      "--emit-pytest", os.path.relpath(target, tmp_path), cwd=tmp_path)
    return done, target, models / "models.py"


def test_check_failing_on_a_difference_writes_the_difference_as_a_test(tmp_path):
    done, target, models = classzone_emitted(tmp_path, "--fail-on-difference")
    assert done.returncode == 1, done.stderr
    assert "behaviour vs 4.19" in done.stdout and "a test that" in done.stderr
    assert "differ after 2 operation(s)" in target.read_text()
    fails_then_passes_once_fixed(target, models, "differ at step 2")


def test_check_with_a_difference_not_asked_to_fail_writes_nothing(tmp_path):
    done, target, _ = classzone_emitted(tmp_path)
    assert done.returncode == 0, done.stderr
    assert not target.exists()


def test_diff_without_a_difference_writes_nothing(tmp_path):
    target = tmp_path / "test_none.py"
    done = buddycheck("diff", "4.19", "4.19", "--preset", "buddy-core", "--depth", "2", "--emit-pytest",
                      str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no difference" in done.stdout and not target.exists()


@pytest.mark.parametrize("command", ["check", "diff"])
def test_an_unwritable_test_path_is_refused_before_the_search(tmp_path, command):
    argv = [command, "4.19", "4.19"] if command == "diff" else [command]
    done = buddycheck(*argv, "--preset", "buddy-core", "--emit-pytest", str(tmp_path / "no" / "test_x.py"),
                      cwd=tmp_path)
    assert done.returncode == 2
    assert f"--emit-pytest {tmp_path / 'no' / 'test_x.py'}: cannot write a file there" in done.stderr
    assert done.stdout == ""  # refused before any theorem or search


SCENARIO = """name = "one-zone"
depth = 2
[topology]
max_order = 3
pageblock_order = 2
min_free_kbytes = 0
[[topology.node]]
id = 0
cpus = [0]
[[topology.node.zone]]
type = "Normal"
start_pfn = 0
pages = 8
watermarks = [0, 0, 0]
[[alloc]]
gfp = "GFP_KERNEL"
orders = [0, 1]
[free]
cpus = [0]
[[invariant]]
name = "every page in one block"
{kind} = "checks.py:pages_in_one_block{suffix}"
"""

CHECKS = """def pages_in_one_block(view):
    owner = {}
    for block in view.blocks():
        for pfn in range(block.pfn, block.end):
            if pfn in owner:
                yield f"pfn {pfn} is in a {block.kind} block and a {owner[pfn]} block"
            owner[pfn] = block.kind


def pages_in_one_block_after(before, op, result, after):
    return pages_in_one_block(after)
"""


def scenario_text(kind):
    return SCENARIO.format(kind=kind, suffix="" if kind == "state" else "_after")


@pytest.mark.parametrize(("command", "kind"), [("explore", "state"), ("check", "state"), ("explore", "step")])
def test_a_scenario_files_own_invariant_is_loaded_from_the_file_by_the_test(tmp_path, command, kind):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "one-zone.toml").write_text(scenario_text(kind))
    (scenarios / "checks.py").write_text(CHECKS)
    done, target, models = emitted_by(tmp_path, command, planted_models, "ExpandUpper", "--config",
                                      "scenarios/one-zone.toml", "--invariant", "every page in one block")
    assert done.returncode == 1, done.stderr
    assert "a test of every page in one block" in done.stderr
    text = target.read_text()
    assert "scenario_invariant(SCENARIO_FILE, 'every page in one block')" in text
    relative = os.path.relpath(scenarios / "one-zone.toml", target.parent)  # up from elsewhere/tests
    assert f"os.path.join(os.path.dirname(os.path.abspath(__file__)), {relative!r})" in text
    buggy = pytest_run(target)
    assert buggy.returncode == 1, buggy.stdout
    assert "every page in one block violated at step 1: pfn 4 is in a alloc block and a free block" in buggy.stdout
    # the test judges the file's predicate itself: one that finds nothing lets the buggy model pass
    (scenarios / "checks.py").write_text(CHECKS.replace("for block in view.blocks():", "for block in ():"))
    assert pytest_run(target).returncode == 0
    (scenarios / "checks.py").write_text(CHECKS)
    fails_then_passes_once_fixed(target, models, "pfn 4 is in a alloc block and a free block")


def test_an_invariant_the_scenario_file_does_not_declare_is_named(tmp_path):
    from buddycheck.checks.scenario_file import scenario_invariant
    from buddycheck.model.errors import ConfigError

    (tmp_path / "one-zone.toml").write_text(scenario_text("state"))
    (tmp_path / "checks.py").write_text(CHECKS)
    assert scenario_invariant(tmp_path / "one-zone.toml", "every page in one block").per_state
    with pytest.raises(ConfigError, match="no \\[\\[invariant\\]\\] named 'gone' "
                                          "\\(it declares: 'every page in one block'\\)"):
        scenario_invariant(tmp_path / "one-zone.toml", "gone")
