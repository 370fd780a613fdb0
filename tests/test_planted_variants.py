"""Planted variants that only one situation reaches: each scenario of tests/planted_scenarios/ catches its one.

For each variant of tests/planted_variants.py: breadth-first exploration of its scenario stops at a
violation of the expected invariant at exactly the pinned length, which shrinking keeps; one operation
less finds no violation at all; unmodified 4.19 is clean on the scenario to its full depth. The
unreachable variant (drain_zone_pages) is shown to be a real change that no operation ever calls. The
slow tests show that the default scenario numa2-mixed misses every variant.
"""

from pathlib import Path

import pytest
from planted_variants import UNCAUGHT, VARIANTS, StealHeadPageblockOnly, VmstatDrainWholeBatch

from buddycheck.checks.explore import Explorer
from buddycheck.checks.ops import Alloc
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.properties import all_properties
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.scenario_file import load_scenario
from buddycheck.checks.scenarios import SCENARIOS
from buddycheck.checks.shrink import shrink
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G

SCENARIO_DIR = Path(__file__).parent / "planted_scenarios"

CAUGHT = {
    # variant: (scenario file, invariant that catches it, shortest counterexample length)
    "cma-fallback-cached-movable": ("cma-fallback.toml", "free_accounting", 2),
    "highatomic-count-if-moved": ("highatomic-reserve.toml", "highatomic_accounting", 2),
    "isolate-drain-if-moved": ("isolate-early.toml", "migratetype_consistency", 2),
    "preferred-not-flags-local": ("preferred-remote.toml", "fallback_order", 2),
    "reclaim-memalloc-leak": ("reclaim-progress.toml", "watermark_respect", 3),
    "highatomic-multiblock-halfport": ("multiblock-atomic.toml", "highatomic_accounting", 2),
}


def scenario_of(name, model=None):
    sc = load_scenario(SCENARIO_DIR / CAUGHT[name][0])
    return sc if model is None else sc.with_model(model)


def explore(scenario, depth=None):
    explorer = Explorer(scenario).check(*properties_for(scenario))  # the 4.19 profile
    if depth is not None:
        explorer.depth(depth)
    return explorer.run()


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_the_scenario_catches_the_variant_at_the_pinned_length(name):
    _, invariant, length = CAUGHT[name]
    report = explore(scenario_of(name, VARIANTS[name]))
    assert report.stopped_by == "violation"
    [v] = report.violations
    assert (v.invariant, v.length) == (invariant, length)


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_shrinking_keeps_the_length(name):
    _, invariant, length = CAUGHT[name]
    scenario = scenario_of(name, VARIANTS[name])
    v = explore(scenario).violations[0]
    shrunk = shrink(scenario, v, all_properties())
    assert (shrunk.invariant, shrunk.length) == (invariant, length)


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_one_operation_less_finds_nothing(name):
    _, _, length = CAUGHT[name]
    report = explore(scenario_of(name, VARIANTS[name]), length - 1)
    assert report.violations == [] and report.stopped_by is None


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_unmodified_419_is_clean_on_the_scenario(name):
    sc = scenario_of(name)
    assert sc.depth > CAUGHT[name][2]
    report = explore(sc)
    assert report.violations == [] and report.stopped_by is None


def test_the_unreachable_variant_asks_for_a_whole_batch():
    """drain_zone_pages() of the variant asks free_pcppages_bulk() for a batch although fewer pages are listed."""
    asked = {}
    for model in (Kernel419, VmstatDrainWholeBatch):
        m = model(scenario_of("isolate-drain-if-moved").topology)  # per-cpu batch 2
        m.alloc(G.GFP_HIGHUSER_MOVABLE, 0)  # the refill leaves one page on the list
        zone = m.zones()[0]
        pcp = zone.pageset[0]
        requests = []
        m.free_pcppages_bulk = lambda zone, count, pcp, requests=requests: requests.append((count, pcp.count))
        m.drain_zone_pages(zone, pcp)
        asked[model.NAME] = requests
    assert asked == {"4.19": [(1, 1)], "vmstat-drain-whole-batch": [(2, 1)]}


CALLS = []
DrainZonePagesProbe = Kernel419.variant("drain-zone-pages-probe", "4.19, recording every drain_zone_pages() call")


@DrainZonePagesProbe.override
def drain_zone_pages(k, zone, pcp):
    CALLS.append(zone.label())
    Kernel419.drain_zone_pages(k, zone, pcp)


@pytest.mark.parametrize("name", sorted(CAUGHT))
def test_no_operation_reaches_drain_zone_pages(name):
    CALLS.clear()
    report = explore(scenario_of(name, DrainZonePagesProbe))
    assert report.violations == [] and report.reachable_states > 1
    assert CALLS == []


def steal_scenario():
    """multiblock-atomic's machine (pageblocks of 2 pages under MAX_ORDER 3) with kernel and movable requests."""
    topology = scenario_of("highatomic-multiblock-halfport").topology
    return Scenario("steal-multiblock", topology, allocs=(Alloc(G.GFP_KERNEL, 0), Alloc(G.GFP_HIGHUSER_MOVABLE, 0)),
                    depth=4, description="unmovable requests steal from the movable boot block of 4 pageblocks")


def test_the_steal_slip_changes_the_pageblock_types():
    """The first unmovable request steals the order-2 block at pfn 4: 4.19 retypes both its pageblocks, the slip
    only the first (0 is UNMOVABLE, 1 MOVABLE)."""
    types = {}
    for model in (Kernel419, StealHeadPageblockOnly):
        m = model(steal_scenario().topology)
        m.alloc(G.GFP_KERNEL, 0)
        types[model.NAME] = m.pageblock_flags[:4]
    assert types == {"4.19": [1, 1, 0, 0], "steal-head-pageblock-only": [1, 1, 0, 1]}


@pytest.mark.parametrize("name", sorted(UNCAUGHT))
def test_no_invariant_catches_the_steal_slip(name):
    """A gap of the 4.19 profile, pinned: the slip runs in every sequence below and no rule of it objects."""
    report = explore(steal_scenario().with_model(UNCAUGHT[name]))
    assert report.violations == [] and report.stopped_by is None


DEFAULT_TODAY = "numa2-mixed"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted({**VARIANTS, **UNCAUGHT}))
def test_todays_default_scenario_misses_the_variant(name):
    report = explore(SCENARIOS[DEFAULT_TODAY]().with_model({**VARIANTS, **UNCAUGHT}[name]))
    assert report.violations == [] and report.stopped_by is None
