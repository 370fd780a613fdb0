"""State views built from frozen states: equal to the view of the restored machine, memoized per state.

view_of(m) is view_from_frozen(static_view(m), m.freeze()): a view of any state the machine reached
can be built later without restoring it, and the properties (checks/properties.py) memoize views by
frozen state and judge the state they are given as `after`, not the live machine.
"""

import random

from test_invariant_agreement import machine, random_step

from buddycheck.checks.ops import Alloc
from buddycheck.checks.properties import ViewCache, all_properties, state_properties
from buddycheck.model import gfp as G
from buddycheck.spec.invariants import STATE_INVARIANTS
from buddycheck.spec.view import static_view, view_from_frozen, view_of


def run(name, seed, steps=40):
    """The frozen states of a random run, and the machine at its end."""
    m = machine(name)
    rng = random.Random(seed)
    states = [m.freeze()]
    for _ in range(steps):
        random_step(m, rng)
        states.append(m.freeze())
    return m, states


def test_a_view_of_a_past_state_equals_the_view_after_restoring_it():
    for seed, name in enumerate(("numa2", "buddy-core", "x86-64-1g")):
        m, states = run(name, seed)
        end = m.freeze()
        replay = type(m)(m.topology)
        for s in states[::5]:
            replay.restore(s)
            assert view_from_frozen(static_view(m), s) == view_of(replay)
        assert m.freeze() == end  # building views never touched the machine


def test_the_boot_time_part_is_built_once_per_machine():
    m, _ = run("numa2", 1, steps=5)
    assert static_view(m) is static_view(m)
    assert static_view(m) is not static_view(machine("numa2"))


def test_a_state_reached_again_is_viewed_once():
    m, states = run("numa2", 2)
    cache = ViewCache()
    again = type(m)(m.topology)
    again.restore(states[10])
    equal_not_same = again.freeze()
    assert equal_not_same == states[10] and equal_not_same is not states[10]
    first = cache.view_of_state(m, states[10])
    cache.view_of_state(m, states[11])
    assert cache.view_of_state(m, equal_not_same) is first


def test_the_cache_is_bounded():
    m, states = run("numa2", 3)
    distinct = list(dict.fromkeys(states))[:3]
    assert len(distinct) == 3
    cache = ViewCache(size=2)
    first = cache.view_of_state(m, distinct[0])
    cache.view_of_state(m, distinct[1])
    cache.view_of_state(m, distinct[2])  # pushes the first state's view out
    again = cache.view_of_state(m, distinct[0])
    assert again == first and again is not first


def test_properties_judge_the_state_given_as_after():
    m = machine("numa2")
    before = m.freeze()
    op = Alloc(G.GFP_KERNEL, 0)
    result = op.apply(m)
    after = m.freeze()
    props = all_properties()
    given = {p.name: p.violations(before, op, result, m, after=after) for p in props}
    assert given == {p.name: p.violations(before, op, result, m) for p in all_properties()}
    assert not any(given.values())
    # a frozen state whose first zone miscounts NR_FREE_PAGES: judged as given, whatever the machine holds
    zone = after.zones[0]
    broken = after._replace(zones=(zone._replace(nr_free_pages=zone.nr_free_pages + 1),) + after.zones[1:])
    accounting = [p for p in state_properties(STATE_INVARIANTS) if p.name == "free_accounting"]
    assert accounting and accounting[0].violations(before, op, result, m, after=broken)
    assert accounting[0].violations(before, op, result, m) == []
