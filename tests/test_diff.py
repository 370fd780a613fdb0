"""`buddycheck diff`: the observable of a result, breadth-first search over pairs of states, shrinking, the CLI.

Expected values come from the kernel rules they exercise: mpol_rebind_nodemask for the 4.19.0
rebind, ac_classzone_idx for the 5.8 classzone change, and tests/planted_models.py for the
planted bugs (whose invariant and shortest length tests/test_planted.py pins).
"""

import json
import sys

import pytest
from planted_models import PLANTED, ExpandUpper, InterleaveSkip

from buddycheck.checks.backends import ForkBackend, LocalBackend
from buddycheck.checks.cli import main
from buddycheck.checks.cli.common import Parser, UsageError
from buddycheck.checks.cli.diff import add_parser as add_diff_parser
from buddycheck.checks.diff import (
    Observation,
    diff,
    differing_fields,
    format_difference_program,
    observe,
    replay_pair,
    report_lines,
    resolve_model,
)
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Alloc, AllocPages, Drain, Free, SetCpuset, SetMempolicy
from buddycheck.checks.pair import PairScenario
from buddycheck.checks.pair_property import DIFFERENCE, pair_properties
from buddycheck.checks.scenarios import DIFF_SCENARIOS, buddy_core, numa2_policy
from buddycheck.checks.shrink import shrink
from buddycheck.model import Event, Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import ZONE_MOVABLE, ZONE_NORMAL
from buddycheck.model.errors import ConfigError, InvalidOperation, ModelError, NotAllocated
from buddycheck.model.kernel import KERNEL_FUNCTIONS
from buddycheck.model.mempolicy import MPOL_BIND
from buddycheck.model.results import AllocResult, OpResult, SyscallResult
from buddycheck.model.variants import VARIANTS, Kernel58Classzone, Kernel419_0

F = frozenset


# ---- the observable of one result ----------------------------------------------------------------------

def test_an_allocation_is_observed_as_block_node_zone_and_events():
    ev = (Event("kswapd_wake", (("nid", 0), ("order", 0), ("classzone", 2))),)
    r = AllocResult(12, 0, G.GFP_KERNEL, nid=1, zone_idx=ZONE_NORMAL, events=ev)
    assert observe(r) == Observation("ok", block=12, node=1, zone=ZONE_NORMAL,
                                     events=(("kswapd_wake", (("nid", 0), ("order", 0), ("classzone", 2))),))


def test_null_is_observed_without_the_reason_text():
    # the kernel hands back only NULL: why the model failed is shown, not compared
    a = AllocResult(None, 0, G.GFP_KERNEL, reason="no page")
    b = AllocResult(None, 0, G.GFP_KERNEL, reason="out of memory")
    assert observe(a) == observe(b) and observe(a).block is None


def test_each_observed_field_is_named_when_it_differs():
    base = AllocResult(12, 0, G.GFP_KERNEL, nid=1, zone_idx=ZONE_NORMAL)
    assert differing_fields(observe(base), observe(AllocResult(4, 0, G.GFP_KERNEL, nid=0, zone_idx=ZONE_NORMAL))) \
        == ["block", "node"]
    assert differing_fields(observe(base), observe(AllocResult(12, 0, G.GFP_KERNEL, nid=1, zone_idx=ZONE_MOVABLE))) \
        == ["zone"]
    warned = AllocResult(12, 0, G.GFP_KERNEL, nid=1, zone_idx=ZONE_NORMAL, events=(Event("warning", ()),))
    assert differing_fields(observe(base), observe(warned)) == ["events"]
    assert differing_fields(observe(base), observe(base)) == []


def test_syscall_and_isolation_results_are_observed_by_their_return_value():
    assert observe(SyscallResult("set_mempolicy", -22)).ret == -22
    assert differing_fields(observe(SyscallResult("x", 0)), observe(SyscallResult("x", -22))) == ["ret"]
    got = observe(SyscallResult("get_mempolicy", 0, policy=2, nodes=F({1, 0})))
    assert got.reported == (2, (0, 1))
    assert observe(OpResult("isolate pfn 0..3", -16)).ret == -16


