"""Level.judged_for: which properties the explorer asks about an operation, from what the operation declares."""

from buddycheck.checks.level import Level
from buddycheck.checks.ops import Alloc, AllocPages, AllocVma, Drain, Free
from buddycheck.checks.properties import all_properties


def names(level, kind):
    return [name for _, name, _, _ in level.judged_for(kind)]


def test_a_free_is_judged_by_the_state_invariants_and_the_cursor_rule_only():
    props = all_properties()
    level = Level(None, None, props, keys=None)
    judged = names(level, Free)
    per_state = [p.name for p in props if p.per_state]
    assert judged[:len(per_state)] == per_state  # the caller's order is kept
    assert judged[len(per_state):] == ["interleave_cursor"]
    assert names(level, Drain) == judged


def test_step_judged_allocations_are_judged_by_the_step_invariants_and_alloc_progress():
    props = all_properties()
    level = Level(None, None, props, keys=None)
    judged = set(names(level, Alloc))
    steps = {p.name for p in props if type(p).__name__ == "StepInvariantProperty"}
    assert steps and steps <= judged
    assert "alloc_progress" in judged
    assert "interleave_fairness" not in judged and "thp_node" not in judged
    assert "interleave_fairness" in names(level, AllocPages)
    vma = set(names(level, AllocVma))
    assert "thp_node" in vma and not steps & vma  # alloc_pages_vma is not step-judged


def test_a_property_that_declares_nothing_judges_every_kind():
    class Anything:
        name, per_state = "anything", False

        def violations(self, before, op, result, m, after=None):
            return []

    level = Level(None, None, [Anything()], keys=None)
    assert names(level, Free) == names(level, Alloc) == ["anything"]
