"""Writes of the vm sysctls at run time (model/sysctl.py): 4.19's validation, errno and recomputation.

A write that succeeds must leave the machine exactly as booting it with that value in its topology
does (the derived limits and the whole frozen state); a refused write changes nothing and answers
-EINVAL; the planted handler slips of tests/sysctl_variants.py are caught by config_consistency
after the one write that shows them; the [[sysctl]] scenario table, the operation's JSON and its
printed code round-trip.
"""

import random
import re
from pathlib import Path

import pytest
from attribute_diff import attribute_differences
from sysctl_variants import (
    MinFreeNoTotalreserve,
    PcpFractionAcceptsSmall,
    PcpFractionNoRecompute,
    ReclaimModeRefusedStores,
    ScaleFactorClamps,
)

from buddycheck.checks.diff import diff
from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Sysctl
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario_file import load_scenario, scenario_from_dict
from buddycheck.checks.shrink import shrink
from buddycheck.checks.trace_json import op_from_dict, op_to_dict
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.constants import ZONE_DMA32, ZONE_NORMAL
from buddycheck.model.errors import ConfigError, InvalidOperation, ModelError, StateMismatch
from buddycheck.model.sysctl import EINVAL, VM_TABLE
from buddycheck.model.topology import NodeSpec, Topology, ZoneSpec
from buddycheck.spec.invariants import BY_NAME
from buddycheck.spec.operation_invariants import SYSCTL_WRITE
from buddycheck.spec.view import view_of

SCENARIO = Path(__file__).parent / "sysctl_scenarios" / "sysctl-writes.toml"
CONFIG = BY_NAME["config_consistency"]


def topology(**sysctls):
    """One node with two CPUs, DMA32 of 16 and Normal of 48 pages; every limit computed as 4.19 does."""
    zones = (ZoneSpec(ZONE_DMA32, 0, 16), ZoneSpec(ZONE_NORMAL, 16, 48))
    return Topology(nodes=(NodeSpec(0, (0, 1), zones),), max_order=3, pageblock_order=1,
                    page_group_by_mobility_disabled=False, **sysctls)


def limits(m):
    """Everything a sysctl write may recompute: min_free_kbytes, per zone (populated or not) and CPU, the reserves."""
    zones = [(tuple(z.watermark), tuple(z.lowmem_reserve),
              tuple((pcp.high, pcp.batch) for _, pcp in sorted(z.pageset.items())))
             for pgdat in m.node_data for z in pgdat.node_zones]
    return m.min_free_kbytes, zones, [p.totalreserve_pages for p in m.node_data], m.totalreserve_pages


# ---- a successful write equals a boot with the value ----------------------------------------------------------

NO_MIN = {"min_free_kbytes": 0}  # so that the watermark gaps come from watermark_scale_factor alone
WRITES = [
    ("min_free_kbytes", 512, {}, {"min_free_kbytes": 512}),
    ("min_free_kbytes", 0, {}, {"min_free_kbytes": 0}),
    ("watermark_scale_factor", 1000, NO_MIN, {"watermark_scale_factor": 1000}),
    ("watermark_scale_factor", 1000, {}, {"watermark_scale_factor": 1000}),
    ("watermark_scale_factor", 1, {"watermark_scale_factor": 500, **NO_MIN}, {"watermark_scale_factor": 1}),
    ("lowmem_reserve_ratio", (1, 2, 32, 0, 0), {}, {"lowmem_reserve_ratio": (1, 2, 32, 0, 0)}),
    ("percpu_pagelist_fraction", 8, {}, {"percpu_pagelist_fraction": 8}),
    ("zone_reclaim_mode", 1, {}, {"node_reclaim_mode": 1}),
]


@pytest.mark.parametrize(("name", "value", "base", "boot"), WRITES, ids=lambda x: str(x))
def test_a_write_leaves_the_machine_as_booting_with_the_value(name, value, base, boot):
    m = Kernel419(topology(**base))
    before = limits(m)
    result = m.sysctl(name, value)
    booted = Kernel419(topology(**{**base, **boot}))
    assert result.ret == 0
    assert limits(m) == limits(booted)
    assert m.freeze() == booted.freeze()
    assert CONFIG.check(view_of(m)) == []
    # the write changed what the boot computes (except where 4.19's formula does not see it on this machine)
    assert (limits(m) != before) == (name != "zone_reclaim_mode" and not (name == "watermark_scale_factor"
                                                                         and not base))


