"""Scenarios in TOML: a machine, the operations that may happen, bounds, goals. Errors name the key and value.

    name = "two-node-kernel"
    description = "what the scenario is for"
    depth = 5                  # the largest depth a search of this scenario goes to
    max_states = 200000
    symmetry = false           # explore/check: exchange whole MAX_ORDER blocks (model/symmetry.py)
    sometimes = ["split", "allocation-failed"]   # built-in goals (checks/goals.py) that must be reached

    [topology]                 # a topology table (model/config.py) or a preset
    preset = "numa2"

Setup, applied once to the booted machine before the search:

    [[task]]                   # a task besides task 0 (id 0 takes only memcg_limit)
    id = 1
    mems = [0]                 # its cpuset's nodes (required for a new task)
    memcg_limit = 4            # optional: its memory cgroup's limit in pages (__GFP_ACCOUNT charges it;
                               # the topology needs memcg_kmem_enabled = true)

    [[mmap]]                   # an anonymous mapping of a task: a VMA for [[mbind]] and [[alloc_vma]]
    task = 0
    start = 0x200000           # bytes, page-aligned
    length = 0x400000

    [[alloc]]                  # an [[alloc]] table with setup = true is made once, in order, after the
    setup = true               # tasks and mappings: a machine that starts with memory in use (each
    gfp = "GFP_HIGHUSER_MOVABLE|__GFP_MEMALLOC"   # must succeed; the blocks may be freed in the search)
    orders = [5, 4]

Operations, each enabled in every state (a table with lists expands to one operation per combination):

    [[alloc]]                  # __alloc_pages_nodemask(): each gfp x order x cpu x env is one operation
    gfp = "GFP_KERNEL"         # a name, names joined with "|", or a number
    orders = [0, 1]
    cpus = [0, 1]
    nid = 1                    # optional: preferred node (default: the CPU's node)
    nodes = [0]                # optional: the nodemask argument
    context = ["in_interrupt"] # optional: in_interrupt, pf_memalloc, rt_task, oom_victim (model/machine.py Current)
    env = { reclaim_progress = 1 }   # optional answers of model/environment.py; a list of tables is one
                                     # operation per table: fail_alloc, node_reclaim_result, dirty_ok,
                                     # reclaim_progress, compact_result, reclaimable_pages, oom_victim_found;
                                     # compact_result and node_reclaim_result also by name: "COMPACT_SUCCESS",
                                     # "NODE_RECLAIM_SOME" (model/constants.py)

    [[alloc_pages]]            # alloc_pages() for a task: its policy applies
    gfp = "GFP_KERNEL"
    orders = [0]
    cpus = [0]
    task = 0
    in_interrupt = false
    env = {}                   # as for [[alloc]]

    [[alloc_vma]]              # alloc_pages_vma() for the VMA of a task holding addr
    gfp = "GFP_TRANSHUGE"
    orders = [2]
    cpus = [0]
    task = 0
    addr = 0x200000
    hugepage = true            # the THP path (default true)
    env = {}

    [free]                     # free any allocated block, from these CPUs (omit the table: no frees)
    cpus = [0]

    [drain]
    cpus = ["all"]             # "all" is drain_all_pages; a number drains one CPU

    [[isolate]]                # isolation of [start_pfn, end_pfn) and its undo, as alloc_contig_range or
    start_pfn = 0              # memory offlining do it: aligned to MAX_ORDER_NR_PAGES and pageblocks
    end_pfn = 8
    migratetype = "MOVABLE"    # or "CMA": alloc_contig_range on a CMA area isolates and undoes with CMA

    [[policy]]                 # set_mempolicy(mode | flags, nodes) by a task
    task = 0
    mode = "MPOL_INTERLEAVE"   # MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL
    flags = ["MPOL_F_STATIC_NODES"]   # optional: MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES
    nodes = [0, 1]

    [[mbind]]                  # mbind(start, length, mode | flags, nodes, mbind_flags) by a task
    task = 0
    start = 0x200000
    length = 0x200000
    mode = "MPOL_BIND"
    flags = []
    nodes = [1]
    mbind_flags = ["MPOL_MF_STRICT"]  # optional: MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL

    [[cpuset]]                 # a cpuset write for a task: it and its VMAs' policies are rebound
    task = 0
    nodes = [1]

    [[get_mempolicy]]          # get_mempolicy() by a task (reads only: what it returns is the result)
    task = 0
    flags = ["MPOL_F_ADDR"]    # optional: MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED
    addr = 0x200000

[[policy]], [[mbind]] and [[get_mempolicy]] take `maxnode` too (default: a full mask); a mode, mbind_flags and
get_mempolicy's flags may be raw integers, to reach the system calls' error returns.

Checks the scenario brings besides spec/'s invariants (paths relative to the scenario file):

    [[sometimes]]              # a goal of your own (instead of, or inline beside, built-in names:
    name = "node 1 was used"   #  sometimes = ["split", { name = "...", predicate = "..." }])
    predicate = "goals.py:on_node_1"          # callable(op, result, m) -> bool

    [[invariant]]
    name = "no order-3 block on node 1"
    state = "checks.py:no_big_block"          # callable(view) -> iterable of messages (spec/view.py)
    # or: step = "mypkg.checks:no_remote"     # callable(before_view, op, result, after_view) -> messages

Every key is checked: an unknown key (in any table), a value of the wrong type, and an operation the
machine could never run (a CPU, node or task that does not exist, an order >= MAX_ORDER, a gfp mask
the machine rejects, an isolation range outside the zones; Scenario.validate) are ConfigErrors naming
the file, the key and the value.
"""

