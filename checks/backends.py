"""Where a level's states are expanded: `b.expand(level, frontier) -> list[Slice]`, in frontier order.

`LocalBackend` expands the whole frontier in this process. `ForkBackend(n)` cuts a large level into
n runs of consecutive states; forked processes expand all runs but the first while this process
expands the first, and each sends back its `Slice` (checks/level.py). A slice names states and
violations by parent index and operation index, so another backend may expand runs anywhere (on
other machines, say) as long as it returns the slices in frontier order.
"""

import gc
import multiprocessing as mp
import signal

from . import stop


class LocalBackend:
    """Every state of the level, in this process."""

    workers = 1

    def expand(self, level, frontier):
        return [level.expand_slice(frontier, 0, progress=True)]


class ForkBackend:
    """Each large level in `workers` processes (forked, so they share the parent's memory until they write)."""

    MIN_PER_WORKER = 64  # below this a fork costs more than it saves

    def __init__(self, workers):
        self.workers = workers

    def expand(self, level, frontier):
        n = self.workers
        if n <= 1 or len(frontier) < n * self.MIN_PER_WORKER or "fork" not in mp.get_all_start_methods():
            return LocalBackend().expand(level, frontier)
        size = -(-len(frontier) // n)
        chunks = [(frontier[i:i + size], i) for i in range(0, len(frontier), size)]
        ctx = mp.get_context("fork")
        gc.freeze()  # children share the parent's objects; a collection would copy every page
        procs, readers = [], []
        try:
            for chunk, offset in chunks[1:]:
                reader, writer = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(level, writer, chunk, offset), daemon=True)
                proc.start()
                writer.close()
                procs.append(proc)
                readers.append(reader)
            first = level.expand_slice(*chunks[0], progress=True)  # this process takes the first run
            if first.stopped_by is not None or first.error is not None:
                return [first]  # what the others found comes after the stop
            try:
                return [first] + [reader.recv() for reader in readers]
            except EOFError:
                raise RuntimeError("a worker process of the exploration died without a result") from None
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
                proc.join()
            gc.unfreeze()


def _child(level, writer, chunk, offset):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent process decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    stop.requested.clear()  # the parent's to honour, not this process's
    level.holds = None
    measure = level.coverage
    if measure is not None:
        measure.calls.clear()  # the parent's counts are its own; send back this process's only
    # no budget here: some of a later run's states may already be in an earlier run
    out = level.expand_slice(chunk, offset, progress=False, budget=float("inf"))
    if measure is not None:
        out.coverage = measure.payload()
    writer.send(out)
    writer.close()
