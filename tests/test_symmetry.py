"""Symmetry reduction: exchanging whole MAX_ORDER units of a zone (model/symmetry.py, explore --symmetry).

Four things must hold for the reduction to be exact:
- the canonical form is constant on an orbit and tells orbits apart (checked against every
  permutation of the units);
- the model is equivariant: the successor of a relabelled state is the relabelled successor;
- the explorer's orbit counts, depths and transitions equal those of the independent brute force,
  whose orbit key is the smallest image over all n! relabellings;
- a model that treats units differently is caught by the audit, and alphabets naming pfns are refused.
"""

import itertools
import random

import pytest
from brute_buddy import BruteBuddy
from planted_models import PLANTED

from buddycheck.checks.cli import main
from buddycheck.checks.explore import Explorer, SymmetryBroken
from buddycheck.checks.ops import Alloc, Fault, Mmap, Munmap
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenarios import buddy_core, scenario
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.model.symmetry import UnitSymmetry


def walk_states(sc, count, steps, seed):
    """Frozen states met on random walks through the scenario's alphabet."""
    rng = random.Random(seed)
    m = sc.initial()
    init = m.freeze()
    states = []
    for _ in range(count):
        m.restore(init)
        for _ in range(rng.randrange(steps + 1)):
            rng.choice(sc.actions(m)).apply(m)
        states.append(m.freeze())
    return m, states


def all_unit_maps(sym):
    """Every relabelling: a permutation of each group's units, combined over the groups."""
    per_group = [list(itertools.permutations(units)) for units in sym.groups]
    for choice in itertools.product(*per_group):
        yield {old: new for units, perm in zip(sym.groups, choice) for old, new in zip(units, perm) if old != new}


def core(pages, max_order, orders):
    return Scenario("core", preset("buddy-core", pages=pages, max_order=max_order),
                    allocs=tuple(Alloc(G.GFP_KERNEL, o) for o in orders), depth=1000)


SCENARIOS = {
    "buddy-core 24/4 orders 1-3": lambda: core(24, 4, (1, 2, 3)),
    "buddy-core 20/4 orders 0-2 (pcp lists, a partial unit)": lambda: core(20, 4, (0, 1, 2)),
    "numa2-kernel": lambda: scenario("numa2-kernel"),
    "numa2-policy": lambda: scenario("numa2-policy"),
    # page tables hold pfns: relabelling moves the mapped pages with their units
    "numa2-faults": lambda: Scenario("faults", preset("numa2"), extra_ops=(
        Fault(0x100000), Fault(0x101000, cpu=1), Fault(0x102000, write=False), Munmap(0x100000, 0x2000)),
        setup=(Mmap(0x100000, 0x4000),), depth=1000),
}


# ---- the canonical form ---------------------------------------------------------------------

def test_units_are_the_whole_max_order_blocks_of_each_zone():
    sym = UnitSymmetry(core(20, 4, (1,)).initial())
    assert (sym.unit_pages, sym.groups) == (8, [(0, 1)])  # pfns 16..19 are not a whole unit
    assert UnitSymmetry(core(12, 4, (1,)).initial()).trivial


@pytest.mark.parametrize("name", [name for name in SCENARIOS if name.startswith("buddy-core")])
def test_relabelling_by_the_identity_changes_nothing(name):
    sc = SCENARIOS[name]()
    m, states = walk_states(sc, 30, 8, seed=1)
    sym = UnitSymmetry(m)
    assert all(sym.relabel(s, {}) == s for s in states)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_canonical_form_is_the_same_for_every_relabelling(name):
    sc = SCENARIOS[name]()
    m, states = walk_states(sc, 40, 10, seed=2)
    sym = UnitSymmetry(m)
    maps = list(all_unit_maps(sym))
    if len(maps) > 48:
        maps = random.Random(3).sample(maps, 48)
    for s in states:
        c = sym.canonical(s)
        assert sym.canonical(c) == c
        for unit_map in maps:
            assert sym.canonical(sym.relabel(s, unit_map)) == c


def test_canonical_forms_differ_exactly_between_orbits():
    sc = core(24, 4, (1, 2, 3))
    m, states = walk_states(sc, 60, 12, seed=4)
    sym = UnitSymmetry(m)
    maps = list(all_unit_maps(sym))
    rng = random.Random(5)
    pool = states + [sym.relabel(s, rng.choice(maps)) for s in states]
    same_orbit_pairs = 0
    for a, b in itertools.combinations(pool, 2):
        related = any(sym.relabel(a, unit_map) == b for unit_map in maps)
        assert (sym.canonical(a) == sym.canonical(b)) == related
        same_orbit_pairs += related
    assert same_orbit_pairs >= len(states)  # the pool really holds relabelled pairs


# ---- the model is equivariant ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_successor_of_a_relabelled_state_is_the_relabelled_successor(name):
    sc = SCENARIOS[name]()
    m, states = walk_states(sc, 25, 10, seed=6)
    sym = UnitSymmetry(m)
    swaps = sym.swaps()
    checked = 0
    for s in states:
        m.restore(s)
        for op in sc.actions(m):
            for unit_map in swaps:
                m.restore(s)
                op.apply(m)
                after = m.freeze()
                m.restore(sym.relabel(s, unit_map))
                op.relabel(sym.pfn_map(unit_map)).apply(m) if hasattr(op, "relabel") else op.apply(m)
                assert m.freeze() == sym.relabel(after, unit_map), f"{op.code()} under {unit_map}"
                checked += 1
    assert checked > 100


