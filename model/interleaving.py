"""Two operations on two CPUs, interleaved at their preemption points (the model of concurrency).

Sequentially every operation of the model runs to completion before the next starts. A concurrent
pair runs two operations, each in its own greenlet, and switches between them only at preemption
points (model/preempt.py): the code between two points is an atomic section, as the code between
taking and releasing the zone lock (or between local_irq_save and local_irq_restore) is in 4.19.

Schedules. At a decision (the start of the pair, and every point reached while both operations are
unfinished) the scheduler picks which operation runs the next section. A schedule is the sequence
of those picks, 0 for the first operation of the pair and 1 for the second; once it is used up the
running operation goes on, and when one operation finishes the other runs to its end (neither is a
pick). A preemption is a pick of the other operation while the running one could continue; the
first pick is not one. `schedules()` enumerates, CHESS-style and without keeping any mid-operation
state (a suspended greenlet cannot be copied), every schedule with at most `bound` preemptions by
re-running the pair from the same start state, each distinct interleaving once: the schedule of a
run is the prefix it was given, and its alternatives are the other picks at the decisions past
that prefix. The end state of a run is a state like any other.

Why greenlets rather than generators: a generator would turn every kernel function on the path to
a point (get_page_from_freelist -> rmqueue -> rmqueue_pcplist ...) into a generator and every call
into `yield from`, and variants would have to follow; a greenlet switches at a plain call, so the
kernel functions stay as the kernel writes them.

Judging mid-way. At each preemption the state the other CPU is about to see is frozen, with the
blocks either CPU holds in local variables counted as allocated (`held`), and the state invariants
are judged on it (checks/properties.py). A point where the running operation goes on is not judged
in that run: no other CPU sees the state there, and the schedule that switches there (when the bound
allows one more preemption) judges it. So a state that only a preemption exposes costs one
preemption, as a race does. The points are placed where 4.19 holds no lock, so the catalogue holds
there in 4.19. NR_FREE_PAGES, which 4.19 updates just after dropping the
zone lock but with interrupts still off, belongs to the locked section: the kernel's counter is a
per-cpu-batched approximation, the model's is exact.

Sleeping locks (model/locks.py). The scheduler records which operation holds which lock. A trylock
of a lock the other operation holds fails; a mutex_lock() of it sets the caller aside until the
holder releases it. That switch is not a decision (the waiting operation cannot go on), and while
one operation waits for a lock the running one holds, the running one's points are not decisions
either. The state at a wait is judged as the state at a preemption is: the holder sees it.

The write side of a seqcount is such a lock too: a reader spinning in read_seqcount_begin() while a
cpuset update is inside its write section (model/cpuset.py) waits for the writer the same way.

At the end of a pair (and of every sequential cpuset update) no reader holds a cookie of a seqcount,
so `k.seqcounts_at_rest()` puts them back to their resting value (model/cpuset.py says why).

Each operation's execution context (`current`, its events, fail reason ...) is its own: the
scheduler swaps the machine's context attributes at every switch. Two operations may name the same
CPU: that is two tasks, one preempted by the other at a point where 4.19 allows preemption.
"""

from dataclasses import dataclass, field

from greenlet import greenlet

from .constants import MIGRATE_MOVABLE

# the machine attributes that make up one operation's execution context (Kernel419.OBSERVATIONS)
CONTEXT = ("current", "events", "observed", "fail_reason", "last_ac", "pfmemalloc")


@dataclass(frozen=True)
class Section:
    """One atomic section of a run: which operation of the pair ran it, and the point that ended it."""

    slot: int
    ended_at: str  # the preemption point's name, or "end" (the operation returned)
    state: object = field(default=None, repr=False, compare=False)  # FrozenMachine when the section ended


@dataclass(frozen=True)
class Switch:
    """A preemption, or a wait for a lock: where the running operation was set aside, and what the other saw."""

    slot: int  # the operation preempted (or set aside to wait for a lock)
    point: str
    state: object  # FrozenMachine, the blocks held by either operation counted as allocated
    wait: bool = False  # set aside by mutex_lock(), not preempted


@dataclass(frozen=True)
class ConcurrentResult:
    """What a concurrent pair returned: each operation's result, and how the schedule ran."""

    results: tuple  # (result of the first operation, result of the second)
    schedule: tuple
    preemptions: int
    sections: tuple  # Section, in the order they ran
    switches: tuple = field(default=(), repr=False)  # Switch at each preemption
    decisions: tuple = field(default=(), repr=False)  # (running slot or None, pick) at each decision

    @property
    def events(self):
        return tuple(e for r in self.results for e in getattr(r, "events", ()))

    def __str__(self):
        return f"concurrent({self.results[0]} | {self.results[1]})"


