"""Operations declare what they are (checks/ops/): a class defined here alone is coded, sorted, printed and judged.

`AllocNear` exists only in this module. Registering it is all it takes for the JSON codec to read
and write it, for the shrinker to order it by its declared rank and simplicity, for the printers
to write it (and the pinned test to import it by this file's path), and for scenarios to treat it
as allocating and as naming a pfn, because it says so.
"""

import json
import runpy
from dataclasses import dataclass

import pytest

from buddycheck.checks.explore import Explorer, Violation
from buddycheck.checks.naming import op_expr
from buddycheck.checks.ops import (
    OPERATIONS,
    Alloc,
    Drain,
    Free,
    GfpMask,
    Operation,
    config_check,
    gfp_code,
    nodes_code,
    operation,
    run_with_env,
    unregister,
    with_env,
)
from buddycheck.checks.printing import format_program, pytest_source
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.shrink import op_key, shrink
from buddycheck.checks.trace_error import TraceError
from buddycheck.checks.trace_json import op_from_dict, op_to_dict, trace_from_json, trace_to_json
from buddycheck.model import ConfigError, Environment, preset
from buddycheck.model import gfp as G
from buddycheck.model.environment import IDLE


@dataclass(frozen=True)
class AllocNear(Operation):
    """An allocation with a pfn hint the model ignores: made up, declared only in this module."""

    kind = "alloc_near"
    rank = -1  # simpler than every built-in kind
    allocates = True
    names_pfns = True

    gfp: GfpMask
    order: int
    hint: int
    cpu: int = 0
    nodes: frozenset | None = None
    env: Environment = IDLE

    def simplicity(self):
        return (self.hint,)

    def validate(self, m, where):
        config_check(self.hint >= 0, where, "hint", self.hint, "a pfn is not negative")

    def apply(self, m):
        return run_with_env(m, self.env, lambda: m.alloc(self.gfp, self.order, cpu=self.cpu, nodemask=self.nodes))

    def code(self, m="m"):
        mask = "" if self.nodes is None else f", nodemask={nodes_code(self.nodes)}"
        return with_env(f"{m}.alloc({gfp_code(self.gfp)}, {self.order}, cpu={self.cpu}{mask})", self.env, m)


@dataclass(frozen=True)
class NoteNear(AllocNear):
    """The same fields, declared as neither allocating nor naming a pfn."""

    kind = "note_near"
    allocates = False
    names_pfns = False


class AnythingAllocated:
    """Violated as soon as any block is allocated (so the first allocation is a counterexample)."""

    name = "nothing allocated"
    per_state = True

    def violations(self, before, op, result, m, after=None):
        return [f"blocks allocated at {sorted(m.allocated)}"] if m.allocated else []


NOTHING_ALLOCATED = AnythingAllocated()


@pytest.fixture
def registered():
    for cls in (AllocNear, NoteNear):
        operation(cls)
    yield
    for cls in (AllocNear, NoteNear):
        unregister(cls)


def buddy_scenario(*allocs, setup=()):
    return Scenario("near", preset("buddy-core", pages=16, max_order=4), allocs=allocs, setup=setup, depth=3,
                    params={"preset": "buddy-core", "pages": 16, "max_order": 4})


def test_a_declared_operation_round_trips_through_the_json_codec(registered):
    op = AllocNear(G.GFP_KERNEL | G.__GFP_NOWARN, 1, 8, nodes=frozenset({0}), env=Environment(dirty_ok=False))
    d = op_to_dict(op)
    assert d == {"kind": "alloc_near", "gfp": "GFP_KERNEL|__GFP_NOWARN", "order": 1, "hint": 8, "cpu": 0,
                 "nodes": [0], "env": {"dirty_ok": False}}
    assert op_from_dict(json.loads(json.dumps(d))) == op
    sc = buddy_scenario(op)
    trace = (op, Alloc(G.GFP_KERNEL, 0), AllocNear(G.GFP_KERNEL, 0, 3))
    doc = trace_from_json(trace_to_json(sc, Violation("x", "y", trace)))
    assert doc.ops == trace


def test_the_codec_reads_each_field_as_its_annotation_describes(registered):
    base = {"kind": "alloc_near", "gfp": "GFP_KERNEL", "order": 1, "hint": 8}
    with pytest.raises(TraceError, match=r"ops\[0\]\.hint = True: expected an integer$"):
        op_from_dict({**base, "hint": True}, "ops[0]")
    with pytest.raises(TraceError, match=r"op\.nodes = 'x': expected a list of node ids"):
        op_from_dict({**base, "nodes": "x"})
    with pytest.raises(TraceError, match=r"op\.gfp = \[1\]: expected a gfp mask"):
        op_from_dict({**base, "gfp": [1]})
    with pytest.raises(TraceError, match=r"op: 'alloc_near' needs the field 'hint'"):
        op_from_dict({"kind": "alloc_near", "gfp": "GFP_KERNEL", "order": 1})
    assert op_from_dict({**base, "nodes": None}).nodes is None  # `frozenset | None`: null is accepted


def test_an_operation_that_is_not_registered_is_unknown_to_the_codec():
    assert "alloc_near" not in OPERATIONS
    with pytest.raises(TraceError, match="unknown operation kind 'alloc_near'"):
        op_from_dict({"kind": "alloc_near", "gfp": "GFP_KERNEL", "order": 1, "hint": 8})
    with pytest.raises(TraceError, match="not one of the known kinds"):
        op_to_dict(AllocNear(G.GFP_KERNEL, 1, 8))


