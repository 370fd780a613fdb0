"""TOML topologies and presets: good files build the machine described, bad ones name key and value."""

import pytest

from buddycheck.model import ConfigError, Kernel419, preset
from buddycheck.model.config import load_topology, topology_from_dict
from buddycheck.model.constants import ZONE_DMA32, ZONE_NORMAL

TWO_NODE = """
name = "two-node"
max_order = 4
pageblock_order = 2
lowmem_reserve_ratio = [256, 8, 32, 0, 0]
distances = [[10, 21], [21, 10]]

[[node]]
id = 0
cpus = [0]
  [[node.zone]]
  type = "DMA32"
  start_pfn = 0
  pages = 16
  watermarks = [1, 2, 3]
  pcp = [4, 2]
  [[node.zone]]
  type = "normal"
  start_pfn = 16
  pages = 8
  watermarks = [0, 0, 0]

[[node]]
id = 1
cpus = [1]
  [[node.zone]]
  type = "Normal"
  start_pfn = 24
  pages = 8
"""


def write(tmp_path, text, name="machine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_toml_builds_the_machine_it_describes(tmp_path):
    t = load_topology(write(tmp_path, TWO_NODE))
    m = Kernel419(t)
    zones = [(z.nid, z.idx, z.zone_start_pfn, z.spanned_pages) for z in m.zones()]
    assert zones == [(0, ZONE_DMA32, 0, 16), (0, ZONE_NORMAL, 16, 8), (1, ZONE_NORMAL, 24, 8)]
    dma32 = m.zone(0, ZONE_DMA32)
    assert dma32.watermark == [1, 2, 3]
    assert (dma32.pcp_high, dma32.pcp_batch) == (4, 2)
    # lowmem_reserve of DMA32 for a Normal-class request: the 8 Normal pages above it // ratio 8
    assert dma32.lowmem_reserve[ZONE_NORMAL] == 1
    assert t.node_distance(0, 1) == 21


def test_scenario_file_topology_table(tmp_path):
    t = load_topology(write(tmp_path, '[topology]\npreset = "buddy-core"\npages = 8\nmax_order = 3\n'))
    assert Kernel419(t).zones()[0].nr_free_pages == 8


@pytest.mark.parametrize("text, words", [
    ("max_order = 'four'\n", ["max_order", "'four'", "expected an integer"]),
    ("colour = 1\n", ["unknown key 'colour'"]),
    ("[[node]]\nid = 0\ncpus = [0]\n[[node.zone]]\ntype = 'Sparkly'\nstart_pfn = 0\npages = 4\n",
     ["node[0].zone[0].type", "'Sparkly'"]),
    ("[[node]]\nid = 0\ncpus = [0]\n[[node.zone]]\ntype = 'Normal'\npages = 4\n", ["missing key 'start_pfn'"]),
    ("[[node]]\nid = 0\ncpus = [0]\n[[node.zone]]\ntype = 'Normal'\nstart_pfn = 0\npages = 4\nwatermarks = [1]\n",
     ["watermarks", "of 3 entries"]),
    ("max_order = 3\npageblock_order = 5\n[[node]]\nid = 0\ncpus = [0]\n", ["pageblock_order = 5"]),
    ("[[node]]\nid = 0\ncpus = [0]\n[[node.zone]]\ntype = 'Normal'\nstart_pfn = 0\npages = 8\n"
     "[[node]]\nid = 1\ncpus = [1]\n[[node.zone]]\ntype = 'Normal'\nstart_pfn = 4\npages = 8\n", ["overlap"]),
    ("preset = 'numa9'\n", ["unknown preset 'numa9'"]),
    ("preset = 'numa2'\npages = 8\n", ["takes no parameters"]),
    ("this is = not toml [\n", ["not valid TOML"]),
])
def test_bad_files_name_the_problem(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        load_topology(write(tmp_path, text))
    for w in words:
        assert w in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_topology(tmp_path / "absent.toml")


def test_buddy_core_parameters_are_checked():
    with pytest.raises(ConfigError, match="--pages 0"):
        preset("buddy-core", pages=0)
    with pytest.raises(ConfigError, match="--max-order 0"):
        preset("buddy-core", max_order=0)


def test_buddy_core_is_the_buddy_system_alone():
    m = Kernel419(preset("buddy-core", pages=12, max_order=3))
    zone = m.zones()[0]
    # 12 pages from pfn 0 with MAX_ORDER 3: blocks of 4 at 0, 4 and 8
    assert m.free_blocks(zone) == [(0, 2, 0), (4, 2, 0), (8, 2, 0)]
    assert zone.watermark == [0, 0, 0]
    assert (zone.pcp_high, zone.pcp_batch) == (0, 1)
    assert m.page_group_by_mobility_disabled


def test_distances_must_be_square():
    with pytest.raises(ConfigError, match="2x2"):
        topology_from_dict({"distances": [[10, 20]], "node": [
            {"id": 0, "cpus": [0]}, {"id": 1, "cpus": [1]}]})