import os
from itertools import product

from buddycheck.model import constants
from buddycheck.model.config import load_toml, topology_from_dict
from buddycheck.model.constants import MIGRATE_CMA, MIGRATE_MOVABLE
from buddycheck.model.environment import Environment
from buddycheck.model.errors import ConfigError
from buddycheck.model.gfp import parse_gfp
from buddycheck.model.mempolicy import MPOL_MODE_NAMES
from buddycheck.model.mempolicy_names import GET_FLAG_NAMES, MBIND_FLAG_NAMES, MODE_FLAG_NAMES

from .goals import goal
from .ops import (
    ANSWER_NAMES,
    CONTEXT_FLAGS,
    AddTask,
    Alloc,
    AllocPages,
    AllocVma,
    Drain,
    GetMempolicy,
    Mbind,
    Mmap,
    SetCpuset,
    SetMemcgLimit,
    SetMempolicy,
)
from .scenario import Scenario
from .user_checks import UserStateInvariant, UserStepInvariant, resolve_callable, user_goal

SCENARIO_KEYS = {"name", "description", "depth", "max_states", "symmetry", "sometimes", "invariant", "topology",
                 "task", "mmap", "alloc", "alloc_pages", "alloc_vma", "free", "drain", "isolate", "policy", "mbind",
                 "cpuset", "get_mempolicy"}
MIGRATETYPES = {"MOVABLE": MIGRATE_MOVABLE, "CMA": MIGRATE_CMA}

# the keys of each table and the kind of value each takes
INT, BOOL, STR, INTS, STRS, NODES, TABLE = "an integer", "true or false", "a string", "a list of integers", \
    "a list of strings", "a list of node ids", "a table"
NAME_OR_INT, NAMES_OR_INT = "a name or an integer", "a list of names or an integer"
TABLE_KEYS = {
    "task": {"id": INT, "mems": NODES, "memcg_limit": INT},
    "mmap": {"task": INT, "start": INT, "length": INT},
    "alloc": {"gfp": None, "orders": INTS, "cpus": INTS, "nid": INT, "nodes": NODES, "context": STRS, "env": None,
              "setup": BOOL},
    "alloc_pages": {"gfp": None, "orders": INTS, "cpus": INTS, "task": INT, "in_interrupt": BOOL, "env": None},
    "alloc_vma": {"gfp": None, "orders": INTS, "cpus": INTS, "task": INT, "addr": INT, "hugepage": BOOL,
                  "env": None},
    "free": {"cpus": INTS},
    "drain": {"cpus": None},
    "isolate": {"start_pfn": INT, "end_pfn": INT, "migratetype": STR},
    "policy": {"task": INT, "mode": NAME_OR_INT, "flags": STRS, "nodes": NODES, "maxnode": INT},
    "mbind": {"task": INT, "start": INT, "length": INT, "mode": NAME_OR_INT, "flags": STRS, "nodes": NODES,
              "mbind_flags": NAMES_OR_INT, "maxnode": INT},
    "get_mempolicy": {"task": INT, "flags": NAMES_OR_INT, "addr": INT, "maxnode": INT},
    "cpuset": {"task": INT, "nodes": NODES},
    "sometimes": {"name": STR, "predicate": STR},
    "invariant": {"name": STR, "state": STR, "step": STR},
}


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _type_ok(kind, value):
    if kind is None:
        return True
    if kind == INT:
        return _is_int(value)
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == STR:
        return isinstance(value, str)
    if kind in (INTS, NODES):
        return isinstance(value, list) and all(map(_is_int, value))
    if kind == STRS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == NAME_OR_INT:
        return isinstance(value, str) or _is_int(value)
    if kind == NAMES_OR_INT:
        return _is_int(value) or isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict)


