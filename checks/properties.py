"""The explorer's view of spec/: each invariant as a property checked after every transition.

A property has a `name` and `violations(before, op, result, m) -> list[str]`; `before` is the frozen
state the operation started from and `m` the machine after it. The state view (spec/view.py) is
built once per transition and shared by every state invariant.
"""

from buddycheck.spec.invariants import STATE_INVARIANTS
from buddycheck.spec.view import view_of


class ViewCache:
    """One StateView per transition, keyed on the transition's result object (None: the initial state)."""

    def __init__(self):
        self._key = None
        self._view = None

    def view(self, m, result):
        if self._key is None or self._key[0] is not m or self._key[1] is not result:
            self._key = (m, result)
            self._view = view_of(m)
        return self._view


class StateInvariantProperty:
    """A spec state invariant, judged on each distinct state."""

    per_state = True

    def __init__(self, invariant, cache):
        self.invariant = invariant
        self.name = invariant.name
        self.cache = cache

    def violations(self, before, op, result, m):
        return [str(v) for v in self.invariant.check(self.cache.view(m, result))]


def state_properties(invariants=STATE_INVARIANTS):
    cache = ViewCache()
    return [StateInvariantProperty(inv, cache) for inv in invariants]


def all_properties():
    """Every invariant of the catalogue the explorer can check per transition."""
    props = state_properties()
    try:
        from buddycheck.spec.steps import step_properties
    except ImportError:
        return props
    return props + list(step_properties())