def test_the_writes_change_the_limits_by_4_19s_formulas():
    m = Kernel419(topology())
    # Normal's 48 pages: zone_batchsize 0, so high 0 and batch 1; fraction 8: high 48 / 8 = 6, batch 1
    assert limits(m)[1][ZONE_NORMAL][2] == ((0, 1), (0, 1))
    m.sysctl("percpu_pagelist_fraction", 8)
    assert limits(m)[1][ZONE_NORMAL][2] == ((6, 1), (6, 1))
    # min_free_kbytes 512: pages_min 128 spread over 64 lowmem pages: DMA32 min 32, Normal min 96
    m.sysctl("min_free_kbytes", 512)
    assert [z[0] for z in limits(m)[1][ZONE_DMA32:ZONE_NORMAL + 1]] == [(32, 40, 48), (96, 120, 144)]
    assert m.sysctl_value("min_free_kbytes") == 512 and m.user_min_free_kbytes == 512


def test_fraction_back_to_zero_restores_zone_batchsize():
    m = Kernel419(topology())
    m.sysctl("percpu_pagelist_fraction", 8)
    assert m.sysctl("percpu_pagelist_fraction", 0).ret == 0
    assert m.freeze() == Kernel419(topology()).freeze()


# ---- validation: bounds, errno, the value kept -------------------------------------------------------------------

REFUSED = [
    ("min_free_kbytes", -1),
    ("min_free_kbytes", 2**31),
    ("watermark_scale_factor", 0),
    ("watermark_scale_factor", 1001),
    ("percpu_pagelist_fraction", -1),
    *[("percpu_pagelist_fraction", f) for f in range(1, 8)],
    ("zone_reclaim_mode", 2**31),
    ("numa_zonelist_order", "zone"),
    ("numa_zonelist_order", ""),
]


@pytest.mark.parametrize(("name", "value"), REFUSED, ids=lambda x: repr(x))
def test_a_refused_write_is_einval_and_changes_nothing(name, value):
    m = Kernel419(topology(percpu_pagelist_fraction=16))
    before, old = m.freeze(), m.sysctl_value(name)
    assert m.sysctl(name, value).ret == -EINVAL
    assert m.freeze() == before and m.sysctl_value(name) == old


def test_the_bounds_themselves_are_accepted():
    m = Kernel419(topology())
    assert [m.sysctl(n, v).ret for n, v in (("watermark_scale_factor", 1), ("watermark_scale_factor", 1000),
                                            ("percpu_pagelist_fraction", 8), ("min_free_kbytes", 0),
                                            ("min_free_kbytes", 2**31 - 1))] == [0] * 5


def test_numa_zonelist_order_takes_node_or_default_only_and_warns_otherwise():
    m = Kernel419(topology())
    before = m.freeze()
    assert [m.sysctl("numa_zonelist_order", s).ret for s in ("Node", "node", "default", "D")] == [0] * 4
    refused = m.sysctl("numa_zonelist_order", "Zone")
    assert refused.ret == -EINVAL and [e.kind for e in refused.events] == ["pr_warn"]
    assert m.freeze() == before and m.sysctl_value("numa_zonelist_order") == "Node"


def test_zone_reclaim_mode_is_proc_dointvec_without_bounds():
    m = Kernel419(topology())
    assert m.sysctl("zone_reclaim_mode", -5).ret == 0
    assert m.sysctl_value("zone_reclaim_mode") == -5 and m.node_reclaim_mode == -5


