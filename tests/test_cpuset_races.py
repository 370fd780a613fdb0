"""Cpuset updates racing allocations: the write side's points, the mems_allowed seqcount, and two invariants.

A cpuset update (cpuset_change_task_nodemask) is seen store by store from another CPU; an allocation takes
read_mems_allowed_begin()'s cookie at the slow path's retry_cpuset and check_retry_cpuset retries when the
count moved. Planted races (tests/planted_races.py) are caught with their exact schedule and preemption
count and not with one preemption less; 4.19 is clean on the same scenarios.
"""

import json
from pathlib import Path

import pytest
from planted_races import (
    CheckRetryCpusetIgnoresSeqcount,
    CpusetUpdateWithoutUnion,
    RebindClearsNodesFirst,
    RebindWidensToAllNodes,
)

from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import AllocPages, Concurrent, SetCpuset, SetMempolicy
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.constants import COMPACT_DEFERRED, ZONE_NORMAL
from buddycheck.model.cpuset import mems_allowed_seq_lock
from buddycheck.model.environment import IDLE, Environment
from buddycheck.model.locks import wait_for_lock
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_INTERLEAVE, Mempolicy
from buddycheck.model.results import AllocResult, OpResult, SyscallResult
from buddycheck.model.task import Task
from buddycheck.model.topology import NodeSpec, Topology, ZoneSpec
from buddycheck.spec.operation_invariants import PAIR_OUTCOMES, POLICY_MEETS_CPUSET, outcome_class

DEFERRED = Environment(compact_result=COMPACT_DEFERRED)
COSTLY = G.GFP_USER | G.__GFP_NORETRY  # order 4 with compaction deferred: the slow path's one attempt


def two_nodes():
    """Node 0 (CPU 0) and node 1 (CPU 1), 16 pages each; the fast path's LOW mark fails, the slow path's MIN passes."""
    zones = [ZoneSpec(ZONE_NORMAL, 16 * n, 16, watermarks=(0, 16, 16), lowmem_reserve=(0,) * 5, pcp_high_batch=(1, 1))
             for n in (0, 1)]
    return Topology(nodes=(NodeSpec(0, (0,), (zones[0],)), NodeSpec(1, (1,), (zones[1],))), max_order=5,
                    pageblock_order=4, page_group_by_mobility_disabled=False, numa=True, min_free_kbytes=0,
                    name="two-nodes")


def bound_alloc_vs_cpuset(model=Kernel419, bound=2):
    """Task 0, cpuset {0} and BIND {0}, allocates on node 1's CPU while its cpuset moves to {1}."""
    setup = (SetCpuset(0, frozenset({0})), SetMempolicy(MPOL_BIND, frozenset({0}), task=0))
    return Scenario("bound-alloc-vs-cpuset", two_nodes(), setup=setup, free_cpus=(),
                    pairs=((AllocPages(G.GFP_USER, 0, cpu=1, task=0), SetCpuset(0, frozenset({1}))),),
                    preemption_bound=bound, depth=1, model=model, sometimes=())


def three_nodes():
    """two_nodes() with a node 2 (CPU 2) of 16 pages."""
    zones = [ZoneSpec(ZONE_NORMAL, 16 * n, 16, watermarks=(0, 16, 16), lowmem_reserve=(0,) * 5, pcp_high_batch=(1, 1))
             for n in (0, 1, 2)]
    return Topology(nodes=tuple(NodeSpec(n, (n,), (zones[n],)) for n in (0, 1, 2)), max_order=5, pageblock_order=4,
                    page_group_by_mobility_disabled=False, numa=True, min_free_kbytes=0, name="three-nodes")


def kernel_alloc_vs_cpuset(model=Kernel419, bound=2):
    """Task 0, cpuset {0} and BIND {0}, makes a GFP_KERNEL allocation (no hardwall) on node 2's CPU while its
    cpuset moves to {1}: only the policy keeps the page off node 2."""
    setup = (SetCpuset(0, frozenset({0})), SetMempolicy(MPOL_BIND, frozenset({0}), task=0))
    return Scenario("kernel-alloc-vs-cpuset", three_nodes(), setup=setup, free_cpus=(),
                    pairs=((AllocPages(G.GFP_KERNEL, 0, cpu=2, task=0), SetCpuset(0, frozenset({1}))),),
                    preemption_bound=bound, depth=1, model=model, sometimes=())


