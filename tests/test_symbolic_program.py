"""Printed programs name gfp masks, mempolicy modes and flags by their kernel names, and still replay."""

import re

from planted_models import PLANTED, InterleaveSkip

from buddycheck.checks.diff import difference_of, format_difference_program
from buddycheck.checks.explore import Explorer
from buddycheck.checks.naming import machine_expression, op_expr, operation_imports
from buddycheck.checks.ops import (
    OPERATIONS,
    AddTask,
    Alloc,
    AllocPages,
    AllocVma,
    Concurrent,
    Drain,
    Fault,
    Fork,
    Free,
    GetMempolicy,
    Isolate,
    Mbind,
    MigratePages,
    Mmap,
    MmapFile,
    MmapShared,
    MovePages,
    Munmap,
    SetCpuset,
    SetMemcgLimit,
    SetMempolicy,
    Sysctl,
    UndoIsolate,
    name_imports,
)
from buddycheck.checks.pair import PairScenario
from buddycheck.checks.printing import format_program, pytest_source
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay
from buddycheck.checks.report import Violation
from buddycheck.checks.scenario import Scenario
from buddycheck.model import Kernel419, NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import (
    COMPACT_SUCCESS,
    MIGRATE_CMA,
    NODE_RECLAIM_SOME,
    ZONE_DMA32,
    ZONE_NORMAL,
)
from buddycheck.model.environment import Environment
from buddycheck.model.mempolicy import (
    MPOL_BIND,
    MPOL_F_MEMS_ALLOWED,
    MPOL_F_NODE,
    MPOL_F_RELATIVE_NODES,
    MPOL_F_STATIC_NODES,
    MPOL_INTERLEAVE,
    MPOL_MF_MOVE,
    MPOL_MF_STRICT,
    MPOL_PREFERRED,
)
from buddycheck.model.results import Event, OpResult, once_each

OPS = (SetMempolicy(MPOL_BIND | MPOL_F_STATIC_NODES, frozenset({1})),
       Mbind(0x200000, 0x1000, MPOL_INTERLEAVE, frozenset({0, 1}), MPOL_MF_STRICT),
       GetMempolicy(MPOL_F_NODE),
       Alloc(G.GFP_KERNEL | G.__GFP_THISNODE, 0, cpu=1))


def scenario():
    return Scenario("symbolic", preset("numa2"), allocs=OPS[3:], extra_ops=OPS[:3], setup=(Mmap(0x200000, 0x2000),))


def test_a_printed_program_names_modes_flags_and_gfp_bits_and_still_replays():
    sc = scenario()
    text = format_program(sc, OPS)
    lines = text.splitlines()
    assert "from buddycheck.model import mempolicy as P" in lines
    assert "m.set_mempolicy(P.MPOL_BIND | P.MPOL_F_STATIC_NODES, {1}, task=0)" in lines
    assert "m.mbind(0x200000, 0x1000, P.MPOL_INTERLEAVE, {0, 1}, flags=P.MPOL_MF_STRICT, task=0)" in lines
    assert "m.get_mempolicy(P.MPOL_F_NODE, 0x0, task=0)" in lines
    assert "m.alloc(G.GFP_KERNEL | G.__GFP_THISNODE, 0, cpu=1)" in lines
    namespace = {"__name__": "printed"}
    exec(compile(text, "<printed program>", "exec"), namespace)
    assert namespace["m"].freeze() == replay(sc, OPS).steps[-1].state


def test_an_isolation_names_its_migratetype_and_the_program_replays():
    ops = (Isolate(0, 4, MIGRATE_CMA), UndoIsolate(0, 4, MIGRATE_CMA))
    sc = Scenario("cma", preset("numa2"), isolations=((0, 4, MIGRATE_CMA),))
    text = format_program(sc, ops)
    assert "from buddycheck.model import constants as C" in text.splitlines()
    assert "\nm.isolate(0, 4, migratetype=C.MIGRATE_CMA)\n" in text
    assert "\nm.undo_isolate(0, 4, migratetype=C.MIGRATE_CMA)\n" in text
    namespace = {"__name__": "printed"}
    exec(compile(text, "<printed program>", "exec"), namespace)
    assert namespace["m"].freeze() == replay(sc, ops).steps[-1].state