def test_lowmem_reserve_ratio_handler_always_answers_zero():
    m = Kernel419(topology())
    before = m.freeze()
    assert m.sysctl("lowmem_reserve_ratio", ()).ret == 0  # an empty write: the parser's -EINVAL is dropped
    assert m.freeze() == before
    # one value writes the first entry; values past MAX_NR_ZONES are ignored
    assert m.sysctl("lowmem_reserve_ratio", 4).ret == 0
    assert m.sysctl_value("lowmem_reserve_ratio") == [4, 256, 32, 0, 0]
    assert m.sysctl("lowmem_reserve_ratio", (1, 1, 1, 1, 1, 99)).ret == 0
    assert m.sysctl_value("lowmem_reserve_ratio") == [1, 1, 1, 1, 1]


def test_a_negative_ratio_is_written_back_as_zero_below_the_highest_zone():
    m = Kernel419(topology())
    assert m.sysctl("lowmem_reserve_ratio", (-3, 8, -1, 0, -7)).ret == 0
    # setup_per_zone_lowmem_reserve() visits ratio[i] for every i below a zone type; Movable's is never visited
    assert m.sysctl_value("lowmem_reserve_ratio") == [0, 8, 0, 0, -7]
    assert limits(m) == limits(Kernel419(topology(lowmem_reserve_ratio=(0, 8, 0, 0, 0))))
    assert CONFIG.check(view_of(m)) == []


def test_an_unchanged_fraction_recomputes_nothing():
    calls = []
    Spy = Kernel419.variant("pageset-spy")

    @Spy.override
    def pageset_set_high_and_batch(k, zone):
        calls.append(zone.idx)
        Kernel419.pageset_set_high_and_batch(k, zone)

    m = Spy(topology(percpu_pagelist_fraction=8))
    calls.clear()  # the boot's
    assert m.sysctl("percpu_pagelist_fraction", 8).ret == 0 and calls == []
    assert m.sysctl("percpu_pagelist_fraction", 3).ret == -EINVAL and calls == []
    # a change: every CPU's pageset of every populated zone
    assert m.sysctl("percpu_pagelist_fraction", 16).ret == 0 and calls == [ZONE_DMA32] * 2 + [ZONE_NORMAL] * 2


@pytest.mark.parametrize(("name", "value"), [("vfs_cache_pressure", 1), ("min_free_kbytes", "512"),
                                             ("min_free_kbytes", True), ("min_free_kbytes", (1, 2)),
                                             ("numa_zonelist_order", 1), ("lowmem_reserve_ratio", ("1",))])
def test_a_name_or_value_no_write_could_give_is_refused(name, value):
    m = Kernel419(topology())
    before = m.freeze()
    with pytest.raises(InvalidOperation):
        m.sysctl(name, value)
    assert m.freeze() == before


def test_a_lower_high_keeps_the_pages_until_the_next_free_spills():
    m = Kernel419(topology(percpu_pagelist_fraction=8))
    *pages, last = [m.alloc(G.GFP_KERNEL).page for _ in range(5)]
    for page in pages:
        m.free(page)
    normal = m.zone(0, ZONE_NORMAL).pageset[0]
    assert (normal.count, normal.high) == (4, 6)
    m.sysctl("percpu_pagelist_fraction", 0)
    assert (normal.count, normal.high, normal.batch) == (4, 0, 1)  # no drain: pageset_update() sets the limits only
    m.free(last)
    assert normal.count == 4  # five on the list >= high 0: one batch of 1 spilled


# ---- the state: frozen, restored, viewed -------------------------------------------------------------------------

def test_the_view_judges_the_current_sysctls():
    m = Kernel419(topology())
    m.sysctl("percpu_pagelist_fraction", 8)
    m.sysctl("watermark_scale_factor", 500)
    config = view_of(m).config
    assert (config.percpu_pagelist_fraction, config.watermark_scale_factor) == (8, 500)
    assert view_of(m).zones[1].pcp_limits == ((0, 6, 1), (1, 6, 1))


def test_restore_brings_back_the_sysctls_and_limits():
    m = Kernel419(topology())
    boot = m.freeze()
    m.sysctl("percpu_pagelist_fraction", 8)
    m.sysctl("min_free_kbytes", 512)
    written = m.freeze()
    assert written.sysctls != boot.sysctls
    m.restore(boot, current=written)
    assert m.freeze() == boot and limits(m) == limits(Kernel419(topology()))
    fresh = Kernel419(topology())
    fresh.restore(written)
    assert limits(fresh) == limits(Kernel419(topology(percpu_pagelist_fraction=8, min_free_kbytes=512)))


