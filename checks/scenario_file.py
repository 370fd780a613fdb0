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

    [[mmap_shared]]            # a shared mapping of shmem object `obj`: the first table naming obj makes it
    task = 0                   # (MAP_SHARED|MAP_ANONYMOUS, pgoff 0); a later one maps it again from page pgoff
    start = 0x800000
    length = 0x4000
    obj = 1
    pgoff = 0                  # optional (default 0)

    [[mmap_file]]              # a mapping of the named file `file` (an inode number, not a shmem object's): the
    task = 0                   # first table naming it makes the file, pgoff + length long, with an empty cache
    start = 0xa00000
    length = 0x2000
    file = 9
    pgoff = 0                  # optional (default 0)
    shared = false             # optional: MAP_SHARED (default MAP_PRIVATE: a write copies the page)

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
    cap_sys_nice = false       # optional: the task holds CAP_SYS_NICE (MPOL_MF_MOVE_ALL needs it)

    [[cpuset]]                 # a cpuset write for a task: it and its VMAs' policies are rebound
    task = 0
    nodes = [1]

    [[get_mempolicy]]          # get_mempolicy() by a task (reads only, but MPOL_F_NODE|MPOL_F_ADDR faults
    task = 0                   # the page at addr in, as 4.19's lookup_node does)
    flags = ["MPOL_F_ADDR"]    # optional: MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED
    addr = 0x200000

    [[fault]]                  # a page fault by a task at addr: maps a page allocated with the VMA's policy
    task = 0
    addr = 0x201000            # outside every VMA it is -EFAULT (SIGSEGV); on a mapped page a no-op
    cpus = [0]                 # optional: one operation per CPU (default [0])
    write = true               # optional: false is a read fault (maps the zero page)

    [[munmap]]                 # munmap(start, length) by a task: the pages mapped there are freed
    task = 0
    start = 0x200000
    length = 0x2000

    [[fork]]                   # fork() by a task: the child gets copies of its policies, cpuset and
    task = 0                   # interleave cursor and shares its pages copy-on-write (model/fork.py);
    child = 1                  # the child's id: enabled while no task has it; the other tables may name it

    [[migrate_pages]]          # migrate_pages(pid, maxnode, old_nodes, new_nodes) by a task: moves the pages of
    task = 0                   # task `pid` (0: the caller) on old_nodes to new_nodes (model/migrate.py)
    pid = 1
    old_nodes = [0]
    new_nodes = [1]
    cap_sys_nice = false       # optional: the caller holds CAP_SYS_NICE (moves shared pages, any cpuset)
    may_ptrace = true          # optional: false if the caller may not ptrace task `pid` (-EPERM)

    [[move_pages]]             # move_pages(pid, count, pages, nodes, status, flags) by a task: without nodes
    task = 0                   # it asks each page's node; with them it moves each page to its node
    pid = 0
    pages = [0x200000, 0x201000]
    nodes = [1, 1]             # optional: one per page
    flags = ["MPOL_MF_MOVE"]   # optional: MPOL_MF_MOVE, MPOL_MF_MOVE_ALL (needs cap_sys_nice = true)

    [[sysctl]]                 # a write of /proc/sys/vm/<name>: one operation per value (model/sysctl.py)
    name = "percpu_pagelist_fraction"   # min_free_kbytes, watermark_scale_factor, lowmem_reserve_ratio,
    values = [0, 3, 8]         # percpu_pagelist_fraction, zone_reclaim_mode (ints), numa_zonelist_order
                               # (strings); lowmem_reserve_ratio's values are lists of ints

Concurrent pairs: two operations run at once, each on its CPU, under every schedule of their atomic
sections with at most `preemption_bound` preemptions (model/interleaving.py); each operation is written
as in a JSON counterexample (its "kind" and fields), without the environment; the pair may have one,
which both operations see (the environment's answers are the machine's):

    preemption_bound = 2       # default 2
    [[concurrent]]
    first = { kind = "alloc", gfp = "GFP_KERNEL", order = 0, cpu = 0 }
    second = { kind = "alloc", gfp = "GFP_KERNEL", order = 0, cpu = 1 }
    env = { compact_result = "COMPACT_DEFERRED" }   # optional, one table

[[policy]], [[mbind]], [[get_mempolicy]] and [[migrate_pages]] take `maxnode` too (default: a full
mask); a mode, mbind_flags and get_mempolicy's flags may be raw integers, to reach the system calls'
error returns.

