"""`--emit-pytest` from the command line, and the printed program: both fail while the bug is there.

Each case explores a planted model from the command line with --emit-pytest, then runs the written
test with pytest in a subprocess: it must fail with the invariant's message against the buggy model
and pass once the model is fixed. The model is loaded from a models file next to (or away from) the
test, so "fixing the bug" is rewriting that file, as a user would.
"""

import os
import subprocess
import sys

import planted_failures
import planted_models
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


def emit(tmp_path, case, test_dir):
    module, name, options, invariant, _ = CASES[case]
    models = tmp_path / "models"
    models.mkdir()
    (models / "models.py").write_text(BUGGY.format(path=os.path.abspath(module.__file__), name=name))
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