# ---- the explorer against the brute force ----------------------------------------------------

def orbit_counts(pages, max_order, lo, hi):
    sc = core(pages, max_order, range(lo, hi + 1))
    sc.symmetry = True
    r = Explorer(sc).audit_every(1).run()
    assert r.complete and not r.violations
    b = BruteBuddy(pages, max_order).explore(range(lo, hi + 1), symmetric=True)
    return (r.reachable_states, r.depth, r.transitions), (b.states, b.depth, b.transitions), r


@pytest.mark.parametrize("pages, max_order, lo, hi", [
    (16, 4, 1, 3), (12, 3, 1, 2), (16, 3, 1, 2), (8, 3, 0, 2), (10, 2, 0, 1), (13, 3, 1, 2), (6, 2, 0, 1),
])
def test_orbit_counts_equal_the_brute_force(pages, max_order, lo, hi):
    ours, theirs, report = orbit_counts(pages, max_order, lo, hi)
    assert ours == theirs
    assert report.audited == report.transitions  # every transition was re-run on relabelled units


@pytest.mark.slow
@pytest.mark.parametrize("pages, max_order, lo, hi", [(20, 4, 1, 3), (12, 3, 0, 2)])
def test_orbit_counts_equal_the_brute_force_larger(pages, max_order, lo, hi):
    ours, theirs, _ = orbit_counts(pages, max_order, lo, hi)
    assert ours == theirs


def test_the_quoted_figures():
    # 16 pages, MAX_ORDER 4, orders 1-3: 1829 states without symmetry; two units halve it, nearly
    ours, _, _ = orbit_counts(16, 4, 1, 3)
    assert ours == (917, 12, 6326)


@pytest.mark.slow
def test_orbit_counts_of_the_24_page_target():
    ours, theirs, _ = orbit_counts(24, 4, 1, 3)
    assert ours == theirs == (38352, 18, 338778)


# ---- violations are still found, and found real -----------------------------------------------

@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bugs_are_caught_at_the_same_length_under_symmetry(name):
    model, make, invariant, length = PLANTED[name]
    sc = make().with_model(model)
    sc.symmetry = True
    report = Explorer(sc).check(*all_properties()).all_violations().depth(length).run()
    assert report.reductions, "the scenario has exchangeable units"
    found = {v.invariant: v for v in report.violations}
    assert found[invariant].length == length
    props = [p for p in all_properties() if p.name == invariant]
    again = replay(sc, found[invariant].trace, props, strict=False).violation_of(invariant)
    assert again is not None and again.length == length


# ---- what the reduction refuses or catches ---------------------------------------------------

FirstUnitFirst = Kernel419.variant("first-unit-first", "allocation prefers a block of the first unit on the list")


@FirstUnitFirst.override
def __rmqueue_smallest(k, zone, order, migratetype):
    # every invariant still holds; only which listed block is taken depends on where it lies
    for current_order in range(order, k.MAX_ORDER):
        area = zone.free_area[current_order]
        lst = area.free_list[migratetype]
        if lst:
            page = min(lst, key=lambda pfn: pfn >= (1 << (k.MAX_ORDER - 1)))
            lst.remove(page)
            del k.page_buddy[page]
            area.nr_free -= 1
            k.expand(zone, page, order, current_order, migratetype)
            k.set_pcppage_migratetype(page, migratetype)
            return page
    return None


def test_the_audit_catches_a_model_that_treats_units_differently():
    sc = buddy_core(16, 4, (1, 3)).with_model(FirstUnitFirst)
    sc.symmetry = False
    assert Explorer(sc).check(*all_properties()).run().violations == []  # no invariant sees it
    sc.symmetry = True
    with pytest.raises(SymmetryBroken, match=r"does not treat units \[0, 1\] alike"):
        Explorer(sc).audit_every(1).run()


def test_the_cli_reports_a_broken_symmetry_with_exit_status_2(capsys):
    code = main(["explore", "--preset", "buddy-core", "--pages", "16", "--orders", "1-3", "--symmetry",
                 "--model", f"{__name__}:FirstUnitFirst"])
    assert code == 2
    assert "does not treat units [0, 1] alike" in capsys.readouterr().err


def test_isolation_ranges_refuse_symmetry(capsys):
    assert main(["explore", "--preset", "numa2-isolation", "--symmetry", "--depth", "1"]) == 2
    err = capsys.readouterr().err
    assert "--symmetry: isolation ranges name pfns" in err


def test_the_report_says_what_was_reduced(capsys):
    assert main(["explore", "--preset", "buddy-core", "--pages", "16", "--symmetry"]) == 0
    out = capsys.readouterr().out
    assert "917 distinct states" in out
    assert "symmetry: interchangeable 8-page units per zone (2)" in out


def test_the_json_report_names_the_reduction_and_the_audits(capsys):
    import json

    assert main(["explore", "--preset", "buddy-core", "--pages", "16", "--symmetry", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["reachable_states"] == 917 and doc["complete"] is True
    assert doc["reductions"] == ["symmetry: interchangeable 8-page units per zone (2)"]
    assert 6326 / 32 * 0.75 < doc["symmetry_audits"] < 6326 / 32 * 1.5  # about one transition in 32, by default
