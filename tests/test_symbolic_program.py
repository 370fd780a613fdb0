"""Printed programs name gfp masks, mempolicy modes and flags by their kernel names, and still replay."""

from buddycheck.checks.ops import Alloc, GetMempolicy, Isolate, Mbind, Mmap, SetMempolicy, UndoIsolate
from buddycheck.checks.printing import format_program
from buddycheck.checks.replay import replay
from buddycheck.checks.scenario import Scenario
from buddycheck.model import gfp as G
from buddycheck.model import preset
from buddycheck.model.constants import MIGRATE_CMA
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_F_NODE, MPOL_F_STATIC_NODES, MPOL_INTERLEAVE, MPOL_MF_STRICT
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
