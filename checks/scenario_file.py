"""Scenarios in TOML: a machine, the operations that may happen, bounds. Errors name the key and value.

    name = "two-node-kernel"
    depth = 5
    max_states = 200000
    symmetry = false           # explore/check: exchange whole MAX_ORDER blocks (model/symmetry.py)

    [topology]                 # a topology table (model/config.py) or a preset
    preset = "numa2"

    [[alloc]]                  # each combination of gfp x orders x cpus is one operation
    gfp = "GFP_KERNEL"
    orders = [0, 1]
    cpus = [0, 1]
    env = { reclaim_progress = 1 }   # optional answers of model/environment.py

    [free]                     # free any allocated block, from these CPUs (omit the table: no frees)
    cpus = [0]

    [drain]
    cpus = ["all"]             # "all" is drain_all_pages; a number drains one CPU

    [[isolate]]                # isolation of [start_pfn, end_pfn) and its undo
    start_pfn = 0
    end_pfn = 8

    [[task]]                   # tasks besides task 0, created before the search
    id = 1
    mems = [0]

    [[policy]]                 # set_mempolicy(mode, nodes) by a task, as an operation
    task = 0
    mode = "MPOL_INTERLEAVE"
    nodes = [0, 1]

    [[cpuset]]                 # a cpuset write for a task, as an operation
    task = 0
    nodes = [1]

    [[alloc_pages]]            # alloc_pages() for a task: its policy applies
    gfp = "GFP_KERNEL"
    orders = [0]
    cpus = [0]
    task = 0
"""

from buddycheck.model.config import load_toml, topology_from_dict
from buddycheck.model.environment import Environment
from buddycheck.model.errors import ConfigError
from buddycheck.model.gfp import parse_gfp
from buddycheck.model.mempolicy import MPOL_MODE_NAMES

from .ops import AddTask, Alloc, AllocPages, Drain, SetCpuset, SetMempolicy
from .scenario import Scenario

SCENARIO_KEYS = {"name", "description", "depth", "max_states", "symmetry", "topology", "alloc", "free", "drain",
                 "isolate", "task", "policy", "cpuset", "alloc_pages"}


def _require(table, key, kind, where):
    if key not in table:
        raise ConfigError(f"{where}: missing key {key!r}")
    value = table[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}.{key} = {value!r}: expected an integer")
    if kind is list and not isinstance(value, list):
        raise ConfigError(f"{where}.{key} = {value!r}: expected a list")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{where}.{key} = {value!r}: expected a string")
    return value


def _ints(values, where):
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{where} = {values!r}: expected a list of integers")
    return values


def _gfp(table, where):
    try:
        return parse_gfp(_require(table, "gfp", str, where) if not isinstance(table.get("gfp"), int)
                         else table["gfp"])
    except ValueError as e:
        raise ConfigError(f"{where}.gfp: {e}") from None


def _env(table, where):
    if "env" not in table:
        return Environment()
    env = table["env"]
    if not isinstance(env, dict):
        raise ConfigError(f"{where}.env = {env!r}: expected a table")
    known = Environment.__dataclass_fields__
    for key in env:
        if key not in known:
            raise ConfigError(f"{where}.env: unknown answer {key!r} (known: {', '.join(known)})")
    return Environment(**env)


def _mode(text, where):
    if text not in MPOL_MODE_NAMES:
        raise ConfigError(f"{where}.mode = {text!r}: one of {', '.join(MPOL_MODE_NAMES)}")
    return MPOL_MODE_NAMES.index(text)


