"""alloc_progress: an allocation fails or reaches the OOM killer only when 4.19's rules say it must.

Each planted variant of tests/progress_variants.py turns a request 4.19 serves into a NULL; its scenario
(tests/progress_scenarios/) catches it with alloc_progress at exactly the pinned length, shrinking keeps
the length, one operation less finds nothing, and unmodified 4.19 is clean on the scenario to its full
depth. The unit tests judge hand-made results on real states: each exception stops a claim the same
request without it makes.
"""

import random
from dataclasses import replace
from pathlib import Path

import pytest
from progress_variants import VARIANTS

from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Alloc, Free
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario_file import load_scenario
from buddycheck.checks.shrink import shrink
from buddycheck.model import gfp as G
from buddycheck.model.constants import COMPACT_DEFERRED, MIGRATE_HIGHATOMIC
from buddycheck.model.environment import IDLE, Environment
from buddycheck.model.errors import ModelError
from buddycheck.model.results import AllocResult, Event
from buddycheck.spec.progress import ALLOC_PROGRESS, compaction_gives_up
from buddycheck.spec.steps import request_of
from buddycheck.spec.view import view_of

SCENARIO_DIR = Path(__file__).parent / "progress_scenarios"

CAUGHT = {
    # variant: (scenario file, shortest counterexample length)
    "watermark-largest-lowmem-reserve": ("dma32-reserve.toml", 2),
    "reclaim-drain-without-unreserve": ("two-reserves-reclaim.toml", 4),
    "preferred-as-bind": ("preferred-full.toml", 4),
    "atomic-without-harder": ("atomic-below-min.toml", 3),
}


def scenario_of(name, model=None):
    sc = load_scenario(SCENARIO_DIR / CAUGHT[name][0])
    return sc if model is None else sc.with_model(model)


def explore(scenario, depth=None):
    explorer = Explorer(scenario).check(*properties_for(scenario))
    if depth is not None:
        explorer.depth(depth)
    return explorer.run()


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_the_scenario_catches_the_variant_at_the_pinned_length(name):
    report = explore(scenario_of(name, VARIANTS[name]))
    assert report.stopped_by == "violation"
    [v] = report.violations
    assert (v.invariant, v.length) == ("alloc_progress", CAUGHT[name][1])


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_shrinking_keeps_the_length(name):
    scenario = scenario_of(name, VARIANTS[name])
    v = explore(scenario).violations[0]
    shrunk = shrink(scenario, v, all_properties())
    assert (shrunk.invariant, shrunk.length) == ("alloc_progress", CAUGHT[name][1])


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_one_operation_less_finds_nothing(name):
    report = explore(scenario_of(name, VARIANTS[name]), CAUGHT[name][1] - 1)
    assert report.violations == [] and report.stopped_by is None


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_unmodified_419_is_clean_on_the_scenario(name):
    sc = scenario_of(name)
    assert sc.depth > CAUGHT[name][1]
    report = explore(sc)
    assert report.violations == []


def test_preferred_as_bind_is_reported_as_a_policy_that_must_fall_back():
    v = explore(scenario_of("preferred-as-bind", VARIANTS["preferred-as-bind"])).violations[0]
    assert "only BIND restricts the nodes" in v.message and "node 0 zone Normal" in v.message


def test_alloc_progress_is_a_419_property_of_the_default_check():
    [prop] = [p for p in all_properties() if p.name == "alloc_progress"]
    assert prop.profile == "4.19" and ALLOC_PROGRESS.profile == "4.19"


# ---- the invariant on hand-made results ------------------------------------------------------------------
def machine(name):
    return load_scenario(SCENARIO_DIR / name).initial()


def judge(m, gfp, order, env=IDLE, page=None, events=(), memcg_refused=False, **context):
    request = replace(request_of(m, gfp, order, **context), dirty_ok=env.dirty_ok)  # as BeforeState.request
    result = AllocResult(page, order, gfp, events=events)
    return ALLOC_PROGRESS.check_step(view_of(m), request, result, None, env=env, memcg_refused=memcg_refused)