def test_every_write_is_frozen_along_random_runs():
    sc = load_scenario(SCENARIO)
    for seed in range(3):
        rng = random.Random(seed)
        m = sc.initial()
        for _ in range(24):
            try:
                rng.choice(sc.actions(m)).apply(m)
            except ModelError:
                pass
        fresh = type(m)(m.topology, m.env)
        fresh.restore(m.freeze())
        assert attribute_differences(m, fresh) == [], seed


# ---- the explorer: 4.19 holds, the slips are caught after one write --------------------------------------------

def explore(scenario):
    return Explorer(scenario).check(*properties_for(scenario)).run()


def test_unmodified_419_holds_every_invariant_across_the_writes():
    sc = load_scenario(SCENARIO)
    report = explore(sc)
    assert report.violations == [] and report.stopped_by is None and report.depth == sc.depth


PLANTED = {
    PcpFractionNoRecompute: ("m.sysctl('percpu_pagelist_fraction', 8)",
                             "node 0 zone DMA32: cpu 0 per-cpu high, batch = 0, 1, but pageset_set_high_and_batch "
                             "makes (2, 1)"),
    PcpFractionAcceptsSmall: ("m.sysctl('percpu_pagelist_fraction', 3)",
                              "percpu_pagelist_fraction = 3, but its handler takes only 0 or at least 8"),
    MinFreeNoTotalreserve: ("m.sysctl('min_free_kbytes', 512)",
                            "node 0: totalreserve_pages = 48, but calculate_totalreserve_pages makes 64"),
}


@pytest.mark.parametrize("variant", list(PLANTED), ids=lambda v: v.NAME)
def test_each_handler_slip_is_caught_after_its_write(variant):
    scenario = load_scenario(SCENARIO).with_model(variant)
    [v] = explore(scenario).violations
    code, message = PLANTED[variant]
    assert (v.invariant, v.length) == ("config_consistency", 1)
    assert [op.code() for op in v.trace] == [code]
    assert v.message.startswith(message)
    shrunk = shrink(scenario, v, all_properties())
    assert (shrunk.invariant, shrunk.length) == ("config_consistency", 1)


WRITE_SLIPS = {
    ScaleFactorClamps: ("m.sysctl('watermark_scale_factor', 2000)",
                        "sysctl vm.watermark_scale_factor = 2000 returned 0 but reads back as 1000"),
    ReclaimModeRefusedStores: ("m.sysctl('zone_reclaim_mode', -1)",
                               "sysctl vm.zone_reclaim_mode = -1 returned -22 but changed the state (sysctls)"),
}
WRITE_SLIP_DOC = {"name": "write-slips", "depth": 2, "topology": {"preset": "numa2"},
                  "alloc": [{"gfp": "GFP_KERNEL"}],
                  "sysctl": [{"name": "watermark_scale_factor", "values": [10, 2000]},
                             {"name": "zone_reclaim_mode", "values": [-1, 1]}]}


@pytest.mark.parametrize("variant", list(WRITE_SLIPS), ids=lambda v: v.NAME)
def test_a_write_answer_that_does_not_match_its_effect_is_caught_by_sysctl_write(variant):
    scenario = scenario_from_dict(WRITE_SLIP_DOC, "write-slips").with_model(variant)
    [v] = explore(scenario).violations
    code, message = WRITE_SLIPS[variant]
    assert (v.invariant, v.length) == ("sysctl_write", 1)
    assert [op.code() for op in v.trace] == [code]
    assert v.message == f"sysctl_write: {message}"


def test_4_19_holds_sysctl_write_on_the_write_slip_scenario():
    report = explore(scenario_from_dict(WRITE_SLIP_DOC, "write-slips"))
    assert report.violations == [] and report.stopped_by is None and report.depth == 2