Checks the scenario brings besides spec/'s invariants (paths relative to the scenario file):

    [[sometimes]]              # a goal of your own (instead of, or inline beside, built-in names:
    name = "node 1 was used"   #  sometimes = ["split", { name = "...", predicate = "..." }])
    predicate = "goals.py:on_node_1"          # callable(op, result, m) -> bool

    [[invariant]]
    name = "no order-3 block on node 1"
    state = "checks.py:no_big_block"          # callable(view) -> iterable of messages (spec/view.py)
    # or: step = "mypkg.checks:no_remote"     # callable(before_view, op, result, after_view) -> messages

Every key is checked against the schema (checks/scenario_schema.py, model/input_schema.py for the
topology): an unknown key in any table, a value of the wrong type (true is not 1), a number out of
its range (a zone of more than 2^20 pages, more than 64 nodes, a negative sysctl, a depth over 1000)
and a machine the kernel never builds (a CMA pageblock listed twice, outside the managed pages or
not covering whole MAX_ORDER blocks) are ConfigErrors naming the file, the key path and the value
(`s.toml.alloc[2].orders[0] = -1: must be between 0 and 63 ...`). Then an operation the machine
could never run (a CPU, node or task that does not exist, an order >= MAX_ORDER, a gfp mask the
machine rejects, an isolation range outside the zones; Scenario.validate) is a ConfigError naming
its table (`s.toml.alloc[0]: m.alloc(G.GFP_KERNEL, 0, cpu=9): cpu = 9: no such CPU`). The command
line exits 2 for each, with the message and no traceback.
"""

import os
from itertools import product

from buddycheck.model import constants
from buddycheck.model.config import load_toml, topology_from_dict
from buddycheck.model.constants import MIGRATE_CMA, MIGRATE_MOVABLE
from buddycheck.model.environment import Environment
from buddycheck.model.errors import ConfigError
from buddycheck.model.gfp import parse_gfp
from buddycheck.model.input_schema import validate_input
from buddycheck.model.mempolicy import MPOL_MODE_NAMES
from buddycheck.model.mempolicy_names import GET_FLAG_NAMES, MBIND_FLAG_NAMES, MODE_FLAG_NAMES

from .goals import goal
from .ops import (
    AddTask,
    Alloc,
    AllocPages,
    AllocVma,
    Drain,
    Fault,
    Fork,
    GetMempolicy,
    Mbind,
    MigratePages,
    Mmap,
    MmapFile,
    MmapShared,
    MovePages,
    Munmap,
    SetCpuset,
    SetMemcgLimit,
    SetMempolicy,
    Sysctl,
)
from .scenario import Scenario
from .scenario_schema import ScenarioDocument
from .trace_error import TraceError
from .trace_json import op_from_dict
from .user_checks import UserStateInvariant, UserStepInvariant, resolve_callable, user_goal

MIGRATETYPES = {"MOVABLE": MIGRATE_MOVABLE, "CMA": MIGRATE_CMA}


def _tables(doc, section):
    """The array of tables `section` ([[section]]), each with its key path; [] when absent."""
    return [(t, f"{section}[{i}]") for i, t in enumerate(doc.get(section, []))]


def _gfp(table):
    return parse_gfp(table["gfp"])


def _one_env(env):
    return Environment(**{key: getattr(constants, value) if isinstance(value, str) else value
                          for key, value in env.items()})


def _envs(table):
    """The environments of an allocating table: one, or one per table of a list."""
    env = table.get("env", {})
    return [_one_env(e) for e in env] if isinstance(env, list) else [_one_env(env)]


def _bits(values, known):
    if isinstance(values, int):
        return values  # a raw value, for the system calls' -EINVAL paths
    out = 0
    for v in values:
        out |= known[v]
    return out


def _mode(table):
    mode = table["mode"]
    if isinstance(mode, str):
        mode = MPOL_MODE_NAMES.index(mode)
    return mode | _bits(table.get("flags", []), MODE_FLAG_NAMES)  # a raw number past MPOL_LOCAL is -EINVAL


def _nodes(table, key="nodes"):
    return None if key not in table else frozenset(table[key])


def _combinations(t):
    return product(t.get("orders", [0]), t.get("cpus", [0]), _envs(t))


def _setup(doc, origins):
    setup = []
    for t, w in _tables(doc, "task"):
        if t["id"] != 0:
            setup.append(AddTask(t["id"], _nodes(t, "mems")))
            origins.setdefault(setup[-1], w)
        if "memcg_limit" in t:
            setup.append(SetMemcgLimit(t["id"], t["memcg_limit"]))
            origins.setdefault(setup[-1], w)
    for t, w in _tables(doc, "mmap"):
        setup.append(Mmap(t["start"], t["length"], t.get("task", 0)))
        origins.setdefault(setup[-1], w)
    for t, w in _tables(doc, "mmap_shared"):
        setup.append(MmapShared(t["start"], t["length"], t["obj"], t.get("pgoff", 0), t.get("task", 0)))
        origins.setdefault(setup[-1], w)
    for t, w in _tables(doc, "mmap_file"):
        setup.append(MmapFile(t["start"], t["length"], t["file"], t.get("pgoff", 0), t.get("shared", False),
                              t.get("task", 0)))
        origins.setdefault(setup[-1], w)
    return setup


def _allocs(doc, origins):
    """(the alphabet's allocations, the setup's allocations); `origins` gets each one's table."""
    allocs, setup = [], []
    for t, w in _tables(doc, "alloc"):
        flags = {f: True for f in t.get("context", [])}
        for order, cpu, env in _combinations(t):
            op = Alloc(_gfp(t), order, cpu, t.get("nid"), env, _nodes(t), **flags)
            origins.setdefault(op, w)
            (setup if t.get("setup", False) else allocs).append(op)
    return allocs, setup


