"""A wall-clock budget for one operation of the model: a loop that never ends becomes an exception.

`watch(seconds)` arms `setitimer(ITIMER_REAL)` around the code it wraps; when the timer fires while
that code still runs, the SIGALRM handler raises `ModelHang` in it, so the innermost frame of the
traceback is where the model was looping. The handler raises only while an operation is in flight:
a signal that arrives after the operation ended is ignored. Timers belong to a process and signals
to its main thread, so in any other thread `watch` does nothing unless that thread runs inside
`in_any_thread()` (a Dask worker's task, checks/cluster.py): there a timer thread raises ModelHang
in it asynchronously, at the model's next Python instruction. A forked process arms its own
timer (a timer is not inherited by fork). Nested watches keep the outer budget.

The timer is not set and cleared around each operation (two system calls per transition): it is
left running once armed, and each operation only notes its own deadline. When the timer fires, the
handler raises if the operation in flight is past its deadline, re-arms the timer for that deadline
if it is not, and does nothing between operations (the next operation arms it again). So an
operation still ends with ModelHang exactly when its own budget runs out; the one cost is a single
ignored SIGALRM up to a budget after the last operation, unless the process exits first (the timer
is stopped at exit, where SIGALRM's default action would kill the process). The first armed
watch installs the SIGALRM handler for good: nothing else in the process may use SIGALRM.

Why wall-clock time is sound here: a loop that never ends exceeds any budget, by any clock. A
healthy operation takes well under a millisecond, so a budget of seconds is only exceeded by a
machine so loaded that it stalls for that long; the only cost of such a stall is a false
`model_hang`, whose replay (with the same budget) shows it at once.
"""

import atexit
import ctypes
import os
import signal
import threading
import time
from contextlib import contextmanager

DEFAULT_OP_BUDGET = 2.0  # seconds of wall-clock time for one operation (or for booting the machine)


class ModelHang(Exception):
    """An operation of the model ran past its budget: a loop that would hang the kernel."""

    def __init__(self, budget):
        super().__init__(f"did not finish within {budget:g} s")
        self.budget = budget


_in_flight = None  # the budget of the operation running now, or None
_op_due = 0.0  # time.monotonic() deadline of the operation in flight
_timer_due = None  # when the running ITIMER_REAL fires (monotonic), or None when none runs
_handler_installed = False  # whether _on_alarm is installed: the watchdog owns SIGALRM once it has armed a timer
_main_ident = threading.main_thread().ident
_local = threading.local()  # .alarm: the _ThreadAlarm of a thread inside in_any_thread()


def _after_fork():
    """A child has no timer running (fork does not inherit it), and its one thread is its main thread."""
    global _timer_due, _main_ident
    _timer_due = None
    _main_ident = threading.main_thread().ident


def _disarm_at_exit():
    """Stop the timer before the interpreter exits: it puts back SIGALRM's default action, which kills."""
    global _timer_due
    if _timer_due is not None:
        _timer_due = None
        signal.setitimer(signal.ITIMER_REAL, 0)


os.register_at_fork(after_in_child=_after_fork)
atexit.register(_disarm_at_exit)


def _on_alarm(signum, frame):
    global _timer_due
    _timer_due = None
    if _in_flight is None:
        return  # between operations: the next one arms the timer again
    left = _op_due - time.monotonic()
    if left <= 0:
        raise ModelHang(_in_flight)
    _timer_due = _op_due  # the timer was armed for an earlier operation: wait for this one's deadline
    signal.setitimer(signal.ITIMER_REAL, left)


class watch:
    """`with watch(budget):` runs the body with `budget` seconds of wall-clock time (None or <= 0: no limit).

    A class rather than a generator: it is entered once per operation, so it is kept cheap.
    """

    __slots__ = ("budget", "armed")

    def __init__(self, budget):
        self.budget = budget
        self.armed = False

    def __enter__(self):
        global _in_flight, _handler_installed, _op_due, _timer_due
        budget = self.budget
        if not budget or budget <= 0 or _in_flight is not None:
            return self
        if threading.get_ident() != _main_ident:
            alarm = getattr(_local, "alarm", None)
            if alarm is not None and alarm.arm(budget):
                self.armed = True
            return self
        if not _handler_installed:  # once per process (a forked one inherits it): asking costs microseconds
            signal.signal(signal.SIGALRM, _on_alarm)
            _handler_installed = True
        due = time.monotonic() + budget
        _op_due = due
        _in_flight = budget  # before looking at the timer: if it fires from here on, the handler re-arms it
        self.armed = True
        timer_due = _timer_due
        if timer_due is None or timer_due > due:  # no timer, or one that would fire past this deadline
            _timer_due = due
            signal.setitimer(signal.ITIMER_REAL, budget)
        return self

    def __exit__(self, *exc):
        global _in_flight
        if self.armed and threading.get_ident() != _main_ident:
            self.armed = False
            _local.alarm.disarm()
        elif self.armed:
            self.armed = False
            _in_flight = None  # the timer keeps running; firing between operations, it does nothing
        return False


@contextmanager
def in_any_thread():
    """Let `watch` stop an operation in this thread too, whichever thread it is (a timer thread per use)."""
    if threading.get_ident() == threading.main_thread().ident or getattr(_local, "alarm", None) is not None:
        yield
        return
    _local.alarm = alarm = _ThreadAlarm(threading.get_ident())
    try:
        yield
    finally:
        _local.alarm = None
        alarm.close()


class _ThreadAlarm:
    """Raises ModelHang in one thread when the operation running there outlives its budget.

    The operation's thread only stores its deadline under a plain lock (no Python frame runs while
    it is held, so the exception is never raised with the lock taken); the timer thread fires under
    the same lock, so it fires only while an operation is in flight.
    """

    IDLE_POLL = 0.01  # seconds between looks while no operation is in flight

    def __init__(self, target):
        self.target = ctypes.c_ulong(target)
        self.lock = threading.Lock()
        self.due = None  # time.monotonic() deadline of the operation in flight
        self.budget = None
        self.fired = False  # for the operation in flight, or the one that just ended
        self.closed = False
        threading.Thread(target=self._run, name="buddycheck-watchdog", daemon=True).start()

    def arm(self, budget):
        due = time.monotonic() + budget
        with self.lock:
            if self.due is not None:
                return False  # nested: the outer budget holds
            self.budget, self.due, self.fired = budget, due, False
        return True

    def disarm(self):
        with self.lock:
            self.due = None
            fired = self.fired
        if fired:
            _deliver()  # it fired as the operation ended: raise it here, in the operation's `with`

    def close(self):
        self.closed = True

    def _run(self):
        while not self.closed:
            due = self.due
            left = self.IDLE_POLL if due is None else due - time.monotonic()
            if left > 0:
                time.sleep(min(left, 1.0))
                continue
            with self.lock:
                if self.due is not None and self.due <= time.monotonic():
                    self.due, self.fired = None, True
                    _raise_in(self.target, _hang_type(self.budget))


def _deliver():
    """Entering a Python function raises an asynchronous exception pending for this thread."""


def _hang_type(budget):
    """An asynchronous exception is raised by calling its class with no argument: bind the budget in one."""
    return type("ModelHang", (ModelHang,), {"__init__": lambda self: ModelHang.__init__(self, budget),
                                            "__module__": __name__})


def _raise_in(thread_id, exc_type):
    ctypes.pythonapi.PyThreadState_SetAsyncExc(thread_id, ctypes.py_object(exc_type))