def test_sysctl_write_judges_the_answer_against_the_states():
    m = Kernel419(topology())
    before = m.freeze()
    assert m.sysctl("watermark_scale_factor", 0).ret == -EINVAL
    assert SYSCTL_WRITE.check("watermark_scale_factor", "watermark_scale_factor", 0, -EINVAL, before, m.freeze(),
                              True) == []
    assert m.sysctl("watermark_scale_factor", 20).ret == 0
    after = m.freeze()
    assert SYSCTL_WRITE.check("watermark_scale_factor", "watermark_scale_factor", 20, 0, before, after, True) == []
    [wrong] = SYSCTL_WRITE.check("watermark_scale_factor", "watermark_scale_factor", 30, 0, before, after, True)
    assert "returned 0 but reads back as 20" in str(wrong)
    [changed] = SYSCTL_WRITE.check("watermark_scale_factor", "watermark_scale_factor", 20, -EINVAL, before, after,
                                   True)
    assert "watermark_scale_factor = 20 returned -22 but changed the state (sysctls)" in str(changed)
    # a list sysctl is judged on failure only: its handler stores what it parsed and answers 0
    assert SYSCTL_WRITE.check("lowmem_reserve_ratio", "lowmem_reserve_ratio", (1,), 0, before, after, False) == []


# ---- the scenario table, JSON and printed code ---------------------------------------------------------------------

def test_the_scenario_table_offers_one_write_per_value():
    sc = load_scenario(SCENARIO)
    writes = [op for op in sc.actions(sc.initial()) if isinstance(op, Sysctl)]
    assert writes == [Sysctl("percpu_pagelist_fraction", 0), Sysctl("percpu_pagelist_fraction", 3),
                      Sysctl("percpu_pagelist_fraction", 8), Sysctl("min_free_kbytes", 512),
                      Sysctl("lowmem_reserve_ratio", (1, 1, 32, 0, 0))]