def _extra_ops(doc, origins):
    """The other operations of the alphabet; `origins` gets each one's table."""
    made = []
    for t, w in _tables(doc, "policy"):
        made.append((w, SetMempolicy(_mode(t), _nodes(t), t.get("task", 0), t.get("maxnode"))))
    for t, w in _tables(doc, "mbind"):
        flags = _bits(t.get("mbind_flags", []), MBIND_FLAG_NAMES)
        made.append((w, Mbind(t["start"], t["length"], _mode(t), _nodes(t), flags, t.get("task", 0),
                              t.get("maxnode"), t.get("cap_sys_nice", False))))
    for t, w in _tables(doc, "get_mempolicy"):
        made.append((w, GetMempolicy(_bits(t.get("flags", []), GET_FLAG_NAMES), t.get("addr", 0),
                                     t.get("task", 0), t.get("maxnode"))))
    for t, w in _tables(doc, "fault"):
        for cpu in t.get("cpus", [0]):
            made.append((w, Fault(t["addr"], t.get("task", 0), cpu, t.get("write", True))))
    for t, w in _tables(doc, "munmap"):
        made.append((w, Munmap(t["start"], t["length"], t.get("task", 0))))
    for t, w in _tables(doc, "fork"):
        made.append((w, Fork(t["child"], t.get("task", 0))))
    for t, w in _tables(doc, "migrate_pages"):
        made.append((w, MigratePages(t.get("pid", 0), _nodes(t, "old_nodes"), _nodes(t, "new_nodes"), t.get("task", 0),
                                     t.get("maxnode"), t.get("cap_sys_nice", False), t.get("may_ptrace", True))))
    for t, w in _tables(doc, "move_pages"):
        nodes = t.get("nodes")
        made.append((w, MovePages(t.get("pid", 0), tuple(t["pages"]), None if nodes is None else tuple(nodes),
                                  _bits(t.get("flags", []), MBIND_FLAG_NAMES), t.get("task", 0),
                                  t.get("cap_sys_nice", False), t.get("may_ptrace", True))))
    for t, w in _tables(doc, "cpuset"):
        made.append((w, SetCpuset(t.get("task", 0), _nodes(t))))
    for t, w in _tables(doc, "sysctl"):
        made.extend((w, Sysctl(t["name"], tuple(v) if isinstance(v, list) else v)) for v in t["values"])
    for t, w in _tables(doc, "alloc_pages"):
        for order, cpu, env in _combinations(t):
            made.append((w, AllocPages(_gfp(t), order, cpu, t.get("task", 0), t.get("in_interrupt", False), env)))
    for t, w in _tables(doc, "alloc_vma"):
        for order, cpu, env in _combinations(t):
            made.append((w, AllocVma(_gfp(t), order, t["addr"], cpu, t.get("task", 0), t.get("hugepage", True),
                                     env)))
    for w, op in made:
        origins.setdefault(op, w)
    return [op for _, op in made]


