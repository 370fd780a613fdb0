"""__alloc_pages_nodemask around the zone loop, and the slow path.

Counts of reclaim rounds and OOM calls are derived from the 4.19 retry rules in the comments;
a RecordingEnv (tests/conftest.py) counts what the model asks its environment.
"""

import dataclasses
from dataclasses import dataclass

import pytest
from conftest import RecordingEnv, event_kinds, fill, machine, set_current, zone

import buddycheck.model.gfp as g
from buddycheck.model import Kernel419, Task, preset
from buddycheck.model.constants import (
    ALLOC_CMA,
    ALLOC_CPUSET,
    ALLOC_HARDER,
    ALLOC_HIGH,
    ALLOC_NO_WATERMARKS,
    ALLOC_OOM,
    ALLOC_WMARK_MIN,
    COMPACT_COMPLETE,
    COMPACT_DEFERRED,
    COMPACT_PRIO_ASYNC,
    COMPACT_PRIO_SYNC_FULL,
    COMPACT_PRIO_SYNC_LIGHT,
    COMPACT_SKIPPED,
    COMPACT_SUCCESS,
    MAX_RECLAIM_RETRIES,
    ZONE_DMA32,
    ZONE_NORMAL,
)
from buddycheck.model.environment import Environment
from buddycheck.model.slowpath import MAX_SLOWPATH_ROUNDS, SlowpathState

NOWAIT = g.GFP_NOWAIT | g.__GFP_NOWARN
KERNEL = g.GFP_KERNEL | g.__GFP_NOWARN


# ---- machines -------------------------------------------------------------------------------------

def exhausted(env=None, **kw):
    """One node: DMA32 (pfn 0-15) and Normal (16-31), min 2 / low 3 / high 4 each, MAX_ORDER 5.

    GFP_NOWAIT takes pages until both zones sit at their min (2 free each); then `env` is installed,
    so its log holds only what the test's own allocation asked.
    """
    m = machine((zone(ZONE_DMA32, 0, 16, wm=(2, 3, 4)), zone(ZONE_NORMAL, 16, 16, wm=(2, 3, 4))),
                max_order=5, **kw)
    taken = fill(m, NOWAIT)
    assert len(taken) == 28 and [z.nr_free_pages for z in m.zones()] == [2, 2]
    m.env = RecordingEnv() if env is None else env
    return m


def two_nodes(**kw):
    """Two nodes of 8 Normal pages each (min 1 / low 2 / high 3), one CPU each."""
    return machine((zone(ZONE_NORMAL, 0, 8, wm=(1, 2, 3)),), (zone(ZONE_NORMAL, 8, 8, wm=(1, 2, 3)),), **kw)


# ---- cpusets: ALLOC_CPUSET and __GFP_HARDWALL --------------------------------------------------------

def cpuset_machine(enabled=True):
    """two_nodes with task 1 confined to node 1, and node 1 already at its min (1 free page)."""
    m = two_nodes(cpusets_enabled=enabled)
    m.tasks[1] = Task(1, {1})
    fill(m, NOWAIT | g.__GFP_THISNODE, nid=1)  # task 0 may use every node
    assert m.zone(1, ZONE_NORMAL).nr_free_pages == 1
    return m


def test_fast_path_confines_a_task_to_its_cpuset():
    m = two_nodes(cpusets_enabled=True)
    m.tasks[1] = Task(1, {1})
    r = m.alloc(g.GFP_KERNEL, cpu=0, task=1)  # the preferred node is 0, but mems_allowed is {1}
    assert (r.ok, r.nid) == (True, 1)
    # with an explicit nodemask the fast path adds ALLOC_CPUSET and __GFP_HARDWALL instead
    r = m.alloc(g.GFP_KERNEL, cpu=0, task=1, nodemask={0, 1})
    assert (r.ok, r.nid) == (True, 1)


def test_slow_path_lets_a_non_hardwall_request_leave_the_cpuset():
    # The slow path drops the fast path's HARDWALL; __cpuset_node_allowed() then allows node 0
    # because the nearest hardwall ancestor (the root cpuset) has every node.
    m = cpuset_machine()
    r = m.alloc(g.GFP_KERNEL, cpu=0, task=1)
    assert (r.ok, r.nid) == (True, 0)


