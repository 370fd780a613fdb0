"""The theorems' Z3 encodings compared with a model's kernel functions on concrete inputs.

A theorem (spec/theorems.py) proves a property of an encoding; it says something about a model only
where the model's functions compute what the encoding states. Each comparison here generates
deterministic inputs (seeded or enumerated), calls the model's function the way the model calls it
(on a machine of the model class under test, through `k.name(...)`, so a variant's override is the
one called), fixes the encoding's variables to the same inputs and yields one `Case` per input:
the input decoded into readable values, and whether the two agree.

tests/test_theorems.py runs these comparisons on Kernel419; spec/agreement.py runs them on a variant
that overrides a function a theorem states.
"""

import random
from dataclasses import dataclass, field, replace

import z3

from buddycheck.model import preset
from buddycheck.model.constants import (
    ALLOC_WMARK_LOW,
    ZONE_DMA,
    ZONE_DMA32,
    ZONE_HIGHMEM,
    ZONE_MOVABLE,
    ZONE_NAMES,
    ZONE_NORMAL,
)
from buddycheck.model.errors import InvalidGfpZone
from buddycheck.model.gfp import __GFP_HARDWALL, GFP_KERNEL, gfp_zone
from buddycheck.model.machine import Current
from buddycheck.model.mempolicy import MPOL_INTERLEAVE, N_HIGH_MEMORY, Mempolicy
from buddycheck.model.mmzone import Zoneref
from buddycheck.model.page_alloc import AllocContext
from buddycheck.model.task import Task

from . import theorems as T


@dataclass(frozen=True)
class Case:
    """One input: its readable values, whether model and encoding agree, and what each gave."""

    values: dict
    agrees: bool
    model: object = None
    encoding: object = None
    subst: tuple = field(default=(), compare=False, repr=False)  # the encoding's variables fixed to the input


def fixed(term, subst=()):
    """The value of a Z3 term with the substitutions applied: a bool or an int."""
    v = z3.simplify(z3.substitute(term, *subst) if subst else term)
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    return v.as_long()


def _raised(values, exc):
    return Case(values, False, f"raises {type(exc).__name__}: {exc}", None)


# ---- __find_buddy_pfn ----------------------------------------------------------------------------------
def find_buddy_cases(model_cls, n, seed=1):
    """k.__find_buddy_pfn(pfn, order) against find_buddy_pfn on aligned 64-bit pfns and orders < 11."""
    m = model_cls(preset("buddy-core", pages=16, max_order=4))
    rng = random.Random(seed)
    pfn, order = z3.BitVec("pfn", 64), z3.BitVec("order", 64)
    term = T.find_buddy_pfn(pfn, order)
    for _ in range(n):
        o = rng.randrange(11)
        p = rng.randrange(1 << 64) & ~((1 << o) - 1)
        values = {"pfn": hex(p), "order": o}
        want = fixed(term, ((pfn, z3.BitVecVal(p, 64)), (order, z3.BitVecVal(o, 64))))
        try:
            got = m.__find_buddy_pfn(p, o)
        except Exception as exc:  # a variant's function may fail where the encoding answers
            yield _raised(values, exc)
            continue
        yield Case(values, got == want, hex(got) if isinstance(got, int) else got, hex(want))


# ---- split and merge steps on one zone ------------------------------------------------------------------
TRANSITION_PAGES, TRANSITION_MAX_ORDER = 64, 4


def zone_bits(m, zone, max_order):
    """(free, allocated) of a zone as page-indexed integers per order, as ZoneBits states them."""
    free, alloc = [0] * max_order, [0] * max_order
    for pfn, order, _ in m.free_blocks(zone):
        free[order] |= 1 << pfn
    for pfn, (order, _, _) in m.allocated.items():
        alloc[order] |= 1 << pfn
    return free, alloc