def test_a_null_for_a_request_the_fast_path_serves_is_a_violation():
    [v] = judge(machine("dma32-reserve.toml"), G.GFP_KERNEL, 1)
    assert "returned NULL" in v.message and "the fast path" in v.message


def test_a_served_page_is_not_judged_unless_the_oom_killer_ran():
    m = machine("dma32-reserve.toml")
    assert judge(m, G.GFP_KERNEL, 1, page=0) == []
    [v] = judge(m, G.GFP_KERNEL, 1, page=0, events=(Event("oom_kill", (("order", 1),)),))
    assert "reached the OOM killer" in v.message


def test_fault_injection_is_an_exception():
    m = machine("dma32-reserve.toml")
    assert judge(m, G.GFP_NOWAIT, 1, env=Environment(fail_alloc=True)) == []
    assert judge(m, G.GFP_NOWAIT, 1) != []
    assert judge(m, G.GFP_KERNEL, 1, env=Environment(fail_alloc=True)) != []  # DIRECT_RECLAIM is exempt


def test_a_memcg_that_refuses_the_charge_is_an_exception():
    m = machine("dma32-reserve.toml")
    assert judge(m, G.GFP_KERNEL_ACCOUNT, 0, memcg_refused=True) == []
    assert judge(m, G.GFP_KERNEL_ACCOUNT, 0) != []


def test_an_order_of_max_order_must_fail():
    m = machine("dma32-reserve.toml")
    assert judge(m, G.GFP_KERNEL, m.MAX_ORDER) == []


def test_dirty_limits_leave_the_slow_path_to_judge():
    m = machine("dma32-reserve.toml")
    [v] = judge(m, G.GFP_USER | G.__GFP_WRITE, 0, env=Environment(dirty_ok=False))
    assert "the slow path's first attempt" in v.message


def reserved_twice():
    """two-reserves-reclaim with both pageblocks reserved and only HIGHATOMIC blocks free (orders 1 and 2)."""
    m = machine("two-reserves-reclaim.toml")
    assert m.alloc(G.GFP_ATOMIC, 1).ok
    big = m.alloc(G.GFP_ATOMIC, 2)  # too large for the first reserve's free pages: reserves the other pageblock
    m.free(big.page)
    zone = view_of(m).zones[0]
    assert zone.nr_reserved_highatomic == 2 << m.pageblock_order and zone.nr_free_pages == 6
    assert {lst for _, _, lst in zone.free} == {MIGRATE_HIGHATOMIC}
    return m


def test_highatomic_blocks_serve_only_harder_requests_of_order_above_zero():
    m = reserved_twice()
    assert judge(m, G.GFP_ATOMIC, 0) == []  # order 0 refills the per-cpu list through __rmqueue
    [v] = judge(m, G.GFP_ATOMIC, 1)
    assert "the slow path's first attempt" in v.message
    assert judge(m, G.GFP_NOWAIT, 1) == []  # no ALLOC_HARDER, no reclaim


def test_the_unreserve_is_claimed_only_when_reclaim_made_progress():
    m = reserved_twice()
    [v] = judge(m, G.GFP_KERNEL, 0, env=Environment(reclaim_progress=1))
    assert "after unreserving a HIGHATOMIC pageblock" in v.message
    assert judge(m, G.GFP_KERNEL, 0) == []  # no progress: __alloc_pages_direct_reclaim returns at once
    assert judge(m, G.GFP_KERNEL, 0, env=Environment(reclaim_progress=1), pf_memalloc=True) == []


def test_the_unreserve_leaves_the_last_pageblock_of_reserve():
    m = machine("two-reserves-reclaim.toml")
    assert m.alloc(G.GFP_ATOMIC, 1).ok
    assert all(m.alloc(G.GFP_KERNEL, 0).ok for _ in range(4))
    zone = view_of(m).zones[0]
    assert zone.nr_reserved_highatomic == 1 << m.pageblock_order and zone.nr_free_pages == 2
    assert judge(m, G.GFP_KERNEL, 0, env=Environment(reclaim_progress=1)) == []


