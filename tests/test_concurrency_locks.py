"""Trylocks as choices, and the preemption points of the highatomic reserve (model/locks.py, model/buddy.py).

A planted race per family: drain_all_pages giving up on a zone's drain when another CPU holds
pcpu_drain_mutex, and reserve_highatomic_pageblock deciding before zone->lock. Each is caught with
its pinned trace length and preemption count, and not with the bound one lower; 4.19 is clean on
the same scenarios (but for the documented window of set_migratetype_isolate, docs/kernel-419.md).
"""

import pytest
from planted_races import DrainAllPagesGivesUpOnAZone, ReserveHighatomicChecksBeforeTheLock

from buddycheck.checks.concurrent_scenarios import highatomic_pair, isolate_vs_isolate, two_zones
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Concurrent
from buddycheck.checks.properties import all_properties
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.environment import Environment
from buddycheck.model.interleaving import run_concurrent, schedules
from buddycheck.model.locks import OOM_LOCK, PCPU_DRAIN_MUTEX, mutex_lock, mutex_trylock, mutex_unlock
from buddycheck.model.machine import kcall
from buddycheck.model.preempt import preempt_point
from buddycheck.spec.invariants import check_state
from buddycheck.spec.view import view_of


def search(scenario):
    return Explorer(scenario).check(*all_properties()).run()


def test_a_zone_drain_that_gives_up_on_the_mutex_is_caught_with_one_preemption_and_not_with_none():
    report = search(isolate_vs_isolate(DrainAllPagesGivesUpOnAZone, bound=1))
    (v,) = report.violations
    assert v.invariant == "migratetype_consistency"
    assert v.message == "per-cpu page at pfn 6 on node 0 zone Normal (cpu 1) lies in an Isolate pageblock"
    (op,) = v.trace  # the pair's end state: CPU 1's isolation returned without draining
    assert isinstance(op, Concurrent) and op.preemptions == 1
    assert search(isolate_vs_isolate(DrainAllPagesGivesUpOnAZone, bound=0)).ok


def end_state_violations(model, scenario, bound):
    """The state invariants' violations at the end of every schedule of the scenario's pair."""
    m = model(scenario.topology)
    for op in scenario.setup:
        op.apply(m)
    first, second = scenario.pairs[0]
    start, out = m.freeze(), []
    for schedule in schedules(m, lambda: first.apply(m), lambda: second.apply(m), bound):
        run_concurrent(m, lambda: first.apply(m), lambda: second.apply(m), schedule)
        out += [(schedule, v.invariant) for v in check_state(view_of(m))]
        m.restore(start)
    return out


def test_4_19_waits_for_the_mutex_and_ends_every_schedule_clean():
    assert end_state_violations(Kernel419, isolate_vs_isolate(), 2) == []
    assert end_state_violations(DrainAllPagesGivesUpOnAZone, isolate_vs_isolate(), 1)  # the same check can fail


def test_4_19_s_window_between_isolating_a_pageblock_and_draining_it():
    # set_migratetype_isolate drops zone->lock before drain_all_pages(zone): until the drain, a per-cpu page of
    # the pageblock may still be taken from its list (docs/kernel-419.md). The other CPU sees it when CPU 1 is
    # preempted after that unlock, or when CPU 1 waits there for the other's drain: never at a pair's end
    window = ("at preemption 1 (operation 1 set aside at spin_unlock_irqrestore(&zone->lock): set_migratetype_isolate)",
              "at a wait for a lock (operation 1 set aside at mutex_lock(&pcpu_drain_mutex): drain_all_pages)")
    report = Explorer(isolate_vs_isolate(bound=1)).check(*all_properties()).all_violations().run()
    assert [v.invariant for v in report.violations] == ["migratetype_consistency"]
    assert report.violations[0].message.startswith(window)
    assert report.violations[0].message.endswith("per-cpu page at pfn 6 on node 0 zone Normal (cpu 1) lies in an "
                                                 "Isolate pageblock")
    assert search(isolate_vs_isolate(bound=0)).ok


def test_the_state_at_a_wait_is_judged():
    m = Kernel419(two_zones())
    for op in isolate_vs_isolate().setup:
        op.apply(m)
    first, second = isolate_vs_isolate().pairs[0]
    result = run_concurrent(m, lambda: first.apply(m), lambda: second.apply(m), (0, 0, 0, 1))
    preempted, waited = result.switches
    assert (preempted.slot, preempted.point, preempted.wait) == (0, "local_irq_restore: drain_pages_zone", False)
    assert (waited.slot, waited.point, waited.wait) == (1, "mutex_lock(&pcpu_drain_mutex): drain_all_pages", True)
    assert result.preemptions == 1
    assert [v.invariant for v in check_state(view_of(m))] == []  # the end state is clean
    (prop,) = [p for p in all_properties() if p.name == "migratetype_consistency"]
    (message,) = prop.violations(None, None, result, m)
    assert message.startswith("at a wait for a lock (operation 1 set aside at mutex_lock(&pcpu_drain_mutex)")


def test_a_highatomic_reserve_decided_before_the_lock_is_caught_with_one_preemption_and_not_with_none():
    report = search(highatomic_pair(ReserveHighatomicChecksBeforeTheLock, bound=1))
    (v,) = report.violations
    assert v.invariant == "highatomic_reserve_exact" and "nr_reserved_highatomic = 8" in v.message
    (op,) = v.trace
    assert isinstance(op, Concurrent) and op.preemptions == 1
    assert search(highatomic_pair(ReserveHighatomicChecksBeforeTheLock, bound=0)).ok