def transition_cases(model_cls, n, seed=6):
    """Random allocations and frees on buddy-core(64 pages, MAX_ORDER 4): each step is a transition the
    encoding allows (expand_transition for some starting order, free_transition for the freed order).

    Each case's subst fixes the post-state variables (T.ZoneBits "b") so that a caller can evaluate
    more about the state after the step.
    """
    npages, mo = TRANSITION_PAGES, TRANSITION_MAX_ORDER
    m = model_cls(preset("buddy-core", pages=npages, max_order=mo))
    zone = m.zones()[0]
    pre, post = T.ZoneBits("a", npages, mo), T.ZoneBits("b", npages, mo)
    p = z3.BitVec("p", npages)
    splits = {(lo, hi): T.expand_transition(pre, post, p, lo, hi) for hi in range(mo) for lo in range(hi + 1)}
    frees = {o: T.free_transition(pre, post, p, o) for o in range(mo)}
    rng = random.Random(seed)
    checked = 0
    while checked < n:
        f0, a0 = zone_bits(m, zone, mo)
        before = T.zone_blocks(f0, npages)
        if m.allocated and rng.random() < 0.45:
            page = rng.choice(sorted(m.allocated))
            order = m.allocated[page][0]
            values = {"operation": f"free pfn {page} order {order}", "free blocks before": before}
            try:
                m.free(page)
            except Exception as exc:
                yield _raised(values, exc)
                return
            rels = [(frees[order], page)]
        else:
            order = rng.randrange(mo)
            values = {"operation": f"alloc order {order}", "free blocks before": before}
            try:
                r = m.alloc(0, order=order)
            except Exception as exc:
                yield _raised(values, exc)
                return
            if not r.ok:
                continue
            values["operation"] = f"alloc order {order} -> pfn {r.page}"
            rels = [(splits[(order, hi)], r.page) for hi in range(order, mo)]
        f1, a1 = zone_bits(m, zone, mo)
        subst = tuple((v, z3.BitVecVal(x, npages))
                      for v, x in zip(pre.free + pre.alloc + post.free + post.alloc, f0 + a0 + f1 + a1))
        ok = any(fixed(rel, subst + ((p, z3.BitVecVal(page, npages)),)) for rel, page in rels)
        after = T.zone_blocks(f1, npages)
        checked += 1
        yield Case(values, ok, {"free blocks after": after},
                   "a transition it allows" if ok else "no transition from this state to that one", subst)
        if not ok:
            return  # the machine's state now departs from what the encoding describes


# ---- next_node_in through interleave_nodes --------------------------------------------------------------
def forall_over(positions):
    """forall_nodes over a finite set of positions."""
    return lambda body: z3.And([body(z3.IntVal(i)) for i in sorted(positions)])


def next_node_relation(cursor, r, mask, w, positions):
    """T.next_node_in's relation with every variable fixed: "r is next_node_in(cursor, mask)" over positions."""
    return T.next_node_in(z3.IntVal(cursor), z3.IntVal(r), lambda i: z3.BoolVal(i.as_long() in mask), z3.IntVal(w),
                          forall_over(positions))


def interleave_positions(rng, cursor, choice, mask, w):
    """The positions the relation's "no node of the mask in ..." is instantiated at.

    An instance at a position outside the mask is true whatever the guard, so the mask's nodes, the
    neighbours of the cursor and the choice, both ends and a few random positions suffice (the test
    with full enumeration covers every position of a small mask).
    """
    near = {x for c in (cursor, choice) for x in (c - 1, c, c + 1) if 0 <= x < w}
    return set(mask) | near | {0, w - 1} | {rng.randrange(w) for _ in range(6)}


def interleave_cases(model_cls, n, seed=2):
    """k.interleave_nodes(policy) on a task with il_prev = cursor, against next_node_in's relation.

    The encoding's induction step starts the next choice from the last one, so il_prev must become the
    choice. MAX_NUMNODES cycles through 8, 64 and 1024.
    """
    rng = random.Random(seed)
    machines = {}
    for k in range(n):
        w = (8, 64, 1024)[k % 3]
        if w not in machines:
            topology = replace(preset("numa2"), max_numnodes=w)
            machines[w] = model_cls(topology)
        m = machines[w]
        mask = frozenset(rng.sample(range(w), rng.randint(1, min(w, 6))))
        cursor = rng.randrange(w)
        values = {"MAX_NUMNODES": w, "il_prev": cursor, "mask": sorted(mask)}
        task = Task(0, m.tasks[0].mems_allowed, il_prev=cursor)
        m.current = Current(cpu=0, task=task, all_nodes=m.tasks[0].mems_allowed)
        try:
            got = m.interleave_nodes(Mempolicy(MPOL_INTERLEAVE, nodes=mask))
        except Exception as exc:
            yield _raised(values, exc)
            continue
        positions = interleave_positions(rng, cursor, got if isinstance(got, int) else cursor, mask, w)
        ok = isinstance(got, int) and fixed(next_node_relation(cursor, got, mask, w, positions))
        moved = task.il_prev == got
        if ok and moved:
            yield Case(values, True, got, got)
            continue
        want = next((r for r in sorted(mask) if fixed(next_node_relation(cursor, r, mask, w, range(w)))), None)
        yield Case(values, False, {"node": got, "il_prev after": task.il_prev}, {"node": want, "il_prev after": want})


