"""A real machine's topology from /proc/zoneinfo and /sys/devices/system/node (model/procfs_import.py).

The sample (tests/proc_samples/two-node) is a 2-node x86-64 machine in 4.19's formats: node 0 with DMA,
DMA32 and Normal, node 1 with Normal only, Movable and Device unpopulated, 4 CPUs a node, SLIT 10/21.
"""

import math
import shutil
from pathlib import Path

import pytest

from buddycheck.checks.cli import main
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.constants import ZONE_DMA, ZONE_DMA32, ZONE_MOVABLE, ZONE_NORMAL
from buddycheck.model.errors import ConfigError
from buddycheck.model.procfs_import import import_machine, parse_cpulist, read_machine, scale_machine

SAMPLE = Path(__file__).parent / "proc_samples" / "two-node"
ZONEINFO = SAMPLE / "proc" / "zoneinfo"
# spanned pages of the four populated zones, as the sample's zoneinfo gives them
SPANNED = {"DMA": 4095, "DMA32": 1044480, "Normal0": 3145728, "Normal1": 4194304}


def copy_sample(tmp_path):
    root = tmp_path / "machine"
    shutil.copytree(SAMPLE, root)
    return root


def edit_zoneinfo(root, old, new, count=1):
    path = root / "proc" / "zoneinfo"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))
    return path


def line_of(path, needle):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---- parsing --------------------------------------------------------------------------------------


def test_zoneinfo_zones_fields_and_zone_order():
    real = read_machine(SAMPLE)
    assert real.zone_names == ("DMA", "DMA32", "Normal", "Movable", "Device")
    assert [(z.nid, z.name) for z in real.zones if z.spanned] == [(0, "DMA"), (0, "DMA32"), (0, "Normal"),
                                                                   (1, "Normal")]
    dma32 = next(z for z in real.zones if z.name == "DMA32" and z.nid == 0)
    assert (dma32.spanned, dma32.present, dma32.managed) == (1044480, 782288, 765881)
    assert dma32.watermarks == (1620, 2385, 3150)
    assert dma32.protection == (0, 0, 12059, 12059, 12059)
    assert (dma32.pcp_high, dma32.pcp_batch, dma32.start_pfn) == (186, 31, 4096)
    dma = real.zones[0]
    assert (dma.pcp_high, dma.pcp_batch, dma.start_pfn, dma.line) == (0, 1, 1, 1)
    # an unpopulated zone keeps its protection and nothing else
    movable = next(z for z in real.zones if z.name == "Movable" and z.nid == 0)
    assert movable.spanned == 0 and movable.pcp_high is None and movable.start_pfn is None


def test_cpus_and_distances_from_sys():
    real = read_machine(SAMPLE)
    assert real.cpus == {0: (0, 1, 2, 3), 1: (4, 5, 6, 7)}
    assert real.distances == ((10, 21), (21, 10))


def test_cpulist_ranges_and_singles():
    assert parse_cpulist("0-2,8,10-11\n", "x") == (0, 1, 2, 8, 10, 11)
    assert parse_cpulist("\n", "x") == ()


def test_the_first_cpus_pageset_is_the_one_kept(tmp_path):
    root = copy_sample(tmp_path)
    # cpu 1's pageset of node 0 DMA32 differs: the first CPU listed (cpu 0) decides
    text = (root / "proc" / "zoneinfo").read_text()
    dma32 = text.index("zone    DMA32")
    cpu1 = text.index("    cpu: 1", dma32)
    text = text[:cpu1] + text[cpu1:].replace("high:  186", "high:  999", 1)
    (root / "proc" / "zoneinfo").write_text(text)
    z = next(z for z in read_machine(root).zones if z.name == "DMA32")
    assert z.pcp_high == 186


# ---- scaling --------------------------------------------------------------------------------------


def zones_by_name(topology):
    return {f"{z.name}{n.nid}" if z.name == "Normal" else z.name: z for n in topology.nodes for z in n.zones}


def test_default_scale_keeps_nodes_zones_and_proportions():
    t = import_machine(SAMPLE)  # about 128 pages, MAX_ORDER 4: 8-page blocks
    total = sum(SPANNED.values())
    block = 8
    zones = zones_by_name(t)
    assert [n.nid for n in t.nodes] == [0, 1]
    assert [[z.zone_type for z in n.zones] for n in t.nodes] == [[ZONE_DMA, ZONE_DMA32, ZONE_NORMAL], [ZONE_NORMAL]]
    for name, spanned in SPANNED.items():
        want = max(block, round(spanned * 128 / total / block) * block)
        assert zones[name].pages == want, name
        assert zones[name].start_pfn % block == 0
    assert [zones[n].pages for n in ("DMA", "DMA32", "Normal0", "Normal1")] == [8, 16, 48, 64]
    assert [zones[n].start_pfn for n in ("DMA", "DMA32", "Normal0", "Normal1")] == [0, 8, 24, 72]
    assert (t.max_order, t.pageblock_order) == (4, 2)
    assert t.distances == ((10, 21), (21, 10))
    assert t.nodes[1].cpus == (4, 5, 6, 7)
    assert t.configured_zones == frozenset({ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE})
    assert t.page_group_by_mobility_disabled is False