def costly_alloc_vs_cpuset(model=Kernel419, bound=2):
    """Task 0, cpuset {0}, asks for an order-4 block with one slow-path attempt while its cpuset moves to {1}."""
    return Scenario("costly-alloc-vs-cpuset", two_nodes(), setup=(SetCpuset(0, frozenset({0})),), free_cpus=(),
                    pairs=((AllocPages(COSTLY, 4, cpu=1, task=0), SetCpuset(0, frozenset({1})), DEFERRED),),
                    preemption_bound=bound, depth=1, model=model, sometimes=())


def search(scenario):
    return Explorer(scenario).check(*all_properties()).run()


@pytest.mark.parametrize("variant, scenario, invariant, schedule, message", [
    (CpusetUpdateWithoutUnion, bound_alloc_vs_cpuset, "policy_meets_cpuset", (1, 0),
     "set aside at tsk->mems_allowed = *newmems: cpuset_change_task_nodemask): task 0's MPOL_BIND policy nodes [0] "
     "miss its mems_allowed [1]"),
    (RebindClearsNodesFirst, bound_alloc_vs_cpuset, "policy_meets_cpuset", (1, 1, 0),
     "set aside at nodes_clear(pol->v.nodes): mpol_rebind_nodemask): task 0's MPOL_BIND policy has no nodes"),
    (RebindWidensToAllNodes, kernel_alloc_vs_cpuset, "nodemask_respect", (1, 1, 0),
     "pfn 32 came from node 2, outside the nodemask [0], in the pair's first operation m.alloc_pages(G.GFP_KERNEL, "
     "0, cpu=2, task=0), against the request of the pair's start and of its end alike"),
    (CheckRetryCpusetIgnoresSeqcount, costly_alloc_vs_cpuset, "pair_outcomes", (0, 0, 0, 1),
     "ended with first no page and second 0, which no sequential order gives (they give: first a page and second 0; "
     "first a page and second 0)"),
])
def test_each_planted_race_is_caught_with_one_preemption_and_not_with_none(variant, scenario, invariant, schedule,
                                                                            message):
    report = search(scenario(variant, bound=1))
    (v,) = report.violations
    assert v.invariant == invariant and message in v.message
    (op,) = v.trace
    assert op.schedule == schedule and op.preemptions == 1
    assert search(scenario(variant, bound=0)).ok


@pytest.mark.parametrize("scenario", [bound_alloc_vs_cpuset, costly_alloc_vs_cpuset, kernel_alloc_vs_cpuset])
def test_4_19_is_clean_on_the_same_scenarios(scenario):
    report = search(scenario(bound=2))
    assert report.ok, report.violations
    assert report.interleavings > 30


def racing_machine(model=Kernel419):
    m = model(two_nodes())
    m.set_cpuset(0, {0})
    return m


@pytest.mark.parametrize("model, page", [(Kernel419, 16), (CheckRetryCpusetIgnoresSeqcount, None)])
def test_the_slow_path_retries_when_the_cpuset_changed_since_its_cookie(model, page):
    # the writer runs between the slow path's walk of node 1 (not in {0}) and of node 0 (no longer in {1})
    m = racing_machine(model)
    m.env = DEFERRED
    result = m.concurrent(lambda: m.alloc_pages(COSTLY, 4, cpu=1, task=0), lambda: m.set_cpuset(0, {1}),
                          schedule=(0, 0, 0, 1))
    m.env = IDLE
    assert result.results[0].page == page and result.results[1].ret == 0
    assert result.sections[0].ended_at == "next zone of the walk, mems_allowed read unlocked: get_page_from_freelist"
    assert m.tasks[0].mems_allowed == {1} and m.tasks[0].mems_allowed_seq == 0


def test_every_step_of_a_cpuset_update_is_a_point_and_a_reader_waits_inside_it():
    m = racing_machine()
    m.set_mempolicy(MPOL_BIND, {0}, task=0)
    seen = []
    for depth in range(1, 6):  # the writer goes first and is preempted at its depth-th point
        result = m.concurrent(lambda: m.alloc_pages(G.GFP_USER, 0, cpu=1, task=0), lambda: m.set_cpuset(0, {1}),
                              schedule=(1,) * depth + (0,))
        m.set_cpuset(0, {0})
        m.set_mempolicy(MPOL_BIND, {0}, task=0)
        if result.switches:
            seen.append((result.switches[0].point, result.switches[0].state.tasks[0].mems_allowed_seq,
                         [s.ended_at for s in result.sections][1]))
    assert seen == [
        ("nodes_or(tsk->mems_allowed): cpuset_change_task_nodemask", 1, "read_seqcount_begin spins: "
                                                                        "read_mems_allowed_begin"),
        ("pol->cpuset_mems_allowed stored: mpol_rebind_nodemask", 1, "read_seqcount_begin spins: "
                                                                     "read_mems_allowed_begin"),
        ("mpol_rebind_task: cpuset_change_task_nodemask", 1, "read_seqcount_begin spins: read_mems_allowed_begin"),
        ("task_unlock, before mpol_rebind_mm: update_tasks_nodemask", 2, "end"),
    ]