# ---- the zonelist walk -----------------------------------------------------------------------------------
class _Zone:
    """What the zonelist walk reads of a zone: its node and index."""

    def __init__(self, nid, idx):
        self.nid, self.idx = nid, idx


def zonelist_cases(model_cls, n, seed=4, length=6):
    """k.zonelist_zones (k.__next_zones_zonelist) and k.first_zones_zonelist against zonelist_walk."""
    m = model_cls(preset("buddy-core", pages=16, max_order=4))
    rng = random.Random(seed)
    entries = [(z3.BitVec(f"n{i}", T.NODE_BITS), z3.BitVec(f"z{i}", T.ZONE_BITS)) for i in range(length)]
    nodes, has_nodes, high = z3.BitVec("mask", 1024), z3.Bool("has"), z3.BitVec("high", T.ZONE_BITS)
    cursors, _ = T.zonelist_walk(entries, high, nodes, has_nodes)
    for _ in range(n):
        zl = [(rng.choice((0, 1, 7, 1023)), rng.randrange(5)) for _ in range(length)]
        mask = frozenset(rng.sample((0, 1, 7, 1023), rng.randint(0, 4))) if rng.random() < 0.7 else None
        hi = rng.randrange(5)
        values = {"zonelist": [(a, ZONE_NAMES[b]) for a, b in zl], "nodemask": None if mask is None else sorted(mask),
                  "high_zoneidx": hi}
        refs = [Zoneref(_Zone(a, b)) for a, b in zl] + [Zoneref(None)]
        subst = [(high, z3.BitVecVal(hi, T.ZONE_BITS)), (has_nodes, z3.BoolVal(mask is not None)),
                 (nodes, z3.BitVecVal(sum(1 << b for b in (mask or ())), 1024))]
        for (nv, zv), (a, b) in zip(entries, zl):
            subst += [(nv, z3.BitVecVal(a, T.NODE_BITS)), (zv, z3.BitVecVal(b, T.ZONE_BITS))]
        at = [fixed(c, subst) for c in cursors]
        want = ([zl[c] for c in at if c < length], at[0])
        try:
            got = ([(z.nid, z.idx) for z in m.zonelist_zones(refs, hi, mask)], m.first_zones_zonelist(refs, hi, mask))
        except Exception as exc:
            yield _raised(values, exc)
            continue
        yield Case(values, got == want, {"zones": got[0], "first": got[1]}, {"zones": want[0], "first": want[1]})


# ---- policy_nodemask and the cpuset gate -----------------------------------------------------------------
def _bits(nodes, width):
    return z3.BitVecVal(sum(1 << b for b in nodes), width)


