"""Machines described in TOML, with errors that name the bad key and value.

A topology file (or the `[topology]` table of a scenario) looks like:

    name = "two-node"
    max_order = 4
    pageblock_order = 2
    min_free_kbytes = 16                  # optional: computed as 4.19 does when absent
    lowmem_reserve_ratio = [256, 8, 32, 0, 0]
    distances = [[10, 20], [20, 10]]      # optional: 10 local, 20 remote

    [[node]]
    id = 0
    cpus = [0]
      [[node.zone]]
      type = "DMA32"                      # DMA, DMA32, Normal, HighMem, Movable
      start_pfn = 0
      pages = 16
      watermarks = [1, 2, 3]              # optional (min, low, high)
      pcp = [4, 2]                        # optional (high, batch)

or names a built-in machine: `preset = "numa2"` (with `pages`/`max_order` for buddy-core).
"""

import tomllib

from .constants import ZONE_NAMES
from .errors import ConfigError
from .input_file import read_input_text
from .input_schema import TopologyInput, validate_input
from .presets import preset
from .topology import NodeSpec, Topology, ZoneSpec


def zone_type_from_name(name):
    """The zone index of a zone type name (any case); the schema has checked that it is one."""
    return [n.lower() for n in ZONE_NAMES].index(name.lower())


def _zone(table):
    kwargs = {}
    if "managed" in table:
        kwargs["managed"] = table["managed"]
    for key, field in (("watermarks", "watermarks"), ("lowmem_reserve", "lowmem_reserve"), ("pcp", "pcp_high_batch"),
                       ("cma_pageblocks", "cma_pageblocks")):
        if key in table:
            kwargs[field] = tuple(table[key])
    return ZoneSpec(zone_type_from_name(table["type"]), table["start_pfn"], table["pages"], **kwargs)


def topology_from_dict(table, where="topology"):
    """Build a Topology from a parsed TOML table; every error names the key and the value (model/input_schema.py)."""
    validate_input(TopologyInput, table, where)
    if "preset" in table:
        try:
            return preset(table["preset"], **{k: table[k] for k in ("pages", "max_order") if k in table})
        except ConfigError as e:  # an unknown preset, or sizes it cannot take
            raise ConfigError(f"{where}.preset = {table['preset']!r}: {e}") from None
    nodes = tuple(NodeSpec(node["id"], tuple(node.get("cpus", [])), tuple(_zone(z) for z in node.get("zone", [])))
                  for node in table["node"])
    kwargs = {k: v for k, v in table.items() if k != "node"}
    if "lowmem_reserve_ratio" in kwargs:
        kwargs["lowmem_reserve_ratio"] = tuple(kwargs["lowmem_reserve_ratio"])
    if "distances" in kwargs:
        kwargs["distances"] = tuple(tuple(row) for row in kwargs["distances"])
    if "configured_zones" in kwargs:
        kwargs["configured_zones"] = frozenset(zone_type_from_name(n) for n in kwargs["configured_zones"])
    try:
        return Topology(nodes=nodes, **kwargs)
    except ConfigError as e:  # a rule of the whole machine (model/topology.py)
        raise ConfigError(f"{where}: {str(e).removeprefix('topology: ')}") from None


def load_toml(path):
    """Read a TOML file; a missing file, an unreadable one or a syntax error is a ConfigError naming the file."""
    text = read_input_text(path, ConfigError, what="a TOML file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def load_topology(path):
    """A Topology from a TOML file: the whole file, or its [topology] table if it has one."""
    table = load_toml(path)
    if "topology" in table:
        return topology_from_dict(table["topology"], f"{path}: topology")
    return topology_from_dict(table, str(path))
