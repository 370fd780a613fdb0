"""The kernel's views of a state (checks/procfs.py), the kmem tracepoint lines (checks/tracepoints.py),
the per-step picture (checks/render.py) and `buddycheck show`.

The expected texts are written out by hand from the state each test reaches, derived in the comments
from 4.19's rules, and from the seq_printf formats of mm/vmstat.c.
"""

import json

from buddycheck.checks import procfs
from buddycheck.checks.cli import main
from buddycheck.checks.ops import Alloc
from buddycheck.checks.printing import format_program
from buddycheck.checks.render import machine_picture
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.tracepoints import record_tracepoints, trace_line
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import ZONE_NORMAL
from buddycheck.model.topology import NodeSpec, Topology, ZoneSpec


def small_machine():
    """One node, one CPU, Normal of 16 pages at pfn 0, MAX_ORDER 3, pageblocks of 4, pageblock 3 CMA.

    Boot frees 0..11 in order-2 chunks at the list head (8, 4, 0 on Movable's order-2 list), then the
    CMA pageblock 12..15 at order 2 on CMA's list.
    """
    zone = ZoneSpec(ZONE_NORMAL, 0, 16, watermarks=(1, 2, 3), lowmem_reserve=(0, 0, 0, 0, 0), pcp_high_batch=(4, 2),
                    cma_pageblocks=(3,))
    return Kernel419(Topology(nodes=(NodeSpec(0, (0,), (zone,)),), max_order=3, pageblock_order=2,
                              min_free_kbytes=0, page_group_by_mobility_disabled=False, name="small"))


def after_movable_order1():
    """GFP_HIGHUSER_MOVABLE order 1 takes the head of Movable's order-2 list (8) and splits it:
    8-9 allocated, 10-11 free on Movable's order-1 list. Free: o1 Movable [10], o2 Movable [4, 0],
    o2 CMA [12]; nr_free 0/1/3 per order, NR_FREE_PAGES 14, NR_FREE_CMA_PAGES 4, one local NUMA hit."""
    m = small_machine()
    assert m.alloc(G.GFP_HIGHUSER_MOVABLE, 1).page == 8
    z = m.zones()[0]
    assert [a.free_list[1] for a in z.free_area] == [[], [10], [4, 0]] and z.free_area[2].free_list[4] == [12]
    return m


def test_buddyinfo_exact():
    assert procfs.buddyinfo(after_movable_order1()) == "Node 0, zone   Normal      0      1      3 \n"


def test_pagetypeinfo_exact():
    expected = (
        "Page block order: 2\n"
        "Pages per block:  4\n"
        "\n"
        "Free pages count per migrate type at order       0      1      2 \n"
        "Node    0, zone   Normal, type    Unmovable      0      0      0 \n"
        "Node    0, zone   Normal, type      Movable      0      1      2 \n"
        "Node    0, zone   Normal, type  Reclaimable      0      0      0 \n"
        "Node    0, zone   Normal, type   HighAtomic      0      0      0 \n"
        "Node    0, zone   Normal, type          CMA      0      0      1 \n"
        "Node    0, zone   Normal, type      Isolate      0      0      0 \n"
        "\n"
        "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic          CMA      Isolate \n"
        "Node 0, zone   Normal            0            3            0            0            1            0 \n"
    )
    assert procfs.pagetypeinfo(after_movable_order1()) == expected


def _empty_zone(name):
    return (f"Node 0, zone {name:>8}\n  pages free     0\n        min      0\n        low      0\n        high     0\n"
            "        spanned  0\n        present  0\n        managed  0\n        protection: (0, 0, 0, 0)\n")