def policy_nodemask_cases(model_cls, n, seed=5):
    """k.policy_nodemask(gfp, policy) (apply_policy_zone, cpuset_nodemask_valid_mems_allowed) against
    policy_nodemask's "applies": whether the BIND nodes are returned."""
    m = model_cls(preset("numa2"))
    rng = random.Random(seed)
    w = 1024
    mode, pol, mems, hm = z3.BitVec("mode", 8), z3.BitVec("pol", w), z3.BitVec("mems", w), z3.BitVec("hm", w)
    pz, zone = z3.BitVec("pz", T.ZONE_BITS), z3.BitVec("zone", T.ZONE_BITS)
    applies, _ = T.policy_nodemask(mode, pol, hm, pz, zone, mems)
    pool = (0, 1, 2, 5, 63, 1023)
    gfps = (0, 0x1, 0x2, 0x4, 0x8, 0xA, 0xC)
    for _ in range(n):
        md = rng.randrange(5)
        nodes = frozenset(rng.sample(pool, rng.randint(1, 3)))
        allowed = frozenset(rng.sample(pool, rng.randint(1, 3)))
        high_memory = frozenset(rng.sample(pool, rng.randint(0, 3)))
        m.policy_zone = rng.choice((ZONE_DMA, ZONE_DMA32, ZONE_NORMAL))
        m.__dict__.setdefault("_node_states_cache", {})[N_HIGH_MEMORY] = high_memory
        m.current = Current(cpu=0, task=Task(0, allowed), all_nodes=frozenset(pool))
        gfp = rng.choice(gfps)
        z = gfp_zone(gfp, m.topology.configured_zones)
        values = {"mode": md, "policy nodes": sorted(nodes), "mems_allowed": sorted(allowed),
                  "N_HIGH_MEMORY": sorted(high_memory), "policy_zone": ZONE_NAMES[m.policy_zone], "gfp": hex(gfp)}
        want = fixed(applies, ((mode, z3.BitVecVal(md, 8)), (pol, _bits(nodes, w)), (mems, _bits(allowed, w)),
                               (hm, _bits(high_memory, w)), (pz, z3.BitVecVal(m.policy_zone, T.ZONE_BITS)),
                               (zone, z3.BitVecVal(z, T.ZONE_BITS))))
        try:
            got = m.policy_nodemask(gfp, Mempolicy(md, nodes=nodes))
        except Exception as exc:
            yield _raised(values, exc)
            continue
        ok = (got is not None) == want and (got is None or got == nodes)
        yield Case(values, ok, None if got is None else sorted(got), sorted(nodes) if want else None)


def cpuset_gate_cases(model_cls, n=None):
    """k.cpuset_zone_allowed(zone, gfp | __GFP_HARDWALL), as get_page_from_freelist asks it under ALLOC_CPUSET,
    against fast_path_allows for a nodemask holding the node: every combination of node, mems_allowed,
    cpusets_enabled, in_interrupt and oom_victim on numa2 (n is ignored: the space is enumerated)."""
    m = model_cls(preset("numa2"))
    w = 1024
    node, mask, mems = z3.BitVec("node", T.NODE_BITS), z3.BitVec("mask", w), z3.BitVec("mems", w)
    cpusets, interrupt, victim = z3.Bools("cpusets in_interrupt oom_victim")
    allowed = T.fast_path_allows(node, z3.BoolVal(True), mask, cpusets, mems, interrupt, victim)
    everything = frozenset(m.topology.node_ids)
    for nid in sorted(everything):
        zone = next(z for z in m.zones() if z.nid == nid)
        for mems_allowed in (frozenset({0}), frozenset({1}), everything):
            for flags in range(8):
                on, intr, oom = bool(flags & 1), bool(flags & 2), bool(flags & 4)
                values = {"node": nid, "mems_allowed": sorted(mems_allowed), "cpusets enabled": on,
                          "in interrupt": intr, "oom victim": oom}
                want = fixed(allowed, ((node, z3.BitVecVal(nid, T.NODE_BITS)), (mask, _bits({nid}, w)),
                                       (mems, _bits(mems_allowed, w)), (cpusets, z3.BoolVal(on)),
                                       (interrupt, z3.BoolVal(intr)), (victim, z3.BoolVal(oom))))
                m.cpusets_on = on
                m.current = Current(cpu=0, task=Task(0, mems_allowed), all_nodes=everything, in_interrupt=intr,
                                    oom_victim=oom)
                try:
                    got = m.cpuset_zone_allowed(zone, GFP_KERNEL | __GFP_HARDWALL)
                except Exception as exc:
                    yield _raised(values, exc)
                    continue
                yield Case(values, bool(got) == want, bool(got), want)


