"""A check started from a real machine's free state: /proc/buddyinfo and /proc/pagetypeinfo
(model/procfs_free_state.py, model/start_state.py, checks/imported_scenario.py).

The sample (tests/proc_samples/two-node-running) is the machine of tests/proc_samples/two-node with the
buddyinfo and pagetypeinfo of a running 4.19 x86-64 kernel (MAX_ORDER 11, pageblock order 9).
"""

import math
import shutil
from pathlib import Path

import pytest

from buddycheck.checks import procfs
from buddycheck.checks.cli import main
from buddycheck.checks.imported_scenario import imported_scenario
from buddycheck.checks.ops import Free
from buddycheck.checks.scenarios import scenario
from buddycheck.model import Kernel419
from buddycheck.model.constants import (
    MIGRATE_HIGHATOMIC,
    MIGRATE_MOVABLE,
    MIGRATE_RECLAIMABLE,
    MIGRATE_UNMOVABLE,
    ZONE_NORMAL,
)
from buddycheck.model.errors import ConfigError, InvalidOperation
from buddycheck.model.procfs_free_state import (
    layout_zone,
    parse_buddyinfo,
    read_free_state,
    scale_free_state,
    scaled_buddyinfo,
)
from buddycheck.model.procfs_import import read_machine, scale_machine
from buddycheck.spec.invariants import STATE_INVARIANTS, check_state
from buddycheck.spec.view import view_of

SAMPLES = Path(__file__).parent / "proc_samples"
RUNNING = SAMPLES / "two-node-running"
BOOTED = SAMPLES / "two-node"
# buddyinfo's line of node 0 DMA32 in the sample, and that zone's managed pages in its zoneinfo
DMA32_COUNTS = (2151, 1534, 997, 565, 318, 164, 85, 42, 20, 13, 661)
DMA32_MANAGED = 765881


def copy_sample(tmp_path):
    root = tmp_path / "machine"
    shutil.copytree(RUNNING, root)
    return root


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def layout_of(root, **kw):
    real = read_machine(root)
    topology = scale_machine(real, **kw)
    return topology, scale_free_state(read_free_state(root, real), real.zones, topology)


# ---- reading -------------------------------------------------------------------------------------


def test_buddyinfo_and_pagetypeinfo_are_read_per_zone_order_and_type():
    state = read_free_state(RUNNING, read_machine(RUNNING))
    assert state.orders == 11
    dma32 = state.zones[(0, "DMA32")]
    assert dma32.counts == DMA32_COUNTS and dma32.line == 2
    assert dma32.by_type[MIGRATE_UNMOVABLE][:4] == (212, 160, 96, 41)
    # the sample's two files are one snapshot: the types add up to buddyinfo's counts
    for z in state.zones.values():
        assert tuple(map(sum, zip(*z.by_type.values()))) == z.counts
    assert dma32.blocks[MIGRATE_MOVABLE] == 1968 and sum(dma32.blocks.values()) == 2040
    assert read_free_state(BOOTED, read_machine(BOOTED)) is None  # no buddyinfo: booted, all free


# ---- scaling -------------------------------------------------------------------------------------


def test_scaled_counts_keep_each_orders_share_rounded_to_the_nearest_block():
    topology, layout = layout_of(RUNNING, scale=1024)
    spec = next(z for n in topology.nodes for z in n.zones if z.name == "DMA32")
    f = spec.managed_pages / DMA32_MANAGED
    folded = [DMA32_COUNTS[k] << k for k in range(3)] + [sum(c << o for o, c in enumerate(DMA32_COUNTS) if o >= 3)]
    want = [math.floor(pages * f / (1 << k) + 0.5) for k, pages in enumerate(folded)]
    zone = next(z for z in layout.zones if z.zone_type == spec.zone_type)
    assert [sum(per_type) for per_type in zone.counts] == want == [2, 2, 1, 88]
    # DMA32's free blocks below order 3 are mostly Movable, as in pagetypeinfo
    assert zone.counts[0][MIGRATE_MOVABLE] == 2 and zone.counts[3][MIGRATE_MOVABLE] == 88
    normal = layout.zones[2]  # node 0's Normal
    assert normal.counts[0][MIGRATE_UNMOVABLE] == 4 and normal.counts[0][MIGRATE_RECLAIMABLE] == 2
    # the pageblocks follow the table's proportions (Normal of node 0: 412, 5614, 118 of 6144)
    types = [mt for _, mt in normal.pageblocks]
    assert len(types) == 768
    assert [types.count(mt) for mt in (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE)] == [51, 702, 15]