def test_a_program_without_mempolicy_calls_does_not_import_the_names():
    sc = scenario()
    assert "mempolicy as P" not in format_program(sc, OPS[3:])


def test_the_same_line_or_event_in_a_row_prints_once_with_its_count():
    assert once_each(["#   ! a: x", "#   ! a: x", "#   ! a: x", "#   ! b: y", "#   ! a: x"]) == [
        "#   ! a: x (x3)", "#   ! b: y", "#   ! a: x"]
    wake = Event("wakeup_kswapd", (("nid", 0),))
    result = OpResult("drain", events=(wake, wake, Event("oom_kill"), wake))
    assert str(result).endswith("events: wakeup_kswapd(nid=0) (x2), oom_kill(), wakeup_kswapd(nid=0)")


def test_syscall_results_name_the_mode_and_the_errno():
    m = scenario().initial()
    assert str(m.set_mempolicy(MPOL_BIND | MPOL_F_STATIC_NODES, {1})).startswith(
        "set_mempolicy(MPOL_BIND|MPOL_F_STATIC_NODES, {1}, ")
    assert str(m.get_mempolicy(MPOL_F_NODE)).endswith("flags=MPOL_F_NODE) = -EINVAL")
    got = m.get_mempolicy()
    assert got.ret == 0 and "policy MPOL_BIND|MPOL_F_STATIC_NODES" in str(got)


# ---- every operation class, in every printed program ---------------------------------------------------

THP = 0x200000
# each operation class with the names its printed forms must show (a new class needs an entry here)
NAMED = {
    AddTask: (AddTask(1, frozenset({0, 1})), "AddTask(1, frozenset({0, 1}))"),
    Mmap: (Mmap(THP, 0x2000), f"Mmap({THP:#x}, 0x2000)"),
    MmapShared: (MmapShared(0x400000, 0x2000, 1), "MmapShared(0x400000, 0x2000, 1)"),
    MmapFile: (MmapFile(0x600000, 0x1000, 9, shared=True), "MmapFile(0x600000, 0x1000, 9, shared=True)"),
    SetMemcgLimit: (SetMemcgLimit(1, 64), "SetMemcgLimit(1, 64)"),
    Alloc: (Alloc(G.GFP_KERNEL, 0, cpu=1, env=Environment(compact_result=COMPACT_SUCCESS,
                                                          node_reclaim_result=NODE_RECLAIM_SOME)),
            "env=Environment(node_reclaim_result=C.NODE_RECLAIM_SOME, compact_result=C.COMPACT_SUCCESS)"),
    AllocPages: (AllocPages(G.GFP_HIGHUSER_MOVABLE, 0, cpu=1, task=1), "AllocPages(G.GFP_HIGHUSER_MOVABLE, 0"),
    AllocVma: (AllocVma(G.GFP_HIGHUSER_MOVABLE, 0, THP, hugepage=False),
               f"AllocVma(G.GFP_HIGHUSER_MOVABLE, 0, {THP:#x}"),
    Free: (None, "Free("),  # the pfn the Alloc above got, decimal
    Drain: (Drain(1), "Drain(cpu=1)"),
    Isolate: (Isolate(0, 4, MIGRATE_CMA), "Isolate(0, 4, migratetype=C.MIGRATE_CMA)"),
    UndoIsolate: (UndoIsolate(0, 4, MIGRATE_CMA), "UndoIsolate(0, 4, migratetype=C.MIGRATE_CMA)"),
    SetMempolicy: (SetMempolicy(MPOL_PREFERRED | MPOL_F_RELATIVE_NODES, frozenset({1})),
                   "SetMempolicy(P.MPOL_PREFERRED | P.MPOL_F_RELATIVE_NODES, nodes=frozenset({1}))"),
    SetCpuset: (SetCpuset(1, frozenset({0})), "SetCpuset(1, frozenset({0}))"),
    Mbind: (Mbind(THP, 0x1000, MPOL_BIND, frozenset({0}), MPOL_MF_MOVE),
            f"Mbind({THP:#x}, 0x1000, P.MPOL_BIND, nodes=frozenset({{0}}), flags=P.MPOL_MF_MOVE)"),
    GetMempolicy: (GetMempolicy(MPOL_F_MEMS_ALLOWED), "GetMempolicy(flags=P.MPOL_F_MEMS_ALLOWED)"),
    Fault: (Fault(THP + 0x1000, cpu=1, write=False), f"Fault({THP + 0x1000:#x}, cpu=1, write=False)"),
    Munmap: (Munmap(THP + 0x1000, 0x1000), f"Munmap({THP + 0x1000:#x}, 0x1000)"),
    Concurrent: (Concurrent(Alloc(G.GFP_KERNEL, 0, cpu=0), Isolate(0, 4, MIGRATE_CMA, cpu=1), (0, 1)),
                 "Concurrent(Alloc(G.GFP_KERNEL, 0), Isolate(0, 4, migratetype=C.MIGRATE_CMA, cpu=1), "
                 "schedule=(0, 1))"),
    Sysctl: (Sysctl("lowmem_reserve_ratio", (1, 2, 32, 0, 0)), "Sysctl('lowmem_reserve_ratio', (1, 2, 32, 0, 0))"),
    Fork: (Fork(2), "Fork(2)"),
    MigratePages: (MigratePages(0, frozenset({0}), frozenset({1}), cap_sys_nice=True),
                   "MigratePages(0, frozenset({0}), frozenset({1}), cap_sys_nice=True)"),
    MovePages: (MovePages(0, (THP, THP + 0x1000), (1, 1), MPOL_MF_MOVE),
                f"MovePages(0, ({THP}, {THP + 0x1000}), nodes=(1, 1), flags=P.MPOL_MF_MOVE)"),
}
SETUP = (AddTask, Mmap, MmapShared, MmapFile, SetMemcgLimit)
# then interleaving over both nodes, where the planted InterleaveSkip differs from 4.19
TAIL = (SetMempolicy(MPOL_INTERLEAVE, frozenset({0, 1})), AllocPages(G.GFP_KERNEL, 0), AllocPages(G.GFP_KERNEL, 0))


