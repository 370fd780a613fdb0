"""The default check's portfolio (checks/portfolio_scenarios/): it loads, is clean on 4.19, reaches its goals,
and kills the mutant catalogue as a held-out test."""

import pytest

from buddycheck.checks.explore import Explorer
from buddycheck.checks.mutants import MUTANTS
from buddycheck.checks.portfolio import explore_portfolio, properties_for
from buddycheck.checks.scenarios import portfolio_files, portfolio_scenarios
from buddycheck.model import Kernel419
from buddycheck.model.environment import IDLE

# by this depth every scenario has reached each of its goals on 4.19
GOAL_DEPTH = 4


def test_the_portfolio_loads_in_file_name_order_and_every_scenario_says_what_it_is_for():
    names = [f.name for f in portfolio_files()]
    assert names == sorted(names) and len(names) >= 10
    scenarios = portfolio_scenarios()
    assert [sc.name for sc in scenarios] == [
        "pageblock-steal", "highatomic", "highatomic-one-pageblock", "cma", "isolation", "slowpath", "exhausted",
        "zone-boundary", "policy-modes", "numa4-vma", "mempolicy-syscalls", "highatomic-two-reserves",
        "faults", "thp-faults", "concurrent", "sysctls", "fork", "thp-fork", "cpuset-races", "migration",
        "shmem"]
    for sc in scenarios:
        assert sc.description and sc.sometimes and 2 <= sc.depth <= 6
        assert sc.validate() is sc


@pytest.mark.parametrize("sc", portfolio_scenarios(), ids=lambda sc: sc.name)
def test_each_scenario_reaches_its_goals_on_4_19_without_a_violation(sc):
    report = Explorer(sc).check(*properties_for(sc)).depth(min(sc.depth, GOAL_DEPTH)).run()  # the 4.19 profile
    assert report.violations == []
    assert all(report.sometimes.values()), report.sometimes


def test_the_portfolio_covers_what_it_is_meant_to():
    """The situations of the portfolio's brief, read off the scenarios themselves."""
    scenarios = {sc.name: sc for sc in portfolio_scenarios()}
    topologies = [sc.topology for sc in scenarios.values()]
    assert any(t.pageblock_order < t.max_order - 1 for t in topologies)
    assert any(z.cma_pageblocks for t in topologies for n in t.nodes for z in n.zones)
    assert {len(t.nodes) for t in topologies} >= {1, 2, 4}
    assert any(z.start_pfn % (1 << (t.max_order - 1)) for t in topologies for n in t.nodes for z in n.zones)
    assert any(z.pcp_high_batch and z.pcp_high_batch[0] <= 2 for t in topologies for n in t.nodes for z in n.zones)
    envs = {f for sc in scenarios.values() for op in sc.allocs + sc.extra_ops if hasattr(op, "env")
            for f in IDLE.__dataclass_fields__ if getattr(op.env, f) != getattr(IDLE, f)}
    assert envs == {"fail_alloc", "node_reclaim_result", "dirty_ok", "reclaim_progress", "compact_result",
                    "reclaimable_pages", "oom_victim_found"}


# mutant -> (portfolio scenario, invariant, length of the shortest counterexample) at the declared depths
KILLS = {
    "zone-xmerge": ("zone-boundary", "conservation", 0),
    "iso-merge-order": ("isolation", "free_accounting", 3),
    "iso-merge-buddy": ("isolation", "free_accounting", 5),
    "iso-undo-no-merge": ("isolation", "maximal_coalescing", 4),
    "pcp-stale-isolate": ("isolation", "migratetype_consistency", 3),
    "cma-wmark": ("cma", "watermark_respect", 4),
    "cma-iso-count": ("cma", "free_accounting", 1),
    "wmark-neg": ("highatomic", "watermark_respect", 4),
    "ha-steal": ("highatomic-one-pageblock", "highatomic_reserve_exact", 5),
    "ha-double-dec": ("highatomic-two-reserves", "highatomic_accounting", 4),
    "thp-preferred": ("numa4-vma", "thp_node", 2),
    "thp-not-thisnode": ("numa4-vma", "thp_node", 3),
    "il-next-rebind": ("policy-modes", "interleave_cursor", 2),
    "mbind-strict-eio": ("migration", "mbind_strict_placement", 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KILLS))
def test_the_portfolio_kills_the_mutant(name):
    scenario, invariant, length = KILLS[name]
    sc = next(sc for sc in portfolio_scenarios() if sc.name == scenario)
    # as `buddycheck check --model` judges it: every violation replayed on 4.19, the strict rules included
    [run] = explore_portfolio([sc], MUTANTS[name].model, seconds=None, base=Kernel419, diff_coverage=False)
    found = {v.invariant: v.length for v in run.violations}
    assert found[invariant] == length == min(found.values())
    assert explore_portfolio([sc], Kernel419, seconds=None)[0].violations == []


def test_every_built_in_goal_is_reached_somewhere_in_the_portfolio():
    """A goal that no scenario reaches would hide a vacuous run; each has a scenario where it fires."""
    from buddycheck.checks.goals import GOALS

    reached = set()
    for sc in portfolio_scenarios():
        report = Explorer(sc.with_goals(tuple(GOALS.values()))).depth(min(sc.depth, GOAL_DEPTH)).run()
        reached |= {name for name, hit in report.sometimes.items() if hit}
    assert reached == {g.name for g in GOALS.values()}


def test_every_built_in_scenario_has_its_own_name():
    from buddycheck.checks.scenarios import DIFF_SCENARIOS, SCENARIOS, scenario

    names = [*SCENARIOS, *DIFF_SCENARIOS, *(sc.name for sc in portfolio_scenarios())]
    assert len(names) == len(set(names))
    assert scenario("policy-modes").name == "policy-modes"  # a portfolio scenario is a --preset too
