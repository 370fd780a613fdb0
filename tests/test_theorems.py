"""Theorems: each proves, checks its vacuity, is refuted for a broken model with a readable counterexample,
and its Z3 encoding agrees with the model's Python function on at least a thousand inputs."""

import random

import pytest
import z3

from buddycheck.model import Kernel419, preset
from buddycheck.model.constants import ZONE_DMA, ZONE_DMA32, ZONE_HIGHMEM, ZONE_MOVABLE, ZONE_NORMAL
from buddycheck.model.errors import InvalidGfpZone
from buddycheck.model.gfp import gfp_zone
from buddycheck.model.machine import Current, Task
from buddycheck.model.mmzone import Zoneref
from buddycheck.model.nodemask import next_node_in as model_next_node_in
from buddycheck.spec import theorems as T
from buddycheck.spec.theorems import THEOREMS_BY_NAME, Query, Status, prove_queries


def fixed(term):
    """The value of a closed Z3 term."""
    v = z3.simplify(term)
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    return v.as_long()


# ---- every theorem proves, non-vacuously ---------------------------------------------------------------
@pytest.mark.parametrize("name,params", [
    ("buddy_arithmetic", {}),
    ("split_merge_preserve", {"zone_pages": 16, "max_order": 3}),
    ("interleave_fairness", {}),
    ("zonelist_nodemask", {"zonelist_len": 6}),
    ("policy_nodemask_cpuset", {}),
    ("gfp_zone_eligibility", {}),
])
def test_theorem_proves_with_satisfiable_assumptions(name, params):
    r = THEOREMS_BY_NAME[name].prove(**params)
    assert r.status is Status.PROVED, r.reason
    assert r.vacuity and r.assumptions_satisfiable is True
    assert r.counterexample is None


@pytest.mark.slow
def test_whole_catalogue_proves_at_default_parameters_within_a_minute():
    results = T.prove_all()
    assert [r.status for r in results] == [Status.PROVED] * len(T.THEOREMS), [(r.name, r.reason) for r in results]
    assert sum(r.seconds for r in results) <= 60


def test_interleave_fairness_at_1024_nodes_within_10_seconds():
    r = THEOREMS_BY_NAME["interleave_fairness"].prove()
    assert r.params["max_numnodes"] == 1024
    assert r.status is Status.PROVED and r.seconds <= 10


def test_vacuous_assumptions_are_not_a_proof():
    x = z3.BitVec("x", 8)
    q = Query("contradiction", [z3.ULT(x, 3), z3.UGT(x, 5)], {"anything": x == 4})
    r = prove_queries("vacuous", {}, [q])
    assert r.status is Status.UNKNOWN
    assert r.assumptions_satisfiable is False and not r.vacuity
    assert "vacuous" in r.reason


def test_timeout_is_unknown_never_proved():
    r = THEOREMS_BY_NAME["split_merge_preserve"].prove(timeout_s=0.001)
    assert r.status is Status.UNKNOWN


def test_result_json_shape():
    d = THEOREMS_BY_NAME["gfp_zone_eligibility"].prove().to_json()
    assert d["status"] == "proved" and d["name"] == "gfp_zone_eligibility"
    assert isinstance(d["seconds"], float) and d["vacuity"] is True


# ---- broken models are refuted, with decoded counterexamples ------------------------------------------
def test_buddy_computed_with_plus_is_refuted():
    r = THEOREMS_BY_NAME["buddy_arithmetic"].prove(find_buddy=lambda pfn, o: pfn + (z3.BitVecVal(1, 64) << o))
    assert r.status is Status.REFUTED
    cex = r.counterexample
    assert "buddy of the buddy is the block" in cex["failed"]
    pfn, order = int(cex["pfn"], 16), cex["order"]
    # decoded values are a real counterexample: with +, the buddy's buddy is pfn + 2^(order+1), not pfn
    assert pfn % (1 << order) == 0 and order < 10
    assert int(cex["buddy"], 16) == pfn + (1 << order)


def test_merge_with_or_is_refuted():
    r = THEOREMS_BY_NAME["split_merge_preserve"].prove(zone_pages=16, max_order=3, combine=lambda q, b: q | b)
    assert r.status is Status.REFUTED
    cex = r.counterexample
    assert cex["query"].startswith("merge") and "buddy_alignment" in cex["failed"]
    assert all(p < 16 for p, _ in cex["free blocks after"])


