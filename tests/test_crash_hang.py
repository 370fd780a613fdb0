"""A model that crashes or hangs is a counterexample: found, located, shrunk, stored, printed, pinned.

The planted models (tests/planted_failures.py) raise in a kernel function, loop for ever in one, or
raise while booting. Each must be a `model_crash` / `model_hang` violation at its pinned length whose
message names the exception, the kernel function and its file:line; shrinking, the JSON document, the
printed program and the pinned test must all work on it, and forked workers must report the same.
"""

import os
import subprocess
import sys
import threading
import time

import planted_failures
import pytest
from planted_failures import FAILING, FAILING_DEEP, OP_BUDGET, deep_scenario

import buddycheck.checks.level as level_module
from buddycheck.checks.diff import diff, observe
from buddycheck.checks.explore import CRASH, HANG, Explorer
from buddycheck.checks.printing import format_program, pytest_source
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay
from buddycheck.checks.shrink import shrink
from buddycheck.checks.trace_json import trace_from_json, trace_to_json
from buddycheck.checks.watchdog import ModelHang, in_any_thread, watch
from buddycheck.model import Kernel419

PLANTED_FILE = os.path.abspath(planted_failures.__file__)
ERRORS = {"expand-divides": "ZeroDivisionError", "rmqueue-spins": "ModelHang", "boot-free-fails": "IndexError"}
# the shrunk counterexamples: (length, pages of the buddy-core machine)
SHRUNK = {"expand-divides": (1, 4), "rmqueue-spins": (1, 8), "boot-free-fails": (0, 4)}


def scenario_of(name):
    model, make, *_ = FAILING[name]
    return make().with_model(model)


def explore(scenario, depth=None):
    explorer = Explorer(scenario).check(*all_properties())
    if depth is not None:
        explorer.depth(depth)
    return explorer.run()


def found(name):
    report = explore(scenario_of(name))
    assert len(report.violations) == 1 and report.stopped_by == "violation"
    return report.violations[0]


# ---- found and located ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAILING))
def test_the_failure_is_a_violation_at_the_pinned_length(name):
    _, _, kind, length, function = FAILING[name]
    v = found(name)
    assert (v.invariant, v.length) == (kind, length)
    assert v.failure.function == function and v.failure.file == PLANTED_FILE
    assert f" in {function} at {PLANTED_FILE}:{v.failure.line}" in v.message
    assert v.message.startswith(f"{kind}: ")
    if kind == CRASH:
        assert f"raised {ERRORS[name]} (" in v.message
    else:
        assert f"{OP_BUDGET:g} s" in v.message


@pytest.mark.parametrize("name", sorted(n for n in FAILING if FAILING[n][3] > 0))
def test_no_failure_one_operation_shorter(name):
    _, _, _, length, _ = FAILING[name]
    report = explore(scenario_of(name), length - 1)
    assert report.violations == [] and report.stopped_by is None


@pytest.mark.parametrize("name", sorted(FAILING))
def test_the_correct_model_passes_the_same_scenario(name):
    _, make, _, length, _ = FAILING[name]
    assert explore(make(), max(length, 1)).violations == []


def test_the_line_is_where_the_slip_is():
    source = open(PLANTED_FILE).read().splitlines()
    assert "1 // max(0" in source[found("expand-divides").failure.line - 1]
    loop = source.index("    while current_order < k.MAX_ORDER:")
    assert loop < found("rmqueue-spins").failure.line <= source.index("    return None", loop)  # in the loop
    assert "free_area[order + 1]" in source[found("boot-free-fails").failure.line - 1]


def test_a_boot_failure_is_a_report_not_a_traceback():
    v = found("boot-free-fails")
    assert v.trace == () and "while booting the machine or running the scenario's setup" in v.message


def test_the_budget_is_a_parameter_of_the_explorer():
    sc = scenario_of("rmqueue-spins")
    sc.op_budget = 1000.0  # the explorer's own budget wins over the scenario's
    report = Explorer(sc).op_budget(OP_BUDGET).run()
    assert [v.invariant for v in report.violations] == [HANG]


# ---- shrinking, replay, JSON, program, pinned test -------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAILING))
def test_shrinking_keeps_the_same_failure(name):
    sc = scenario_of(name)
    v = found(name)
    shrunk = shrink(sc, v, all_properties())
    assert shrunk.invariant == v.invariant and shrunk.failure.same_as(v.failure)
    assert (shrunk.length, shrunk.scenario.params["pages"]) == SHRUNK[name]
    again = replay(shrunk.scenario, shrunk.trace).failure
    assert again is not None and again.failure.same_as(v.failure) and again.trace == shrunk.trace