def test_hardwall_request_stays_in_the_cpuset_and_fails():
    m = cpuset_machine()
    r = m.alloc(g.GFP_USER | g.__GFP_NOWARN, cpu=0, task=1)
    assert not r.ok
    assert m.zone(0, ZONE_NORMAL).nr_free_pages == 8


def test_atomic_ignores_the_cpuset_in_the_slow_path():
    # GFP_ATOMIC drops ALLOC_CPUSET, so even __GFP_HARDWALL does not keep it on node 1.
    m = cpuset_machine()
    r = m.alloc(g.GFP_ATOMIC | g.__GFP_HARDWALL, cpu=0, task=1)
    assert (r.ok, r.nid) == (True, 0)


def test_interrupt_context_is_not_bound_by_the_cpuset_in_the_slow_path():
    m = cpuset_machine()
    r = m.alloc(g.GFP_USER, cpu=0, task=1, in_interrupt=True)
    assert (r.ok, r.nid) == (True, 0)


def test_cpusets_disabled_ignore_mems_allowed():
    m = cpuset_machine(enabled=False)
    r = m.alloc(g.GFP_USER, cpu=0, task=1)
    assert (r.ok, r.nid) == (True, 0)


# ---- dirty spreading (__GFP_WRITE) ------------------------------------------------------------------

@dataclass(frozen=True)
class DirtyNodesEnv(RecordingEnv):
    """node_dirty_ok() is false for the nodes in dirty_nodes."""

    dirty_nodes: frozenset = frozenset()

    def node_dirty_ok(self, k, pgdat):
        super().node_dirty_ok(k, pgdat)
        return pgdat.node_id not in self.dirty_nodes


def test_write_request_skips_a_node_over_its_dirty_limit():
    env = DirtyNodesEnv(dirty_nodes=frozenset({0}))
    m = Kernel419(preset("numa2"), env)
    r = m.alloc(g.GFP_KERNEL | g.__GFP_WRITE, cpu=0)
    assert (r.ok, r.nid) == (True, 1)
    # asked once per node: node 0's DMA32 zone is skipped through last_pgdat_dirty_limit
    assert env.calls("node_dirty_ok") == [0, 1]


def test_dirty_limits_apply_only_to_write_requests():
    env = DirtyNodesEnv(dirty_nodes=frozenset({0}))
    m = Kernel419(preset("numa2"), env)
    r = m.alloc(g.GFP_KERNEL, cpu=0)
    assert (r.ok, r.nid) == (True, 0)
    assert env.calls("node_dirty_ok") == []


def test_slow_path_does_not_spread_dirty_pages():
    # Every node over its limit: the fast path finds nothing, the slow path takes the local node.
    env = RecordingEnv(dirty_ok=False)
    m = Kernel419(preset("numa2"), env)
    r = m.alloc(g.GFP_KERNEL | g.__GFP_WRITE, cpu=0)
    assert (r.ok, r.nid, r.zone_idx) == (True, 0, ZONE_NORMAL)
    assert env.calls("node_dirty_ok") == [0, 1]


# ---- should_fail_alloc_page -------------------------------------------------------------------------

def test_fault_injection_exemptions():
    exempt = {
        "order0": (g.GFP_NOWAIT, 0),                    # order < min_order (1)
        "nofail": (g.GFP_NOWAIT | g.__GFP_NOFAIL, 1),
        "highmem": (g.GFP_NOWAIT | g.__GFP_HIGHMEM, 1),  # ignore_gfp_highmem
        "reclaim": (g.GFP_KERNEL, 1),                   # ignore_gfp_reclaim
    }
    env = RecordingEnv(fail_alloc=True)
    m = Kernel419(preset("numa2"), env)
    assert {name: m.alloc(gfp, order=order).ok for name, (gfp, order) in exempt.items()} == dict.fromkeys(exempt, True)
    assert env.calls("should_fail_alloc_page") == []  # the fault attribute is never consulted