def test_merge_that_keeps_the_buddy_listed_is_refuted():
    r = THEOREMS_BY_NAME["split_merge_preserve"].prove(zone_pages=16, max_order=3, remove_buddy=False)
    assert r.status is Status.REFUTED and "no_overlap" in r.counterexample["failed"]


def test_next_node_in_that_can_stay_put_is_refuted():
    def stays(c, r, m, w, forall=T.forall_nodes):  # ">= cursor" instead of "> cursor"
        def none_in(pred):
            return forall(lambda i: z3.Implies(z3.And(0 <= i, i < w, pred(i)), z3.Not(m(i))))
        return z3.And(0 <= r, r < w, m(r), z3.Or(z3.And(c <= r, none_in(lambda i: z3.And(c <= i, i < r))),
                                                  z3.And(r < c, none_in(lambda i: z3.Or(i >= c, i < r)))))
    r = THEOREMS_BY_NAME["interleave_fairness"].prove(next_node=stays)
    assert r.status is Status.REFUTED
    assert r.counterexample["failed"]


def test_gfp_zone_table_with_a_wrong_entry_is_refuted():
    def wrong(bits, has_dma, has_dma32, has_highmem):
        z, bad = T.gfp_zone_lookup(bits, has_dma, has_dma32, has_highmem)
        return z3.If(bits == 0xC, z3.BitVecVal(ZONE_NORMAL, 64), z), bad  # MOVABLE|DMA32 would get Normal
    r = THEOREMS_BY_NAME["gfp_zone_eligibility"].prove(lookup=wrong)
    assert r.status is Status.REFUTED
    assert r.counterexample["zone bits"] == "0xc" and r.counterexample["has_dma32"] is True


def test_fast_path_without_hardwall_is_refuted(monkeypatch):
    def no_hardwall(node, has_mask, mask, cpusets, mems, in_interrupt, oom_victim):
        return z3.Or(z3.Not(has_mask), T.member(mask, node))  # forgets the cpuset
    monkeypatch.setattr(T, "fast_path_allows", no_hardwall)
    r = THEOREMS_BY_NAME["policy_nodemask_cpuset"].prove()
    assert r.status is Status.REFUTED
    cex = r.counterexample
    assert cex["cpusets enabled"] is True and cex["node"] not in cex["mems_allowed"]


def test_zonelist_walk_ignoring_the_nodemask_is_refuted():
    def no_mask(entries, high, nodes, has_nodes):
        return T.zonelist_walk(entries, high, nodes, z3.BoolVal(False))  # __next_zones_zonelist without the node test
    r = THEOREMS_BY_NAME["zonelist_nodemask"].prove(zonelist_len=4, walk=no_mask)
    assert r.status is Status.REFUTED
    cex = r.counterexample
    assert cex["has nodemask"] is True
    assert "every zone yielded has its node in the nodemask and its index <= high_zoneidx" in cex["failed"]
    yielded = [cex["zonelist"][c] for c in cex["cursors"] if c < 4]
    if all(isinstance(b, int) for b in cex["nodemask"]):  # the decoded mask is not cut short
        assert any(node not in cex["nodemask"] for node, _ in yielded)


# ---- the encodings are the model's functions -------------------------------------------------------------
def test_find_buddy_encoding_matches_the_model_on_1000_inputs():
    m = Kernel419(preset("buddy-core", pages=16, max_order=4))
    rng = random.Random(1)
    pfn, order = z3.BitVec("pfn", 64), z3.BitVec("order", 64)
    term = T.find_buddy_pfn(pfn, order)
    for _ in range(1000):
        o = rng.randrange(11)
        p = rng.randrange(1 << 64) & ~((1 << o) - 1)
        got = fixed(z3.substitute(term, (pfn, z3.BitVecVal(p, 64)), (order, z3.BitVecVal(o, 64))))
        assert got == m.__find_buddy_pfn(p, o)


def _forall_over(positions):
    return lambda body: z3.And([body(z3.IntVal(i)) for i in sorted(positions)])


def _relation(cursor, r, mask, w, positions):
    return T.next_node_in(z3.IntVal(cursor), z3.IntVal(r), lambda i: z3.BoolVal(i.as_long() in mask), z3.IntVal(w),
                          _forall_over(positions))