def test_a_block_that_does_not_fit_becomes_two_of_the_order_below():
    # 13 managed pages, MAX_ORDER 4: one 8-page block fits, a second one is carried down as far as it fits
    free, allocated = layout_zone([[0, 0], [0, 0], [0, 0], [0, 2]], start=0, managed=13, max_order=4)
    assert free == [(0, 3, 1), (8, 2, 1), (12, 0, 1)]
    assert allocated == []
    # a free block below the top order keeps an allocated page in its buddy
    free, allocated = layout_zone([[0], [2], [0], [0]], start=0, managed=8, max_order=4)
    assert free == [(0, 1, 0)] + [(4, 1, 0)] and allocated == [(2, 1), (6, 1)]


@pytest.mark.parametrize("kw", [{}, {"scale": 1024}, {"pages": 1024, "max_order": 6}, {"pages": 64, "max_order": 2}])
def test_every_state_invariant_holds_in_the_starting_state(kw):
    sc = imported_scenario(RUNNING, **kw)
    m = sc.initial()
    assert check_state(view_of(m), STATE_INVARIANTS) == []
    assert m.allocated  # the rest of each zone is allocated
    assert procfs.buddyinfo(m) == scaled_buddyinfo(layout_of(RUNNING, **kw)[1])


def test_round_trip_model_files_model(tmp_path):
    """The model's own /proc and /sys views, imported at scale 1, give back the same free state."""
    first = imported_scenario(RUNNING, scale=1024).initial()
    root = tmp_path / "model"
    (root / "proc").mkdir(parents=True)
    for name in ("zoneinfo", "buddyinfo", "pagetypeinfo"):
        (root / "proc" / name).write_text(procfs.VIEWS[name](first))
    for node in first.topology.nodes:
        folder = root / "sys/devices/system/node" / f"node{node.nid}"
        folder.mkdir(parents=True)
        (folder / "cpulist").write_text(",".join(map(str, node.cpus)) + "\n")
        (folder / "distance").write_text(" ".join(map(str, first.topology.distances[node.nid])) + "\n")
    again = imported_scenario(root, scale=1, max_order=first.MAX_ORDER).initial()
    assert procfs.buddyinfo(again) == procfs.buddyinfo(first)
    assert procfs.pagetypeinfo(again) == procfs.pagetypeinfo(first)
    assert sum(o for o, *_ in again.allocated.values()) > 0


# ---- the start state on the machine --------------------------------------------------------------


def test_the_setup_step_prints_as_a_call_that_replays_it():
    sc = imported_scenario(RUNNING)
    (step,) = sc.setup
    m = Kernel419(sc.topology)
    exec(step.code(), {"m": m})
    assert m.freeze() == sc.initial().freeze()


def test_a_layout_with_two_free_buddies_or_an_uncovered_page_is_refused():
    sc = imported_scenario(RUNNING)
    step = sc.setup[0]
    free = tuple(b for b in step.free if b[0] != 0) + ((0, 2, MIGRATE_MOVABLE), (4, 2, MIGRATE_MOVABLE))
    with pytest.raises(InvalidOperation, match="free block at pfn 0 of order 2 merged with its buddy"):
        Kernel419(sc.topology).start_free_state(free, step.allocated, step.pageblocks)
    with pytest.raises(InvalidOperation, match="managed pfn 0 of node 0 zone DMA is in no block"):
        Kernel419(sc.topology).start_free_state(step.free[1:], step.allocated, step.pageblocks)


def test_blocks_allocated_before_the_check_are_freed_by_the_search():
    sc = imported_scenario(RUNNING)
    m = sc.initial()
    held = sorted(m.allocated)
    assert held == [16, 64, 68, 70]
    frees = [op for op in sc.actions(m) if isinstance(op, Free)]
    assert [op.pfn for op in frees] == held
    m.free(68)
    m.free(70)
    assert check_state(view_of(m)) == []
    assert m.page_buddy[68] == 1  # its buddy at 70 was still allocated when it was freed