def test_a_wait_is_no_preemption_and_the_count_is_at_rest_after_a_pair():
    m = racing_machine()
    result = m.concurrent(lambda: m.alloc_pages(G.GFP_USER, 0, cpu=1, task=0), lambda: m.set_cpuset(0, {1}),
                          schedule=(1, 0))
    assert result.preemptions == 1  # the switch to the allocation; its wait hands back without a pick
    assert [s.slot for s in result.sections] == [1, 0, 1, 0]
    assert m.tasks[0].mems_allowed_seq == 0 and m.freeze().tasks[0].mems_allowed_seq == 0


def test_a_wait_outside_a_concurrent_pair_is_a_model_error():
    m = racing_machine()
    with pytest.raises(RuntimeError, match="no concurrent pair is running"):
        wait_for_lock(m, mems_allowed_seq_lock(m.tasks[0]), "read_seqcount_begin spins: read_mems_allowed_begin")


def test_a_sequential_cpuset_update_leaves_the_count_at_rest():
    m = racing_machine()
    assert m.set_cpuset(0, {1}).ret == 0
    assert m.tasks[0].mems_allowed_seq == 0


def test_outcome_classes():
    assert outcome_class(AllocResult(None, 0, 0)) == "no page" and outcome_class(AllocResult(3, 0, 0)) == "a page"
    assert outcome_class(SyscallResult("x", -22)) == -22 and outcome_class(OpResult("isolate", -16)) == -16


def test_pair_outcomes_asks_for_the_outcomes_of_one_order_together():
    orders = (("a page", 0), ("no page", -16))
    assert PAIR_OUTCOMES.check(("no page", -16), orders, "pair") == []
    (v,) = PAIR_OUTCOMES.check(("no page", 0), orders, "pair")
    assert v.invariant == "pair_outcomes" and v.values == {"classes": ("no page", 0)}
    assert PAIR_OUTCOMES.check(("no page", 0), (), "pair") == []  # no order ran: nothing to compare


def test_policy_meets_cpuset_judges_bind_and_interleave_policies_only():
    def task(pol, mems):
        t = Task(2, mems)
        t.mempolicy = pol
        return t
    assert POLICY_MEETS_CPUSET.check([task(Mempolicy(MPOL_BIND, nodes=frozenset({0, 1})), {1})]) == []
    (v,) = POLICY_MEETS_CPUSET.check([task(Mempolicy(MPOL_INTERLEAVE, nodes=frozenset({0})), {1})])
    assert "task 2's MPOL_INTERLEAVE policy nodes [0] miss its mems_allowed [1]" in v.message
    (v,) = POLICY_MEETS_CPUSET.check([task(Mempolicy(MPOL_BIND), {1})], "at x: ")
    assert v.message == "at x: task 2's MPOL_BIND policy has no nodes"
    assert POLICY_MEETS_CPUSET.check([task(None, {1})]) == []


def test_a_pair_with_an_environment_replays_and_round_trips():
    op = Concurrent(AllocPages(COSTLY, 4, cpu=1, task=0), SetCpuset(0, frozenset({1})), (0, 0, 0, 1), DEFERRED)
    doc = op_to_dict(op)
    assert op_from_dict(json.loads(json.dumps(doc))) == op
    assert "env" not in op_to_dict(Concurrent(op.first, op.second, op.schedule))
    m = racing_machine()
    start = m.freeze()
    assert op.apply(m).results[0].page == 16 and m.env == IDLE
    after = m.freeze()
    m.restore(start)
    from buddycheck.model import constants
    exec(op.code(), {"m": m, "G": G, "C": constants, "Environment": Environment, "IDLE": IDLE})
    assert m.freeze() == after


def test_a_scenario_file_gives_a_pair_its_environment(tmp_path):
    from buddycheck.checks.scenario_file import load_scenario
    from buddycheck.model.errors import ConfigError
    scenario_file = Path(__file__).parent.parent / "checks" / "portfolio_scenarios" / "19-cpuset-races.toml"
    sc = load_scenario(scenario_file)
    assert [len(pair) for pair in sc.pairs] == [2, 3] and sc.pairs[1][2] == DEFERRED
    text = scenario_file.read_text()
    path = tmp_path / "bad.toml"
    path.write_text(text.replace("compact_result = \"COMPACT_DEFERRED\"", "compact_resutl = 1"))
    with pytest.raises(ConfigError, match="concurrent.*compact_resutl"):
        load_scenario(path)