def test_4_19_rechecks_the_reserve_limit_under_the_lock():
    report = search(highatomic_pair(bound=2))
    assert report.ok, report.violations
    assert report.interleavings == 26  # as `buddycheck bench concurrency` counts them at bound 2


def lock_then_point(m, log):
    def run():
        log.append(("first", mutex_trylock(m, OOM_LOCK)))
        preempt_point(m, "holding oom_lock")
        mutex_unlock(m, OOM_LOCK)
    return run


def try_once(m, log):
    def run():
        log.append(("second", mutex_trylock(m, OOM_LOCK)))
        if log[-1][1]:
            mutex_unlock(m, OOM_LOCK)
    return run


def test_a_trylock_fails_while_the_other_cpu_holds_the_lock_at_its_point():
    m = Kernel419(two_zones())
    for schedule, second_gets_it in (((), True), ((0, 1), False), ((1,), True)):
        log = []
        run_concurrent(m, lock_then_point(m, log), try_once(m, log), schedule)
        assert dict(log) == {"first": True, "second": second_gets_it}, schedule


def test_mutex_lock_sets_the_waiter_aside_until_the_holder_releases_without_a_preemption():
    m = Kernel419(two_zones())
    log = []

    def waiter():
        if not mutex_trylock(m, PCPU_DRAIN_MUTEX):
            mutex_lock(m, PCPU_DRAIN_MUTEX, "waiting")
        log.append("second has it")
        mutex_unlock(m, PCPU_DRAIN_MUTEX)

    def holder():
        mutex_trylock(m, PCPU_DRAIN_MUTEX)
        preempt_point(m, "p1")
        preempt_point(m, "p2")  # the waiter cannot run: no decision here
        log.append("first releases")
        mutex_unlock(m, PCPU_DRAIN_MUTEX)

    result = run_concurrent(m, holder, waiter, (0, 1))
    assert log == ["first releases", "second has it"]
    assert [(s.slot, s.ended_at) for s in result.sections] == [(0, "p1"), (1, "waiting"), (0, "end"), (1, "end")]
    assert result.preemptions == 1 and len(result.decisions) == 2


def drained(m):
    return all(p.count == 0 for pgdat in m.node_data for z in pgdat.node_zones for p in z.pageset.values())


@pytest.mark.parametrize("whole_machine", [True, False])
def test_sequentially_the_environment_says_when_another_task_holds_the_drain_mutex(whole_machine):
    m = Kernel419(two_zones())
    page = m.alloc(G.GFP_KERNEL, 0, cpu=1).page
    m.free(page, cpu=1)
    zone = None if whole_machine else m.page_zone(page)
    m.env = Environment(pcpu_drain_mutex_held=True)
    m._begin(0)
    m.drain_all_pages(zone)
    assert drained(m) != whole_machine  # a drain of all zones gives up; a zone's drain waits, then drains
    m.drain_all_pages(zone)
    assert drained(m)  # the holder is done by the next attempt


def test_sequentially_a_held_oom_lock_claims_progress_without_a_page():
    m = Kernel419(two_zones())
    while m.alloc(G.GFP_KERNEL, 0, cpu=0).page is not None:
        pass
    ac = m.last_ac
    m.env = Environment(oom_lock_held=True, oom_victim_found=True)
    m._begin(0)
    assert kcall(m, "__alloc_pages_may_oom")(G.GFP_KERNEL, 0, ac) == (None, 1)
    assert [e.kind for e in m.events] == []  # out_of_memory() was not asked
    assert kcall(m, "__alloc_pages_may_oom")(G.GFP_KERNEL, 0, ac) == (None, 1)
    assert [e.kind for e in m.events] == ["oom_kill"]


LOCK_ENV_TOML = """
depth = 1
[topology]
max_order = 2
pageblock_order = 1
min_free_kbytes = 0
page_group_by_mobility_disabled = false
[[topology.node]]
id = 0
cpus = [0, 1]
[[topology.node.zone]]
type = "Normal"
start_pfn = 0
pages = 4
watermarks = [0, 0, 0]
pcp = [2, 1]
[[alloc]]
gfp = "GFP_KERNEL"
orders = [0]
env = [{}, { reclaim_progress = 1, pcpu_drain_mutex_held = true }, { oom_lock_held = true }]
"""


def test_a_scenario_file_offers_the_held_locks_as_environment_choices(tmp_path):
    from buddycheck.checks.scenario_file import load_scenario
    from buddycheck.model.errors import ConfigError
    path = tmp_path / "locks.toml"
    path.write_text(LOCK_ENV_TOML)
    sc = load_scenario(path)
    envs = {op.env for op in sc.allocs}
    assert Environment(reclaim_progress=1, pcpu_drain_mutex_held=True) in envs
    assert Environment(oom_lock_held=True) in envs
    assert search(sc).ok
    path.write_text(LOCK_ENV_TOML.replace("oom_lock_held = true", "oom_lock_held = 1"))
    with pytest.raises(ConfigError, match="oom_lock_held"):
        load_scenario(path)


def test_a_lock_left_held_at_an_operation_s_end_does_not_hang_the_waiter():
    m = Kernel419(two_zones())
    log = []

    def forgets_to_unlock():
        mutex_trylock(m, PCPU_DRAIN_MUTEX)
        preempt_point(m, "p")

    def waits():
        mutex_lock(m, PCPU_DRAIN_MUTEX, "waiting")
        log.append("got it")

    run_concurrent(m, forgets_to_unlock, waits, (0, 1))
    assert log == ["got it"]