def test_fault_injection_fails_the_rest():
    for gfp in (g.GFP_NOWAIT, g.GFP_ATOMIC):
        env = RecordingEnv(fail_alloc=True)
        m = Kernel419(preset("numa2"), env)
        before = m.freeze()
        r = m.alloc(gfp, order=1)
        assert not r.ok and r.reason == "should_fail_alloc_page"
        assert r.events == ()  # NULL straight from prepare_alloc_pages: no warn_alloc
        assert env.calls("should_fail_alloc_page") == [(gfp, 1)]
        assert m.freeze() == before
    assert Kernel419(preset("numa2")).alloc(g.GFP_NOWAIT, order=1).ok  # the idle environment never fails


# ---- gfp_to_alloc_flags and __gfp_pfmemalloc_flags --------------------------------------------------

def test_gfp_to_alloc_flags():
    assert (ALLOC_WMARK_MIN, ALLOC_CPUSET, ALLOC_HARDER, ALLOC_HIGH, ALLOC_CMA) == (0, 0x40, 0x10, 0x20, 0x80)
    table = [  # (name, gfp, current's context, expected flags)
        ("kernel", g.GFP_KERNEL, {}, ALLOC_WMARK_MIN | ALLOC_CPUSET),
        ("nowait", g.GFP_NOWAIT, {}, ALLOC_WMARK_MIN | ALLOC_CPUSET),
        ("high", g.GFP_KERNEL | g.__GFP_HIGH, {}, ALLOC_WMARK_MIN | ALLOC_CPUSET | ALLOC_HIGH),
        ("atomic", g.GFP_ATOMIC, {}, ALLOC_HIGH | ALLOC_HARDER),  # no CPUSET
        ("atomic-nomemalloc", g.GFP_ATOMIC | g.__GFP_NOMEMALLOC, {}, ALLOC_HIGH),  # no HARDER either
        ("movable", g.GFP_HIGHUSER_MOVABLE, {}, ALLOC_WMARK_MIN | ALLOC_CPUSET | ALLOC_CMA),
        ("rt", g.GFP_KERNEL, {"rt_task": True}, ALLOC_CPUSET | ALLOC_HARDER),
        ("rt-irq", g.GFP_KERNEL, {"rt_task": True, "in_interrupt": True}, ALLOC_CPUSET),
        ("rt-atomic", g.GFP_ATOMIC, {"rt_task": True}, ALLOC_HIGH | ALLOC_HARDER),
    ]
    m = Kernel419(preset("numa2"))
    got = {}
    for name, gfp, context, _ in table:
        set_current(m, **context)
        got[name] = m.gfp_to_alloc_flags(gfp)
    assert got == {name: expected for name, _, _, expected in table}


def test_gfp_to_alloc_flags_without_mobility_grouping_has_no_cma():
    m = Kernel419(preset("buddy-core"))
    set_current(m)
    assert m.gfp_to_alloc_flags(g.GFP_HIGHUSER_MOVABLE) == ALLOC_WMARK_MIN | ALLOC_CPUSET


def test_gfp_pfmemalloc_flags():
    irq = {"in_interrupt": True}
    table = [  # (name, gfp, current's context, expected reserve flags)
        ("plain", g.GFP_KERNEL, {}, 0),
        ("memalloc", g.GFP_KERNEL | g.__GFP_MEMALLOC, {}, ALLOC_NO_WATERMARKS),
        ("nomemalloc-wins", g.GFP_KERNEL | g.__GFP_MEMALLOC | g.__GFP_NOMEMALLOC, {}, 0),
        ("pf-memalloc", g.GFP_KERNEL, {"pf_memalloc": True}, ALLOC_NO_WATERMARKS),
        ("pf-memalloc-nomemalloc", g.GFP_KERNEL | g.__GFP_NOMEMALLOC, {"pf_memalloc": True}, 0),
        ("pf-memalloc-hardirq", g.GFP_ATOMIC, {"pf_memalloc": True, **irq}, 0),
        ("pf-memalloc-softirq", g.GFP_ATOMIC, {"pf_memalloc": True, "in_serving_softirq": True, **irq},
         ALLOC_NO_WATERMARKS),
        ("oom-victim", g.GFP_KERNEL, {"oom_victim": True}, ALLOC_OOM),
        ("oom-victim-irq", g.GFP_ATOMIC, {"oom_victim": True, **irq}, 0),
        ("memalloc-before-oom", g.GFP_KERNEL | g.__GFP_MEMALLOC, {"oom_victim": True}, ALLOC_NO_WATERMARKS),
    ]
    m = Kernel419(preset("numa2"))
    got = {}
    for name, gfp, context, _ in table:
        set_current(m, **context)
        got[name] = (m.__gfp_pfmemalloc_flags(gfp), m.gfp_pfmemalloc_allowed(gfp))
    assert got == {name: (expected, bool(expected)) for name, _, _, expected in table}