def test_a_refusal_is_a_difference_of_enabledness_and_a_crash_of_status():
    refused = observe(NotAllocated("free of pfn 3: the page is not allocated"))
    assert refused.status == "refused" and refused.error == "NotAllocated"
    ran = observe(OpResult("free pfn 3 order 0"))
    assert differing_fields(ran, refused) == ["enabled"]
    crash = observe(KeyError(7))
    assert crash.status == "crash"
    assert differing_fields(ran, crash) == ["status"]
    # the message is shown but not compared
    assert observe(InvalidOperation("a")) == observe(InvalidOperation("b"))


# ---- the 5.8 classzone variant ----------------------------------------------------------------------------

def test_the_classzone_variant_overrides_only_ac_classzone_idx():
    changed = [n for n in KERNEL_FUNCTIONS if getattr(Kernel58Classzone, n) is not getattr(Kernel419, n)]
    assert changed == ["ac_classzone_idx"]
    assert VARIANTS["5.8-classzone"] is Kernel58Classzone and Kernel58Classzone.NAME == "5.8-classzone"


def test_the_classzone_variant_uses_high_zoneidx():
    # GFP_HIGHUSER_MOVABLE from node 1 (no MOVABLE there): 4.19's classzone is the preferred zoneref's,
    # N1.NORMAL; 5.8's is gfp_zone() = MOVABLE
    sc = DIFF_SCENARIOS["classzone-2node"]()
    for cls, expected in ((Kernel419, ZONE_NORMAL), (Kernel58Classzone, ZONE_MOVABLE)):
        m = sc.with_model(cls).initial()
        m.alloc(G.GFP_HIGHUSER_MOVABLE, 0, cpu=1)
        assert (m.last_ac.high_zoneidx, m.ac_classzone_idx(m.last_ac)) == (ZONE_MOVABLE, expected)


def test_classzone_scenario_is_the_known_bugs_machine():
    m = DIFF_SCENARIOS["classzone-2node"]().initial()
    n0_normal = m.zone(0, ZONE_NORMAL)
    # 2 MOVABLE pages on node 0 / lowmem_reserve_ratio 1 = a reserve of 2 against MOVABLE-class requests
    assert n0_normal.lowmem_reserve[ZONE_MOVABLE] == 2 and n0_normal.lowmem_reserve[ZONE_NORMAL] == 0
    assert n0_normal.nr_free_pages == 4 and n0_normal.watermark == [1, 1, 1]
    assert m.zone(0, ZONE_MOVABLE).nr_free_pages == 0 and m.zone(1, ZONE_NORMAL).nr_free_pages == 0


# ---- searches -----------------------------------------------------------------------------------------------

def test_a_model_against_itself_differs_nowhere_and_reports_the_bound():
    sc = buddy_core(pages=4, max_order=3, orders=(1, 2))
    report = diff(Kernel419, Kernel419, sc)
    assert report.difference is None and report.equivalent
    assert report.complete and report.stopped_by is None
    # the pairs are (s, s): exactly the explorer's states and transitions
    alone = Explorer(sc).run()
    assert (report.reachable_states, report.transitions) == (alone.reachable_states, alone.transitions)
    assert "exhausted" in report.bound_text()
    assert any("equivalent up to this bound" in line for line in report_lines(report, sc))


@pytest.mark.slow
def test_a_model_against_itself_on_the_brute_force_machine():
    # 8 pages, MAX_ORDER 3, orders 0-2: tests/test_brute_force.py counts 1829 reachable states
    report = diff(Kernel419, Kernel419, buddy_core(pages=8, max_order=3, orders=(0, 2)))
    assert report.equivalent and report.complete and report.reachable_states == 1829


def test_a_bounded_search_says_which_depth():
    report = diff(Kernel419, Kernel419, numa2_policy(), depth=2)
    assert report.equivalent and not report.complete and report.depth == 2
    assert report.bound_text() == "bounded at depth 2: every sequence of up to 2 operations"


def test_rebind_difference_of_4_19_0():
    # mpol_rebind_nodemask. Task 0 starts with mems {0,1,2,3}. BIND {1}; cpuset {0,1,2}: node 1 keeps
    # rank 1, so both have nodes {1}, but 4.19.0 stores w.cpuset_mems_allowed = {1} instead of {0,1,2}.
    # cpuset {2,3}: 4.19 remaps rank 1 of {0,1,2} to rank 1 of {2,3} = node 3; 4.19.0 remaps rank 0 of {1}
    # to node 2. The allocation through the policy then lands on node 3 vs node 2.
    report = diff(Kernel419, Kernel419_0, DIFF_SCENARIOS["rebind-4node"]())
    d = report.difference
    assert report.stopped_by == "difference" and report.found.length == 4
    assert d.trace == (SetMempolicy(MPOL_BIND, F({1})), SetCpuset(0, F({0, 1, 2})), SetCpuset(0, F({2, 3})),
                       AllocPages(G.GFP_KERNEL, 0))
    assert [s.differs for s in d.steps] == [False, False, False, True]
    last = d.last
    assert (last.base.observation.node, last.head.observation.node) == (3, 2)
    assert "node" in last.fields and "invariants" not in last.fields