def fast_path_cases(model_cls, n=None):
    """The fast path (k.prepare_alloc_pages, k.finalise_ac, k.get_page_from_freelist) of an order-0 GFP_KERNEL
    request on a freshly booted numa2, against fast_path_allows: the page comes from a node the encoding
    allows, and the fast path fails only when it allows none (every zone is above its LOW mark at boot).
    Every preferred node, nodemask (none or a nonempty subset), mems_allowed, cpusets_enabled, in_interrupt
    and oom_victim (n is ignored: the space is enumerated)."""
    m = model_cls(preset("numa2"))
    booted = m.freeze()
    w = 1024
    node, mask, mems = z3.BitVec("node", T.NODE_BITS), z3.BitVec("mask", w), z3.BitVec("mems", w)
    has_mask, cpusets, interrupt, victim = z3.Bools("has_mask cpusets in_interrupt oom_victim")
    allowed = T.fast_path_allows(node, has_mask, mask, cpusets, mems, interrupt, victim)
    everything = frozenset(m.topology.node_ids)
    subsets = (frozenset({0}), frozenset({1}), everything)
    for nid in sorted(everything):
        cpu = next(c for c in m.topology.cpus if m.topology.cpu_to_node(c) == nid)
        for nodemask in (None,) + subsets:
            for mems_allowed in subsets:
                for flags in range(8):
                    on, intr, oom = bool(flags & 1), bool(flags & 2), bool(flags & 4)
                    values = {"preferred node": nid, "nodemask": None if nodemask is None else sorted(nodemask),
                              "mems_allowed": sorted(mems_allowed), "cpusets enabled": on, "in interrupt": intr,
                              "oom victim": oom}
                    fixed_inputs = ((has_mask, z3.BoolVal(nodemask is not None)), (mask, _bits(nodemask or (), w)),
                                    (mems, _bits(mems_allowed, w)), (cpusets, z3.BoolVal(on)),
                                    (interrupt, z3.BoolVal(intr)), (victim, z3.BoolVal(oom)))
                    want = [x for x in sorted(everything)
                            if fixed(allowed, fixed_inputs + ((node, z3.BitVecVal(x, T.NODE_BITS)),))]
                    m.restore(booted)
                    m.cpusets_on = on
                    m.current = Current(cpu=cpu, task=Task(0, mems_allowed), all_nodes=everything, in_interrupt=intr,
                                        oom_victim=oom)
                    try:
                        ac = AllocContext()
                        ok, alloc_mask, alloc_flags = m.prepare_alloc_pages(GFP_KERNEL, 0, nid, nodemask, ac,
                                                                            GFP_KERNEL, ALLOC_WMARK_LOW)
                        m.finalise_ac(GFP_KERNEL, ac)
                        page = m.get_page_from_freelist(alloc_mask, 0, alloc_flags, ac) if ok else None
                    except Exception as exc:
                        yield _raised(values, exc)
                        continue
                    got = None if page is None else m.page_zone(page).nid
                    agrees = got in want if got is not None else not want
                    yield Case(values, agrees, f"node {got}" if got is not None else "no page",
                               f"one of nodes {want}" if want else "no page")


# ---- gfp_zone (a helper, not a kernel function a variant can override) -------------------------------------
def gfp_zone_cases(n, seed=3):
    """gfp_zone(gfp, configured) against gfp_zone_lookup: all 16 combinations x 8 configurations, then n masks."""
    rng = random.Random(seed)
    bits = z3.BitVec("b", 64)
    flags = z3.Bools("d d32 h")
    configs = []
    for mask in range(8):
        has = (bool(mask & 1), bool(mask & 2), bool(mask & 4))
        configured = {ZONE_NORMAL, ZONE_MOVABLE} | {z for z, on in zip((ZONE_DMA, ZONE_DMA32, ZONE_HIGHMEM), has) if on}
        configs.append((has, frozenset(configured)))
    inputs = [(b, c) for b in range(16) for c in configs] + [(rng.randrange(1 << 23), rng.choice(configs))
                                                            for _ in range(n)]
    z, bad = T.gfp_zone_lookup(bits, *flags)
    for gfp, (has, configured) in inputs:
        subst = [(bits, z3.BitVecVal(gfp & 0xF, 64))] + [(f, z3.BoolVal(v)) for f, v in zip(flags, has)]
        values = {"gfp": hex(gfp), "configured zones": [ZONE_NAMES[x] for x in sorted(configured)]}
        want = "invalid" if fixed(bad, subst) else ZONE_NAMES[fixed(z, subst)]
        try:
            got = ZONE_NAMES[gfp_zone(gfp, configured)]
        except InvalidGfpZone:
            got = "invalid"
        yield Case(values, got == want, got, want)