def test_a_crash_is_matched_by_its_own_failure_and_by_no_property_when_shrinking():
    from buddycheck.checks.shrink import SameFailure, matches

    v = found("expand-divides")
    assert matches(SameFailure(v.failure), v)
    assert not matches(all_properties()[0], v)


@pytest.mark.parametrize("name", sorted(FAILING))
def test_the_json_document_carries_the_failure(name):
    sc = scenario_of(name)
    v = found(name)
    doc = trace_from_json(trace_to_json(sc, v))
    loaded = doc.violation()
    assert (loaded.invariant, loaded.message, loaded.trace) == (v.invariant, v.message, v.trace)
    assert loaded.failure == v.failure
    assert replay(sc, doc.ops).failure.failure.same_as(loaded.failure)


def program_failure(text, tmp_path):
    """Run a printed program; (exception, line of the program it was raised from)."""
    path = tmp_path / "counterexample.py"
    path.write_text(text)
    try:
        exec(compile(text, str(path), "exec"), {"__name__": "__main__"})
    except Exception as e:
        tb = e.__traceback__
        line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = tb.tb_lineno
            tb = tb.tb_next
        return e, line
    return None, None


@pytest.mark.parametrize("name", sorted(FAILING))
def test_the_printed_program_runs_the_operations_and_the_last_one_raises(name, tmp_path):
    sc = scenario_of(name)
    v = found(name)
    text = format_program(sc, v.trace, all_properties(), violation=v)
    error, line = program_failure(text, tmp_path)
    assert type(error).__name__ == ERRORS[name]
    statements = [row for row in text.splitlines() if row.strip() and not row.lstrip().startswith("#")]
    raised_at = text.splitlines()[line - 1].strip()
    assert raised_at == statements[-1].strip()  # the last statement of the program
    if v.trace:
        assert raised_at == v.trace[-1].code()
        assert sum(row.strip() == v.trace[0].code() for row in text.splitlines()) == len(v.trace)
    else:
        assert raised_at.startswith("m = ")
    assert v.message.splitlines()[0] in text


@pytest.mark.parametrize("name", sorted(FAILING))
def test_the_emitted_test_fails_while_the_bug_is_there_and_passes_once_fixed(name):
    sc = scenario_of(name)
    v = found(name)
    text = pytest_source(sc, v, [])
    namespace = {"__name__": "pinned"}
    exec(compile(text, "<pinned>", "exec"), namespace)
    test = next(f for n, f in namespace.items() if n.startswith("test_"))
    _, _, kind, length, _ = FAILING[name]
    with pytest.raises(AssertionError, match=f"{kind} at operation {length}: {kind}: "):
        test()  # the last operation fails so
    alias = next(n for n, value in namespace.items()
                 if isinstance(value, type) and issubclass(value, Kernel419) and value is not Kernel419)
    namespace[alias] = Kernel419  # the bug fixed: the test passes
    test()


# ---- forked workers, symmetry, diff ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAILING_DEEP))
def test_a_failure_in_a_forked_worker_is_reported_as_in_one_process(name, tmp_path, monkeypatch):
    model, kind, length = FAILING_DEEP[name]
    pids = tmp_path / "pids"
    original = level_module.failure_of

    def logged(*args, **kwargs):
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        return original(*args, **kwargs)

    monkeypatch.setattr(level_module, "failure_of", logged)
    reports = [Explorer(deep_scenario().with_model(model)).check(*all_properties()).workers(n).run()
               for n in (1, 2)]
    one, two = [(r.reachable_states, r.transitions, r.depth, r.stopped_by,
                 [(v.invariant, v.message, v.trace) for v in r.violations]) for r in reports]
    assert two == one
    v = reports[1].violations[0]
    assert (v.invariant, v.length, v.failure.function) == (kind, length, "__free_one_page")
    assert str(os.getpid()) != pids.read_text().split()[-1]  # the second run found it, in a forked process


def test_under_symmetry_a_crash_is_a_crash_not_a_broken_symmetry():
    model, kind, length = FAILING_DEEP["free-slots-overflow"]
    sc = deep_scenario().with_model(model)
    sc.symmetry = True
    report = Explorer(sc).check(*all_properties()).audit_every(1).run()
    assert [(v.invariant, v.length) for v in report.violations] == [(kind, length)]
    assert report.audited > 0


def test_diff_observes_a_hang_as_a_crash_of_type_model_hang():
    model, make, *_ = FAILING["rmqueue-spins"]
    report = diff(Kernel419, model, make(), depth=3)
    d = report.difference
    assert d.fields == ("status",) and d.length == 1
    assert (d.last.head.observation.status, d.last.head.observation.error) == ("crash", "ModelHang")
    assert observe(ModelHang(0.2)).status == "crash"


