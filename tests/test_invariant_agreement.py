"""The concrete check and the Z3 encoding of each state invariant give the same verdict.

States come from real machines (presets numa2 and buddy-core after random
operations) and from those states deliberately broken (overlapping,
misaligned, out-of-zone and unmerged blocks, wrong counters, wrong lists, wrong limits), so
that both verdicts occur for every invariant. The Z3 verdict is the encoding
with every variable fixed to the state's values, simplified to True or False.
"""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buddycheck.model import Kernel419, ModelError, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE, MIGRATE_TYPES
from buddycheck.spec.hygiene import HYGIENE_INVARIANTS
from buddycheck.spec.invariants import STATE_INVARIANTS
from buddycheck.spec.symbolic import SLOT_QUANTUM
from buddycheck.spec.view import view_of

GFPS = (G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_HIGHUSER_MOVABLE, G.GFP_USER, G.GFP_DMA32, G.GFP_NOWAIT,
        G.GFP_KERNEL | G.__GFP_RECLAIMABLE, G.GFP_KERNEL | G.__GFP_THISNODE, G.GFP_ATOMIC | G.__GFP_MOVABLE,
        G.GFP_NOWAIT | G.__GFP_RECLAIMABLE, G.GFP_KERNEL | G.__GFP_MEMALLOC)
MAX_BLOCKS = 4 * SLOT_QUANTUM  # keeps the encodings small (one per 16-slot shape)


def machine(name):
    if name == "buddy-core":
        return Kernel419(preset("buddy-core", pages=16, max_order=4))
    return Kernel419(preset(name))


