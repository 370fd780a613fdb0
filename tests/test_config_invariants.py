"""config_consistency: the boot-time limits follow 4.19's formulas, or stay as the topology gives them.

Worked values on x86-64-1g are computed by hand from 4.19's mm/page_alloc.c; the planted variants of
tests/config_variants.py break one formula each and are caught in the initial state (length 0) of
tests/config_scenarios/computed-limits.toml; unmodified 4.19 holds the rule on every preset, every
portfolio machine and the scenario, and the concrete check and the Z3 encoding agree on broken views.
"""

import random
from dataclasses import replace
from pathlib import Path

import pytest
from config_variants import LowmemRatioUpperZone, PcpFractionBatchZero, WmarkLowHalfMin

from buddycheck.checks.explore import Explorer
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario_file import load_scenario
from buddycheck.checks.shrink import shrink
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.spec.invariants import BY_NAME, PROFILE_419, STATE_INVARIANTS
from buddycheck.spec.view import view_of

CONFIG = BY_NAME["config_consistency"]
HERE = Path(__file__).parent
SCENARIO = HERE / "config_scenarios" / "computed-limits.toml"
PORTFOLIO = sorted((HERE.parent / "checks" / "portfolio_scenarios").glob("*.toml"))


def test_the_rule_is_in_the_catalogue_and_the_419_profile():
    assert CONFIG in STATE_INVARIANTS and CONFIG.profile == PROFILE_419
    assert "config_consistency" in {p.name for p in all_properties()}