def every_kind():
    """(scenario, trace): the setup holds the setup steps, the trace one operation of every other class."""
    ops = [op for cls, (op, _) in NAMED.items() if cls not in SETUP and op is not None]
    setup = tuple(NAMED[cls][0] for cls in SETUP)
    probe = Scenario("every-kind", preset("numa2"), setup=setup)
    first = probe.initial()
    pfn = NAMED[Alloc][0].apply(first).page
    ops.insert(1, Free(pfn))
    trace = (*ops, *TAIL)
    offered = tuple(o for o in trace if not isinstance(o, Free | Isolate | UndoIsolate))
    sc = Scenario("every-kind", preset("numa2"), extra_ops=offered, setup=setup, isolations=((0, 4, MIGRATE_CMA),))
    return sc, trace


def test_every_operation_class_has_a_named_example():
    assert set(NAMED) == set(OPERATIONS.values())


def test_every_operation_prints_as_an_expression_with_names_that_builds_it():
    sc, trace = every_kind()
    for op in (*sc.setup, *trace[:-len(TAIL)]):
        text = op_expr(op)
        assert NAMED[type(op)][1] in text
        lines, _ = operation_imports([op])
        namespace = {}
        exec("\n".join([*lines, *name_imports([text]), "from buddycheck.model.environment import Environment"]),
             namespace)
        assert eval(text, namespace) == op