def random_step(m, rng):
    """One random operation: allocate, free, drain, or isolate / undo a MAX_ORDER-aligned range.

    Isolation ranges are aligned to MAX_ORDER_NR_PAGES, as 4.19's callers align them (see spec/invariants.py).
    """
    r = rng.random()
    group = 1 << (m.MAX_ORDER - 1)
    ngroups = -(-m.topology.max_pfn // group)
    try:
        if r < 0.5 or not m.allocated:
            m.alloc(rng.choice(GFPS), order=rng.randrange(m.MAX_ORDER), cpu=rng.choice(m.topology.cpus),
                    nid=rng.choice(m.topology.node_ids))
        elif r < 0.8:
            m.free(rng.choice(sorted(m.allocated)), cpu=rng.choice(m.topology.cpus))
        elif r < 0.85:
            m.drain(rng.choice((None,) + m.topology.cpus))
        else:
            start = rng.randrange(ngroups) * group
            end = min(start + group * rng.randint(1, 2), ngroups * group)
            if r < 0.93:
                m.isolate(start, end)
            else:
                m.undo_isolate(start, end)
    except ModelError:
        pass


def random_machine(name, seed, steps):
    m = machine(name)
    rng = random.Random(seed)
    for _ in range(steps):
        random_step(m, rng)
    return m


# ---- breaking a state ----------------------------------------------------------------------------------
def _free_entries(v):
    return [(zi, k) for zi, z in enumerate(v.zones) for k in range(len(z.free))]


def _set_free(v, zi, free):
    return v.with_zone(zi, free=tuple(sorted(free)))


def dup_block(v, rng):
    """A free order-0 block on top of an existing block (overlap; counters left as they were)."""
    b = rng.choice(v.blocks())
    zi = b.zone if b.zone is not None else 0
    return _set_free(v, zi, v.zones[zi].free + ((b.pfn + rng.randrange(1 << b.order), 0, 1),))


def nudge_pfn(v, rng):
    entries = _free_entries(v)
    if not entries:
        return v
    zi, k = rng.choice(entries)
    free = list(v.zones[zi].free)
    pfn, order, mt = free[k]
    free[k] = (max(0, pfn + rng.choice((-1, 1, 2))), order, mt)
    return _set_free(v, zi, free)


def bump_order(v, rng):
    entries = _free_entries(v)
    if not entries:
        return v
    zi, k = rng.choice(entries)
    free = list(v.zones[zi].free)
    pfn, order, mt = free[k]
    free[k] = (pfn, order + rng.choice((1, 2, v.max_order - order)), mt)
    return _set_free(v, zi, free)


def move_zone(v, rng):
    """A free block moved to another zone's list (with nr_free fixed up)."""
    entries = _free_entries(v)
    if not entries or len(v.zones) < 2:
        return v
    zi, k = rng.choice(entries)
    other = rng.choice([i for i in range(len(v.zones)) if i != zi])
    block = v.zones[zi].free[k]
    v = _set_free(v, zi, v.zones[zi].free[:k] + v.zones[zi].free[k + 1:])
    v = _set_free(v, other, v.zones[other].free + (block,))
    return v


def alloc_outside(v, rng):
    top = max(z.end_pfn for z in v.zones)
    return v.with_(allocated=tuple(sorted(v.allocated + ((top + rng.randrange(4), 0, 0),))))


def drop_block(v, rng):
    entries = _free_entries(v)
    if entries and rng.random() < 0.7:
        zi, k = rng.choice(entries)
        return _set_free(v, zi, v.zones[zi].free[:k] + v.zones[zi].free[k + 1:])
    if v.allocated:
        k = rng.randrange(len(v.allocated))
        return v.with_(allocated=v.allocated[:k] + v.allocated[k + 1:])
    return v


def split_block(v, rng):
    """A free block of order k > 0 replaced by its two halves, nr_free kept right: only coalescing breaks."""
    entries = [(zi, k) for zi, k in _free_entries(v) if 0 < v.zones[zi].free[k][1] < v.max_order]
    if not entries:
        return v
    zi, k = rng.choice(entries)
    z = v.zones[zi]
    pfn, order, mt = z.free[k]
    free = z.free[:k] + z.free[k + 1:] + ((pfn, order - 1, mt), (pfn + (1 << (order - 1)), order - 1, mt))
    nr_free = list(z.nr_free)
    nr_free[order] -= 1
    nr_free[order - 1] += 2
    return v.with_zone(zi, free=tuple(sorted(free)), nr_free=tuple(nr_free))


def bad_counter(v, rng):
    zi = rng.randrange(len(v.zones))
    z = v.zones[zi]
    which = rng.choice(("nr_free", "nr_free_pages", "nr_free_cma_pages", "nr_isolate_pageblock", "pcp_counts",
                        "nr_reserved_highatomic"))
    delta = rng.choice((-1, 1, 2))
    if which == "nr_free":
        o = rng.randrange(v.max_order)
        nr = list(z.nr_free)
        nr[o] += delta
        return v.with_zone(zi, nr_free=tuple(nr))
    if which == "pcp_counts":
        if not z.pcp_counts:
            return v
        counts = list(z.pcp_counts)
        k = rng.randrange(len(counts))
        counts[k] = (counts[k][0], counts[k][1] + delta)
        return v.with_zone(zi, pcp_counts=tuple(counts))
    return v.with_zone(zi, **{which: getattr(z, which) + delta})


def retype(v, rng):
    """A free block's list, a per-cpu page's list or cached type, or a pageblock changed."""
    r = rng.random()
    if r < 0.4 and _free_entries(v):
        zi, k = rng.choice(_free_entries(v))
        free = list(v.zones[zi].free)
        pfn, order, mt = free[k]
        free[k] = (pfn, order, rng.choice((MIGRATE_ISOLATE, rng.randrange(MIGRATE_TYPES))))
        return _set_free(v, zi, free)
    pcps = [(zi, k) for zi, z in enumerate(v.zones) for k in range(len(z.pcp))]
    if r < 0.7 and pcps:
        zi, k = rng.choice(pcps)
        pcp = list(v.zones[zi].pcp)
        cpu, lst, pfn, cached = pcp[k]
        pcp[k] = (cpu, rng.randrange(4), pfn, rng.randrange(MIGRATE_TYPES))
        return v.with_zone(zi, pcp=tuple(pcp))
    pbs = list(v.pageblocks)
    pbs[rng.randrange(len(pbs))] = rng.choice((MIGRATE_ISOLATE, rng.randrange(MIGRATE_TYPES)))
    return v.with_(pageblocks=tuple(pbs))


def unreserved_highatomic(v, rng):
    """A pageblock turned HIGHATOMIC without the reserve growing (or the reserve nudged down)."""
    if rng.random() < 0.5:
        zi = rng.randrange(len(v.zones))
        return v.with_zone(zi, nr_reserved_highatomic=v.zones[zi].nr_reserved_highatomic - 1)
    pbs = list(v.pageblocks)
    pbs[rng.randrange(len(pbs))] = MIGRATE_HIGHATOMIC
    return v.with_(pageblocks=tuple(pbs))


def bad_limit(v, rng):
    """A watermark, a lowmem_reserve entry, a per-cpu high or totalreserve_pages off by one."""
    zi = rng.randrange(len(v.zones))
    z = v.zones[zi]
    which = rng.choice(("watermark", "lowmem_reserve", "pcp_limits", "totalreserve_pages"))
    if which == "totalreserve_pages":
        return v.with_(totalreserve_pages=v.totalreserve_pages + 1)
    if which == "pcp_limits" and z.pcp_limits:
        (cpu, high, batch), *rest = z.pcp_limits
        return v.with_zone(zi, pcp_limits=((cpu, high + 1, batch), *rest))
    values = list(z.lowmem_reserve if which == "lowmem_reserve" else z.watermark)
    values[rng.randrange(len(values))] += 1
    return v.with_zone(zi, **{which if which != "pcp_limits" else "watermark": tuple(values)})


BREAKERS = (dup_block, nudge_pfn, bump_order, move_zone, alloc_outside, drop_block, split_block, bad_counter, retype,
            unreserved_highatomic, bad_limit)


def broken(v, rng, n):
    for _ in range(n):
        v = rng.choice(BREAKERS)(v, rng)
    return v


def assert_agree(v):
    if len(v.blocks()) > MAX_BLOCKS:
        return None
    verdicts = {}
    for inv in STATE_INVARIANTS + HYGIENE_INVARIANTS:
        concrete = inv.holds(v)
        symbolic = inv.z3_holds(v)
        assert concrete == symbolic, (inv.name, concrete, symbolic, [str(x) for x in inv.check(v)])
        verdicts[inv.name] = concrete
    return verdicts


states = st.tuples(st.sampled_from(("numa2", "buddy-core")), st.integers(0, 2**32 - 1), st.integers(0, 50),
                   st.integers(0, 3))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states)