def test_explore_from_the_imported_free_state(capsys):
    code, out, _ = run(capsys, "explore", "--from-proc", RUNNING, "--depth", "2", "--no-coverage")
    assert code == 0
    assert "starts from the free state of" in out and "every invariant held to depth 2" in out


def test_show_prints_the_scaled_buddyinfo(capsys):
    code, out, _ = run(capsys, "show", "--from-proc", RUNNING, "--scale", "1024", "--file", "buddyinfo")
    assert code == 0
    printed = out.split("<==\n", 1)[1].rstrip("\n") + "\n"
    assert printed.strip("\n") == scaled_buddyinfo(layout_of(RUNNING, scale=1024)[1]).strip("\n")
    assert "started from" in out


def test_a_trace_freeing_pages_allocated_before_recording_replays(capsys, tmp_path):
    # pfn 17 lies in the order-2 block at 16 that the imported state holds as allocated
    trace = tmp_path / "t.txt"
    trace.write_text("cpus=8\n"
                     "   bash-1  [000]   1.000001: mm_page_free: page=0xffffea0000000440 pfn=17 order=0\n"
                     # the zone's per-cpu list holds 1 page at this scale: the free spills it at once
                     "   bash-1  [000]   1.000001: mm_page_pcpu_drain: page=0xffffea0000000440 pfn=17 order=0 "
                     "migratetype=1\n"
                     "   bash-1  [000]   1.000002: mm_page_free: page=0xffffea0000000480 pfn=18 order=1\n")
    code, out, _ = run(capsys, "trace", trace, "--from-proc", RUNNING)
    assert code == 0 and "the model follows the whole trace" in out
    code, out, _ = run(capsys, "trace", trace, "--from-proc", BOOTED)
    assert code == 1 and "refuses the free" in out


# ---- errors ----------------------------------------------------------------------------------------


def test_more_free_pages_than_the_zone_manages(tmp_path, capsys):
    root = copy_sample(tmp_path)
    path = root / "proc" / "buddyinfo"
    edit(path, "     13    661 ", "     13    703 ")  # 42 more blocks of 1024 pages
    with pytest.raises(ConfigError, match=r"buddyinfo:2: node 0 zone DMA32: 766527 free pages, more than the zone's "
                                          r"managed = 765881"):
        read_free_state(root, read_machine(root))
    code, out, err = run(capsys, "explore", "--from-proc", root)
    assert code == 2 and out == "" and "buddyinfo:2" in err and "Traceback" not in err


def test_an_order_above_max_order(tmp_path):
    root = copy_sample(tmp_path)
    edit(root / "proc" / "buddyinfo", "     15   3810 ", "     15   3810      1 ")
    with pytest.raises(ConfigError, match=r"buddyinfo:4: node 1 zone Normal: 12 orders, .* order 11 is above "
                                          r"MAX_ORDER-1 = 10"):
        read_free_state(root, read_machine(root))
    root = copy_sample(tmp_path / "b")
    edit(root / "proc" / "pagetypeinfo", "    15   3810 ", "    15   3810      2 ")
    with pytest.raises(ConfigError, match=r"pagetypeinfo:\d+: node 1 zone Normal type Movable: 12 orders: order 11 "
                                          r"is above MAX_ORDER-1 = 10"):
        read_free_state(root, read_machine(root))


def test_a_zone_missing_from_zoneinfo_and_one_missing_from_buddyinfo(tmp_path):
    root = copy_sample(tmp_path)
    edit(root / "proc" / "buddyinfo", "Node 1, zone   Normal", "Node 1, zone    DMA32")
    with pytest.raises(ConfigError, match=r"buddyinfo:4: node 1 zone DMA32: not a populated zone of .*zoneinfo"):
        read_free_state(root, read_machine(root))
    root = copy_sample(tmp_path / "b")
    path = root / "proc" / "buddyinfo"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:3]))
    with pytest.raises(ConfigError, match=r"buddyinfo: node 1 zone Normal of .*zoneinfo \(line 280\) is missing"):
        read_free_state(root, read_machine(root))


