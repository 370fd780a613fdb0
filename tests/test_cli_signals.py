"""Signals: Ctrl-C or SIGTERM stops the whole run, in the Z3 proofs as in a search, with the partial
report and exit status 3; a second signal while that report is written cannot lose it; a signal
while the program starts is one line, not a traceback.

The subprocess tests send the signal once a line on standard error shows the run is where the test
wants it, never after a fixed time.
"""

import json
import os
import signal
import subprocess
import sys

import pytest
import z3

from buddycheck.checks.cli import main
from buddycheck.checks.exit_codes import EXIT_INCONCLUSIVE
from buddycheck.spec import theorems


@pytest.fixture(autouse=True)
def ctrl_c_at_python_default():
    """Ctrl-C as Python installs it in an interactive process: a run started in the background (nohup, `&`
    in a script) inherits SIGINT ignored, which the command keeps ignoring by design."""
    saved = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, saved)


def start(*argv, env=None):
    """The command in a process of its own, with SIGINT at its default (a background shell ignores it)."""
    return subprocess.Popen([sys.executable, "-m", "buddycheck.checks.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "BUDDYCHECK_PROGRESS_INTERVAL": "0", **(env or {})},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_line(proc, prefix):
    """Standard error's lines up to the first that starts with prefix (all of them, if none does)."""
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(prefix):
            break
    return seen


# ---- the proofs ----------------------------------------------------------------------------------------------

class InterruptedSolver:
    """What z3 gives back when Ctrl-C arrived while it solved: it catches the signal itself."""

    def __init__(self, reason):
        self.reason = reason

    def check(self):
        return z3.unknown

    def reason_unknown(self):
        return self.reason


def test_a_z3_check_stopped_by_ctrl_c_raises_keyboard_interrupt():
    for reason in theorems.INTERRUPTED_REASONS:
        try:
            theorems._check(InterruptedSolver(reason))
        except KeyboardInterrupt:
            continue
        raise AssertionError(f"{reason!r} did not stop the run")
    assert theorems._check(InterruptedSolver("timeout")) == z3.unknown  # a time limit is an unknown, not a stop


LONG_PROOF = """
import sys

import z3

from buddycheck.checks.cli.signals import stop_signals
from buddycheck.spec.theorems import _check

x, y, z = z3.Ints("x y z")
s = z3.Solver()
s.set("timeout", 3_600_000)  # Fermat's cubes: Z3 searches until the time limit, an hour
s.add(x > 0, y > 0, z > 0, x * x * x + y * y * y == z * z * z)
check = s.check


returned = []


def announced():
    print("solving", file=sys.stderr, flush=True)  # the check is under way
    result = check()
    returned.append(result)
    return result


s.check = announced
with stop_signals():
    try:
        _check(s)
    except KeyboardInterrupt:
        # Z3's context is not thread-safe: the stop must wait for the check in its thread to end
        print("stopped after the check returned" if returned else "stopped while Z3 still solved")
"""


def test_sigterm_stops_a_z3_check_in_progress():
    # without the interrupt of Z3's context the check would run out its hour before the handler could run
    proc = subprocess.Popen([sys.executable, "-c", LONG_PROOF], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    wait_for_line(proc, "solving")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert out == "stopped after the check returned\n", err


def interrupt_the_second_theorem(monkeypatch):
    second = theorems.THEOREMS[1]
    proved = theorems.Theorem.prove

    def prove(self, timeout_s=theorems.DEFAULT_TIMEOUT_S, **overrides):
        if self is second:
            raise KeyboardInterrupt  # as theorems._check raises when z3 reports Ctrl-C
        return proved(self, timeout_s, **overrides)
    monkeypatch.setattr(theorems.Theorem, "prove", prove)


def test_ctrl_c_in_the_proofs_of_check_stops_the_whole_run_with_the_partial_report(capsys, monkeypatch):
    interrupt_the_second_theorem(monkeypatch)
    code = main(["check", "--no-coverage", "--preset", "buddy-core", "--depth", "2"])
    out = capsys.readouterr().out
    assert code == EXIT_INCONCLUSIVE
    first = theorems.THEOREMS[0].name
    assert f"  {first:26} proved" in out
    for t in theorems.THEOREMS[1:]:
        assert f"  {t.name:26} unknown" in out and "interrupted (Ctrl-C or SIGTERM) before Z3 decided it" in out
    assert "none explored: the run was interrupted during the theorems" in out
    assert "state invariant" not in out  # no exploration ran
    assert out.rstrip().splitlines()[-1].startswith("verdict: inconclusive")


def test_check_json_interrupted_in_the_proofs_is_a_valid_document(capsys, monkeypatch):
    import jsonschema

    interrupt_the_second_theorem(monkeypatch)
    assert main(["check", "--json", "--no-coverage"]) == EXIT_INCONCLUSIVE
    doc = json.loads(capsys.readouterr().out)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "json-schema.json")) as f:
        jsonschema.validate(doc, json.load(f))
    assert [t["status"] for t in doc["theorems"]] == ["proved"] + ["unknown"] * (len(theorems.THEOREMS) - 1)
    assert doc["scenarios"] == [] and doc["exit"] == EXIT_INCONCLUSIVE


def test_sigint_during_check_gives_exit_3_and_the_partial_report():
    proc = start("check", "--no-coverage")
    wait_for_line(proc, "theorem ")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == EXIT_INCONCLUSIVE, err
    assert "verdict: inconclusive" in out
    # the run stopped where the signal found it: in the proofs (almost always: they take seconds), else in
    # the first scenario; never a theorem marked unknown and the portfolio explored all the same
    assert ("none explored: the run was interrupted during the theorems" in out
            or "interrupted after depth" in out), out
    assert "Traceback" not in err


def test_sigterm_during_prove_json_prints_a_whole_document_of_what_was_decided():
    proc = start("prove", "--json")
    before = wait_for_line(proc, "theorem ")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == EXIT_INCONCLUSIVE, err
    doc = json.loads(out)
    statuses = [t["status"] for t in doc["theorems"]]
    assert len(statuses) == len(theorems.THEOREMS) and statuses[0] == "proved"
    assert "unknown" in statuses
    decided = len(before) + err.count("theorem ")
    assert statuses[:decided] == ["proved"] * decided
    assert all(t["reason"] == "interrupted (Ctrl-C or SIGTERM) before Z3 decided it"
               for t in doc["theorems"][decided:])
    assert "Traceback" not in err


SIGNALLING_MODEL = """
import os
import signal

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS

M = Kernel419.variant("signalling", "4.19, whose expand() sends Ctrl-C to its own process on its 30th call")
calls = []


@M.override
def expand(k, zone, page, low, high, migratetype):
    calls.append(1)
    if len(calls) == 30:
        os.kill(os.getpid(), signal.SIGINT)
    return KERNEL_FUNCTIONS["expand"](k, zone, page, low, high, migratetype)
"""


def test_a_second_ctrl_c_while_the_partial_report_is_written_does_not_lose_it(capsys, monkeypatch, tmp_path):
    from buddycheck.checks.cli import explore as explore_command

    (tmp_path / "signalling.py").write_text(SIGNALLING_MODEL)
    report_lines = explore_command.report_lines

    def report_lines_after_a_second_ctrl_c(report, sc):
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, while the partial report is written
        return report_lines(report, sc)
    monkeypatch.setattr(explore_command, "report_lines", report_lines_after_a_second_ctrl_c)
    code = main(["explore", "--pages", "24", "--workers", "1", "--no-coverage", "--model",
                 f"{tmp_path}/signalling.py:M"])
    out, err = capsys.readouterr()
    assert code == EXIT_INCONCLUSIVE, err
    assert "interrupted at depth" in out and "no violation in the part explored (the search was cut short)" in out
    assert "buddycheck: SIGINT ignored: the partial report is being written" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # main() put pytest's handler back


# ---- start-up -------------------------------------------------------------------------------------------------

SIGNAL_ON_IMPORT = """
import os
import signal
import sys


class SignalOnImport:
    # the signal arrives while the command line's modules load: as z3 is imported
    def find_spec(self, name, path=None, target=None):
        if name == "z3" and "buddycheck.checks.cli" in sys.modules:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_ON_IMPORT"]))
        return None


sys.meta_path.insert(0, SignalOnImport())
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_starting_is_one_line_and_exit_3(tmp_path, name):
    (tmp_path / "sitecustomize.py").write_text(SIGNAL_ON_IMPORT)  # imported by Python as it starts
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    proc = start("scenarios", env={"PYTHONPATH": path, "SIGNAL_ON_IMPORT": name})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INCONCLUSIVE, err
    assert err == "buddycheck: interrupted while starting\n" and out == ""


# ---- where Python would lose the KeyboardInterrupt ------------------------------------------------------------

def test_a_signal_inside_a_destructor_is_sent_again_instead_of_lost(monkeypatch):
    from buddycheck.checks.cli import signals

    frames = []

    class Freed:
        def __del__(self):
            frames.append(sys._getframe())

    Freed()
    monkeypatch.setattr(signals, "_stopping", [])
    sent = []
    monkeypatch.setattr(signals.threading, "Timer", lambda delay, call, args: type(
        "Timer", (), {"start": lambda self: sent.append((call, args))})())
    signals._first_signal(signal.SIGTERM, frames[0])  # no KeyboardInterrupt: it would be printed and dropped
    assert sent == [(os.kill, (os.getpid(), signal.SIGTERM))]
    assert not signals.stopping()


def test_a_keyboard_interrupt_wrapped_by_ctypes_in_a_proof_is_the_signal(monkeypatch):
    import ctypes

    def wrapped(*args, **kwargs):
        raise ctypes.ArgumentError("argument 1: KeyboardInterrupt: ")
    monkeypatch.setattr(theorems, "prove_queries", wrapped)
    with pytest.raises(KeyboardInterrupt):
        theorems.THEOREMS[0].prove()


def test_an_exception_after_a_stop_signal_is_exit_3_not_an_internal_error(capsys, monkeypatch):
    from buddycheck.checks.cli import signals

    def stopped_then_failed(*args):
        signals.stop_listening()  # as the first signal's handler does
        raise RuntimeError("a library wrapped the KeyboardInterrupt")
    monkeypatch.setattr("buddycheck.checks.cli.scenarios.portfolio_scenarios", stopped_then_failed)
    assert main(["scenarios"]) == EXIT_INCONCLUSIVE
    assert "buddycheck: interrupted (RuntimeError: a library wrapped the KeyboardInterrupt)" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


SWALLOWED_IN_A_FINALISER = """
import sys
import time

from buddycheck.checks.cli.signals import stop_signals


class Finalised:
    def __del__(self):
        raise KeyboardInterrupt  # what a signal landing in a C library's finaliser looks like to Python


with stop_signals():
    try:
        Finalised()  # dropped at once: Python reports the exception to sys.unraisablehook and goes on
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.001)
        print("lost")
    except KeyboardInterrupt:
        print("stopped")
"""


def test_a_stop_swallowed_in_a_finaliser_is_raised_again_without_a_traceback():
    done = subprocess.run([sys.executable, "-c", SWALLOWED_IN_A_FINALISER], capture_output=True, text=True,
                          timeout=300)
    assert done.stdout == "stopped\n", done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_a_stop_whose_keyboardinterrupt_was_swallowed_still_stops_the_search():
    # a KeyboardInterrupt raised where a library drops it (a weakref callback) leaves the request behind;
    # the search honours it at its next state, once
    from buddycheck.checks import stop
    from buddycheck.checks.explore import Explorer
    from buddycheck.checks.scenarios import scenario
    stop.requested.append(signal.SIGTERM)
    report = Explorer(scenario("buddy-core")).run()
    assert report.stopped_by == "interrupt" and not report.complete and not stop.requested
    assert Explorer(scenario("buddy-core")).depth(2).run().stopped_by != "interrupt"
