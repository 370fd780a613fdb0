"""The memory map: a read outside it is OutOfZoneAccess, which the explorer reports as `memory_map`.

The map (model/memmap.py) is what 4.19 allocates: struct pages for each node's pfns rounded out to
MAX_ORDER blocks, pageblock flags for the pageblocks a zone spans. Unmodified 4.19 reads the struct
page of a buddy past an unaligned zone end (inside the MAX_ORDER block) and is never flagged; the two
planted memory-map slips of tests/config_variants.py are caught at pinned lengths, with the pfn and
the function that read it.
"""

import random
from pathlib import Path

import pytest
from config_variants import FreeTailCheckTopOrder, MoveBlockPastZoneEnd

from buddycheck.checks.explore import Explorer
from buddycheck.checks.failure import failure_from_dict
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.properties import all_properties
from buddycheck.checks.report import FAILURE_KINDS, MEMORY_MAP
from buddycheck.checks.scenario_file import load_scenario
from buddycheck.checks.shrink import shrink
from buddycheck.checks.trace import pytest_source, replay, trace_from_json, trace_to_json
from buddycheck.model import Kernel419, ModelError, preset
from buddycheck.model import gfp as G
from buddycheck.model.errors import OutOfZoneAccess
from buddycheck.model.memmap import MemoryMap

HERE = Path(__file__).parent
SCENARIOS = HERE / "config_scenarios"
PORTFOLIO = HERE.parent / "checks" / "portfolio_scenarios"

CAUGHT = {
    # variant: (scenario, length, function that read, its caller, pfn read)
    FreeTailCheckTopOrder: (SCENARIOS / "odd-max-order-blocks.toml", 3, "page_is_buddy", "__free_one_page", 4),
    MoveBlockPastZoneEnd: (SCENARIOS / "unaligned-zone-end.toml", 3, "move_freepages", "move_freepages_block", 7),
}


def test_the_map_rounds_nodes_to_max_order_blocks_and_pageblocks_to_zones():
    # one node: zones 0..5 and 6..9 (MAX_ORDER blocks of 4, pageblocks of 2); a second node at 16..21
    mm = MemoryMap([(0, 6, "a", 0), (6, 10, "b", 0), (16, 22, "c", 1)], max_order=3, pageblock_order=1)
    assert [p for p in range(30) if mm.has_page(p)] == list(range(0, 12)) + list(range(16, 24))
    assert [p for p in range(30) if mm.has_pageblock(p)] == list(range(0, 10)) + list(range(16, 22))
    assert not mm.has_page(-1) and not mm.has_pageblock(-2)


def test_out_of_zone_access_is_not_a_model_error():
    assert not issubclass(OutOfZoneAccess, ModelError)


def test_a_pageblock_flag_outside_every_zone_raises_naming_the_pfn_and_the_reader():
    m = Kernel419(preset("buddy-core", pages=6, max_order=3))  # pageblocks of 4: 0..3 and 4..7 (past the end)
    assert m.get_pageblock_migratetype(5) == m.get_pageblock_migratetype(0)
    with pytest.raises(OutOfZoneAccess) as e:
        m.get_pageblock_migratetype(8)
    assert (e.value.pfn, e.value.function) == (8, "get_pageblock_migratetype")
    assert "outside the memory map (zones: node 0 zone Normal 0..5)" in str(e.value)


@pytest.mark.parametrize("pages", [5, 6, 7, 12, 13])
def test_419_reads_buddies_past_an_unaligned_end_without_a_report(pages):
    """Random allocations and frees on buddy-core zones that end inside a MAX_ORDER block."""
    m = Kernel419(preset("buddy-core", pages=pages, max_order=4))
    rng = random.Random(pages)
    for _ in range(200):
        if m.allocated and rng.random() < 0.5:
            m.free(rng.choice(sorted(m.allocated)))
        else:
            m.alloc(G.GFP_KERNEL, order=rng.randrange(3))


def explore(scenario, depth=None):
    explorer = Explorer(scenario).check(*properties_for(scenario))
    if depth is not None:
        explorer.depth(depth)
    return explorer.run()


@pytest.mark.parametrize("variant", list(CAUGHT), ids=lambda v: v.NAME)
def test_each_slip_is_a_memory_map_violation_at_the_pinned_length(variant):
    path, length, function, caller, pfn = CAUGHT[variant]
    scenario = load_scenario(path).with_model(variant)
    [v] = explore(scenario).violations
    assert (v.invariant, v.length, v.failure.function, v.failure.error) == (
        MEMORY_MAP, length, function, "OutOfZoneAccess")
    assert v.message.startswith(f"memory_map: {function} (called from {caller}) read ")
    assert f" of pfn {pfn}, outside " in v.message
    shrunk = shrink(scenario, v, all_properties())
    assert (shrunk.invariant, shrunk.length, shrunk.failure.function) == (MEMORY_MAP, length, function)
    assert explore(scenario, length - 1).violations == []


@pytest.mark.parametrize("variant", list(CAUGHT), ids=lambda v: v.NAME)
def test_unmodified_419_is_clean_on_the_memory_map_scenarios(variant):
    sc = load_scenario(CAUGHT[variant][0])
    report = explore(sc)
    assert report.violations == [] and report.stopped_by is None and report.depth == sc.depth


def test_the_portfolio_catches_the_next_order_slip_on_its_one_block_zone():
    """highatomic-one-pageblock's zone is one MAX_ORDER block: the slip reads the struct page past it."""
    scenario = load_scenario(PORTFOLIO / "03-highatomic-one-pageblock.toml").with_model(FreeTailCheckTopOrder)
    [v] = explore(scenario).violations
    assert (v.invariant, v.length, v.failure.function) == (MEMORY_MAP, 3, "page_is_buddy")


def test_a_memory_map_counterexample_round_trips_and_replays():
    path, length, function, _, _ = CAUGHT[FreeTailCheckTopOrder]
    scenario = load_scenario(path).with_model(FreeTailCheckTopOrder)
    [v] = explore(scenario).violations
    doc = trace_from_json(trace_to_json(scenario, v))
    assert doc.invariant == MEMORY_MAP and doc.failure.same_as(v.failure)
    assert failure_from_dict(v.failure.as_dict()).same_as(v.failure)
    replayed = replay(scenario, v.trace).failure
    assert (replayed.invariant, replayed.failure.function) == (MEMORY_MAP, function)
    source = pytest_source(scenario, v, all_properties(), model_ref="config_variants:FreeTailCheckTopOrder")
    assert "memory_map" in source and MEMORY_MAP in FAILURE_KINDS
