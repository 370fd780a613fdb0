"""Theorems: each proves, checks its vacuity, is refuted for a broken model with a readable counterexample,
and its Z3 encoding agrees with the model's Python function on at least a thousand inputs."""

import random
from pathlib import Path

import pytest
import z3

from buddycheck.model import Kernel419
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.nodemask import next_node_in as model_next_node_in
from buddycheck.spec import comparisons as C
from buddycheck.spec import theorems as T
from buddycheck.spec.invariants import STATE_INVARIANTS
from buddycheck.spec.progress import PROGRESS_INVARIANTS
from buddycheck.spec.steps import INTERLEAVE_FAIRNESS, STEP_INVARIANTS
from buddycheck.spec.theorems import THEOREMS, THEOREMS_BY_NAME, Query, Status, prove_queries


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



# ---- which invariants each theorem backs --------------------------------------------------------------
INVARIANT_NAMES = {inv.name for inv in (*STATE_INVARIANTS, *STEP_INVARIANTS, INTERLEAVE_FAIRNESS, *PROGRESS_INVARIANTS)}


@pytest.mark.parametrize("theorem", THEOREMS, ids=lambda t: t.name)
def test_every_invariant_a_theorem_establishes_is_in_the_catalogue(theorem):
    assert isinstance(theorem.establishes, tuple)
    assert len(set(theorem.establishes)) == len(theorem.establishes)
    assert set(theorem.establishes) <= INVARIANT_NAMES, set(theorem.establishes) - INVARIANT_NAMES


@pytest.mark.parametrize("invariant", [*STEP_INVARIANTS, INTERLEAVE_FAIRNESS], ids=lambda i: i.name)
def test_a_step_invariants_z3_side_names_exactly_the_theorems_that_establish_it(invariant):
    z3_side = {name.strip() for name in invariant.z3_side.split(",") if name.strip()}
    assert z3_side == {t.name for t in THEOREMS if invariant.name in t.establishes}


def test_the_invariants_doc_table_says_which_invariants_each_theorem_backs():
    text = (Path(__file__).parent.parent / "docs" / "invariants.md").read_text()
    table = text.split("| theorem | establishes |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()]
    assert {name: tuple(filter(None, (n.strip() for n in names.split(",")))) for name, names in rows} == \
        {t.name: t.establishes for t in THEOREMS}


def test_split_merge_establishes_exactly_the_invariants_its_queries_claim():
    queries = THEOREMS_BY_NAME["split_merge_preserve"].build(zone_pages=8, max_order=2)
    claimed = {name for q in queries for name in q.claims}
    assert set(THEOREMS_BY_NAME["split_merge_preserve"].establishes) == claimed

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


# ---- the encodings are the model's functions (the comparisons of spec/comparisons.py, on Kernel419) ------
def _all_agree(cases):
    count = 0
    for case in cases:
        assert case.agrees, case
        count += 1
    return count


def test_find_buddy_encoding_matches_the_model_on_1000_inputs():
    assert _all_agree(C.find_buddy_cases(Kernel419, 1000)) == 1000


@pytest.mark.parametrize("count", [120, pytest.param(1200, marks=pytest.mark.slow)])
def test_next_node_in_relation_matches_the_model(count):
    """The relation holds for the model's interleave choice (which becomes il_prev); it fails for another
    node of the mask or the cursor, so it pins the choice down.

    Its quantified statements say "no node of the mask in ...": an instance at a position outside the mask
    is true whatever the guard, so the check enumerates the mask's nodes, the cursor's and result's
    neighbours, both ends and a few random positions (test_..._full_enumeration checks all positions).
    """
    assert _all_agree(C.interleave_cases(Kernel419, count)) == count
    rng = random.Random(2)
    for k in range(count):
        w = (8, 64, 1024)[k % 3]
        mask = frozenset(rng.sample(range(w), rng.randint(1, min(w, 6))))
        cursor = rng.randrange(w)
        want = model_next_node_in(cursor, mask, w)
        positions = C.interleave_positions(rng, cursor, want, mask, w)
        others = sorted((mask | {cursor}) - {want})
        if others:
            other = rng.choice(others)
            assert C.fixed(C.next_node_relation(cursor, other, mask, w, positions)) is False, (cursor, sorted(mask))


def test_next_node_in_relation_full_enumeration():
    rng = random.Random(7)
    for _ in range(40):
        w = 8
        mask = frozenset(rng.sample(range(w), rng.randint(1, 5)))
        cursor = rng.randrange(w)
        want = model_next_node_in(cursor, mask, w)
        for r in range(w):
            assert C.fixed(C.next_node_relation(cursor, r, mask, w, range(w))) is (r == want)


def test_gfp_zone_encoding_matches_the_model_on_every_combination_and_1000_masks():
    assert _all_agree(C.gfp_zone_cases(1000)) == 16 * 8 + 1000


@pytest.mark.parametrize("count", [300, pytest.param(1000, marks=pytest.mark.slow)])
def test_zonelist_walk_matches_the_model_iterator(count):
    assert _all_agree(C.zonelist_cases(Kernel419, count)) == count


def test_policy_nodemask_encoding_matches_the_model_on_1000_inputs():
    assert _all_agree(C.policy_nodemask_cases(Kernel419, 1000)) == 1000


def test_cpuset_gate_matches_fast_path_allows_on_every_combination():
    assert _all_agree(C.cpuset_gate_cases(Kernel419)) == 2 * 3 * 8


def test_fast_path_matches_fast_path_allows_on_every_combination():
    assert _all_agree(C.fast_path_cases(Kernel419)) == 2 * 4 * 3 * 8


def test_expand_and_free_transitions_match_the_model_on_1000_steps():
    """Each model step on buddy-core(64 pages, MAX_ORDER 4) is a transition the Z3 relation allows,
    and the state after it satisfies the zone invariants as the encoding states them."""
    post = T.ZoneBits("b", C.TRANSITION_PAGES, C.TRANSITION_MAX_ORDER)
    inv = z3.And(list(T.zone_invariants(post).values()))
    count = 0
    for case in C.transition_cases(Kernel419, 1000):
        assert case.agrees, case
        assert C.fixed(inv, case.subst)
        count += 1
    assert count == 1000