def _table(table, section, where, required=()):
    """Check one table of a section: a table, known keys only, each value of its kind, required keys there."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} = {table!r}: expected a table")
    keys = TABLE_KEYS[section]
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{where}: unknown key {key!r} = {value!r} (known: {', '.join(keys)})")
        if not _type_ok(keys[key], value):
            raise ConfigError(f"{where}.{key} = {value!r}: expected {keys[key]}")
    for key in required:
        if key not in table:
            raise ConfigError(f"{where}: missing key {key!r}")
    return table


def _tables(doc, section, where, required=()):
    """The array of tables `section` ([[section]]), each checked; [] when absent."""
    tables = doc.get(section, [])
    if not isinstance(tables, list):
        raise ConfigError(f"{where}.{section} = {tables!r}: expected an array of tables ([[{section}]])")
    return [(_table(t, section, f"{where}.{section}[{i}]", required), f"{where}.{section}[{i}]")
            for i, t in enumerate(tables)]


def _gfp(table, where):
    value = table.get("gfp")
    if value is None:
        raise ConfigError(f"{where}: missing key 'gfp'")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}.gfp = {value!r}: expected a gfp name like 'GFP_KERNEL|__GFP_NOWARN' or a number")
    try:
        return parse_gfp(value)
    except ValueError as e:
        raise ConfigError(f"{where}.gfp = {value!r}: {e}") from None


def _one_env(env, where):
    if not isinstance(env, dict):
        raise ConfigError(f"{where} = {env!r}: expected a table of answers")
    known = Environment.__dataclass_fields__
    default = Environment()
    env = dict(env)
    for key, value in env.items():
        if key in ANSWER_NAMES and isinstance(value, str):
            names = ANSWER_NAMES[key]
            env[key] = value = getattr(constants, _names([value], names, f"{where}.{key}")[0])
        if key not in known:
            raise ConfigError(f"{where}: unknown answer {key!r} = {value!r} (known: {', '.join(known)})")
        want_bool = isinstance(getattr(default, key), bool)
        if want_bool and not isinstance(value, bool) or not want_bool and not _is_int(value):
            raise ConfigError(f"{where}.{key} = {value!r}: expected {BOOL if want_bool else INT}")
    return Environment(**env)


def _envs(table, where):
    """The environments of an allocating table: one, or one per table of a list."""
    env = table.get("env", {})
    if isinstance(env, list):
        if not env:
            raise ConfigError(f"{where}.env = []: give at least one table of answers")
        return [_one_env(e, f"{where}.env[{i}]") for i, e in enumerate(env)]
    return [_one_env(env, f"{where}.env")]


def _names(values, known, where):
    for v in values:
        if v not in known:
            raise ConfigError(f"{where} = {v!r}: not one of {', '.join(known)}")
    return values


def _bits(values, known, where):
    if _is_int(values):
        return values  # a raw value, for the system calls' -EINVAL paths
    out = 0
    for v in _names(values, known, where):
        out |= known[v]
    return out


def _mode(table, where):
    text = table["mode"]
    if _is_int(text):  # a raw mode number (one past MPOL_LOCAL is -EINVAL)
        return text | _bits(table.get("flags", []), MODE_FLAG_NAMES, f"{where}.flags")
    if text not in MPOL_MODE_NAMES:
        raise ConfigError(f"{where}.mode = {text!r}: not one of {', '.join(MPOL_MODE_NAMES)}")
    return MPOL_MODE_NAMES.index(text) | _bits(table.get("flags", []), MODE_FLAG_NAMES, f"{where}.flags")


def _nodes(table, key="nodes"):
    return None if key not in table else frozenset(table[key])


def _positive(table, key, default, where):
    value = table.get(key, default)
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{where}.{key} = {value!r}: expected a positive integer")
    return value


def _combinations(t, where):
    return product(t.get("orders", [0]), t.get("cpus", [0]), _envs(t, where))


def _setup(doc, where):
    setup = []
    for t, w in _tables(doc, "task", where, ("id",)):
        if t["id"] != 0:
            if "mems" not in t:
                raise ConfigError(f"{w}: missing key 'mems' (the nodes of task {t['id']}'s cpuset)")
            setup.append(AddTask(t["id"], _nodes(t, "mems")))
        elif "mems" in t:
            raise ConfigError(f"{w}.mems = {t['mems']!r}: task 0 exists from boot with every node; "
                              "give it a cpuset with [[cpuset]]")
        if "memcg_limit" in t:
            setup.append(SetMemcgLimit(t["id"], t["memcg_limit"]))
    for t, _ in _tables(doc, "mmap", where, ("start", "length")):
        setup.append(Mmap(t["start"], t["length"], t.get("task", 0)))
    return setup


def _allocs(doc, where):
    """(the alphabet's allocations, the setup's allocations)."""
    allocs, setup = [], []
    for t, w in _tables(doc, "alloc", where):
        gfp = _gfp(t, w)
        flags = {f: True for f in _names(t.get("context", []), CONTEXT_FLAGS, f"{w}.context")}
        for order, cpu, env in _combinations(t, w):
            (setup if t.get("setup", False) else allocs).append(
                Alloc(gfp, order, cpu, t.get("nid"), env, _nodes(t), **flags))
    return allocs, setup


def _extra_ops(doc, where):
    ops = []
    for t, w in _tables(doc, "policy", where, ("mode",)):
        ops.append(SetMempolicy(_mode(t, w), _nodes(t), t.get("task", 0), t.get("maxnode")))
    for t, w in _tables(doc, "mbind", where, ("start", "length", "mode")):
        ops.append(Mbind(t["start"], t["length"], _mode(t, w), _nodes(t),
                         _bits(t.get("mbind_flags", []), MBIND_FLAG_NAMES, f"{w}.mbind_flags"), t.get("task", 0),
                         t.get("maxnode")))
    for t, w in _tables(doc, "get_mempolicy", where):
        ops.append(GetMempolicy(_bits(t.get("flags", []), GET_FLAG_NAMES, f"{w}.flags"), t.get("addr", 0),
                                t.get("task", 0), t.get("maxnode")))
    for t, _ in _tables(doc, "cpuset", where, ("nodes",)):
        ops.append(SetCpuset(t.get("task", 0), _nodes(t)))
    for t, w in _tables(doc, "alloc_pages", where):
        gfp = _gfp(t, w)
        for order, cpu, env in _combinations(t, w):
            ops.append(AllocPages(gfp, order, cpu, t.get("task", 0), t.get("in_interrupt", False), env))
    for t, w in _tables(doc, "alloc_vma", where, ("addr",)):
        gfp = _gfp(t, w)
        for order, cpu, env in _combinations(t, w):
            ops.append(AllocVma(gfp, order, t["addr"], cpu, t.get("task", 0), t.get("hugepage", True), env))
    return ops


def _drains(doc, where):
    if "drain" not in doc:
        return []
    t = _table(doc["drain"], "drain", f"{where}.drain")
    cpus = t.get("cpus", ["all"])
    if not isinstance(cpus, list):
        raise ConfigError(f"{where}.drain.cpus = {cpus!r}: expected a list of cpu numbers or 'all'")
    drains = []
    for cpu in cpus:
        if cpu == "all":
            drains.append(Drain(None))
        elif _is_int(cpu):
            drains.append(Drain(cpu))
        else:
            raise ConfigError(f"{where}.drain.cpus = {cpu!r}: neither 'all' nor a cpu number")
    return drains


def _isolations(doc, where):
    out = []
    for t, w in _tables(doc, "isolate", where, ("start_pfn", "end_pfn")):
        mt = _names([t.get("migratetype", "MOVABLE")], MIGRATETYPES, f"{w}.migratetype")[0]
        # (start, end) is MOVABLE, as the built-in scenarios write it
        out.append((t["start_pfn"], t["end_pfn"]) + (() if mt == "MOVABLE" else (MIGRATETYPES[mt],)))
    return out


def _sometimes(doc, where, base_dir):
    items = doc.get("sometimes", [])
    if not isinstance(items, list):
        raise ConfigError(f"{where}.sometimes = {items!r}: expected a list of goal names or [[sometimes]] tables")
    goals = []
    for i, item in enumerate(items):
        w = f"{where}.sometimes[{i}]"
        if isinstance(item, str):
            goals.append(goal(item, w))
        else:
            t = _table(item, "sometimes", w, ("name", "predicate"))
            goals.append(user_goal(t["name"], t["predicate"], f"{w}.predicate", base_dir))
    names = [g.name for g in goals]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}.sometimes: goal {twice[0]!r} is named twice")
    return tuple(goals)


def _invariants(doc, where, base_dir):
    out = []
    for t, w in _tables(doc, "invariant", where, ("name",)):
        kinds = [k for k in ("state", "step") if k in t]
        if len(kinds) != 1:
            raise ConfigError(f"{w}: give exactly one of 'state' or 'step' (got {kinds or 'neither'})")
        check = resolve_callable(t[kinds[0]], f"{w}.{kinds[0]}", base_dir)
        out.append((UserStateInvariant if kinds[0] == "state" else UserStepInvariant)(t["name"], check))
    return tuple(out)


def scenario_from_dict(doc, where="scenario", base_dir=None):
    """A validated Scenario from a parsed TOML document; `base_dir` anchors relative .py references."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a table")
    for key in doc:
        if key not in SCENARIO_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(SCENARIO_KEYS))})")
    for key in ("name", "description"):
        if key in doc and not isinstance(doc[key], str):
            raise ConfigError(f"{where}.{key} = {doc[key]!r}: expected a string")
    if "topology" not in doc:
        raise ConfigError(f"{where}: missing [topology] table")
    topology = topology_from_dict(doc["topology"], f"{where}.topology")
    (allocs, setup_allocs), extra = _allocs(doc, where), _extra_ops(doc, where)
    free_cpus = ()
    if "free" in doc:
        free_cpus = tuple(_table(doc["free"], "free", f"{where}.free").get("cpus", [0]))
    symmetry = doc.get("symmetry", "auto")
    if not isinstance(symmetry, bool) and symmetry != "auto":
        raise ConfigError(f"{where}.symmetry = {symmetry!r}: expected true, false or \"auto\"")
    if not allocs and not extra:
        raise ConfigError(f"{where}: no operations: give at least one [[alloc]], [[alloc_pages]] or [[alloc_vma]]")
    kwargs = {}
    if "sometimes" in doc:
        kwargs["sometimes"] = _sometimes(doc, where, base_dir)
    sc = Scenario(
        name=doc.get("name", "scenario"), topology=topology, allocs=tuple(allocs), extra_ops=tuple(extra),
        setup=tuple(_setup(doc, where) + setup_allocs), free_cpus=free_cpus, drains=tuple(_drains(doc, where)),
        isolations=tuple(_isolations(doc, where)), depth=_positive(doc, "depth", 6, where),
        max_states=_positive(doc, "max_states", 2_000_000, where), description=doc.get("description", ""),
        symmetry=symmetry, invariants=_invariants(doc, where, base_dir), params={"config": doc}, **kwargs,
    )
    return sc.validate(where)


def load_scenario(path):
    path = str(path)
    sc = scenario_from_dict(load_toml(path), path, os.path.dirname(os.path.abspath(path)))
    sc.params["path"] = path  # so that a report can say how to run it again
    return sc
