"""How a run stops on a signal: Ctrl-C (SIGINT) or SIGTERM (`timeout`, job schedulers) raises
KeyboardInterrupt, which the searches and the proofs turn into a partial report, exit status 3.

The first signal is the one that counts (one that arrives inside a destructor, where Python would drop
the KeyboardInterrupt, is sent again a moment later): from then on further SIGINTs and SIGTERMs are only noted,
so that a second Ctrl-C while the partial report is being written cannot lose it (Ctrl-\\, SIGQUIT,
still ends the process at once). Z3 catches Ctrl-C itself while it solves; spec/theorems.py turns
that into KeyboardInterrupt, and the command calls `stop_listening()` as this module's handler would have.
"""

import os
import signal
import sys
import threading

from .. import stop

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


_stopping = []  # the signal that stops this run, once one came


RETRY_S = 0.01  # how soon a signal that arrived in a destructor is sent again


def _first_signal(signum, frame):
    if _in_destructor(frame):
        # Python prints and drops an exception raised in __del__ (z3 frees its terms there all the time):
        # the same signal again in a moment, when the destructor is done
        threading.Timer(RETRY_S, os.kill, (os.getpid(), signum)).start()
        return
    stop_listening()
    stop.requested.append(signum)  # honoured between states too, should this KeyboardInterrupt be swallowed
    raise KeyboardInterrupt


def _in_destructor(frame):
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _swallowed(unraisable, previous):
    """sys.unraisablehook while stopping on signals: a KeyboardInterrupt raised in a finaliser the frame
    test above did not see is dropped by Python after printing a traceback; re-arm and send it again."""
    if not isinstance(unraisable.exc_value, KeyboardInterrupt):
        previous(unraisable)
        return
    _stopping.clear()
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, _first_signal)
    threading.Timer(RETRY_S, os.kill, (os.getpid(), signal.SIGTERM)).start()


def stopping():
    """Whether a stop signal came: an exception after it is most likely that signal's KeyboardInterrupt,
    raised where a library (ctypes, a destructor) wrapped or swallowed it."""
    return bool(_stopping)


def _later_signal(signum, frame):
    print(f"buddycheck: {signal.Signals(signum).name} ignored: the partial report is being written "
          "(Ctrl-\\ ends at once)", file=sys.stderr, flush=True)


def stop_listening():
    """Only note further stop signals from now on: the run is already ending with what it has."""
    _stopping.append(True)
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, _later_signal)


class stop_signals:
    """`with stop_signals():` SIGINT and SIGTERM raise KeyboardInterrupt once, then are ignored; the
    handlers found on entry are put back on exit (main() may run inside a test process).
    """

    def __enter__(self):
        _stopping.clear()
        stop.requested.clear()
        self.saved = None
        self.hook = sys.unraisablehook
        sys.unraisablehook = lambda unraisable: _swallowed(unraisable, self.hook)
        if threading.current_thread() is threading.main_thread():
            self.saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
            for s in STOP_SIGNALS:
                if self.saved[s] is not signal.SIG_IGN:  # `nohup` or a shell's background job: keep ignoring it
                    signal.signal(s, _first_signal)
        return self

    def __exit__(self, *exc):
        sys.unraisablehook = self.hook
        if self.saved is not None:
            for s, handler in self.saved.items():
                signal.signal(s, handler)
        return False