def test_the_registry_refuses_a_second_class_of_the_same_kind(registered):
    @dataclass(frozen=True)
    class Other(Operation):
        kind = "alloc_near"

    with pytest.raises(TypeError, match="already AllocNear's"):
        operation(Other)
    with pytest.raises(TypeError, match="dataclass subclass of Operation"):
        operation(type("Plain", (Operation,), {"kind": "plain"}))


def test_the_shrinker_orders_by_the_declared_rank_then_the_declared_simplicity():
    ops = [Free(0), Drain(), Alloc(G.GFP_KERNEL, 0), AllocNear(G.GFP_KERNEL, 0, 9), AllocNear(G.GFP_KERNEL, 0, 2)]
    assert sorted(ops, key=op_key) == [AllocNear(G.GFP_KERNEL, 0, 2), AllocNear(G.GFP_KERNEL, 0, 9),
                                       Alloc(G.GFP_KERNEL, 0), Free(0), Drain()]


def test_shrinking_replaces_a_declared_operation_by_a_simpler_one_of_its_kind(registered):
    sc = buddy_scenario(AllocNear(G.GFP_KERNEL, 1, 9), AllocNear(G.GFP_KERNEL, 1, 2))
    report = Explorer(sc).check(NOTHING_ALLOCATED).depth(2).run()
    found = report.violations[0]
    assert found.trace == (AllocNear(G.GFP_KERNEL, 1, 9),)  # the first offered operation
    assert shrink(sc, found, [NOTHING_ALLOCATED]).trace == (AllocNear(G.GFP_KERNEL, 1, 2),)


def test_a_declared_operation_prints_as_code_and_in_a_pinned_test(registered, tmp_path):
    op = AllocNear(G.GFP_KERNEL, 1, 8, nodes=frozenset({0}))
    assert op_expr(op) == "AllocNear(G.GFP_KERNEL, 1, 8, nodes=frozenset({0}))"
    sc = buddy_scenario(op)
    program = format_program(sc, (op,), [NOTHING_ALLOCATED])
    assert "\nm.alloc(G.GFP_KERNEL, 1, cpu=0, nodemask={0})\n" in program
    assert "# violated: nothing allocated" in program
    text = pytest_source(sc, Violation(NOTHING_ALLOCATED.name, "x", (op,)), [NOTHING_ALLOCATED])
    assert "AllocNear = _loaded0.AllocNear" in text and __file__ in text  # bound by this file's path
    path = tmp_path / "test_pinned_near.py"
    path.write_text(text)
    with pytest.raises(AssertionError, match=r"nothing allocated violated at step 1: blocks allocated at \[8\]"):
        runpy.run_path(str(path))["test_nothing_allocated"]()  # the violation is still there


def test_what_an_operation_declares_decides_its_validation_and_pfn_checks(registered):
    too_big = AllocNear(G.GFP_KERNEL, 7, 0)
    with pytest.raises(ConfigError, match="order = 7: not below MAX_ORDER = 4"):
        buddy_scenario(too_big).validate()
    buddy_scenario(NoteNear(G.GFP_KERNEL, 7, 0)).validate()  # not allocating: its order is not an order
    with pytest.raises(ConfigError, match=r"scenario near: m\.alloc\(.*\): hint = -1: a pfn is not negative"):
        buddy_scenario(AllocNear(G.GFP_KERNEL, 1, -1)).validate()  # its own check
    nowhere = AllocNear(G.GFP_KERNEL, 3, 0, nodes=frozenset({5}))  # a nodemask of no node: NULL
    with pytest.raises(ConfigError, match=r"setup allocation m\.alloc\(G\.GFP_KERNEL, 3, .*nodemask=\{5\}\) fails"):
        buddy_scenario(Alloc(G.GFP_KERNEL, 0), setup=(nowhere,)).validate()
    assert buddy_scenario(AllocNear(G.GFP_KERNEL, 1, 0)).symmetry_problem() == (
        "m.alloc(G.GFP_KERNEL, 1, cpu=0) names a pfn, so exchanging units would change the operations")
    assert buddy_scenario(NoteNear(G.GFP_KERNEL, 1, 0)).symmetry_problem() is None


def test_every_built_in_operation_declares_a_distinct_kind_and_a_rank():
    assert list(OPERATIONS) == ["alloc", "free", "drain", "isolate", "undo_isolate", "alloc_pages", "set_mempolicy",
                                "set_cpuset", "mmap", "alloc_vma", "add_task", "mbind", "set_memcg_limit",
                                "get_mempolicy", "fault", "munmap", "concurrent", "sysctl", "fork",
                                "migrate_pages", "move_pages", "mmap_shared", "mmap_file"]
    assert {cls.kind for cls in OPERATIONS.values()} == set(OPERATIONS)
    pfns = {kind for kind, cls in OPERATIONS.items() if cls.names_pfns}
    allocating = {kind for kind, cls in OPERATIONS.items() if cls.allocates}
    assert (pfns, allocating) == ({"free", "isolate", "undo_isolate"}, {"alloc", "alloc_pages", "alloc_vma"})
    errno = {kind for kind, cls in OPERATIONS.items() if cls.returns_errno}
    assert errno == {"set_mempolicy", "mbind", "set_cpuset", "get_mempolicy", "fault", "munmap", "sysctl", "fork",
                     "migrate_pages", "move_pages"}