def test_rebind_difference_needs_four_operations():
    # two rebinds are needed before the stored mems matter, and then an allocation to see it
    report = diff(Kernel419, Kernel419_0, DIFF_SCENARIOS["rebind-4node"](), depth=3)
    assert report.difference is None and report.equivalent and report.depth == 3


def test_classzone_difference_of_5_8():
    # the 5.8 classzone change: the request from CPU 1 can only be served by N0.NORMAL (4 free, min 1).
    # 5.8: 4 > 1 + reserve 2 passes once, then 3 > 3 fails -> NULL; 4.19 (reserve 0): 3 > 1 passes again.
    report = diff(Kernel419, Kernel58Classzone, DIFF_SCENARIOS["classzone-2node"]())
    d = report.difference
    assert d.length == 2 and report.found.length == 2
    assert d.trace == (Alloc(G.GFP_HIGHUSER_MOVABLE, 0, cpu=1),) * 2
    first, second = d.steps
    assert not first.differs and (first.base.observation.node, first.base.observation.zone) == (0, ZONE_NORMAL)
    assert (second.base.observation.node, second.base.observation.zone) == (0, ZONE_NORMAL)
    assert second.head.observation.block is None
    assert {"block", "node", "zone"} <= set(second.fields)


def test_classzone_change_does_not_touch_the_rebind_scenario():
    # every zone there is NORMAL and every request's gfp_zone is NORMAL: both rules give classzone NORMAL
    report = diff(Kernel419, Kernel58Classzone, DIFF_SCENARIOS["rebind-4node"]())
    assert report.equivalent and report.depth == 4


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_every_planted_bug_differs_from_4_19(name):
    model, make, invariant, length = PLANTED[name]
    report = diff(Kernel419, model, make(), depth=length)
    d = report.difference
    # 4.19 violates nothing on these scenarios (test_planted), the planted model violates `invariant` at
    # `length`: so a difference exists within that length
    assert d is not None and report.found.length <= length
    assert d.length <= report.found.length


def test_an_invariant_verdict_alone_is_a_difference():
    # expand-upper hands out the same block as 4.19 (the lowest pfn) but leaves it on a free list
    report = diff(Kernel419, ExpandUpper, PLANTED["expand-upper"][1](), depth=1)
    last = report.difference.last
    assert last.fields == ("invariants",)
    assert last.base.observation == last.head.observation
    assert last.base.violated == () and "no_overlap" in last.head.violated


def test_a_planted_interleave_bug_differs_in_the_node():
    # set_mempolicy(INTERLEAVE) sets il_prev = MAX_NUMNODES - 1, so 4.19's first choice over {0,1} wraps
    # to node 0; interleave-skip steps over it to node 1
    report = diff(Kernel419, InterleaveSkip, PLANTED["interleave-skip"][1](), depth=2)
    last = report.difference.last
    assert report.difference.length == 2
    assert (last.base.observation.node, last.head.observation.node) == (0, 1)


def test_shrinking_moves_buddy_core_to_fewer_pages():
    # expand-upper needs a split: 4 pages boot as one order-2 block; 3 pages boot as order 1 + order 0,
    # and an order-1 request takes the order-1 block whole
    report = diff(Kernel419, ExpandUpper, PLANTED["expand-upper"][1](), depth=1)
    assert report.found.scenario.topology == preset("buddy-core", pages=8, max_order=3)
    assert report.difference.scenario.topology == preset("buddy-core", pages=4, max_order=3)


RefusesDrain = Kernel419.variant("refuses-drain", "drain_all_pages refuses")


@RefusesDrain.override
def drain_all_pages(k, zone):
    raise InvalidOperation("drain refused by this variant")


CrashesDrain = Kernel419.variant("crashes-drain", "drain_all_pages crashes")


@CrashesDrain.override
def drain_all_pages(k, zone):  # noqa: F811  (each variant overrides its own copy)
    raise RuntimeError("boom")