def _drains(doc, origins):
    cpus = doc["drain"].get("cpus", ["all"]) if "drain" in doc else []
    drains = [Drain(None if cpu == "all" else cpu) for cpu in cpus]
    origins.update((d, "drain") for d in drains)
    return drains


def _isolations(doc, origins):
    out = []
    for t, w in _tables(doc, "isolate"):
        mt = t.get("migratetype", "MOVABLE")
        # (start, end) is MOVABLE, as the built-in scenarios write it
        out.append((t["start_pfn"], t["end_pfn"]) + (() if mt == "MOVABLE" else (MIGRATETYPES[mt],)))
        origins.setdefault(out[-1], w)
    return out


def _pairs(doc, where, origins):
    """The concurrent pairs, each (first, second); `origins` gets each one's table."""
    pairs = []
    for t, w in _tables(doc, "concurrent"):
        try:
            pair = (op_from_dict(t["first"], f"{where}.{w}.first"), op_from_dict(t["second"], f"{where}.{w}.second"))
        except TraceError as e:
            raise ConfigError(str(e)) from None
        if "env" in t:
            pair += (_one_env(t["env"]),)
        pairs.append(pair)
        origins.setdefault(pair, w)
    return tuple(pairs)


def _sometimes(doc, where, base_dir):
    goals = []
    for i, item in enumerate(doc.get("sometimes", [])):
        w = f"{where}.sometimes[{i}]"
        if isinstance(item, str):
            goals.append(goal(item, w))
        else:
            goals.append(user_goal(item["name"], item["predicate"], f"{w}.predicate", base_dir))
    names = [g.name for g in goals]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{where}.sometimes: goal {twice[0]!r} is named twice")
    return tuple(goals)


def _invariants(doc, where, base_dir):
    out = []
    for t, w in _tables(doc, "invariant"):
        kind = "state" if "state" in t else "step"
        check = resolve_callable(t[kind], f"{where}.{w}.{kind}", base_dir)
        out.append((UserStateInvariant if kind == "state" else UserStepInvariant)(t["name"], check))
    return tuple(out)


def scenario_from_dict(doc, where="scenario", base_dir=None):
    """A validated Scenario from a parsed TOML document; `base_dir` anchors relative .py references.

    The document is checked against the schema (checks/scenario_schema.py) first, then the
    operations against the booted machine (Scenario.validate).
    """
    validate_input(ScenarioDocument, doc, where)
    topology = topology_from_dict(doc["topology"], f"{where}.topology")
    origins = {}  # each operation's table, for the errors of Scenario.validate
    (allocs, setup_allocs), extra = _allocs(doc, origins), _extra_ops(doc, origins)
    if not allocs and not extra:
        raise ConfigError(f"{where}: no operations: give at least one [[alloc]], [[alloc_pages]], [[alloc_vma]] "
                          "or [[fault]]")
    kwargs = {}
    if "sometimes" in doc:
        kwargs["sometimes"] = _sometimes(doc, where, base_dir)
    sc = Scenario(
        name=doc.get("name", "scenario"), topology=topology, allocs=tuple(allocs), extra_ops=tuple(extra),
        setup=tuple(_setup(doc, origins) + setup_allocs), free_cpus=tuple(doc.get("free", {}).get("cpus", [0])),
        drains=tuple(_drains(doc, origins)), isolations=tuple(_isolations(doc, origins)), depth=doc.get("depth", 6),
        max_states=doc.get("max_states", 2_000_000), description=doc.get("description", ""),
        symmetry=doc.get("symmetry", "auto"), invariants=_invariants(doc, where, base_dir), params={"config": doc},
        pairs=_pairs(doc, where, origins), preemption_bound=doc.get("preemption_bound", 2), **kwargs,
    )
    return sc.validate(where, origins)


def load_scenario(path):
    path = str(path)
    sc = scenario_from_dict(load_toml(path), path, os.path.dirname(os.path.abspath(path)))
    sc.params["path"] = path  # so that a report can say how to run it again
    for invariant in sc.invariants:
        invariant.source = os.path.abspath(path)  # so that a written test can load it again
    return sc


def scenario_invariant(path, name):
    """The invariant `name` that the scenario file at `path` declares (what a written test judges by)."""
    invariants = load_scenario(path).invariants
    for invariant in invariants:
        if invariant.name == name:
            return invariant
    raise ConfigError(f"{path}: no [[invariant]] named {name!r} (it declares: "
                      f"{', '.join(repr(i.name) for i in invariants) or 'none'})")