def test_scale_shrinks_managed_watermarks_reserves_and_pagesets_in_proportion():
    t = import_machine(SAMPLE, scale=1024)  # 1024 real pages a page: 4096-page Normal on node 1
    zones = zones_by_name(t)
    n1 = zones["Normal1"]
    assert n1.pages == 4096
    managed = round(4128607 * 4096 / 4194304)
    assert n1.managed == managed
    f = managed / 4128607
    assert n1.watermarks == tuple(math.ceil(w * f) for w in (8735, 12863, 16991)) == (9, 13, 17)
    assert n1.pcp_high_batch == (math.ceil(186 * f), max(1, math.ceil(31 * f)))
    # DMA32 protects against Normal: the real entry scaled by Normal's managed pages
    normal0_managed = zones["Normal0"].managed
    assert normal0_managed == round(3087231 * 3072 / 3145728)
    reserve = math.ceil(12059 * normal0_managed / 3087231)
    assert zones["DMA32"].lowmem_reserve == (0, 0, reserve, 0, reserve)
    # DMA's entry for DMA32 scales by DMA32's managed pages
    assert zones["DMA"].lowmem_reserve[ZONE_DMA32] == math.ceil(2991 * zones["DMA32"].managed / 765881)
    # DMA (4095 pages, under one 8-page block at this scale) keeps one block
    assert zones["DMA"].pages == 8
    assert t.min_free_kbytes == 4 * sum(z.watermarks[0] for z in zones.values())


def test_pages_and_max_order_choose_the_size_and_the_blocks():
    t = import_machine(SAMPLE, pages=1024, max_order=6)
    block = 32
    assert (t.max_order, t.pageblock_order) == (6, 4)
    for n in t.nodes:
        for z in n.zones:
            assert z.pages % block == 0 and z.start_pfn % block == 0
    assert sum(z.pages for n in t.nodes for z in n.zones) == 32 + 128 + 384 + 512


def test_the_imported_machine_boots_and_allocates_on_the_cpus_node():
    t = import_machine(SAMPLE)
    m = Kernel419(t)
    r = m.alloc(G.GFP_KERNEL, order=0, cpu=4)  # from node 1's first CPU: node 1's Normal, pfns 72..135
    assert r.nid == 1 and r.zone_idx == ZONE_NORMAL and 72 <= r.page < 136
    assert m.zone(1, ZONE_NORMAL).managed_pages == 63


def test_pages_and_scale_exclude_each_other():
    with pytest.raises(ConfigError, match="pages = 64 and scale = 8"):
        scale_machine(read_machine(SAMPLE), pages=64, scale=8)


# ---- errors ---------------------------------------------------------------------------------------


def test_a_bad_number_names_file_line_and_value(tmp_path):
    root = copy_sample(tmp_path)
    path = edit_zoneinfo(root, "managed  765881", "managed  76x881")
    lineno = line_of(path, "76x881")
    with pytest.raises(ConfigError) as e:
        read_machine(root)
    assert str(e.value) == f"{path}:{lineno}: managed = '76x881': expected a whole number"


def test_a_populated_zone_without_start_pfn(tmp_path):
    root = copy_sample(tmp_path)
    path = edit_zoneinfo(root, "  start_pfn:           4096\n", "")
    with pytest.raises(ConfigError, match=r"zoneinfo:102: node 0 zone DMA32: no start_pfn line \(spanned = 1044480\)"):
        read_machine(root)
    assert path.exists()


def test_an_unknown_zone_and_a_short_protection(tmp_path):
    root = copy_sample(tmp_path)
    edit_zoneinfo(root, "Node 1, zone   Device", "Node 1, zone   Weird")
    with pytest.raises(ConfigError, match="zoneinfo:390: zone 'Weird': not a zone type"):
        read_machine(root)
    root2 = copy_sample(tmp_path / "b")
    edit_zoneinfo(root2, "protection: (0, 2991, 15051, 15051, 15051)", "protection: (0, 2991)")
    with pytest.raises(ConfigError, match=r"zoneinfo:1: node 0 zone DMA: protection = \(0, 2991\): expected 5"):
        read_machine(root2)