def scenario_from_dict(table, where="scenario"):
    for key in table:
        if key not in SCENARIO_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(SCENARIO_KEYS))})")
    if "topology" not in table:
        raise ConfigError(f"{where}: missing [topology] table")
    topology = topology_from_dict(table["topology"], f"{where}.topology")
    allocs, extra, setup = [], [], []
    for i, a in enumerate(table.get("alloc", [])):
        w = f"{where}.alloc[{i}]"
        gfp, env = _gfp(a, w), _env(a, w)
        for order in _ints(a.get("orders", [0]), f"{w}.orders"):
            for cpu in _ints(a.get("cpus", [0]), f"{w}.cpus"):
                allocs.append(Alloc(gfp, order, cpu, env=env))
    free_cpus = ()
    if "free" in table:
        free_cpus = tuple(_ints(table["free"].get("cpus", [0]), f"{where}.free.cpus"))
    drains = []
    if "drain" in table:
        for cpu in table["drain"].get("cpus", ["all"]):
            if cpu == "all":
                drains.append(Drain(None))
            elif isinstance(cpu, int) and not isinstance(cpu, bool):
                drains.append(Drain(cpu))
            else:
                raise ConfigError(f"{where}.drain.cpus: {cpu!r} is neither 'all' nor a cpu number")
    isolations = []
    align = max(1 << (topology.max_order - 1), 1 << topology.pageblock_order)
    for i, iso in enumerate(table.get("isolate", [])):
        w = f"{where}.isolate[{i}]"
        start, end = _require(iso, "start_pfn", int, w), _require(iso, "end_pfn", int, w)
        # 4.19's callers (alloc_contig_range, offlining) isolate MAX_ORDER-aligned ranges; a narrower one
        # reaches states they never produce, where the invariants' preconditions do not hold
        if start % align or end % align or not start < end:
            raise ConfigError(f"{w}: pfn {start}..{end}: an isolation range must be non-empty and aligned to "
                              f"{align} pages (MAX_ORDER_NR_PAGES and pageblocks), as 4.19's callers align it")
        isolations.append((start, end))
    for i, t in enumerate(table.get("task", [])):
        w = f"{where}.task[{i}]"
        setup.append(AddTask(_require(t, "id", int, w), frozenset(_ints(_require(t, "mems", list, w), f"{w}.mems"))))
    for i, p in enumerate(table.get("policy", [])):
        w = f"{where}.policy[{i}]"
        nodes = frozenset(_ints(p.get("nodes", []), f"{w}.nodes"))
        extra.append(SetMempolicy(_mode(_require(p, "mode", str, w), w), nodes, p.get("task", 0)))
    for i, c in enumerate(table.get("cpuset", [])):
        w = f"{where}.cpuset[{i}]"
        extra.append(SetCpuset(c.get("task", 0), frozenset(_ints(_require(c, "nodes", list, w), f"{w}.nodes"))))
    for i, a in enumerate(table.get("alloc_pages", [])):
        w = f"{where}.alloc_pages[{i}]"
        gfp = _gfp(a, w)
        for order in _ints(a.get("orders", [0]), f"{w}.orders"):
            for cpu in _ints(a.get("cpus", [0]), f"{w}.cpus"):
                extra.append(AllocPages(gfp, order, cpu, a.get("task", 0)))
    depth = table.get("depth", 6)
    max_states = table.get("max_states", 2_000_000)
    for key, value in (("depth", depth), ("max_states", max_states)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}.{key} = {value!r}: expected a positive integer")
    symmetry = table.get("symmetry", False)
    if not isinstance(symmetry, bool):
        raise ConfigError(f"{where}.symmetry = {symmetry!r}: expected true or false")
    if not allocs and not extra:
        raise ConfigError(f"{where}: no operations: give at least one [[alloc]] or [[alloc_pages]]")
    return Scenario(
        name=table.get("name", "scenario"), topology=topology, allocs=tuple(allocs), extra_ops=tuple(extra),
        setup=tuple(setup), free_cpus=free_cpus, drains=tuple(drains), isolations=tuple(isolations),
        depth=depth, max_states=max_states, description=table.get("description", ""), symmetry=symmetry,
        params={"config": table},
    )


def load_scenario(path):
    return scenario_from_dict(load_toml(path), str(path))