def small_doc(**sysctl):
    return {"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}], "sysctl": [sysctl]}


@pytest.mark.parametrize(("table", "message"), [
    ({"name": "swappiness", "values": [1]}, "s.sysctl[0].name = 'swappiness': not one of min_free_kbytes"),
    ({"name": "min_free_kbytes", "values": ["a"]}, "vm.min_free_kbytes takes an integer"),
    ({"name": "min_free_kbytes", "values": [[1]]}, "vm.min_free_kbytes takes an integer"),
    ({"name": "numa_zonelist_order", "values": [1]}, "vm.numa_zonelist_order takes a string"),
    ({"name": "min_free_kbytes", "values": [True]}, "expected an integer, a string or a list of integers"),
    ({"name": "min_free_kbytes", "values": []}, "give at least one value"),
    ({"name": "min_free_kbytes"}, "values"),
])
def test_a_bad_sysctl_table_names_its_key(table, message):
    with pytest.raises(ConfigError, match="s.sysctl") as e:
        scenario_from_dict(small_doc(**table), "s")
    assert message in str(e.value)


def test_an_operation_no_write_could_give_is_a_config_error_naming_its_key():
    m = Kernel419(topology())
    with pytest.raises(ConfigError, match=r"^t\.json: name = 'swappiness': not a sysctl the model has"):
        Sysctl("swappiness", 1).validate(m, "t.json")
    with pytest.raises(ConfigError, match=r"^t\.json: value = '64': the sysctl takes an integer$"):
        Sysctl("min_free_kbytes", "64").validate(m, "t.json")
    Sysctl("lowmem_reserve_ratio", (1, 2)).validate(m, "t.json")  # a possible write: no error


@pytest.mark.parametrize("op", [Sysctl("min_free_kbytes", 64), Sysctl("numa_zonelist_order", "Zone"),
                                Sysctl("lowmem_reserve_ratio", (1, 2, 3, 0, 0))], ids=repr)
def test_json_and_code_round_trip(op):
    assert op_from_dict(op_to_dict(op)) == op
    m, replayed = Kernel419(topology()), Kernel419(topology())
    expected = op.apply(m)
    exec(op.code(), {"m": replayed})  # the printed statement replays the write
    assert replayed.freeze() == m.freeze() and expected.ret in (0, -EINVAL)


def test_the_result_prints_the_write_and_its_return():
    m = Kernel419(topology())
    assert str(Sysctl("percpu_pagelist_fraction", 3).apply(m)) == "sysctl vm.percpu_pagelist_fraction = 3 = -EINVAL"
    assert str(Sysctl("lowmem_reserve_ratio", (1, 2)).apply(m)) == "sysctl vm.lowmem_reserve_ratio = [1, 2] = 0"


def test_diff_observes_the_write_by_its_return_value():
    """Against 4.19, the handler that accepts 1..7 differs first at the write of 3: 0 where 4.19 says -EINVAL."""
    report = diff(Kernel419, PcpFractionAcceptsSmall, load_scenario(SCENARIO))
    d = report.difference
    assert [op.code() for op in d.trace] == ["m.sysctl('percpu_pagelist_fraction', 3)"]
    step = d.steps[-1]
    assert (step.base.observation.ret, step.head.observation.ret) == (-EINVAL, 0)
    assert "ret" in step.fields


# ---- the table and the pieces the handlers are made of ---------------------------------------------------------

def test_each_entry_has_4_19s_handler_and_parser_bounds():
    assert {name: (t.proc_handler, t.extra1, t.extra2) for name, t in VM_TABLE.items()} == {
        "min_free_kbytes": ("min_free_kbytes_sysctl_handler", 0, None),
        "watermark_scale_factor": ("watermark_scale_factor_sysctl_handler", 1, 1000),
        "lowmem_reserve_ratio": ("lowmem_reserve_ratio_sysctl_handler", None, None),
        "percpu_pagelist_fraction": ("percpu_pagelist_fraction_sysctl_handler", 0, None),
        "zone_reclaim_mode": ("proc_dointvec", 0, None),  # extra1 is set, but proc_dointvec never reads it
        "numa_zonelist_order": ("numa_zonelist_order_handler", None, None),
    }


def test_the_parsers_store_only_what_they_accept():
    m = Kernel419(topology())
    factor = VM_TABLE["watermark_scale_factor"]
    assert m.proc_dointvec_minmax(factor, 1001) == -EINVAL and m.watermark_scale_factor == 10
    assert m.proc_dointvec_minmax(factor, 20) == 0 and m.watermark_scale_factor == 20
    assert m.proc_dointvec(factor, 5000) == 0 and m.watermark_scale_factor == 5000  # no bounds
    assert m.proc_dointvec(factor, 2**31) == -EINVAL  # still an int


def test_parse_numa_zonelist_order_reads_the_first_character():
    m = Kernel419(topology())
    assert [m.__parse_numa_zonelist_order(s) for s in ("Node", "nonsense", "Default", "Zone", "z")] == [
        0, 0, 0, -EINVAL, -EINVAL]


def test_setup_per_zone_wmarks_recomputes_watermarks_and_totalreserve():
    m = Kernel419(topology())
    m.min_free_kbytes = 512
    m.setup_per_zone_wmarks()
    assert limits(m) == limits(Kernel419(topology(min_free_kbytes=512)))


@pytest.mark.parametrize(("broken", "words"), [
    (lambda fs: fs._replace(zones=fs.zones[:1]), "sysctls.zones has 1 populated zones, this machine has 2"),
    (lambda fs: fs._replace(percpu_pagelist_fraction="8"), "sysctls.percpu_pagelist_fraction = '8' is not an integer"),
    (lambda fs: fs._replace(zones=((fs.zones[0][0], fs.zones[0][1], fs.zones[0][2], ((6, 1),)), fs.zones[1])),
     "sysctls of node 0 zone DMA32: per-cpu high, batch has 1 CPUs, this machine has 2"),
    (lambda fs: fs._replace(totalreserve_pages=fs.totalreserve_pages[:-1]), "sysctls.totalreserve_pages has 1"),
    (lambda fs: tuple(fs), "sysctls is a tuple, not a FrozenSysctls"),
])
def test_restore_refuses_sysctls_this_machine_cannot_hold(broken, words):
    m = Kernel419(topology())
    m.sysctl("percpu_pagelist_fraction", 8)
    before = m.freeze()
    with pytest.raises(StateMismatch, match=re.escape(words)):
        m.restore(before._replace(sysctls=broken(before.sysctls)))
    assert m.freeze() == before