# ---- the watchdog ----------------------------------------------------------------------------------------


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_the_watchdog_stops_a_loop_with_model_hang():
    with pytest.raises(ModelHang):
        with watch(0.05):
            while True:
                pass


def test_an_alarm_after_the_operation_ended_is_ignored():
    with watch(0.05):
        pass
    spin(0.1)  # a timer left armed would raise here


def test_an_operation_begun_while_an_earlier_timer_runs_gets_its_whole_budget():
    with watch(1.0):
        pass
    spin(0.7)  # the timer armed above fires 0.3 s into the next operation, which has 1 s
    with watch(1.0):
        spin(0.6)


def test_a_shorter_budget_than_the_running_timer_still_stops_a_loop():
    with watch(1000.0):
        pass
    with pytest.raises(ModelHang):
        with watch(0.05):
            while True:
                pass


def test_a_forked_child_arms_its_own_timer():
    with watch(0.2):
        pass  # the parent's timer runs on, due before the child's operation; the child does not inherit it
    pid = os.fork()
    if pid == 0:
        try:
            with watch(0.5):
                while True:
                    pass
        except ModelHang:
            os._exit(0)
        os._exit(1)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child's loop was never stopped")


def test_a_timer_left_running_does_not_kill_the_exiting_process():
    # the timer is due while the interpreter frees a large list on exit, after SIGALRM's default is back
    program = ("from buddycheck.checks.watchdog import watch\n"
               "keep = [[i] for i in range(3_000_000)]\n"
               "with watch(0.02):\n"
               "    pass\n")
    assert subprocess.run([sys.executable, "-c", program], timeout=120).returncode == 0


def test_in_another_thread_the_watchdog_does_nothing():
    outcome = []

    def body():
        try:
            with watch(0.05):
                spin(0.15)
            outcome.append("finished")
        except ModelHang:
            outcome.append("stopped")

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert outcome == ["finished"]


def in_a_thread(body):
    """What body() did in another thread, run inside in_any_thread(): "finished", or the budget that stopped it."""
    outcome = []

    def run():
        with in_any_thread():
            try:
                body()
                outcome.append("finished")
            except ModelHang as e:
                outcome.append(e.budget)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return outcome


def forever():
    while True:
        pass


def test_in_any_thread_the_watchdog_stops_a_loop():
    def body():
        with watch(0.05):
            forever()

    assert in_a_thread(body) == [0.05]


def test_in_any_thread_an_alarm_after_the_operation_ended_is_ignored():
    def body():
        for _ in range(3):
            with watch(0.05):
                pass
        spin(0.15)  # an alarm left armed would raise here

    assert in_a_thread(body) == ["finished"]


def test_in_any_thread_a_nested_watch_keeps_the_outer_budget():
    def body():
        with watch(0.05):
            with watch(1000.0):
                forever()

    assert in_a_thread(body) == [0.05]


def test_a_nested_watch_keeps_the_outer_budget():
    with pytest.raises(ModelHang) as info:
        with watch(0.05):
            with watch(1000.0):
                while True:
                    pass
    assert info.value.budget == 0.05


def test_a_failure_in_the_setup_is_a_counterexample_of_length_0(tmp_path):
    from planted_failures import ExpandDivides

    from buddycheck.checks.ops import Alloc
    from buddycheck.model import gfp as G

    sc = scenario_of("expand-divides")
    sc.setup = (Alloc(G.GFP_KERNEL, 0),) * 3  # the third splits two orders
    sc = sc.with_model(ExpandDivides)
    v = explore(sc).violations[0]
    assert (v.invariant, v.trace, v.failure.function) == (CRASH, (), "expand")
    error, line = program_failure(format_program(sc, (), violation=v), tmp_path)
    assert isinstance(error, ZeroDivisionError)
    namespace = {"__name__": "pinned"}
    exec(compile(pytest_source(sc, v, []), "<pinned>", "exec"), namespace)
    with pytest.raises(AssertionError, match="model_crash at operation 0: "):
        namespace["test_model_crash"]()


BootSpins = Kernel419.variant("boot-spins", "__free_one_page never ends for a boot-time MAX_ORDER-1 block")


@BootSpins.override
def __free_one_page(k, page, pfn, zone, order, migratetype):
    while order == k.MAX_ORDER - 1:
        pass
    Kernel419.__free_one_page(k, page, pfn, zone, order, migratetype)


def test_a_hang_while_booting_is_a_counterexample_of_length_0():
    sc = scenario_of("boot-free-fails").with_model(BootSpins)
    v = explore(sc).violations[0]
    assert (v.invariant, v.trace, v.failure.function, v.failure.file) == (HANG, (), "__free_one_page",
                                                                           os.path.abspath(__file__))
    assert replay(sc, ()).failure.failure.same_as(v.failure)
