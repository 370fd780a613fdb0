"""Concurrent pairs: two operations interleaved at their preemption points (model/interleaving.py).

Planted races in the free path (free_one_page trusting the pageblock type read before the lock) and in
the allocation path (rmqueue_bulk dropping zone->lock in the middle of its batch) are caught with their
exact trace length and preemption count, and not with the preemption bound one lower; 4.19 is clean on
the same scenarios.
"""

import json

import pytest
from planted_races import FreeOnePageTrustsStaleType, RmqueueBulkDropsLock

from buddycheck.checks.concurrent_scenarios import (
    free_vs_isolate,
    order0_free_vs_isolate,
    refill_vs_alloc,
    two_cpus,
)
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Alloc, Concurrent, Free, Isolate
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.interleaving import schedules
from buddycheck.model.preempt import preempt_point


def search(scenario):
    return Explorer(scenario).check(*all_properties()).run()


def test_the_free_path_race_is_caught_with_one_preemption_and_not_with_none():
    report = search(free_vs_isolate(FreeOnePageTrustsStaleType, bound=1))
    assert report.violations[0].invariant == "migratetype_consistency"
    (op,) = report.violations[0].trace
    assert isinstance(op, Concurrent) and op.schedule == (0, 1) and op.preemptions == 1
    assert search(free_vs_isolate(FreeOnePageTrustsStaleType, bound=0)).ok


def test_the_allocation_path_race_is_caught_at_the_preemption_with_one_and_not_with_none():
    report = search(refill_vs_alloc(RmqueueBulkDropsLock, bound=1))
    assert "free_accounting" in [v.invariant for v in report.violations]
    v = next(v for v in report.violations if v.invariant == "free_accounting")
    assert "at preemption 1" in v.message and "rmqueue_bulk" in v.message
    (op,) = v.trace
    assert op.preemptions == 1
    assert search(refill_vs_alloc(RmqueueBulkDropsLock, bound=0)).ok


@pytest.mark.parametrize("scenario", [free_vs_isolate, refill_vs_alloc])
def test_4_19_is_clean_on_the_same_scenarios(scenario):
    report = search(scenario(bound=2))
    assert report.ok, report.violations
    assert report.preemption_bound == 2 and report.interleavings == report.transitions > 2


def test_the_report_gives_the_bound_and_the_interleavings_explored():
    report = search(free_vs_isolate(bound=1))
    doc = report.to_json()
    assert doc["preemption_bound"] == 1
    assert doc["interleavings"] == report.interleavings == 4  # A;B, B;A, and one preemption each way
    sequential = Explorer(Scenario("s", two_cpus(), allocs=(Alloc(G.GFP_KERNEL, 0),), depth=1)).run()
    assert "preemption_bound" not in sequential.to_json()


def test_schedules_are_enumerated_once_each_fewest_preemptions_first():
    m = Kernel419(two_cpus())
    page = m.alloc(G.GFP_KERNEL, 1, cpu=0).page
    before = m.freeze()
    found = schedules(m, lambda: m.free(page, cpu=0), lambda: m.isolate(page, page + 2, cpu=1), 2)
    assert m.freeze() == before  # the enumeration leaves the machine where it found it
    assert len(found) == len(set(found))
    counts = [Concurrent(Free(page), Isolate(page, page + 2), s).preemptions for s in found]
    assert counts == sorted(counts) and counts[:2] == [0, 0] and max(counts) == 2
    assert len(schedules(m, lambda: m.free(page, cpu=0), lambda: m.isolate(page, page + 2, cpu=1), 0)) == 2


def test_a_schedule_replays_to_the_same_state_and_prints_as_a_program():
    m = Kernel419(two_cpus())
    page = m.alloc(G.GFP_KERNEL, 1, cpu=0).page
    op = Concurrent(Free(page, 0), Isolate(page, page + 2, cpu=1), (0, 1))
    start = m.freeze()
    result = op.apply(m)
    after = m.freeze()
    assert [s.slot for s in result.sections] == [0, 1, 0] and result.preemptions == 1
    assert result.sections[0].ended_at == "get_pfnblock_migratetype, before local_irq_save: __free_pages_ok"
    m.restore(start)
    exec(op.code(), {"m": m, "G": G})  # the printed call reruns the pair under the same schedule
    assert m.freeze() == after
    assert op.code() == (f"m.concurrent(lambda: m.free({page}, cpu=0), lambda: m.isolate({page}, {page + 2}, "
                         "cpu=1), schedule=(0, 1))")


