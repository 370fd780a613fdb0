"""How a run stops on a signal: Ctrl-C (SIGINT) or SIGTERM (`timeout`, job schedulers) raises
KeyboardInterrupt, which the searches and the proofs turn into a partial report, exit status 3.

The first signal is the one that counts: from then on further SIGINTs and SIGTERMs are only noted,
so that a second Ctrl-C while the partial report is being written cannot lose it (Ctrl-\\, SIGQUIT,
still ends the process at once). Z3 catches Ctrl-C itself while it solves; spec/theorems.py turns
that into KeyboardInterrupt, and the command calls `stop_listening()` as this module's handler would have.
"""

import signal
import sys
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _first_signal(signum, frame):
    stop_listening()
    raise KeyboardInterrupt


def _later_signal(signum, frame):
    print(f"buddycheck: {signal.Signals(signum).name} ignored: the partial report is being written "
          "(Ctrl-\\ ends at once)", file=sys.stderr, flush=True)


def stop_listening():
    """Only note further stop signals from now on: the run is already ending with what it has."""
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, _later_signal)


class stop_signals:
    """`with stop_signals():` SIGINT and SIGTERM raise KeyboardInterrupt once, then are ignored; the
    handlers found on entry are put back on exit (main() may run inside a test process).
    """

    def __enter__(self):
        self.saved = None
        if threading.current_thread() is threading.main_thread():
            self.saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
            for s in STOP_SIGNALS:
                if self.saved[s] is not signal.SIG_IGN:  # `nohup` or a shell's background job: keep ignoring it
                    signal.signal(s, _first_signal)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            for s, handler in self.saved.items():
                signal.signal(s, handler)
        return False
