"""thp_node and interleave_cursor (spec/operation_invariants.py) and the one catalogue the default check judges."""

from buddycheck.checks.properties import all_properties
from buddycheck.model.mempolicy import MPOL_F_LOCAL, MPOL_PREFERRED, Mempolicy
from buddycheck.model.task import Task
from buddycheck.spec.invariants import BY_NAME
from buddycheck.spec.operation_invariants import INTERLEAVE_CURSOR, THP_NODE


def test_the_default_properties_include_the_moved_invariants():
    names = {p.name for p in all_properties()}
    assert {"highatomic_reserve_exact", "thp_node", "interleave_cursor", "highatomic_accounting"} <= names
    assert "highatomic_reserve_exact" in BY_NAME


def _task(policy):
    t = Task(3, {0, 1})
    t.mempolicy = policy
    return t


def test_thp_node_judges_the_policys_node():
    preferred = _task(Mempolicy(MPOL_PREFERRED, preferred_node=1))
    assert THP_NODE.check(preferred, None, 0, 3, 0x40, 1) == []
    (v,) = THP_NODE.check(preferred, None, 0, 3, 0x40, 0)
    assert v.invariant == "thp_node" and v.values == {"node": 0, "target": 1}
    local = _task(Mempolicy(MPOL_PREFERRED, flags=MPOL_F_LOCAL))
    assert THP_NODE.check(local, None, 0, 3, 0x40, 0) == [] and THP_NODE.check(local, None, 0, 3, 0x40, 1)


def test_interleave_cursor_allows_only_the_tasks_own_operation():
    assert INTERLEAVE_CURSOR.check({0: 1, 1: 1}, {0: 1, 1: 0}, 1, "op") == []
    (v,) = INTERLEAVE_CURSOR.check({0: 1, 1: 1}, {0: 0, 1: 1}, 1, "m.set_cpuset(...)")
    assert v.values == {"task": 0} and "went from 1 to 0" in v.message and "m.set_cpuset(...)" in v.message
    assert INTERLEAVE_CURSOR.check({0: 1}, {0: 1, 5: 2}, None, "op") == []  # a new task has no cursor to keep