# ---- the reserves ---------------------------------------------------------------------------------

def test_memalloc_takes_a_page_below_min_without_reclaim():
    m = exhausted()
    r = m.alloc(g.GFP_KERNEL | g.__GFP_MEMALLOC)
    assert (r.ok, r.zone_idx) == (True, ZONE_NORMAL)  # the retry pass ignores watermarks
    assert m.pfmemalloc
    assert m.env.calls("try_to_free_pages") == []
    assert not m.alloc(KERNEL | g.__GFP_MEMALLOC | g.__GFP_NOMEMALLOC).ok  # NOMEMALLOC wins


def test_pf_memalloc_task_uses_reserves_but_never_reclaims():
    m = exhausted()
    assert m.alloc(g.GFP_KERNEL, pf_memalloc=True).ok
    fill(m, NOWAIT | g.__GFP_MEMALLOC)  # empty both zones
    assert [z.nr_free_pages for z in m.zones()] == [0, 0]
    r = m.alloc(KERNEL, pf_memalloc=True)
    assert not r.ok
    assert m.env.calls("try_to_free_pages") == [] and m.env.calls("out_of_memory") == []


def test_oom_victim_gets_half_of_min():
    # ALLOC_OOM on the retry pass: min 2 - 2 // 2 = 1, so one more page per zone (2 -> 1).
    m = exhausted()
    got = fill(m, NOWAIT, oom_victim=True)
    assert [r.zone_idx for r in got] == [ZONE_NORMAL, ZONE_DMA32]
    assert [z.nr_free_pages for z in m.zones()] == [1, 1]


def test_atomic_with_direct_reclaim_is_warned_and_loses_harder():
    # 16 pages, min 4: after GFP_NOWAIT stops at 4, ALLOC_HARDER alone (4 - 1 = 3) would pass,
    # but the slow path strips __GFP_ATOMIC from a request that may also reclaim.
    m = machine((zone(ZONE_NORMAL, 0, 16, wm=(4, 14, 15)),))
    fill(m, NOWAIT)
    r = m.alloc(KERNEL | g.__GFP_ATOMIC)
    assert not r.ok
    assert ("warning", (("message", "__alloc_pages_slowpath: __GFP_ATOMIC with __GFP_DIRECT_RECLAIM"),)) in [
        (e.kind, e.detail) for e in r.events]


# ---- orders at or above MAX_ORDER -------------------------------------------------------------------

def test_order_at_or_above_max_order_warns_unless_nowarn_and_returns_null():
    m = Kernel419(preset("numa2"))  # MAX_ORDER 4
    before = m.freeze()
    r = m.alloc(g.GFP_KERNEL, order=4)
    assert not r.ok
    assert event_kinds(r) == ["warning"]  # a WARN_ON_ONCE, not warn_alloc
    assert m.freeze() == before
    r = m.alloc(g.GFP_KERNEL | g.__GFP_NOWARN, order=5)
    assert not r.ok and r.events == ()  # __GFP_NOWARN silences the warning


# ---- retry rules --------------------------------------------------------------------------------