CountsDouble = Kernel419.variant("counts-double", "__mod_zone_freepage_state adds every change twice")


@CountsDouble.override
def __mod_zone_freepage_state(k, zone, nr_pages, migratetype):
    zone.nr_free_pages += 2 * nr_pages


def drain_scenario():
    sc = buddy_core(pages=4, max_order=3, orders=(1, 1))
    sc.drains = (Drain(None),)
    return sc


def test_an_operation_enabled_in_one_model_only_is_a_difference():
    report = diff(Kernel419, RefusesDrain, drain_scenario(), depth=2)
    d = report.difference
    assert d.length == 1 and d.trace == (Drain(None),) and d.fields == ("enabled",)
    assert d.last.head.observation.status == "refused"


def test_an_operation_the_base_refuses_and_the_head_runs_is_a_difference_too():
    report = diff(RefusesDrain, Kernel419, drain_scenario(), depth=2)
    d = report.difference
    assert d.trace == (Drain(None),) and d.fields == ("enabled",)
    assert d.last.base.observation.status == "refused" and d.last.head.observation.status == "ok"


def test_a_crash_in_one_model_is_a_difference():
    report = diff(Kernel419, CrashesDrain, drain_scenario(), depth=2)
    assert report.difference.fields == ("status",)
    assert report.difference.last.head.text.startswith("CRASH: RuntimeError")


def test_initial_states_that_differ_in_an_invariant_are_a_difference_of_length_0():
    # boot frees every page through __mod_zone_freepage_state: NR_FREE_PAGES is twice the free pages
    sc = buddy_core(pages=4, max_order=3, orders=(1, 1))
    report = diff(Kernel419, CountsDouble, sc)
    d = report.difference
    assert d.length == 0 and d.fields == ("invariants",) and d.initial.head.violated == ("free_accounting",)
    assert report.reachable_states == 1 and report.transitions == 0
    assert any("initial state invariants" in line for line in report_lines(report, sc))


def test_replay_pair_reports_an_operation_not_offered():
    sc = DIFF_SCENARIOS["classzone-2node"]()
    run = replay_pair(sc, sc.with_model(Kernel58Classzone), (Drain(None),))
    assert run.disabled is not None and "not offered" in run.disabled


# ---- the pair of models as a scenario of the explorer -----------------------------------------------------

def test_the_pair_machine_runs_each_operation_on_both_models():
    # classzone-2node: the second request from CPU 1 is served by 4.19 and fails on 5.8 (see above)
    sc = DIFF_SCENARIOS["classzone-2node"]()
    pair = PairScenario(sc, Kernel58Classzone)
    m = pair.initial()
    base, head = sc.initial(), sc.with_model(Kernel58Classzone).initial()
    assert m.freeze() == (base.freeze(), head.freeze())
    op = Alloc(G.GFP_HIGHUSER_MOVABLE, 0, cpu=1)
    assert op in pair.actions(m)
    op.apply(m)
    second = op.apply(m)
    assert (observe(second.base).zone, observe(second.head).block) == (ZONE_NORMAL, None)
    for machine in (base, head):
        op.apply(machine)
        op.apply(machine)
    assert m.freeze() == (base.freeze(), head.freeze())


def test_an_operation_both_models_refuse_is_not_enabled_on_the_pair():
    pair = PairScenario(drain_scenario(), RefusesDrain)
    m = pair.initial()
    before = m.freeze()
    with pytest.raises(ModelError):  # pfn 3 is free on both machines
        Free(3).apply(m)
    assert m.freeze() == before


def test_after_an_operation_that_failed_on_one_model_the_pair_is_where_it_started():
    pair = PairScenario(drain_scenario(), CrashesDrain)
    m = pair.initial()
    Alloc(G.GFP_KERNEL, 1).apply(m)
    before = m.freeze()
    result = Drain(None).apply(m)
    assert (observe(result.base).status, observe(result.head).status) == ("ok", "crash")
    assert m.freeze() == before


def test_pairs_are_explored_without_symmetry_and_say_why():
    pair = PairScenario(buddy_core(pages=4, max_order=3, orders=(1, 2)), Kernel419)
    assert pair.symmetry is False and "without symmetry" in pair.symmetry_problem()