def test_concrete_and_z3_verdicts_agree(case):
    name, seed, steps, nbreaks = case
    v = view_of(random_machine(name, seed, steps))
    v = broken(v, random.Random(seed ^ 0x5EED), nbreaks)
    assert_agree(v)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(states)
def test_concrete_and_z3_verdicts_agree_many(case):
    test_concrete_and_z3_verdicts_agree.hypothesis.inner_test(case)


def test_each_breaker_alone_is_caught_and_both_verdicts_occur():
    """Over a fixed batch, every invariant both holds and fails somewhere, and the two verdicts always agree."""
    seen = {inv.name: set() for inv in STATE_INVARIANTS + HYGIENE_INVARIANTS}
    for seed in range(6):
        name = ("numa2", "buddy-core")[seed % 2]
        base = view_of(random_machine(name, seed, 30))
        for k, breaker in enumerate(BREAKERS):
            v = breaker(base, random.Random(seed * 100 + k)) if (seed + k) % 3 else base
            verdicts = assert_agree(v)
            if verdicts is None:
                continue
            for n, ok in verdicts.items():
                seen[n].add(ok)
    assert all(s == {True, False} for s in seen.values()), seen


def test_real_runs_satisfy_every_invariant():
    """The unmodified model never breaks a state invariant on random runs (aligned isolation, see random_step)."""
    for seed in range(40):
        name = ("numa2", "buddy-core")[seed % 2]
        m = machine(name)
        rng = random.Random(seed)
        for _ in range(60):
            random_step(m, rng)
            bad = [str(x) for inv in STATE_INVARIANTS for x in inv.check(view_of(m))]
            assert not bad, (name, seed, bad)