def test_nowait_never_reclaims_and_warns():
    m = exhausted()
    r = m.alloc(g.GFP_NOWAIT)
    assert not r.ok
    assert m.env.calls("try_to_free_pages") == [] and m.env.calls("out_of_memory") == []
    assert ("warn_alloc", (("message", "page allocation failure: order:0"),)) in [(e.kind, e.detail) for e in r.events]


def test_warn_alloc_suppressed_by_nowarn():
    m = exhausted()
    r = m.alloc(g.GFP_KERNEL)
    assert not r.ok and "warn_alloc" in event_kinds(r)
    r = m.alloc(g.GFP_KERNEL | g.__GFP_NOWARN)
    assert not r.ok and "warn_alloc" not in event_kinds(r)


def test_no_reclaimable_pages_one_round_then_oom():
    # should_reclaim_retry: free 2 + reclaimable 0 never exceeds min 2, so no retry; then OOM once.
    m = exhausted()
    assert not m.alloc(KERNEL).ok
    assert len(m.env.calls("try_to_free_pages")) == 1
    assert len(m.env.calls("out_of_memory")) == 1


def test_reclaim_retries_bounded_by_max_reclaim_retries_without_progress():
    # Reclaimable pages keep the watermark check passing (2 + 100 > 2), but reclaim reports no
    # progress: no_progress_loops reaches 1, 2, ..., 16 (retry) and 17 > MAX_RECLAIM_RETRIES stops.
    m = exhausted(RecordingEnv(reclaimable_pages=100))
    assert not m.alloc(KERNEL).ok
    assert len(m.env.calls("try_to_free_pages")) == MAX_RECLAIM_RETRIES + 1 == 17
    assert len(m.env.calls("out_of_memory")) == 1


def test_reclaim_progress_resets_the_retry_count():
    # With progress at order <= 3 the kernel resets no_progress_loops every round and retries for
    # as long as the watermark check with reclaimable pages passes: it never gives up here. The
    # model stops after MAX_SLOWPATH_ROUNDS with a "livelock" event (its documented bound).
    m = exhausted(RecordingEnv(reclaimable_pages=100, reclaim_progress=1))
    r = m.alloc(KERNEL)
    assert not r.ok and "livelock" in event_kinds(r)
    assert len(m.env.calls("try_to_free_pages")) == MAX_SLOWPATH_ROUNDS > MAX_RECLAIM_RETRIES + 1
    assert m.env.calls("out_of_memory") == []


def test_noretry_stops_after_one_round():
    m = exhausted(RecordingEnv(reclaimable_pages=100, reclaim_progress=1))
    assert not m.alloc(KERNEL | g.__GFP_NORETRY).ok
    assert len(m.env.calls("try_to_free_pages")) == 1
    assert m.env.calls("out_of_memory") == []


def test_costly_order_without_retry_mayfail_stops_after_one_round():
    # order 4 > PAGE_ALLOC_COSTLY_ORDER: early async compaction, one reclaim round with compaction at
    # the default priority, then nopage; no OOM.
    m = exhausted(RecordingEnv(reclaimable_pages=100, reclaim_progress=1))
    assert not m.alloc(KERNEL, order=4).ok
    assert len(m.env.calls("try_to_free_pages")) == 1
    assert m.env.calls("try_to_compact_pages") == [(4, COMPACT_PRIO_ASYNC), (4, COMPACT_PRIO_SYNC_LIGHT)]
    assert m.env.calls("out_of_memory") == []


def test_costly_noretry_keeps_compaction_async():
    m = exhausted(RecordingEnv(reclaimable_pages=100))
    assert not m.alloc(KERNEL | g.__GFP_NORETRY, order=4).ok
    assert m.env.calls("try_to_compact_pages") == [(4, COMPACT_PRIO_ASYNC), (4, COMPACT_PRIO_ASYNC)]


def test_costly_noretry_with_deferred_compaction_fails_before_reclaim():
    m = exhausted(RecordingEnv(compact_result=COMPACT_DEFERRED))
    assert not m.alloc(KERNEL | g.__GFP_NORETRY, order=4).ok
    assert m.env.calls("try_to_compact_pages") == [(4, COMPACT_PRIO_ASYNC)]
    assert m.env.calls("try_to_free_pages") == []