class Scheduler:
    """Runs two operations of one machine under one schedule (a prefix of picks, then no preemption)."""

    def __init__(self, k, schedule=()):
        self.k = k
        self.schedule = tuple(schedule)
        self.decisions = []
        self.sections = []
        self.switches = []
        self.held = [(), ()]
        self.done = [False, False]
        self.running = None
        self.preemptions = 0
        self.parent = None
        self.greenlets = None
        self.locks = {}  # lock name -> the slot holding it
        self.waiting = [None, None]  # the lock each operation waits for

    def pick(self):
        """The next decision's pick: from the schedule, else the running operation (or the first at the start)."""
        i = len(self.decisions)
        if i < len(self.schedule):
            choice = self.schedule[i]
        else:
            choice = 0 if self.running is None else self.running
        self.decisions.append((self.running, choice))
        if self.running is not None and choice != self.running:
            self.preemptions += 1
        return choice

    def preemptions_before(self):
        """For each decision, the preemptions of the decisions before it."""
        out, n = [], 0
        for running, choice in self.decisions:
            out.append(n)
            n += running is not None and choice != running
        return out

    def point(self, name, held):
        """Called by preempt_point() in the running operation's greenlet."""
        slot = self.running
        self.held[slot] = tuple(held)
        if self.done[1 - slot] or self.blocked_by(slot):
            return
        if self.pick() == slot:
            return
        frozen = self.k.freeze()
        self.sections.append(Section(slot, name, frozen))
        self.switches.append(Switch(slot, name, self.judged_state(frozen)))
        self.parent.switch()  # the scheduler runs the other operation; we resume here when picked again
        self.held[slot] = ()

    def blocked_by(self, slot):
        """Whether the other operation waits for a lock that operation `slot` holds."""
        lock = self.waiting[1 - slot]
        return lock is not None and self.locks.get(lock) == slot

    def trylock(self, lock):
        """mutex_trylock() by the running operation: fails while the other operation holds `lock`."""
        holder = self.locks.get(lock)
        if holder is not None and holder != self.running:
            return False
        self.locks[lock] = self.running
        return True

    def lock(self, lock, where):
        """mutex_lock() by the running operation: set aside at `where` until the other releases `lock`."""
        slot = self.running
        while not self.trylock(lock):
            self.waiting[slot] = lock
            frozen = self.k.freeze()
            self.sections.append(Section(slot, where, frozen))
            self.switches.append(Switch(slot, where, self.judged_state(frozen), wait=True))
            self.parent.switch()  # the holder runs; we resume here once it released the lock or ended
        self.waiting[slot] = None

    def unlock(self, lock):
        """mutex_unlock() by the running operation."""
        if self.locks.get(lock) == self.running:
            del self.locks[lock]

    def release_all(self, slot):
        """An operation that returned still holding a lock (a variant's mistake) no longer holds it."""
        for lock in [lock for lock, holder in self.locks.items() if holder == slot]:
            del self.locks[lock]

    def judged_state(self, frozen):
        """The frozen state `frozen` of the machine with every held block counted as allocated."""
        held = [block for blocks in self.held for block in blocks]
        if not held:
            return frozen
        allocated = dict(frozen.allocated)
        for pfn, order in held:  # held by a local variable: a movable, unowned allocation as far as judging goes
            allocated.setdefault(pfn, (order, MIGRATE_MOVABLE, None))
        return frozen._replace(allocated=tuple(sorted(allocated.items())))

    def run(self, first, second):
        """Run the callables `first` and `second` (each one operation on this machine) under the schedule."""
        k = self.k
        if k.scheduler is not None:
            raise RuntimeError("a concurrent pair cannot run inside another")
        results, errors = [None, None], [None, None]
        contexts = [None, None]
        saved = _context(k)

        def body(slot, fn):
            def run_one():
                try:
                    results[slot] = fn()
                except BaseException as e:  # re-raised by the scheduler, outside the greenlet
                    errors[slot] = e
            return run_one

        self.parent = greenlet.getcurrent()
        self.greenlets = [greenlet(body(0, first)), greenlet(body(1, second))]
        k.scheduler = self
        try:
            slot = self.pick()
            while True:
                self.running = slot
                if contexts[slot] is not None:
                    _set_context(k, contexts[slot])
                self.greenlets[slot].switch()
                contexts[slot] = _context(k)
                if self.greenlets[slot].dead:
                    self.done[slot] = True
                    self.held[slot] = ()
                    self.release_all(slot)
                    self.sections.append(Section(slot, "end", k.freeze()))
                    if errors[slot] is not None:
                        raise errors[slot]
                if all(self.done):
                    break
                slot = 1 - slot
        finally:
            k.scheduler = None
            _set_context(k, saved)
            k.seqcounts_at_rest()
            for g in self.greenlets:  # an operation left half-way by the other's error
                if not g.dead:
                    g.throw()
        return ConcurrentResult(tuple(results), self.schedule, self.preemptions, tuple(self.sections),
                                tuple(self.switches), tuple(self.decisions))


def _context(k):
    return tuple(getattr(k, name, None) for name in CONTEXT)


def _set_context(k, values):
    for name, value in zip(CONTEXT, values):
        setattr(k, name, value)


def run_concurrent(k, first, second, schedule=()):
    """Run `first` and `second` (callables, one operation each) interleaved as `schedule` says."""
    return Scheduler(k, schedule).run(first, second)


def schedules(k, first, second, bound):
    """Every schedule of the pair with at most `bound` preemptions, fewest preemptions first.

    Each is found by running the pair from k's current state, which k is left in. An operation the
    model refuses (ModelError) or that crashes under some schedule is still listed: running that
    schedule shows it.
    """
    start = k.freeze()
    found = []
    stack = [()]
    while stack:
        prefix = stack.pop()
        scheduler = Scheduler(k, prefix)
        try:
            scheduler.run(first, second)
        except Exception:  # noqa: BLE001  the run itself reports it; its decisions up to there still count
            pass
        k.restore(start)
        found.append((scheduler.preemptions, prefix))
        preempted = scheduler.preemptions_before()
        for i in range(len(prefix), len(scheduler.decisions)):
            running, choice = scheduler.decisions[i]
            alternative = 1 - choice
            cost = preempted[i] + (running is not None and alternative != running)
            if cost <= bound:
                stack.append(tuple(c for _, c in scheduler.decisions[:i]) + (alternative,))
    found.sort()
    return [prefix for _, prefix in found]