def test_zoneinfo_exact():
    # the configured zone types DMA, DMA32, Normal and Movable, populated or not; the protection array
    # has one entry per configured type
    normal = (
        "Node 0, zone   Normal\n"
        "  pages free     14\n"
        "        min      1\n"
        "        low      2\n"
        "        high     3\n"
        "        spanned  16\n"
        "        present  16\n"
        "        managed  16\n"
        "        protection: (0, 0, 0, 0)\n"
        "      nr_free_pages 14\n"
        "      nr_free_cma  4\n"
        "      numa_hit     1\n"
        "      numa_miss    0\n"
        "      numa_foreign 0\n"
        "      numa_interleave 0\n"
        "      numa_local   1\n"
        "      numa_other   0\n"
        "  pagesets\n"
        "    cpu: 0\n"
        "              count: 0\n"
        "              high:  4\n"
        "              batch: 2\n"
        "  start_pfn:           0\n"
    )
    expected = _empty_zone("DMA") + _empty_zone("DMA32") + normal + _empty_zone("Movable")
    assert procfs.zoneinfo(after_movable_order1()) == expected


def test_numastat_sums_the_nodes_zones():
    m = Kernel419(preset("numa2"))
    m.alloc(G.GFP_KERNEL, 0, cpu=0)  # local to node 0
    m.alloc(G.GFP_KERNEL, 0, cpu=0, nid=1)  # preferred node 1, served there: a hit on 1, other_node
    assert procfs.numastat(m, 0) == ("numa_hit 1\nnuma_miss 0\nnuma_foreign 0\ninterleave_hit 0\n"
                                     "local_node 1\nother_node 0\n")
    assert procfs.numastat(m, 1) == ("numa_hit 1\nnuma_miss 0\nnuma_foreign 0\ninterleave_hit 0\n"
                                     "local_node 0\nother_node 1\n")


def _lines(m, step):
    _, records = record_tracepoints(m, step)
    return [trace_line(r, m.pageblock_order) for r in records]


def test_tracepoints_of_alloc_and_free():
    m = small_machine()
    # struct page of pfn 8 at vmemmap + 8 * 64 = 0x200
    assert _lines(m, lambda m: m.alloc(G.GFP_HIGHUSER_MOVABLE, 1)) == [
        "mm_page_alloc_zone_locked: page=ffffea0000000200 pfn=8 order=1 migratetype=1 percpu_refill=0",
        "mm_page_alloc: page=ffffea0000000200 pfn=8 order=1 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE",
    ]
    assert _lines(m, lambda m: m.free(8)) == ["mm_page_free: page=ffffea0000000200 pfn=8 order=1"]
    assert m.tracepoints is None  # tracing is off again


def test_tracepoints_of_a_stealing_refill_and_a_drain():
    m = small_machine()
    # order 0 Unmovable: no Unmovable block, so __rmqueue_fallback steals Movable's largest, the order-2
    # head 8 (a whole pageblock: the block turns Unmovable, not fragmenting); rmqueue_bulk takes a
    # batch of 2 from the split block (8, then 9) onto the pcp list, whose head 8 is returned
    assert _lines(m, lambda m: m.alloc(G.GFP_KERNEL, 0)) == [
        "mm_page_alloc_extfrag: page=ffffea0000000200 pfn=8 alloc_order=0 fallback_order=2 pageblock_order=2 "
        "alloc_migratetype=0 fallback_migratetype=1 fragmenting=0 change_ownership=1",
        "mm_page_alloc_zone_locked: page=ffffea0000000200 pfn=8 order=0 migratetype=0 percpu_refill=1",
        "mm_page_alloc_zone_locked: page=ffffea0000000240 pfn=9 order=0 migratetype=0 percpu_refill=1",
        "mm_page_alloc: page=ffffea0000000200 pfn=8 order=0 migratetype=0 gfp_flags=GFP_KERNEL",
    ]
    assert _lines(m, lambda m: m.drain()) == ["mm_page_pcpu_drain: page=ffffea0000000240 pfn=9 order=0 migratetype=0"]


def test_failed_allocation_traces_a_null_page():
    m = small_machine()
    lines = _lines(m, lambda m: m.alloc(G.GFP_KERNEL | G.__GFP_NOWARN, 2, nodemask=frozenset()))
    assert lines[-1] == "mm_page_alloc: page=(null) pfn=0 order=2 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOWARN"


def _picture_lines(m):
    return machine_picture(m, indent="").splitlines()