def test_reserve_users_are_judged_without_watermarks():
    m = machine("atomic-below-min.toml")
    for _ in range(6):
        m.alloc(G.GFP_KERNEL | G.__GFP_MEMALLOC, 0)
    assert judge(m, G.GFP_ATOMIC, 0) == []  # 2 free pages: below every discounted mark
    [v] = judge(m, G.GFP_KERNEL | G.__GFP_MEMALLOC, 0)
    assert "with the reserves" in v.message


def test_a_costly_noretry_request_with_deferred_compaction_stops_before_retry():
    deferred = Environment(compact_result=COMPACT_DEFERRED)
    m = machine("dma32-reserve.toml")
    assert compaction_gives_up(request_of(m, G.GFP_KERNEL | G.__GFP_NORETRY, 4), deferred)
    assert not compaction_gives_up(request_of(m, G.GFP_KERNEL | G.__GFP_NORETRY, 3), deferred)
    assert not compaction_gives_up(request_of(m, G.GFP_KERNEL, 4), deferred)


def test_the_portfolio_catches_preferred_as_bind_in_policy_modes():
    """The one variant a portfolio scenario reaches: a relative PREFERRED policy rebound onto a full node 0."""
    path = Path(__file__).parent.parent / "checks" / "portfolio_scenarios" / "09-policy-modes.toml"
    scenario = load_scenario(path).with_model(VARIANTS["preferred-as-bind"])
    [v] = explore(scenario).violations
    assert (v.invariant, v.length) == ("alloc_progress", 5)
    assert explore(scenario, 4).violations == []


# ---- unmodified 4.19 on random runs ----------------------------------------------------------------------
RANDOM_GFPS = (
    G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_NOWAIT, G.GFP_USER, G.GFP_HIGHUSER_MOVABLE, G.GFP_KERNEL | G.__GFP_DMA32,
    G.GFP_KERNEL | G.__GFP_THISNODE, G.GFP_KERNEL | G.__GFP_NORETRY, G.GFP_KERNEL | G.__GFP_MEMALLOC,
    G.GFP_ATOMIC | G.__GFP_NOMEMALLOC, G.GFP_KERNEL | G.__GFP_NOFAIL, G.GFP_KERNEL | G.__GFP_RETRY_MAYFAIL,
    G.GFP_NOFS, G.GFP_USER | G.__GFP_WRITE, G.GFP_KERNEL_ACCOUNT, G.GFP_HIGHUSER_MOVABLE | G.__GFP_HIGH,
)
RANDOM_ENVS = (IDLE, Environment(reclaim_progress=1), Environment(reclaimable_pages=16),
               Environment(oom_victim_found=True), Environment(compact_result=COMPACT_DEFERRED),
               Environment(dirty_ok=False), Environment(fail_alloc=True))


def random_alloc(rng, m):
    nodes, cpus = list(m.topology.node_ids), list(m.topology.cpus)
    context = {flag: rng.random() < 0.15 for flag in ("in_interrupt", "pf_memalloc", "rt_task", "oom_victim")}
    mask = frozenset(rng.sample(nodes, rng.randint(1, len(nodes)))) if rng.random() < 0.3 else None
    return Alloc(rng.choice(RANDOM_GFPS), rng.choice((0, 0, 1, 2, 3, 4)), cpu=rng.choice(cpus),
                 nid=rng.choice([None, *nodes]), env=rng.choice(RANDOM_ENVS), nodes=mask, **context)


def test_unmodified_419_is_never_flagged_on_random_runs():
    rng = random.Random(419)
    files = sorted((Path(__file__).parent.parent / "checks" / "portfolio_scenarios").glob("*.toml"))
    files += sorted(SCENARIO_DIR.glob("*.toml"))
    failures = flagged = 0
    for _ in range(40):
        m = load_scenario(rng.choice(files)).initial()
        [prop] = [p for p in all_properties() if p.name == "alloc_progress"]
        for _ in range(25):
            before = m.freeze()
            if rng.random() < 0.3 and m.allocated:
                Free(rng.choice(sorted(m.allocated))).apply(m)
                continue
            op = random_alloc(rng, m)
            try:
                result = op.apply(m)
            except ModelError:
                m.restore(before)
                continue
            failures += result.page is None
            flagged += bool(prop.violations(before, op, result, m))
    assert failures > 50 and flagged == 0
