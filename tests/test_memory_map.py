"""The memory map: an access outside it is OutOfZoneAccess, which the explorer reports as `memory_map`.

The map (model/memmap.py) follows SPARSEMEM: struct pages and pageblock flags for each node's pfns
rounded out to sections of two MAX_ORDER blocks; pageblock flags are written only inside a zone, and
move_freepages walks only its zone. Unmodified 4.19 reads the struct page of a buddy past an
unaligned zone end and the pageblock of the buddy of a MAX_ORDER-1 block, and is never flagged; the
two planted memory-map slips of tests/config_variants.py are caught at pinned lengths, with the pfn
and the function that made the access.
"""

import random
from pathlib import Path

import pytest
from config_variants import MoveBlockPastZoneEnd, PageblockRangeOneMore

from buddycheck.checks.explore import Explorer
from buddycheck.checks.failure import failure_from_dict
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.printing import pytest_source
from buddycheck.checks.properties import all_properties
from buddycheck.checks.replay import replay
from buddycheck.checks.report import FAILURE_KINDS, MEMORY_MAP
from buddycheck.checks.scenario_file import load_scenario
from buddycheck.checks.shrink import shrink
from buddycheck.checks.trace_json import trace_from_json, trace_to_json
from buddycheck.model import Kernel419, ModelError, NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import MIGRATE_MOVABLE, ZONE_NORMAL
from buddycheck.model.errors import OutOfZoneAccess
from buddycheck.model.memmap import MemoryMap

HERE = Path(__file__).parent
SCENARIOS = HERE / "config_scenarios"
PORTFOLIO = HERE.parent / "checks" / "portfolio_scenarios"

CAUGHT = {
    # variant: (scenario, length, function that made the access, its caller, pfn, what it did)
    PageblockRangeOneMore: (PORTFOLIO / "01-pageblock-steal.toml", 1, "set_pageblock_migratetype",
                            "change_pageblock_range", 8, "wrote the pageblock flags"),
    MoveBlockPastZoneEnd: (SCENARIOS / "unaligned-zone-end.toml", 3, "move_freepages", "move_freepages_block", 7,
                           "read the struct page (walking pfns 4..7)"),
}


def test_the_map_rounds_each_node_out_to_sections_of_two_max_order_blocks():
    # one node: zones 0..5 and 6..9 (MAX_ORDER blocks of 4, sections of 8); a second node at 17..21
    mm = MemoryMap([(0, 6, "a", 0), (6, 10, "b", 0), (17, 22, "c", 1)], max_order=3)
    assert [p for p in range(30) if mm.has_page(p)] == list(range(0, 16)) + list(range(16, 24))
    assert [p for p in range(30) if mm.in_zone(p)] == list(range(0, 10)) + list(range(17, 22))
    assert not mm.has_page(-1) and not mm.in_zone(-1)


def test_out_of_zone_access_is_not_a_model_error():
    assert not issubclass(OutOfZoneAccess, ModelError)


def test_pageblock_flags_are_read_in_the_map_and_written_in_a_zone():
    m = Kernel419(preset("buddy-core", pages=6, max_order=3))  # pageblocks of 4: 0..3 and 4..7 (past the end)
    assert m.get_pageblock_migratetype(7) == m.get_pageblock_migratetype(0)
    with pytest.raises(OutOfZoneAccess) as e:
        m.get_pageblock_migratetype(8)
    assert (e.value.pfn, e.value.function) == (8, "get_pageblock_migratetype")
    assert "read the pageblock flags of pfn 8, outside the memory map (zones: node 0 zone Normal 0..5)" in str(e.value)
    with pytest.raises(OutOfZoneAccess) as e:
        m.set_pageblock_migratetype(6, MIGRATE_MOVABLE)
    assert "wrote the pageblock flags of pfn 6, outside every zone" in str(e.value)


def test_419_undoes_the_isolation_of_a_zone_of_one_max_order_block():
    """unset_migratetype_isolate reads the pageblock of the order-2 block's buddy, pfn 4: past the zone, in the map."""
    zone = ZoneSpec(ZONE_NORMAL, 0, 4, watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    m = Kernel419(Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=3, pageblock_order=1,
                           page_group_by_mobility_disabled=False))
    assert m.isolate(0, 4).value == 0
    m.undo_isolate(0, 4)
    assert m.free_blocks(m.zones()[0]) == [(0, 2, MIGRATE_MOVABLE)]


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
    path, length, function, caller, pfn, what = CAUGHT[variant]
    scenario = load_scenario(path).with_model(variant)
    [v] = explore(scenario).violations
    assert (v.invariant, v.length, v.failure.function, v.failure.error) == (
        MEMORY_MAP, length, function, "OutOfZoneAccess")
    assert v.message.startswith(f"memory_map: {function} (called from {caller}) {what} of pfn {pfn}, outside ")
    shrunk = shrink(scenario, v, all_properties())
    assert (shrunk.invariant, shrunk.length, shrunk.failure.function) == (MEMORY_MAP, length, function)
    assert explore(scenario, length - 1).violations == []


@pytest.mark.parametrize("name", ["unaligned-zone-end"])
def test_unmodified_419_is_clean_on_the_memory_map_scenarios(name):
    sc = load_scenario(SCENARIOS / f"{name}.toml")
    report = explore(sc)
    assert report.violations == [] and report.stopped_by is None and report.depth == sc.depth


def test_a_memory_map_counterexample_round_trips_and_replays():
    path, length, function, _, _, _ = CAUGHT[MoveBlockPastZoneEnd]
    scenario = load_scenario(path).with_model(MoveBlockPastZoneEnd)
    [v] = explore(scenario).violations
    doc = trace_from_json(trace_to_json(scenario, v))
    assert doc.invariant == MEMORY_MAP and doc.failure.same_as(v.failure)
    assert failure_from_dict(v.failure.as_dict()).same_as(v.failure)
    replayed = replay(scenario, v.trace).failure
    assert (replayed.invariant, replayed.failure.function) == (MEMORY_MAP, function)
    source = pytest_source(scenario, v, all_properties(), model_ref="config_variants:MoveBlockPastZoneEnd")
    assert "memory_map" in source and MEMORY_MAP in FAILURE_KINDS
