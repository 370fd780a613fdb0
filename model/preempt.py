"""Preemption points: the places where another CPU may run between two atomic sections of an operation.

A point stands for a place in the 4.19 code where the running CPU holds no lock and has interrupts
enabled (or has not taken its locks yet), so another CPU may change the shared state it reads next:
after `spin_unlock(&zone->lock)`, after `local_irq_restore()`, before a lock the code is about to
take, after a read of a pageblock's migratetype made without the zone lock. Each point is named
after that kernel code ("local_irq_restore: rmqueue_pcplist").

`held` names the blocks the CPU holds in a local variable at the point: a page taken off buddy and
not yet marked allocated, or a page whose last reference is gone and that is not yet on a list.
The invariants judged at a switch count them as allocated (model/interleaving.py).

A place where the running CPU cannot go on until the other releases something (a mutex, the write
side of a seqcount) is a wait for a lock (model/locks.py), not a point.

Without a running schedule (every sequential operation) a point costs nothing but the test of
`k.scheduler` the call sites make before calling (a call and its `held` tuple would cost a few per
cent of an order-0 allocation and free); a variant may call preempt_point() without the test.
"""


def preempt_point(k, name, held=()):
    """A preemption point of machine k: with a schedule running, its scheduler may switch CPUs here."""
    scheduler = k.scheduler
    if scheduler is not None:
        scheduler.point(name, held)