def test_costly_order_with_retry_mayfail_counts_every_round():
    # Normal 32 pages as one free order-5 block, min 30: an order-4 request fails (32 - 15 <= 30),
    # while free + 100 reclaimable passes and an order-5 block is listed. A costly order bumps
    # no_progress_loops every round: 17 rounds, then no OOM (order > 3).
    m = machine((zone(ZONE_NORMAL, 0, 32, wm=(30, 30, 30)),), max_order=6,
                env=RecordingEnv(reclaimable_pages=100))
    assert not m.alloc(KERNEL | g.__GFP_RETRY_MAYFAIL, order=4).ok
    assert len(m.env.calls("try_to_free_pages")) == 17
    assert len(m.env.calls("try_to_compact_pages")) == 1 + 17  # early compaction, then one per round
    assert m.env.calls("out_of_memory") == []


# ---- OOM gates ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("gfp,kw,oom_calls", [
    (KERNEL, {}, 1),
    (g.GFP_NOFS | g.__GFP_NOWARN, {}, 0),  # out_of_memory() answers true for !__GFP_FS before any victim search
    (KERNEL | g.__GFP_RETRY_MAYFAIL, {}, 0),
    (KERNEL | g.__GFP_DMA32, {}, 0),                              # high_zoneidx DMA32 < NORMAL
    (KERNEL | g.__GFP_THISNODE, {}, 0),
    (KERNEL, {"gfp_allowed_mask": g.__GFP_BITS_MASK & ~(g.__GFP_IO | g.__GFP_FS)}, 0),  # suspended storage
], ids=["kernel", "nofs", "retry-mayfail", "dma32", "thisnode", "suspend"])
def test_oom_gates(gfp, kw, oom_calls):
    m = exhausted(**kw)
    assert not m.alloc(gfp).ok
    assert len(m.env.calls("out_of_memory")) == oom_calls


def test_nofs_request_keeps_retrying_after_out_of_memory():
    # 4.19 oom_kill.c: a gfp mask without __GFP_FS makes out_of_memory() report progress without a
    # kill; __alloc_pages_slowpath then resets no_progress_loops and retries, never reaching warn_alloc.
    m = exhausted()
    r = m.alloc(g.GFP_NOFS)
    assert "livelock" in event_kinds(r)
    assert "warn_alloc" not in event_kinds(r)


def test_oom_gate_for_costly_orders():
    m = exhausted()
    assert not m.alloc(KERNEL).ok  # leaves current and last_ac set up
    m.env = RecordingEnv()
    assert m.__alloc_pages_may_oom(g.GFP_KERNEL, 4, m.last_ac) == (None, 0)
    assert m.env.calls("out_of_memory") == []
    assert m.__alloc_pages_may_oom(g.GFP_KERNEL, 3, m.last_ac) == (None, 0)
    assert m.env.calls("out_of_memory") == [(3, g.GFP_KERNEL)]


def test_oom_tries_the_high_watermark_first():
    # Nothing passes HIGH (4) with 2 free pages; with 5 free in Normal the last attempt succeeds
    # and out_of_memory() is not called.
    m = exhausted()
    assert not m.alloc(KERNEL).ok
    zone_normal = m.zone(0, ZONE_NORMAL)
    for pfn in [p for p in list(m.allocated) if m.page_zone(p) is zone_normal][:3]:
        m.free(pfn)
    assert zone_normal.nr_free_pages == 5
    m.env = RecordingEnv()
    page, progress = m.__alloc_pages_may_oom(g.GFP_KERNEL, 0, m.last_ac)
    assert page is not None and m.page_zone(page) is zone_normal
    assert m.env.calls("out_of_memory") == []


def test_nofail_without_a_victim_warns_and_uses_the_reserves():
    m = exhausted()
    r = m.alloc(g.GFP_KERNEL | g.__GFP_NOFAIL)
    assert (r.ok, r.zone_idx) == (True, ZONE_NORMAL)
    assert len(m.env.calls("out_of_memory")) == 1
    assert event_kinds(r).count("warning") == 1 and "warn_alloc" not in event_kinds(r)
    assert m.zone(0, ZONE_NORMAL).nr_free_pages == 1  # below min: ALLOC_NO_WATERMARKS