def test_picture_shows_free_list_order():
    def after(first, second):
        m = small_machine()
        assert [m.alloc(G.GFP_HIGHUSER_MOVABLE, 2).page for _ in range(3)] == [8, 4, 0]
        m.free(first)
        m.free(second)
        return _picture_lines(m)

    a, b = after(0, 8), after(8, 0)
    assert a[0] == b[0]  # the same pages are free: the block maps agree
    # order-2 blocks go to the list head, so the block freed last is first
    assert a[1] == "node 0 Normal  free lists: o2/Movable 8 0; o2/CMA 12"
    assert b[1] == "node 0 Normal  free lists: o2/Movable 0 8; o2/CMA 12"


def test_picture_marks_pageblocks_and_pcp_lists():
    m = small_machine()
    # block 8..11 stolen for Unmovable; the batch of 2 (8, 9) leaves buddy, so NR_FREE_PAGES is 14, and 9
    # stays on cpu 0's Unmovable list
    m.alloc(G.GFP_KERNEL, 0)
    lines = _picture_lines(m)
    assert lines[0].startswith("node 0 Normal     0..15   [....|....|A|p|..|....] NR_FREE 14 (min 1 low 2 high 3)")
    assert lines[2] == "node 0 Normal  pageblocks: Mov Mov Unm CMA"
    assert lines[3] == "node 0 Normal  pcp lists: cpu0 Unm[9]"


def test_large_zone_picture_stays_small():
    sc = Scenario(name="x86-64-1g", topology=preset("x86-64-1g"), allocs=(Alloc(G.GFP_KERNEL, 0),))
    m = sc.initial()
    assert max(z.spanned_pages for z in m.zones()) == 258048
    text = format_program(sc, (Alloc(G.GFP_KERNEL, 0),))
    assert len(text) < 4096
    lines = _picture_lines(m)
    assert lines[5] == "node 0 DMA32   free blocks per order: Movable 0 0 0 0 0 0 0 0 0 0 252"
    assert lines[6] == "node 0 DMA32   pageblocks: Movable 504"


def test_show_command(tmp_path, capsys):
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps([{"kind": "alloc", "gfp": "GFP_KERNEL", "order": 1}]))
    assert main(["show", "--after", str(ops), "--file", "buddyinfo", "--tracepoints"]) == 0
    out = capsys.readouterr().out
    # buddy-core: 16 pages, MAX_ORDER 4, two order-3 blocks (8 at the head); order 1 splits 8: 10 and 12 free
    assert "Node 0, zone   Normal      0      1      1      1 \n" in out
    assert "mm_page_alloc: page=ffffea0000000200 pfn=8 order=1 migratetype=0 gfp_flags=GFP_KERNEL" in out
    assert "zoneinfo" not in out


def test_show_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"kind": "alloc", "gfp": "GFP_NOPE", "order": 1}]')
    assert main(["show", "--after", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "GFP_NOPE" in err
    assert main(["show", "--tracepoints"]) == 2


def test_picture_marks_an_isolated_pageblock():
    m = small_machine()
    m.isolate(4, 8)  # pageblock 1's free block 4 moves to the Isolate list and leaves NR_FREE_PAGES
    lines = _picture_lines(m)
    assert "NR_FREE 12" in lines[0] and lines[0].endswith("isolated-blocks 1")
    assert lines[1] == "node 0 Normal  free lists: o2/Movable 8 0; o2/CMA 12; o2/Isolate 4"
    assert lines[2] == "node 0 Normal  pageblocks: Mov ISOLATE Mov CMA"


def test_show_prints_an_imported_machine(capsys):
    """`show --from-proc` boots the machine copied from /proc and /sys: one buddyinfo line per populated zone."""
    from pathlib import Path

    root = Path(__file__).parent / "proc_samples" / "two-node"
    assert main(["show", "--from-proc", str(root), "--file", "buddyinfo"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Node")]
    assert [line.split(",")[0] for line in lines] == ["Node 0"] * 3 + ["Node 1"]
    assert [line.split()[3] for line in lines] == ["DMA", "DMA32", "Normal", "Normal"]
