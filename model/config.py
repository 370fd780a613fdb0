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

from .constants import MAX_NR_ZONES, ZONE_NAMES
from .errors import ConfigError
from .presets import preset
from .topology import NodeSpec, Topology, ZoneSpec

TOPOLOGY_KEYS = {
    "name": str, "max_order": int, "pageblock_order": int, "min_free_kbytes": int,
    "watermark_scale_factor": int, "lowmem_reserve_ratio": list, "percpu_pagelist_fraction": int,
    "page_group_by_mobility_disabled": bool, "node_reclaim_mode": int, "numa": bool, "max_numnodes": int,
    "cpusets_enabled": bool, "memcg_kmem_enabled": bool, "gfp_allowed_mask": int, "distances": list,
    "configured_zones": list, "node": list, "preset": str, "pages": int,
}
NODE_KEYS = {"id": int, "cpus": list, "zone": list}
ZONE_KEYS = {
    "type": str, "start_pfn": int, "pages": int, "managed": int, "watermarks": list, "lowmem_reserve": list,
    "pcp": list, "cma_pageblocks": list,
}


def _check_keys(table, allowed, where):
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")
        want = allowed[key]
        ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{where}.{key} = {value!r}: expected {want.__name__}")


def _int_list(value, where, length=None):
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"{where} = {value!r}: expected a list of integers")
    if length is not None and len(value) != length:
        raise ConfigError(f"{where} = {value!r}: expected {length} integers")
    return tuple(value)


def zone_type_from_name(name, where):
    for idx, zone_name in enumerate(ZONE_NAMES):
        if name.lower() == zone_name.lower():
            return idx
    raise ConfigError(f"{where}.type = {name!r}: not a zone type (one of {', '.join(ZONE_NAMES)})")


def _zone(table, where):
    _check_keys(table, ZONE_KEYS, where)
    for key in ("type", "start_pfn", "pages"):
        if key not in table:
            raise ConfigError(f"{where}: missing key {key!r}")
    kwargs = {}
    if "managed" in table:
        kwargs["managed"] = table["managed"]
    if "watermarks" in table:
        kwargs["watermarks"] = _int_list(table["watermarks"], f"{where}.watermarks", 3)
    if "lowmem_reserve" in table:
        kwargs["lowmem_reserve"] = _int_list(table["lowmem_reserve"], f"{where}.lowmem_reserve", MAX_NR_ZONES)
    if "pcp" in table:
        kwargs["pcp_high_batch"] = _int_list(table["pcp"], f"{where}.pcp", 2)
    if "cma_pageblocks" in table:
        kwargs["cma_pageblocks"] = _int_list(table["cma_pageblocks"], f"{where}.cma_pageblocks")
    return ZoneSpec(zone_type_from_name(table["type"], where), table["start_pfn"], table["pages"], **kwargs)


def topology_from_dict(table, where="topology"):
    """Build a Topology from a parsed TOML table; every error names the key and the value."""
    _check_keys(table, TOPOLOGY_KEYS, where)
    if "preset" in table:
        extra = sorted(set(table) - {"preset", "pages", "max_order"})
        if extra:
            raise ConfigError(f"{where}: a preset takes only 'pages' and 'max_order' beside it (got {extra})")
        params = {k: table[k] for k in ("pages", "max_order") if k in table}
        return preset(table["preset"], **params)
    if "node" not in table:
        raise ConfigError(f"{where}: missing [[node]] tables (or a 'preset' key)")
    nodes = []
    for i, node in enumerate(table["node"]):
        nwhere = f"{where}.node[{i}]"
        _check_keys(node, NODE_KEYS, nwhere)
        if "id" not in node:
            raise ConfigError(f"{nwhere}: missing key 'id'")
        cpus = _int_list(node.get("cpus", []), f"{nwhere}.cpus")
        zones = tuple(_zone(z, f"{nwhere}.zone[{j}]") for j, z in enumerate(node.get("zone", [])))
        nodes.append(NodeSpec(node["id"], cpus, zones))
    kwargs = {k: v for k, v in table.items() if k not in ("node", "pages")}
    if "lowmem_reserve_ratio" in kwargs:
        kwargs["lowmem_reserve_ratio"] = _int_list(kwargs["lowmem_reserve_ratio"], f"{where}.lowmem_reserve_ratio",
                                                   MAX_NR_ZONES)
    if "distances" in kwargs:
        rows = kwargs["distances"]
        if not all(isinstance(r, list) for r in rows):
            raise ConfigError(f"{where}.distances = {rows!r}: expected a list of lists")
        kwargs["distances"] = tuple(_int_list(r, f"{where}.distances[{i}]") for i, r in enumerate(rows))
    if "configured_zones" in kwargs:
        kwargs["configured_zones"] = frozenset(
            zone_type_from_name(n, f"{where}.configured_zones") for n in kwargs["configured_zones"])
    return Topology(nodes=tuple(nodes), **kwargs)


def load_toml(path):
    """Read a TOML file; a missing file or a syntax error is a ConfigError naming the file."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def load_topology(path):
    """A Topology from a TOML file: the whole file, or its [topology] table if it has one."""
    table = load_toml(path)
    if "topology" in table:
        return topology_from_dict(table["topology"], f"{path}: topology")
    return topology_from_dict(table, str(path))
