"""The breadth-first search on a Dask cluster: each level's states expanded by the cluster's workers.

`ClusterBackend(client)` plugs into `Explorer.backend()`. For each level it cuts the frontier into
runs of consecutive states (a few per worker), submits one task per run, and returns the runs'
`Slice`s in frontier order, the ones forked workers return (checks/backends.py): the search merges
them as it merges a local run's, so the report is the one of a one-process search, field for field.

A worker boots the scenario once per exploration and keeps the booted machine for the next runs
(several, if it runs tasks in several threads: a machine is used by one task at a time). It needs
nothing of the search's history: a run sent to it is a list of (index, state) pairs and the names of
the invariants already violated; it expands them without the visited set (checks/level.py), so it
returns every state new to the run, also ones visited before (the merge drops them).

What travels: a `Job` (scenario, model class, properties, bounds) is serialised once per
exploration with cloudpickle and broadcast to the workers. Classes and functions of an importable
module travel by reference, so every machine needs buddycheck installed, the same version; a module
loaded from a user's file path (`--model /path/file.py:NAME`, a scenario file's invariants and goals)
is shipped by value, so that file need not exist on the workers.

The progress line (the search's `progress` callback) is told on the coordinator: when a level is
handed out, with the counts of every level merged so far, and as each run of it comes back, with its
transitions (its states count once merged, as duplicates across runs are dropped then).

Not on a cluster: coverage (workers do not measure it; `buddycheck explore --cluster` measures none).
An operation's budget (the watchdog) is armed by a signal timer, which only
the main thread of a process has; a Dask worker runs its tasks in other threads, so there a run
arms a timer thread that raises ModelHang in the task's thread instead (checks/watchdog.py).
"""

import sys
import threading
import time
import uuid

from buddycheck.model.symmetry import UnitSymmetry

from .level import Level, StateKeys
from .naming import FILE_MODULE_PREFIX
from .watchdog import in_any_thread

LOCAL_PREFIX = "local:"
RUNS_PER_WORKER = 4  # a few runs per worker, so a slow run does not leave the others idle
MIN_RUN = 64  # below this, a task's round trip costs more than it saves
CONNECT_TIMEOUT = 10  # seconds to reach a scheduler before giving up
MAX_CACHED_EXPLORATIONS = 4  # booted machines a worker keeps, per exploration, for the latest ones


class ClusterUnavailable(Exception):
    """Dask is not installed, or the cluster's scheduler cannot be reached."""


def connect(address):
    """A dask.distributed Client for `address`: a scheduler (tcp://host:8786) or `local:N` (a LocalCluster).

    The caller closes it (and its LocalCluster, `client.cluster`, if it started one).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterUnavailable("--cluster needs Dask: pip install 'buddycheck[cluster]'") from None
    if address.startswith(LOCAL_PREFIX):
        n = address[len(LOCAL_PREFIX):]
        if not n.isdigit() or int(n) < 1:
            raise ClusterUnavailable(f"--cluster {address}: expected local:N with N worker processes, N >= 1")
        # one thread per worker process: the model is pure Python, more threads would share one interpreter lock
        cluster = LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster)
    try:
        return Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterUnavailable(f"--cluster {address}: cannot reach a Dask scheduler there ({e})") from None


def close(client):
    """Close the client, and the LocalCluster that `connect` started for it."""
    cluster = client.cluster if hasattr(client, "cluster") else None
    client.close()
    if cluster is not None:
        cluster.close()


class ClusterBackend:
    """Expands each BFS level on the workers of a dask.distributed Client (`Explorer.backend`)."""

    def __init__(self, client):
        self.client = client
        self._level = None  # the level (one per search) whose Job the workers hold
        self._job = None  # (token, future of the serialised Job)

    @property
    def workers(self):
        """The cluster's worker processes now (the report names them)."""
        return max(1, len(self.client.nthreads()))

    def expand(self, level, frontier):
        token, job = self._job_for(level)
        remaining = None if level.deadline is None else level.deadline - time.perf_counter()  # clocks differ
        size = max(MIN_RUN, -(-len(frontier) // (self.workers * RUNS_PER_WORKER)))
        if level.coverage is not None:
            raise ValueError("coverage is not measured on a cluster: run without it")
        seen = sorted(level.seen_invariants)
        futures = [self.client.submit(expand_run, job, token, frontier[i:i + size], i, seen, remaining, pure=False)
                   for i in range(0, len(frontier), size)]
        level.tell_progress()  # the levels before this one are complete and merged
        slices = []
        transitions = 0
        try:
            for future in futures:
                try:
                    part = future.result()
                except Exception as e:  # the model's own failures come back in the slice: this is the cluster's
                    raise ClusterUnavailable(
                        f"a worker of the cluster failed to expand a level: {type(e).__name__}: {e} (every machine "
                        f"needs buddycheck installed, the same version)") from e
                slices.append(part)
                transitions += part.transitions
                level.tell_progress(transitions=transitions)
                if part.stopped_by is not None or part.error is not None:
                    break  # what the later runs found comes after the stop
        finally:
            self.client.cancel([f for f in futures if not f.done()])
        return slices

    def _job_for(self, level):
        if self._level is not level:  # a new search (symmetry "auto" may run a second one)
            import cloudpickle

            shipped = Job(level)
            for name, module in list(sys.modules.items()):
                if name.startswith(FILE_MODULE_PREFIX):  # loaded from a path the workers may not have
                    cloudpickle.register_pickle_by_value(module)
            payload = cloudpickle.dumps(shipped)
            token = uuid.uuid4().hex
            self._job = token, self.client.scatter(payload, broadcast=True, hash=False)
            self._level = level
        return self._job


# ---- on a worker -------------------------------------------------------------------------------------------

_idle = {}  # exploration token -> booted Levels not in use by a task now
_lock = threading.Lock()


def expand_run(job, token, items, offset, seen, remaining):
    """Runs on a worker: the Slice of `items` (frontier positions offset, offset+1, ...)."""
    level = _take(job, token)
    try:
        level.seen_invariants = set(seen)
        level.deadline = None if remaining is None else time.perf_counter() + remaining
        with in_any_thread():
            # no budget: the merge stops at --max-states, and some of these states were visited before
            return level.expand_slice(items, offset, progress=False, budget=float("inf"))
    finally:
        with _lock:
            _idle.setdefault(token, []).append(level)


def _take(job, token):
    with _lock:
        pool = _idle.get(token)
        if pool:
            return pool.pop()
        if token not in _idle:
            _idle[token] = []
            for old in list(_idle)[:-MAX_CACHED_EXPLORATIONS]:
                del _idle[old]
    return _boot(job)


def _boot(job):
    import cloudpickle

    job = cloudpickle.loads(job)
    with in_any_thread():
        m = job.scenario.initial(job.op_budget)
    sym = UnitSymmetry(m) if job.symmetric else None  # the coordinator found it on the same boot
    # no visited set here: every state new to a run is a candidate, and the merge keeps the new ones
    return Level(job.scenario, m, job.properties, StateKeys(sym, job.exact), sym=sym, visited=None,
                 stop_at_first=job.stop_at_first, audit_every=job.audit_every, op_budget=job.op_budget)


class Job:
    """What a worker needs to expand runs of a search's levels as the coordinator's Level would."""

    def __init__(self, level):
        self.scenario = level.problem
        self.properties = [p for p, *_ in level.judged]
        self.exact = level.keys.exact
        self.symmetric = level.sym is not None
        self.stop_at_first = level.stop_at_first
        self.audit_every = level.every
        self.op_budget = level.op_budget
