"""Sleeping locks that 4.19 takes with mutex_trylock() on the allocator's paths.

Two such locks lie on the paths the model has: `pcpu_drain_mutex` (drain_all_pages) and `oom_lock`
(__alloc_pages_may_oom). Whether a trylock succeeds depends on another CPU, so it is a choice, as
the environment's answers are (model/environment.py):

- in a sequential run no other CPU runs, so the trylock succeeds unless the environment says
  another task holds the lock (`pcpu_drain_mutex_held`, `oom_lock_held`); that holder is done by
  the operation's next attempt, so only an operation's first trylock of a lock fails;
- in a concurrent pair (model/interleaving.py) the environment is idle and the other operation of
  the pair decides: a lock it holds at the preemption point where it was set aside makes the
  trylock fail. mutex_lock() after a failed trylock waits: the waiting operation is set aside
  (not a preemption) until the holder releases the lock.

The write side of a seqcount (model/cpuset.py, mems_allowed_seq) is held the same way in a pair: a
reader spinning in read_seqcount_begin() waits for the writer as for a lock (`wait_for_lock`), and
while it waits the writer's points are not decisions, as the spin does not change what the writer does.

Abstracted away: the mutex's owner, wait list and optimistic spinning; a lock is named by a string.
"""

PCPU_DRAIN_MUTEX = "pcpu_drain_mutex"
OOM_LOCK = "oom_lock"


def mutex_trylock(k, lock):
    """mutex_trylock(): true if machine k's running operation now holds `lock`, false if someone else does."""
    scheduler = k.scheduler
    if scheduler is not None:
        return scheduler.trylock(lock)
    if not k.env.mutex_held(k, lock):
        return True
    failed = k.current.trylocks_failed
    if lock in failed:
        return True  # the other holder is done by the operation's next attempt
    failed.add(lock)
    return False


def mutex_lock(k, lock, where):
    """mutex_lock(): wait until `lock` is free, then hold it; `where` names the wait after the kernel code."""
    scheduler = k.scheduler
    if scheduler is not None:
        scheduler.lock(lock, where)
    # sequentially the holder the environment named has finished: the lock is free


def wait_for_lock(k, lock, where):
    """Spin at `where` until whoever holds `lock` released it, without taking it (read_seqcount_begin)."""
    scheduler = k.scheduler
    if scheduler is None:
        raise RuntimeError(f"{where}: waits for another CPU, but no concurrent pair is running")
    scheduler.lock(lock, where)
    scheduler.unlock(lock)


def mutex_unlock(k, lock):
    """mutex_unlock(): release `lock`."""
    scheduler = k.scheduler
    if scheduler is not None:
        scheduler.unlock(lock)