def test_missing_files_and_bad_sys_files(tmp_path):
    root = copy_sample(tmp_path)
    (root / "sys/devices/system/node/node1/distance").write_text("21\n")
    with pytest.raises(ConfigError, match=r"node1/distance:1: distance = '21': expected 2 entries"):
        read_machine(root)
    (root / "sys/devices/system/node/node1/cpulist").unlink()
    (root / "sys/devices/system/node/node1/distance").write_text("21 10\n")
    with pytest.raises(ConfigError, match=r"node1/cpulist: no such file"):
        read_machine(root)
    (root / "sys/devices/system/node/node1/cpulist").write_text("4-x\n")
    with pytest.raises(ConfigError, match=r"node1/cpulist:1: cpulist = '4-x': '4-x' is not N or N-M"):
        read_machine(root)
    (root / "proc/zoneinfo").write_text("MemTotal: 1 kB\n")
    with pytest.raises(ConfigError, match="not a /proc/zoneinfo"):
        read_machine(root)


def test_cli_errors_exit_2_without_a_traceback(capsys, tmp_path):
    root = copy_sample(tmp_path)
    edit_zoneinfo(root, "        min      1620", "        min      -")
    code, out, err = run(capsys, "explore", "--from-proc", root)
    assert code == 2 and out == ""
    assert "zoneinfo:" in err and "min = '-': expected a whole number" in err and "Traceback" not in err
    code, _, err = run(capsys, "explore", "--from-proc", tmp_path / "nowhere")
    assert code == 2 and "no such folder" in err
    code, _, err = run(capsys, "explore", "--scale", "8")
    assert code == 2 and "--scale N goes with --from-proc DIR" in err
    code, _, err = run(capsys, "explore", "--from-proc", SAMPLE, "--pages", "64", "--scale", "8")
    assert code == 2 and "exclude each other" in err
    code, _, err = run(capsys, "explore", "--from-proc", SAMPLE, "--preset", "numa2")
    assert code == 2 and "--from-proc" in err


# ---- exploring the imported machine ----------------------------------------------------------------


def test_explore_the_imported_machine(capsys):
    code, out, _ = run(capsys, "explore", "--from-proc", SAMPLE, "--depth", "3", "--no-coverage")
    assert code == 0
    assert "scenario from-proc" in out and "2 node(s), 136 pages, MAX_ORDER 4" in out
    assert "every invariant held to depth 3" in out
    assert "sometimes reached: an allocation split a larger block" in out


@pytest.mark.parametrize("model, invariant, length", [("ExpandUpper", "no_overlap", 1),
                                                      ("MergeShort", "maximal_coalescing", 2)])
def test_a_planted_bug_is_found_on_the_imported_machine(capsys, model, invariant, length):
    planted = Path(__file__).parent / "planted_models.py"
    code, out, _ = run(capsys, "explore", "--from-proc", SAMPLE, "--model", f"{planted}:{model}", "--no-coverage")
    assert code == 1
    assert f"VIOLATION of {invariant} after {length} operations" in out


def test_a_scenario_files_operations_on_the_imported_machine(capsys, tmp_path):
    toml = tmp_path / "remote.toml"
    # the file's [topology] is replaced by the imported machine; its operations stay
    toml.write_text('name = "node-0-thisnode"\ndepth = 2\n[topology]\npreset = "numa2"\n'
                    '[[alloc]]\ngfp = "GFP_KERNEL|__GFP_THISNODE"\norders = [3]\ncpus = [1]\n')
    code, out, _ = run(capsys, "explore", "--from-proc", SAMPLE, "--config", toml, "--no-coverage")
    assert code == 0
    assert "scenario node-0-thisnode" in out and "every invariant held" in out
    # order 3 is fine on numa2 (MAX_ORDER 4) but not on the machine imported with MAX_ORDER 3
    code, _, err = run(capsys, "explore", "--from-proc", SAMPLE, "--max-order", "3", "--config", toml)
    assert code == 2 and "order" in err and "Traceback" not in err


def test_check_runs_on_the_imported_machine(capsys):
    code, out, _ = run(capsys, "check", "--from-proc", SAMPLE, "--depth", "1", "--no-coverage")
    assert code == 0
    assert "from-proc" in out and "verdict: everything holds" in out


def test_an_impossible_distance_names_the_copy(tmp_path):
    root = copy_sample(tmp_path)
    (root / "sys/devices/system/node/node0/distance").write_text("10 5\n")
    with pytest.raises(ConfigError, match=r"machine: topology: distances\[0\]\[1\] = 5: remote must exceed 10"):
        import_machine(root)