@pytest.mark.parametrize("count", [120, pytest.param(1200, marks=pytest.mark.slow)])
def test_next_node_in_relation_matches_the_model(count):
    """The relation holds for the model's answer and fails for another node of the mask or the cursor.

    Its quantified statements say "no node of the mask in ...": an instance at a position outside the mask
    is true whatever the guard, so the check enumerates the mask's nodes, the cursor's and result's
    neighbours, both ends and a few random positions (test_..._full_enumeration checks all positions).
    """
    rng = random.Random(2)
    for k in range(count):
        w = (8, 64, 1024)[k % 3]
        mask = frozenset(rng.sample(range(w), rng.randint(1, min(w, 6))))
        cursor = rng.randrange(w)
        want = model_next_node_in(cursor, mask, w)
        near = {x for c in (cursor, want) for x in (c - 1, c, c + 1) if 0 <= x < w}
        positions = set(mask) | near | {0, w - 1} | {rng.randrange(w) for _ in range(6)}
        assert fixed(_relation(cursor, want, mask, w, positions)) is True, (cursor, sorted(mask), want)
        others = sorted((mask | {cursor}) - {want})
        if others:
            other = rng.choice(others)
            assert fixed(_relation(cursor, other, mask, w, positions)) is False, (cursor, sorted(mask), other)


def test_next_node_in_relation_full_enumeration():
    rng = random.Random(7)
    for _ in range(40):
        w = 8
        mask = frozenset(rng.sample(range(w), rng.randint(1, 5)))
        cursor = rng.randrange(w)
        want = model_next_node_in(cursor, mask, w)
        for r in range(w):
            assert fixed(_relation(cursor, r, mask, w, range(w))) is (r == want)


def test_gfp_zone_encoding_matches_the_model_on_every_combination_and_1000_masks():
    rng = random.Random(3)
    bits = z3.BitVec("b", 64)
    flags = z3.Bools("d d32 h")
    configs = []
    for mask in range(8):
        has = (bool(mask & 1), bool(mask & 2), bool(mask & 4))
        configured = {ZONE_NORMAL, ZONE_MOVABLE} | {z for z, on in zip((ZONE_DMA, ZONE_DMA32, ZONE_HIGHMEM), has) if on}
        configs.append((has, frozenset(configured)))
    inputs = [(b, c) for b in range(16) for c in configs] + [(rng.randrange(1 << 23), rng.choice(configs))
                                                            for _ in range(1000)]
    z, bad = T.gfp_zone_lookup(bits, *flags)
    for gfp, (has, configured) in inputs:
        subst = [(bits, z3.BitVecVal(gfp & 0xF, 64))] + [(f, z3.BoolVal(v)) for f, v in zip(flags, has)]
        is_bad = fixed(z3.substitute(bad, *subst))
        try:
            want = gfp_zone(gfp, configured)
        except InvalidGfpZone:
            assert is_bad
            continue
        assert not is_bad and fixed(z3.substitute(z, *subst)) == want


class _Zone:
    def __init__(self, nid, idx):
        self.nid, self.idx = nid, idx


@pytest.mark.parametrize("count", [300, pytest.param(1000, marks=pytest.mark.slow)])
def test_zonelist_walk_matches_the_model_iterator(count):
    m = Kernel419(preset("buddy-core", pages=16, max_order=4))
    rng = random.Random(4)
    n = 6
    entries = [(z3.BitVec(f"n{i}", T.NODE_BITS), z3.BitVec(f"z{i}", T.ZONE_BITS)) for i in range(n)]
    nodes, has_nodes, high = z3.BitVec("mask", 1024), z3.Bool("has"), z3.BitVec("high", T.ZONE_BITS)
    cursors, _ = T.zonelist_walk(entries, high, nodes, has_nodes)
    for _ in range(count):
        zl = [(rng.choice((0, 1, 7, 1023)), rng.randrange(5)) for _ in range(n)]
        mask = frozenset(rng.sample((0, 1, 7, 1023), rng.randint(0, 4))) if rng.random() < 0.7 else None
        hi = rng.randrange(5)
        refs = [Zoneref(_Zone(a, b)) for a, b in zl] + [Zoneref(None)]
        want = [(z.nid, z.idx) for z in m.zonelist_zones(refs, hi, mask)]
        subst = [(high, z3.BitVecVal(hi, T.ZONE_BITS)), (has_nodes, z3.BoolVal(mask is not None)),
                 (nodes, z3.BitVecVal(sum(1 << b for b in (mask or ())), 1024))]
        for (nv, zv), (a, b) in zip(entries, zl):
            subst += [(nv, z3.BitVecVal(a, T.NODE_BITS)), (zv, z3.BitVecVal(b, T.ZONE_BITS))]
        got = [zl[c] for c in (fixed(z3.substitute(c, *subst)) for c in cursors) if c < n]
        assert got == want