def test_the_explorer_and_the_shrinker_take_the_pair_as_any_scenario():
    pair = PairScenario(DIFF_SCENARIOS["rebind-4node"](), Kernel419_0)
    report = Explorer(pair).check(*pair_properties()).run()
    [v] = report.violations
    assert (v.invariant, v.length) == (DIFFERENCE, 4) and report.stopped_by == "violation"
    shrunk = shrink(pair, v, pair_properties())
    assert shrunk.trace == (SetMempolicy(MPOL_BIND, F({1})), SetCpuset(0, F({0, 1, 2})), SetCpuset(0, F({2, 3})),
                            AllocPages(G.GFP_KERNEL, 0))


def test_a_base_that_cannot_boot_is_a_bad_base():
    from planted_failures import FAILING

    model, make, *_ = FAILING["boot-free-fails"]
    with pytest.raises(ConfigError, match="the base model boot-free-fails cannot boot it"):
        diff(model, Kernel419, make(), depth=1)


RefusesBusyDrain = Kernel419.variant("refuses-busy-drain", "drain_all_pages refuses once five blocks are allocated")


@RefusesBusyDrain.override
def drain_all_pages(k, zone):  # noqa: F811  (each variant overrides its own copy)
    if len(k.allocated) >= 5:
        raise InvalidOperation("drain refused by this variant")
    return Kernel419.drain_all_pages(k, zone)


def test_two_workers_find_the_same_difference_as_one(monkeypatch):
    # five allocations, then a drain the head refuses: the levels before it hold hundreds of pairs of states
    sizes = []
    for backend in (LocalBackend, ForkBackend):
        def counted(self, level, frontier, expand=backend.expand):
            sizes.append(len(frontier))
            return expand(self, level, frontier)

        monkeypatch.setattr(backend, "expand", counted)
    sc = buddy_core(16, 4, (0, 3))
    sc.drains = (Drain(None),)
    one = diff(Kernel419, RefusesBusyDrain, sc, depth=6, shrink=False)
    assert max(sizes) >= 2 * ForkBackend.MIN_PER_WORKER  # a level two processes share
    two = diff(Kernel419, RefusesBusyDrain, sc, depth=6, shrink=False, workers=2)

    def outcome(r):
        return r.reachable_states, r.transitions, r.depth, r.stopped_by, r.found.trace, r.found.steps

    assert outcome(two) == outcome(one)
    found = one.found
    assert found.length == 6 and found.fields == ("enabled",) and found.trace[-1] == Drain(None)
    assert [type(op) for op in found.trace[:5]] == [Alloc] * 5


# ---- the printed difference ----------------------------------------------------------------------------

def test_the_program_replays_the_difference_on_both_models(capsys):
    report = diff(Kernel419, Kernel419_0, DIFF_SCENARIOS["rebind-4node"]())
    text = format_difference_program(report.difference, Kernel419, Kernel419_0)
    assert "from buddycheck.model import Kernel419 as Base" in text
    assert "from buddycheck.model.variants import Kernel419_0 as Head" in text
    exec(compile(text, "<difference>", "exec"), {"__name__": "difference"})
    out = capsys.readouterr().out
    assert "! step 4" in out and "  step 3" in out
    assert "4.19: alloc order 0 GFP_KERNEL -> pfn 14 (node 3 Normal)" in out  # node 3's zone is pfn 12-15
    assert "4.19.0: alloc order 0 GFP_KERNEL -> pfn 10 (node 2 Normal)" in out  # node 2's zone is pfn 8-11


def test_the_program_runs_the_setup_and_loads_file_models(capsys):
    report = diff(Kernel419, Kernel58Classzone, DIFF_SCENARIOS["classzone-2node"]())
    text = format_difference_program(report.difference, Kernel419, Kernel58Classzone)
    assert "m.alloc(G.GFP_KERNEL | G.__GFP_THISNODE, 1, cpu=1)" in text
    exec(compile(text, "<difference>", "exec"), {"__name__": "difference"})
    out = capsys.readouterr().out
    assert "! step 2" in out and "5.8-classzone: alloc order 0 GFP_HIGHUSER_MOVABLE -> NULL" in out

    report = diff(Kernel419, InterleaveSkip, PLANTED["interleave-skip"][1](), depth=2)
    text = format_difference_program(report.difference, Kernel419, InterleaveSkip)
    assert "planted_models.py" in text and "spec_from_file_location" in text
    exec(compile(text, "<difference>", "exec"), {"__name__": "difference"})
    out = capsys.readouterr().out
    assert "! step 2" in out and "violates" in out


# ---- the command ------------------------------------------------------------------------------------------