def test_bad_numbers_and_refused_types_name_file_line_and_value(tmp_path):
    assert parse_buddyinfo(["Node 0, zone DMA 1 2"], "b")[1] == 2
    with pytest.raises(ConfigError, match=r"^b:1: free blocks = '2x': expected a whole number$"):
        parse_buddyinfo(["Node 0, zone DMA 1 2x"], "b")
    with pytest.raises(ConfigError, match="b:1: 'hello': not a `Node N, zone NAME counts...` line"):
        parse_buddyinfo(["hello"], "b")
    root = copy_sample(tmp_path)
    edit(root / "proc" / "pagetypeinfo", "Node 1, zone   Normal          190         7942           60            0"
                                         "            0            0",
         "Node 1, zone   Normal          190         7941           60            0            0            1")
    with pytest.raises(ConfigError, match=r"pagetypeinfo:\d+: node 1 zone Normal: Isolate pageblocks = 1: an "
                                          "isolation was in progress"):
        read_free_state(root, read_machine(root))


def test_without_pagetypeinfo_every_free_block_and_pageblock_is_movable(tmp_path):
    root = copy_sample(tmp_path)
    (root / "proc" / "pagetypeinfo").unlink()
    m = imported_scenario(root, scale=1024).initial()
    assert {mt for z in m.populated_zones for _, _, mt in m.free_blocks(z)} == {MIGRATE_MOVABLE}
    assert set(m.pageblock_flags) == {MIGRATE_MOVABLE}
    assert check_state(view_of(m)) == []


def test_highatomic_pageblocks_are_reserved_as_reserve_highatomic_pageblock_counts_them(tmp_path):
    root = copy_sample(tmp_path)
    edit(root / "proc" / "pagetypeinfo", "Node 1, zone   Normal          190         7942           60            0",
         "Node 1, zone   Normal          190         7814           60          128")
    m = imported_scenario(root, scale=1024).initial()
    zone = m.zone(1, ZONE_NORMAL)
    highatomic = sum(1 for pfn in range(zone.zone_start_pfn, zone.zone_end_pfn, m.pageblock_nr_pages)
                     if m.get_pageblock_migratetype(pfn) == MIGRATE_HIGHATOMIC)
    assert highatomic == 16  # 128 of 8192 real pageblocks, of the zone's 1024
    assert zone.nr_reserved_highatomic == 16 * m.pageblock_nr_pages
    assert check_state(view_of(m), STATE_INVARIANTS) == []  # highatomic_reserve_exact among them


# ---- --buddyinfo FILE on any machine ---------------------------------------------------------------


def test_round_trip_buddyinfo_model_buddyinfo_on_a_preset(capsys, tmp_path):
    """A buddyinfo the model printed, given back with --buddyinfo, is the buddyinfo of the started machine."""
    m = scenario("numa2-kernel").initial()
    for order in (0, 1, 0, 2, 0):
        assert m.alloc(0xcc0, order=order, cpu=0).ok  # GFP_KERNEL
    m.drain()
    text = procfs.buddyinfo(m)
    assert any(int(c) for line in text.splitlines() for c in line.split()[4:-1])  # blocks below the top order
    path = tmp_path / "buddyinfo"
    path.write_text(text)
    code, out, _ = run(capsys, "show", "--preset", "numa2-kernel", "--buddyinfo", path, "--file", "buddyinfo")
    assert code == 0
    assert out.split("<==\n", 1)[1].rstrip("\n") == procfs.buddyinfo(m).rstrip("\n")


def test_buddyinfo_option_errors(capsys, tmp_path):
    path = tmp_path / "buddyinfo"
    path.write_text("Node 0, zone   Normal   9999      0      0      0\n")
    code, _, err = run(capsys, "explore", "--preset", "numa2-kernel", "--buddyinfo", path)
    assert code == 2 and "buddyinfo:1: node 0 zone Normal: 9999 free pages, more than the zone's managed" in err
    code, _, err = run(capsys, "explore", "--from-proc", RUNNING, "--buddyinfo", path)
    assert code == 2 and "exclude each other" in err
    code, _, err = run(capsys, "check", "--buddyinfo", path)
    assert code == 2 and "name the machine it belongs to" in err