def test_nofail_with_an_oom_kill():
    m = exhausted(RecordingEnv(oom_victim_found=True))
    r = m.alloc(g.GFP_KERNEL | g.__GFP_NOFAIL)
    assert r.ok
    assert "oom_kill" in event_kinds(r) and "warning" not in event_kinds(r)


def test_nofail_without_direct_reclaim_fails_with_a_warning():
    m = exhausted()
    r = m.alloc(g.GFP_NOWAIT | g.__GFP_NOFAIL)
    assert not r.ok
    assert "warning" in event_kinds(r) and "warn_alloc" in event_kinds(r)


# ---- memcg kmem accounting ----------------------------------------------------------------------------

def memcg_machine(limit):
    m = machine((zone(ZONE_NORMAL, 0, 8),), memcg_kmem_enabled=True)
    m.tasks[0].memcg_limit = limit
    return m


def test_account_charges_the_task():
    m = memcg_machine(limit=1)
    r = m.alloc(g.GFP_KERNEL_ACCOUNT)
    assert r.ok and m.tasks[0].memcg_usage == 1
    assert m.alloc(g.GFP_KERNEL).ok and m.tasks[0].memcg_usage == 1  # no __GFP_ACCOUNT: not charged
    m.free(r.page)
    assert m.tasks[0].memcg_usage == 0


def test_account_over_the_limit_returns_null_and_frees_the_page():
    # With high 0 / batch 1 the page goes back through the per-cpu list straight into buddy,
    # so the whole frozen state is as it was.
    m = memcg_machine(limit=1)
    assert m.alloc(g.GFP_KERNEL_ACCOUNT).ok
    before = m.freeze()
    r = m.alloc(g.GFP_KERNEL_ACCOUNT)
    assert not r.ok and "memcg" in r.reason
    assert "warn_alloc" not in event_kinds(r)
    assert m.freeze() == before and m.tasks[0].memcg_usage == 1


def test_account_over_the_limit_leaves_the_page_on_the_pcp_list():
    # The kernel frees the refused page with __free_pages(): order 0 goes to the head of this CPU's
    # per-cpu list (free_unref_page), where the rest of the refill batch already sits. So buddy holds
    # batch (2) pages fewer than before and the pcp list holds them; no page is allocated or charged.
    t = dataclasses.replace(preset("numa2"), memcg_kmem_enabled=True)
    m = Kernel419(t)
    m.tasks[0].memcg_limit = 0
    normal = m.zone(0, ZONE_NORMAL)
    r = m.alloc(g.GFP_KERNEL_ACCOUNT, cpu=0)
    assert not r.ok
    assert m.allocated == {} and m.tasks[0].memcg_usage == 0
    pcp = normal.pageset[0]
    assert (pcp.count, normal.nr_free_pages) == (2, 30)
    # boot lists Normal's order-3 blocks 40, 32, 24, 16 (head first); the refill splits 40 and takes
    # pfns 40 and 41, the allocation took 40, and the free pushed it back at the head
    assert pcp.lists[0] == [40, 41]
    m.drain()
    assert normal.nr_free_pages == 32


def test_account_nofail_is_forced_past_the_limit():
    m = memcg_machine(limit=0)
    assert m.alloc(g.GFP_KERNEL_ACCOUNT | g.__GFP_NOFAIL).ok
    assert m.tasks[0].memcg_usage == 1


def test_account_ignored_when_kmem_accounting_is_off():
    m = machine((zone(ZONE_NORMAL, 0, 8),))
    m.tasks[0].memcg_limit = 0
    assert m.alloc(g.GFP_KERNEL_ACCOUNT).ok
    assert m.tasks[0].memcg_usage == 0


def test_account_in_interrupt_is_not_charged():
    m = memcg_machine(limit=0)
    r = m.alloc(g.GFP_KERNEL_ACCOUNT | g.__GFP_HIGH, in_interrupt=True)
    assert r.ok
    assert m.tasks[0].memcg_usage == 0