def run(capsys, *argv):
    parser = Parser(prog="buddycheck")
    add_diff_parser(parser.add_subparsers(dest="command", required=True, parser_class=Parser))
    try:
        args = parser.parse_args(list(argv))
        code = args.func(args, print)
    except (UsageError, ModelError) as e:  # as cli.main does
        print(f"buddycheck: error: {e}", file=sys.stderr)
        code = 2
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_difference_exits_1_and_prints_side_by_side(capsys):
    code, out, _ = run(capsys, "diff", "4.19", "5.8-classzone", "--preset", "classzone-2node")
    assert code == 1
    assert "DIFFERENCE after 2 operation(s) at step 2" in out
    assert "5.8-classzone : alloc order 0 GFP_HIGHUSER_MOVABLE -> NULL" in out
    assert "def run(Model):" in out


def test_cli_no_difference_exits_0_and_names_the_bound(capsys):
    code, out, _ = run(capsys, "diff", "4.19", "4.19", "--pages", "4", "--max-order", "3", "--orders", "1-2",
                       "--preset", "buddy-core")
    assert code == 0 and "exhausted" in out and "equivalent up to this bound" in out


def test_cli_json_shape(capsys):
    code, out, _ = run(capsys, "diff", "4.19", "4.19.0", "--preset", "rebind-4node", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["base"] == {"name": "4.19", "ref": "buddycheck.model:Kernel419"}
    assert doc["head"] == {"name": "4.19.0", "ref": "buddycheck.model.variants:Kernel419_0"}
    for key in ("scenario", "depth_bound", "depth", "complete", "stopped_by", "pair_states", "transitions",
                "seconds", "equivalent", "bound"):
        assert key in doc
    d = doc["difference"]
    assert d["length"] == 4 and [op["kind"] for op in d["ops"]] == ["set_mempolicy", "set_cpuset", "set_cpuset",
                                                                    "alloc_pages"]
    assert [s["differs"] for s in d["steps"]][:3] == [[], [], []]
    assert (d["steps"][3]["base"]["node"], d["steps"][3]["head"]["node"]) == (3, 2)

    code, out, _ = run(capsys, "diff", "4.19", "5.8-classzone", "--preset", "rebind-4node", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["difference"] is None and doc["equivalent"] is True and doc["depth"] == 4


def test_cli_workers(capsys):
    code, out, _ = run(capsys, "diff", "4.19", "5.8-classzone", "--preset", "classzone-2node", "--workers", "2")
    assert code == 1 and "DIFFERENCE after 2 operation(s) at step 2" in out


def test_cli_max_states_is_inconclusive(capsys):
    code, out, _ = run(capsys, "diff", "4.19", "4.19", "--preset", "buddy-core", "--max-states", "5", "--json")
    doc = json.loads(out)
    assert code == 3 and doc["stopped_by"] == "max_states" and doc["equivalent"] is False


@pytest.mark.parametrize("argv, words", [
    (["diff", "4.19", "4.20"], "unknown variant '4.20'; the known variants are: 4.19, 4.19.0, 5.8-classzone"),
    (["diff", "nope", "4.19"], "diff BASE: unknown variant 'nope'"),
    (["diff", "4.19", "buddycheck.model:preset"], "is not a model class"),
    (["diff", "4.19", "no.such.module:X"], "cannot import"),
    (["diff", "4.19"], "required"),
    (["diff", "4.19", "4.19.0", "--preset", "nope"], "unknown scenario 'nope'"),
    (["diff", "4.19", "4.19.0", "--preset", "rebind-4node", "--pages", "4"], "go with --preset buddy-core"),
    (["diff", "4.19", "4.19.0", "--depth", "0"], "must be at least 1"),
])
def test_cli_bad_usage_exits_2(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 2 and words in err and "Traceback" not in err


def test_cli_accepts_file_references(capsys):
    path = PLANTED["expand-upper"][0].__module__
    module = sys.modules[path]
    code, out, _ = run(capsys, "diff", "4.19", f"{module.__file__}:ExpandUpper", "--pages", "4", "--max-order", "3",
                       "--orders", "1-1", "--preset", "buddy-core", "--depth", "1")
    assert code == 1 and "no_overlap" in out


def test_resolve_model_names():
    assert resolve_model("4.19") is Kernel419 and resolve_model("4.19.0") is Kernel419_0
    assert resolve_model("buddycheck.model.variants:Kernel58Classzone") is Kernel58Classzone


def test_cli_main_runs_diff(capsys):
    assert main(["diff", "4.19", "5.8-classzone", "--preset", "classzone-2node", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["difference"]["length"] == 2


def test_highatomic_reserve_limit_of_4_19_against_6_8():
    # HA-RESERVE-MAX, a bug 4.19 itself has: 400 pages in pageblocks of 2, 1% = 4 pages.
    # 4.19 may reserve managed/100 + pageblock = 6 pages (3 pageblocks), 6.8 ALIGN(4, 2) = 4 (2 pageblocks).
    # LOW above the zone: the fast path always fails, the slow path's MIN 0 passes with ALLOC_HARDER, and
    # each order-1 GFP_ATOMIC page reserves its pageblock. The third is reserved by 4.19 only, so once it
    # is freed a GFP_KERNEL order-1 request may take it on 6.8 (pfn 392) but not on 4.19 (pfn 388).
    from buddycheck.checks.diff import diff
    from buddycheck.checks.ops import Alloc, Free
    from buddycheck.checks.scenario import Scenario
    from buddycheck.model import NodeSpec, Topology, ZoneSpec
    from buddycheck.model import gfp as G
    from buddycheck.model.constants import ZONE_NORMAL
    from buddycheck.model.variants import Kernel68Highatomic, Kernel419

    zone = ZoneSpec(ZONE_NORMAL, 0, 400, watermarks=(0, 1000, 1000), pcp_high_batch=(0, 1))
    t = Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=3, pageblock_order=1,
                 page_group_by_mobility_disabled=False, min_free_kbytes=0)
    atomic, kernel = G.GFP_ATOMIC | G.__GFP_NOWARN, G.GFP_KERNEL | G.__GFP_NOWARN
    sc = Scenario("ha-reserve", t, allocs=(Alloc(atomic, 1), Alloc(kernel, 1)), depth=6)
    found = diff(Kernel419, Kernel68Highatomic, sc).found
    assert found is not None
    # the free of the third reserve already differs: on 4.19 it merges the HIGHATOMIC pageblock with its
    # Unmovable buddy (the strict rule no_mixed_merge, spec/hygiene.py), on 6.8 there is no such reserve
    assert found.trace == (Alloc(atomic, 1), Alloc(atomic, 1), Alloc(atomic, 1), Free(392))
    last = found.steps[-1]
    assert "no_mixed_merge" in {name for name, _ in last.base.violations}
    assert "no_mixed_merge" not in {name for name, _ in last.head.violations}
    assert diff(Kernel419, Kernel68Highatomic, sc, depth=3).found is None


def test_block_conversion_of_4_19_against_6_10():
    # CONVERT-TXN (a), a bug 4.19 itself has. One 8-page MOVABLE pageblock (pageblock_order 3):
    # five MOVABLE pages take pfns 0-4, leaving 5 (order 0) and 6-7 (order 1). A GFP_KERNEL page then falls
    # back to the largest MOVABLE block, 6-7, and may claim the whole pageblock: free 3 + alike 8-(3+5) = 3
    # < 4, so it does not. 4.19 has already moved 5 and 6-7 to the UNMOVABLE lists and hands out pfn 5;
    # 6.10 counts first, moves only 6-7 and hands out pfn 6.
    from buddycheck.checks.diff import diff
    from buddycheck.checks.ops import Alloc
    from buddycheck.checks.scenario import Scenario
    from buddycheck.model import NodeSpec, Topology, ZoneSpec
    from buddycheck.model import gfp as G
    from buddycheck.model.constants import ZONE_NORMAL
    from buddycheck.model.variants import Kernel419, Kernel610ConvertTxn

    zone = ZoneSpec(ZONE_NORMAL, 0, 8, watermarks=(0, 0, 0), pcp_high_batch=(0, 1))
    t = Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=4, pageblock_order=3,
                 page_group_by_mobility_disabled=False, min_free_kbytes=0)
    movable, kernel = Alloc(G.GFP_HIGHUSER_MOVABLE, 0), Alloc(G.GFP_KERNEL, 0)
    sc = Scenario("convert", t, allocs=(movable, kernel), depth=7)
    found = diff(Kernel419, Kernel610ConvertTxn, sc).found
    assert found is not None and found.trace == (movable,) * 5 + (kernel,)
    last = found.steps[-1]
    assert (last.base.observation.block, last.head.observation.block) == (5, 6)