def test_a_pair_round_trips_through_the_json_codec():
    op = Concurrent(Alloc(G.GFP_KERNEL, 0, cpu=0), Free(4, 1), (1, 0, 1))
    doc = op_to_dict(op)
    assert doc["first"]["kind"] == "alloc" and doc["schedule"] == [1, 0, 1]
    assert op_from_dict(json.loads(json.dumps(doc))) == op


def test_each_operation_keeps_its_own_context_across_switches():
    m = Kernel419(two_cpus(batch=2))
    result = m.concurrent(lambda: m.alloc(G.GFP_KERNEL, 0, cpu=0), lambda: m.alloc(G.GFP_KERNEL, 0, cpu=1),
                          schedule=(0, 1, 0))
    first, second = result.results
    assert first.page is not None and second.page is not None and first.page != second.page
    assert {m.page_zone(p).nid for p in (first.page, second.page)} == {0}
    assert m.scheduler is None


def test_a_point_outside_a_schedule_does_nothing():
    m = Kernel419(two_cpus())
    before = m.freeze()
    preempt_point(m, "nowhere")
    assert m.freeze() == before


def test_4_19_s_own_race_an_order_0_free_lands_on_a_per_cpu_list_in_an_isolated_pageblock():
    # free_unref_page reads the pageblock's type before local_irq_save; set_migratetype_isolate and its
    # drain run in between, and the page goes on the per-cpu list under the stale type (alloc_contig_range
    # copes: test_pages_isolated fails and it retries)
    report = search(order0_free_vs_isolate(bound=1))
    assert report.violations[0].invariant == "migratetype_consistency"
    assert "lies in an Isolate pageblock" in report.violations[0].message
    (op,) = report.violations[0].trace
    assert op.schedule == (0, 1) and op.preemptions == 1
    assert search(order0_free_vs_isolate(bound=0)).ok


def test_a_counterexample_prints_the_schedule_section_by_section(capsys):
    from buddycheck.checks.printing import format_program
    report = search(order0_free_vs_isolate(bound=1))
    text = format_program(order0_free_vs_isolate(bound=1), report.violations[0].trace, all_properties(),
                          violation=report.violations[0])
    assert "#   schedule (0, 1): 1 preemption(s)" in text
    assert ("#   section 1: CPU 0 runs m.free(6, cpu=0) until get_pfnblock_migratetype, before local_irq_save: "
            "free_unref_page") in text
    assert "#   section 2: CPU 1 runs m.isolate(6, 8, cpu=1) to its end" in text
    assert "#   section 3: CPU 0 runs m.free(6, cpu=0) to its end" in text


def test_a_scenario_file_declares_pairs_and_the_bound(tmp_path):
    from buddycheck.checks.scenario_file import load_scenario
    from buddycheck.model.errors import ConfigError
    path = tmp_path / "pair.toml"
    body = """
depth = 1
preemption_bound = 1
[topology]
max_order = 2
pageblock_order = 0
min_free_kbytes = 0
page_group_by_mobility_disabled = false
[[topology.node]]
id = 0
cpus = [0, 1]
[[topology.node.zone]]
type = "Normal"
start_pfn = 0
pages = 8
watermarks = [0, 0, 0]
pcp = [2, 2]
[[alloc]]
gfp = "GFP_KERNEL"
orders = [0]
[[concurrent]]
first = { kind = "alloc", gfp = "GFP_KERNEL", order = 0, cpu = 0 }
second = { kind = "alloc", gfp = "GFP_KERNEL", order = 0, cpu = CPU }
"""
    path.write_text(body.replace("CPU", "1"))
    sc = load_scenario(path)
    assert sc.concurrent and sc.preemption_bound == 1
    assert sc.pairs == ((Alloc(G.GFP_KERNEL, 0, cpu=0), Alloc(G.GFP_KERNEL, 0, cpu=1)),)
    path.write_text(body.replace("CPU", "5"))
    with pytest.raises(ConfigError, match=r"concurrent\[0\].*cpu = 5: no such CPU"):
        load_scenario(path)
    path.write_text(body.replace("CPU", "1").replace("kind = \"alloc\", gfp", "kind = \"alocc\", gfp", 1))
    with pytest.raises(ConfigError, match=r"concurrent\[0\]\.first: unknown operation kind 'alocc'"):
        load_scenario(path)


def test_the_portfolio_has_a_concurrent_scenario_and_the_listing_says_so():
    from buddycheck.checks.cli.scenarios import cmd_scenarios
    from buddycheck.checks.scenarios import portfolio_scenarios
    concurrent = [sc for sc in portfolio_scenarios() if sc.concurrent]
    assert [sc.name for sc in concurrent] == ["concurrent", "cpuset-races"]
    lines = []
    cmd_scenarios(None, lines.append)
    (line,) = [line for line in lines if line.strip().startswith("concurrent ")]
    assert "[concurrent: 2 pair(s), preemption bound 2]" in line