@pytest.mark.parametrize("context", [{"oom_victim": True}, {"pf_memalloc": True}], ids=["oom-victim", "pf-memalloc"])
def test_account_forced_for_oom_victims_and_pf_memalloc(context):
    m = memcg_machine(limit=0)
    assert m.alloc(g.GFP_KERNEL_ACCOUNT, **context).ok
    assert m.tasks[0].memcg_usage == 1


# ---- compaction retry rules (should_compact_retry, compaction_zonelist_suitable) -------------------

def compaction_machine(reclaimable=0):
    """One Normal zone of 32 pages, min 2 / low 3 / high 4, MAX_ORDER 5, with an AllocContext set up."""
    m = machine((zone(ZONE_NORMAL, 0, 32, wm=(2, 3, 4)),), max_order=5,
                env=Environment(reclaimable_pages=reclaimable))
    assert m.alloc(KERNEL).ok  # leaves m.current and m.last_ac for direct calls
    return m


@pytest.mark.parametrize("result, retries_before, prio_before, order, expect, retries_after, prio_after", [
    # progress counts a retry and keeps going while retries <= 16 (order <= 3)
    (COMPACT_SUCCESS, 0, COMPACT_PRIO_SYNC_LIGHT, 2, True, 1, COMPACT_PRIO_SYNC_LIGHT),
    (COMPACT_SUCCESS, 16, COMPACT_PRIO_SYNC_LIGHT, 2, True, 0, COMPACT_PRIO_SYNC_FULL),  # 17 > 16: raise priority
    # a costly order gets 16 // 4 = 4 retries, and may not go below SYNC_LIGHT
    (COMPACT_SUCCESS, 4, COMPACT_PRIO_SYNC_LIGHT, 4, False, 5, COMPACT_PRIO_SYNC_LIGHT),
    (COMPACT_SUCCESS, 3, COMPACT_PRIO_ASYNC, 4, True, 4, COMPACT_PRIO_ASYNC),
    # COMPLETE goes straight to the priority check
    (COMPACT_COMPLETE, 0, COMPACT_PRIO_ASYNC, 2, True, 0, COMPACT_PRIO_SYNC_LIGHT),
    (COMPACT_COMPLETE, 0, COMPACT_PRIO_SYNC_FULL, 2, False, 0, COMPACT_PRIO_SYNC_FULL),
])
def test_should_compact_retry(result, retries_before, prio_before, order, expect, retries_after, prio_after):
    m = compaction_machine()
    state = SlowpathState()
    state.compaction_retries, state.compact_priority = retries_before, prio_before
    assert m.should_compact_retry(m.last_ac, order, 0, result, state) is expect
    assert (state.compaction_retries, state.compact_priority) == (retries_after, prio_after)


def test_should_compact_retry_never_for_order_0():
    m = compaction_machine()
    assert m.should_compact_retry(m.last_ac, 0, 0, COMPACT_SUCCESS, SlowpathState()) is False


def test_withdrawn_compaction_asks_whether_the_zonelist_is_suitable():
    # 31 free pages. For order 3 the zone already meets min (2) with an order-3 block: suitable.
    m = compaction_machine()
    assert m.should_compact_retry(m.last_ac, 3, 0, COMPACT_SKIPPED, SlowpathState()) is True


def test_compaction_unsuitable_without_order0_room():
    # Leave 5 free pages: order 2 fails its min watermark check (5 - 3 <= 2), and the order-0 check
    # for compaction needs free > min 2 + compact_gap (2 << 2 = 8): 5 is not enough -> SKIPPED.
    m = compaction_machine()
    z = m.zones()[0]
    while z.nr_free_pages > 5:
        assert m.alloc(KERNEL).ok
    assert m.compaction_zonelist_suitable(m.last_ac, 2, 0) is False
    # 40 reclaimable pages count as 40 // order = 20 on top of the 5 free: 25 > 10, suitable
    m.env = Environment(reclaimable_pages=40)
    assert m.compaction_zonelist_suitable(m.last_ac, 2, 0) is True