def test_the_program_of_every_kind_names_its_constants_and_replays():
    sc, trace = every_kind()
    text = format_program(sc, trace)
    for fragment in ("m.alloc(G.GFP_KERNEL, 0, cpu=1); m.env = IDLE",
                     "compact_result=C.COMPACT_SUCCESS", "m.isolate(0, 4, migratetype=C.MIGRATE_CMA)",
                     "m.set_mempolicy(P.MPOL_PREFERRED | P.MPOL_F_RELATIVE_NODES, {1}, task=0)",
                     f"m.mbind({THP:#x}, 0x1000, P.MPOL_BIND, {{0}}, flags=P.MPOL_MF_MOVE, task=0)",
                     "m.get_mempolicy(P.MPOL_F_MEMS_ALLOWED, 0x0, task=0)", f"m.free({trace[1].pfn}, cpu=0)",
                     "m.sysctl('lowmem_reserve_ratio', (1, 2, 32, 0, 0))"):
        assert fragment in text
    namespace = {"__name__": "printed"}
    exec(compile(text, "<printed program>", "exec"), namespace)
    assert namespace["m"].freeze() == replay(sc, trace).steps[-1].state


def test_the_written_test_of_every_kind_names_its_constants_and_holds_the_same_operations():
    sc, trace = every_kind()
    prop = all_properties()[0]
    text = pytest_source(sc, Violation(prop.name, "shown", trace), [prop])
    for cls, (_, fragment) in NAMED.items():
        if cls not in SETUP:
            assert fragment in text, cls.__name__
    assert "\n    m.set_memcg_limit(1, 64)\n" in text
    namespace = {"__name__": "written"}
    exec(compile(text, "<written test>", "exec"), namespace)
    assert namespace["TRACE"] == trace


def test_the_difference_program_of_every_kind_names_its_constants_and_holds_the_same_operations(capsys):
    sc, trace = every_kind()
    d = difference_of(PairScenario(sc, InterleaveSkip), trace)
    assert d is not None and d.trace[:len(trace) - 2] == trace[:-2]  # the interleaving tail differs
    text = format_difference_program(d, Kernel419, InterleaveSkip)
    for cls, (_, fragment) in NAMED.items():
        if cls not in SETUP:
            assert fragment in text, cls.__name__
    namespace = {"__name__": "difference"}
    exec(compile(text, "<difference program>", "exec"), namespace)
    assert namespace["TRACE"] == d.trace
    assert f"! step {d.length}" in capsys.readouterr().out


def test_a_printed_topology_names_its_zone_types_and_evaluates_back():
    zones = (ZoneSpec(ZONE_DMA32, 0, 16), ZoneSpec(ZONE_NORMAL, 16, 16))
    t = Topology(nodes=(NodeSpec(0, (0,), zones),), max_order=4, pageblock_order=2,
                 configured_zones=frozenset({ZONE_DMA32, ZONE_NORMAL}))
    sc = Scenario("zones", t, allocs=(Alloc(G.GFP_KERNEL, 0),))
    machine_import, text = machine_expression(sc)
    assert "ZoneSpec(zone_type=C.ZONE_DMA32, start_pfn=0, pages=16)," in text
    assert "ZoneSpec(zone_type=C.ZONE_NORMAL, start_pfn=16, pages=16)," in text
    assert "configured_zones=frozenset({C.ZONE_DMA32, C.ZONE_NORMAL})," in text
    program = format_program(sc, (Alloc(G.GFP_KERNEL, 0),))
    assert "from buddycheck.model import constants as C" in program.splitlines()
    namespace = {"__name__": "printed"}
    exec(compile(program, "<printed program>", "exec"), namespace)
    assert namespace["m"].topology == t


def test_a_printed_program_writes_every_pfn_in_decimal():
    model, make, invariant, length = PLANTED["expand-upper"]
    sc = make().with_model(model)
    report = Explorer(sc).check(*all_properties()).run()
    v = next(v for v in report.violations if v.invariant == invariant)
    text = format_program(sc, v.trace, all_properties(), violation=v)
    assert len(v.trace) == length and "pfn 0x" not in text
    pfns = re.findall(r"at pfn (\S+) ", v.message)
    assert pfns and all(p.isdigit() for p in pfns)
    assert f"raise AssertionError({f'{invariant}: {v.message}'!r})" in text