def test_x86_64_1g_limits_as_computed_by_hand():
    """1 GiB: lowmem 262144 pages = 1048576 kB, int_sqrt(16x) = 4096 kB; pages_min 1024."""
    v = view_of(Kernel419(preset("x86-64-1g")))
    dma, dma32 = v.zones
    assert v.min_free_kbytes == 4096
    # DMA: tmp = 1024 * 4096 / 262144 = 16; gap = max(16 >> 2, 4096 * 10 / 10000) = 4
    assert dma.watermark == (16, 20, 24)
    # DMA32: tmp = 1024 * 258048 / 262144 = 1008; gap = max(252, 258) = 258
    assert dma32.watermark == (1008, 1266, 1524)
    assert dma.lowmem_reserve == (0, 258048 // 256, 1008, 1008, 1008)
    # batch: 258048 / 1024 = 252 (under 1 MiB), / 4 = 63, rounddown_pow_of_two(94) - 1 = 63; DMA: 0
    assert {(h, b) for _, h, b in dma32.pcp_limits} == {(378, 63)}
    assert {(h, b) for _, h, b in dma.pcp_limits} == {(0, 1)}
    assert v.totalreserve_pages == (1008 + 24) + 1524 == dict(v.node_totalreserve)[0]
    assert CONFIG.check(v) == []


@pytest.mark.parametrize("name", ["numa2", "buddy-core", "x86-64-1g"])
def test_419_presets_hold_after_boot_and_operations(name):
    m = Kernel419(preset(name))
    rng = random.Random(7)
    for _ in range(20):
        assert CONFIG.check(view_of(m)) == []
        if m.allocated and rng.random() < 0.4:
            m.free(rng.choice(sorted(m.allocated)))
        else:
            m.alloc(rng.choice((G.GFP_KERNEL, G.GFP_ATOMIC, G.GFP_HIGHUSER_MOVABLE)), order=rng.randrange(2))


@pytest.mark.parametrize("path", PORTFOLIO + [SCENARIO], ids=lambda p: p.stem)
def test_419_boots_every_portfolio_machine_consistently(path):
    sc = load_scenario(path)
    assert CONFIG.check(view_of(sc.initial())) == []


def test_given_values_must_stay_as_given():
    """numa2 gives its watermarks and pcp: a change is reported against the topology, not the formula."""
    v = view_of(Kernel419(preset("numa2")))
    assert v.zones[0].given_watermark == (1, 2, 3) and v.zones[0].given_lowmem_reserve is None
    broken = v.with_zone(0, watermark=(1, 2, 4))
    watermark, node, total = CONFIG.check(broken)  # the high watermark also counts in the reserves
    assert total.message == "totalreserve_pages = 22, but the nodes' reserves sum to 23"
    assert "watermarks (min, low, high) = (1, 2, 4), but the topology gives (1, 2, 3)" in watermark.message
    assert node.message.startswith("node 0: totalreserve_pages = 11, but calculate_totalreserve_pages makes 12")
    (cpu, high, batch), *rest = v.zones[1].pcp_limits
    [bad] = CONFIG.check(v.with_zone(1, pcp_limits=((cpu, high + 1, batch), *rest)))
    assert f"cpu {cpu} per-cpu high, batch = 5, 2, but the topology gives (4, 2)" in bad.message


def test_computed_lowmem_reserve_and_totalreserve_are_judged():
    """numa2 computes lowmem_reserve with ratio 8 for DMA32: 32 Normal pages / 8 = 4."""
    v = view_of(Kernel419(preset("numa2")))
    assert v.zones[0].lowmem_reserve == (0, 0, 4, 4, 4)
    messages = [x.message for x in CONFIG.check(v.with_zone(0, lowmem_reserve=(0, 0, 3, 4, 4)))]
    assert any("setup_per_zone_lowmem_reserve makes (0, 0, 4, 4, 4)" in m for m in messages)
    assert [x.message for x in CONFIG.check(v.with_(totalreserve_pages=v.totalreserve_pages + 1))] == [
        f"totalreserve_pages = {v.totalreserve_pages + 1}, but the nodes' reserves sum to {v.totalreserve_pages}"]


def test_a_hand_built_view_without_configuration_is_not_judged():
    v = replace(view_of(Kernel419(preset("numa2"))), config=None)
    assert CONFIG.check(v.with_zone(0, watermark=(9, 9, 9))) == []


# ---- the planted variants ----------------------------------------------------------------------------------
PLANTED = {
    # variant: the start of the message config_consistency reports in the initial state
    WmarkLowHalfMin: "node 0 zone DMA32: watermarks (min, low, high) = (8, 12, 16), but __setup_per_zone_wmarks "
                     "makes (8, 10, 12)",
    LowmemRatioUpperZone: "node 0 zone DMA32: lowmem_reserve = (0, 0, 1, 0, 0), but setup_per_zone_lowmem_reserve "
                          "makes (0, 0, 0, 0, 0)",
    PcpFractionBatchZero: "node 0 zone DMA32: cpu 0 per-cpu high, batch = 2, 0, but pageset_set_high_and_batch "
                          "makes (2, 1)",
}


def explore(scenario, depth=None):
    explorer = Explorer(scenario).check(*properties_for(scenario))
    if depth is not None:
        explorer.depth(depth)
    return explorer.run()


@pytest.mark.parametrize("variant", list(PLANTED), ids=lambda v: v.NAME)
def test_each_slip_is_caught_at_boot_on_the_computed_limits_scenario(variant):
    scenario = load_scenario(SCENARIO).with_model(variant)
    report = explore(scenario)
    [v] = report.violations
    assert (v.invariant, v.length) == ("config_consistency", 0)
    assert v.message.startswith(PLANTED[variant])
    shrunk = shrink(scenario, v, all_properties())
    assert (shrunk.invariant, shrunk.length) == ("config_consistency", 0)


def test_the_pcp_slip_is_caught_by_the_portfolio_zone_boundary_scenario():
    """zone-boundary computes pcp from percpu_pagelist_fraction 8: DMA32's 6 pages give high 0, batch 1."""
    scenario = load_scenario(HERE.parent / "checks" / "portfolio_scenarios" / "08-zone-boundary.toml")
    [v] = explore(scenario.with_model(PcpFractionBatchZero)).violations
    assert (v.invariant, v.length) == ("config_consistency", 0)
    assert "cpu 0 per-cpu high, batch = 0, 0, but pageset_set_high_and_batch makes (0, 1)" in v.message


def test_unmodified_419_is_clean_on_the_computed_limits_scenario():
    sc = load_scenario(SCENARIO)
    report = explore(sc)
    assert report.violations == [] and report.stopped_by is None and report.depth == sc.depth


# ---- concrete and Z3 agree --------------------------------------------------------------------------------
def broken_limits(v, rng):
    """One limit of the view off by one (or a sysctl-derived value of another zone copied in)."""
    zi = rng.randrange(len(v.zones))
    z = v.zones[zi]
    what = rng.choice(("watermark", "lowmem_reserve", "pcp_limits", "min_free_kbytes", "totalreserve_pages",
                       "node_totalreserve", "none"))
    if what == "watermark":
        wm = list(z.watermark)
        wm[rng.randrange(3)] += rng.choice((1, 2))
        return v.with_zone(zi, watermark=tuple(wm))
    if what == "lowmem_reserve":
        r = list(z.lowmem_reserve)
        r[rng.randrange(len(r))] += 1
        return v.with_zone(zi, lowmem_reserve=tuple(r))
    if what == "pcp_limits" and z.pcp_limits:
        (cpu, high, batch), *rest = z.pcp_limits
        return v.with_zone(zi, pcp_limits=((cpu, high, batch + 1), *rest))
    if what == "min_free_kbytes":
        return v.with_(min_free_kbytes=v.min_free_kbytes + rng.choice((4, 64)))
    if what == "totalreserve_pages":
        return v.with_(totalreserve_pages=v.totalreserve_pages + 1)
    if what == "node_totalreserve":
        (nid, pages), *rest = v.node_totalreserve
        return v.with_(node_totalreserve=((nid, pages + 1), *rest))
    return v


@pytest.mark.parametrize("source", ["numa2", "computed-limits", "zone-boundary"])
def test_concrete_and_z3_agree_on_broken_limits(source):
    if source == "numa2":
        m = Kernel419(preset("numa2"))
    elif source == "computed-limits":
        m = load_scenario(SCENARIO).initial()
    else:
        m = load_scenario(HERE.parent / "checks" / "portfolio_scenarios" / "08-zone-boundary.toml").initial()
    base = view_of(m)
    verdicts = set()
    for seed in range(25):
        v = broken_limits(base, random.Random(seed))
        concrete = CONFIG.holds(v)
        assert concrete == CONFIG.z3_holds(v), (seed, [str(x) for x in CONFIG.check(v)])
        verdicts.add(concrete)
    assert verdicts == {True, False}


def test_the_encoding_is_linear_in_the_limits():
    """No product of two variables: managed pages and sysctls are the shape's constants."""
    import z3

    from buddycheck.spec.symbolic import shape_of

    formula = CONFIG.encoded(shape_of(view_of(load_scenario(SCENARIO).initial())))
    seen = set()

    def walk(e):
        if e.get_id() in seen:
            return
        seen.add(e.get_id())
        if z3.is_app_of(e, z3.Z3_OP_BMUL) or z3.is_app_of(e, z3.Z3_OP_BUDIV):
            variables = [a for a in e.children() if not z3.is_bv_value(z3.simplify(a))]
            assert len(variables) <= 1, e
        for c in e.children():
            walk(c)

    walk(formula)