def test_shrinking_keeps_the_schedule_with_the_fewest_preemptions():
    from buddycheck.checks.report import Violation
    from buddycheck.checks.shrink import shrink
    scenario = free_vs_isolate(FreeOnePageTrustsStaleType, bound=2)
    pair = scenario.pairs[0]
    long_way = Concurrent(*pair, (0, 1, 1, 0))  # back to the free after the drain: two preemptions
    assert long_way.preemptions == 2
    shrunk = shrink(scenario, Violation("migratetype_consistency", "", (long_way,)), all_properties())
    (op,) = shrunk.trace
    assert op.schedule == (0, 1) and op.preemptions == 1


def test_symmetry_and_workers_apply_to_concurrent_pairs():
    scenario = refill_vs_alloc()
    scenario.topology = two_cpus(pages=16, batch=2)  # four MAX_ORDER units
    scenario.allocs, scenario.free_cpus, scenario.depth = (Alloc(G.GFP_KERNEL, 1),), (0,), 3
    scenario.symmetry = False
    plain = Explorer(scenario).check(*all_properties()).run()
    scenario.symmetry = True
    reduced = Explorer(scenario).check(*all_properties()).audit_every(1).run()
    forked = Explorer(scenario).check(*all_properties()).workers(2).run()
    assert plain.ok and reduced.ok and forked.ok
    assert reduced.symmetry and reduced.audited > 0 and reduced.reachable_states < plain.reachable_states
    assert (forked.reachable_states, forked.interleavings) == (reduced.reachable_states, reduced.interleavings)


RACE_TOML = """
name = "order0-free-vs-isolate"
depth = 1
preemption_bound = BOUND
[topology]
max_order = 2
pageblock_order = 0
min_free_kbytes = 0
page_group_by_mobility_disabled = false
[[topology.node]]
id = 0
cpus = [0, 1]
[[topology.node.zone]]
type = "Normal"
start_pfn = 0
pages = 8
watermarks = [0, 0, 0]
pcp = [2, 1]
[[alloc]]
setup = true
gfp = "GFP_KERNEL"
orders = [0]
[[alloc]]
gfp = "GFP_KERNEL"
orders = [0]
[[concurrent]]
first = { kind = "free", pfn = 6, cpu = 0 }
second = { kind = "isolate", start_pfn = 6, end_pfn = 8, cpu = 1 }
"""


def test_explore_reports_the_race_as_a_schedule_that_replays(capsys, tmp_path):
    from buddycheck.checks.cli import main
    path = tmp_path / "race.toml"
    path.write_text(RACE_TOML.replace("BOUND", "1"))
    assert main(["explore", "--config", str(path), "--workers", "1", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["preemption_bound"] == 1 and doc["interleavings"] == 3  # (), (1,) then (0, 1): the race
    (violation,) = doc["violations"]
    assert violation["invariant"] == "migratetype_consistency" and violation["length"] == 1
    assert main(["explore", "--config", str(path), "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "concurrent pairs: every schedule with at most 1 preemption(s);" in out
    program = out[out.index("from buddycheck"):]
    assert "#   section 2: CPU 1 runs m.isolate(6, 8, cpu=1) to its end" in program
    with pytest.raises(AssertionError, match="migratetype_consistency: per-cpu page at pfn 6"):
        exec(compile(program, "counterexample", "exec"), {"__name__": "counterexample"})
    path.write_text(RACE_TOML.replace("BOUND", "0"))
    capsys.readouterr()
    assert main(["explore", "--config", str(path), "--workers", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["violations"] == []


def test_random_walks_run_concurrent_pairs_and_count_them():
    from buddycheck.checks.strategies.simulate import Simulator
    report = Simulator(free_vs_isolate(bound=1)).check(*all_properties()).walks(10).run()
    assert report.ok and report.walks == 10
    assert report.preemption_bound == 1 and report.interleavings == report.transitions == 10  # depth 1: one pair


def test_a_pair_of_models_runs_each_concurrent_pair_on_its_own_machine():
    from buddycheck.checks.diff import difference_of
    from buddycheck.checks.pair import PairScenario
    scenario = free_vs_isolate()
    racy = (Concurrent(*scenario.pairs[0], (0, 1)),)
    d = difference_of(PairScenario(scenario, FreeOnePageTrustsStaleType), racy)
    assert d is not None and d.trace == racy
    base, head = d.steps[-1].base, d.steps[-1].head
    assert not base.violations and "migratetype_consistency" in {name for name, _ in head.violations}
    assert difference_of(PairScenario(scenario, FreeOnePageTrustsStaleType), (Concurrent(*scenario.pairs[0]),)) is None