def test_policy_nodemask_encoding_matches_the_model_on_1000_inputs():
    from buddycheck.model.mempolicy import N_HIGH_MEMORY, Mempolicy
    m = Kernel419(preset("numa2"))
    rng = random.Random(5)
    w = 1024
    mode, pol, mems, hm = z3.BitVec("mode", 8), z3.BitVec("pol", w), z3.BitVec("mems", w), z3.BitVec("hm", w)
    pz, zone = z3.BitVec("pz", T.ZONE_BITS), z3.BitVec("zone", T.ZONE_BITS)
    applies, _ = T.policy_nodemask(mode, pol, hm, pz, zone, mems)
    pool = (0, 1, 2, 5, 63, 1023)
    gfps = (0, 0x1, 0x2, 0x4, 0x8, 0xA, 0xC)
    for _ in range(1000):
        md = rng.randrange(5)
        nodes = frozenset(rng.sample(pool, rng.randint(1, 3)))
        allowed = frozenset(rng.sample(pool, rng.randint(1, 3)))
        high_memory = frozenset(rng.sample(pool, rng.randint(0, 3)))
        m.policy_zone = rng.choice((ZONE_DMA, ZONE_DMA32, ZONE_NORMAL))
        m.__dict__.setdefault("_node_states_cache", {})[N_HIGH_MEMORY] = high_memory
        m.current = Current(cpu=0, task=Task(0, allowed), all_nodes=frozenset(pool))
        gfp = rng.choice(gfps)
        z = gfp_zone(gfp, m.topology.configured_zones)
        want = m.policy_nodemask(gfp, Mempolicy(md, nodes=nodes)) is not None

        def bvs(s):
            return z3.BitVecVal(sum(1 << b for b in s), w)
        got = fixed(z3.substitute(applies, (mode, z3.BitVecVal(md, 8)), (pol, bvs(nodes)), (mems, bvs(allowed)),
                                  (hm, bvs(high_memory)), (pz, z3.BitVecVal(m.policy_zone, T.ZONE_BITS)),
                                  (zone, z3.BitVecVal(z, T.ZONE_BITS))))
        assert got == want, (md, nodes, allowed, high_memory, m.policy_zone, gfp)


def _bits(m, zone, n, mo):
    free = [0] * mo
    alloc = [0] * mo
    for pfn, order, _ in m.free_blocks(zone):
        free[order] |= 1 << pfn
    for pfn, (order, _, _) in m.allocated.items():
        alloc[order] |= 1 << pfn
    return free, alloc


def test_expand_and_free_transitions_match_the_model_on_1000_steps():
    """Each model step on buddy-core(64 pages, MAX_ORDER 4) is a transition the Z3 relation allows."""
    n, mo = 64, 4
    m = Kernel419(preset("buddy-core", pages=n, max_order=mo))
    zone = m.zones()[0]
    pre, post = T.ZoneBits("a", n, mo), T.ZoneBits("b", n, mo)
    p = z3.BitVec("p", n)
    splits = {(lo, hi): T.expand_transition(pre, post, p, lo, hi) for hi in range(mo) for lo in range(hi + 1)}
    frees = {o: T.free_transition(pre, post, p, o) for o in range(mo)}
    inv = z3.And(list(T.zone_invariants(post).values()))
    rng = random.Random(6)
    checked = 0
    while checked < 1000:
        f0, a0 = _bits(m, zone, n, mo)
        if m.allocated and rng.random() < 0.45:
            page = rng.choice(sorted(m.allocated))
            order = m.allocated[page][0]
            m.free(page)
            rels = [(frees[order], page)]
        else:
            order = rng.randrange(mo)
            r = m.alloc(0, order=order)
            if not r.ok:
                continue
            rels = [(splits[(order, hi)], r.page) for hi in range(order, mo)]
        f1, a1 = _bits(m, zone, n, mo)
        subst = [(v, z3.BitVecVal(x, n)) for v, x in zip(pre.free + pre.alloc + post.free + post.alloc,
                                                          f0 + a0 + f1 + a1)]
        assert any(fixed(z3.substitute(rel, *(subst + [(p, z3.BitVecVal(page, n))]))) for rel, page in rels)
        assert fixed(z3.substitute(inv, *subst))
        checked += 1
