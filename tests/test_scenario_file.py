"""Scenario files: what they build, and errors that name the key and the value."""

import pytest

from buddycheck.checks.ops import AddTask, Alloc, AllocPages, Drain, SetCpuset, SetMempolicy
from buddycheck.checks.scenario_file import load_scenario, scenario_from_dict
from buddycheck.model import ConfigError
from buddycheck.model import gfp as G
from buddycheck.model.environment import Environment
from buddycheck.model.mempolicy import MPOL_INTERLEAVE

FULL = """
name = "two-node"
depth = 3
max_states = 5000

[topology]
preset = "numa2"

[[alloc]]
gfp = "GFP_KERNEL|__GFP_NOWARN"
orders = [0, 1]
cpus = [0, 1]
env = { reclaim_progress = 1 }

[free]
cpus = [0]

[drain]
cpus = ["all", 1]

[[isolate]]
start_pfn = 0
end_pfn = 8

[[task]]
id = 1
mems = [0]

[[policy]]
task = 1
mode = "MPOL_INTERLEAVE"
nodes = [0, 1]

[[cpuset]]
task = 1
nodes = [1]

[[alloc_pages]]
gfp = "GFP_KERNEL"
orders = [0]
cpus = [0]
task = 1
"""


def test_a_full_scenario_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(FULL)
    sc = load_scenario(path)
    assert sc.name == "two-node" and sc.depth == 3 and sc.max_states == 5000
    env = Environment(reclaim_progress=1)
    gfp = G.GFP_KERNEL | G.__GFP_NOWARN
    assert sc.allocs == tuple(Alloc(gfp, o, c, env=env) for o in (0, 1) for c in (0, 1))
    assert sc.drains == (Drain(None), Drain(1))
    assert sc.isolations == ((0, 8),)
    assert sc.extra_ops == (SetMempolicy(MPOL_INTERLEAVE, frozenset({0, 1}), 1), SetCpuset(1, frozenset({1})),
                            AllocPages(G.GFP_KERNEL, 0, 0, 1))
    m = sc.initial()
    assert m.tasks[1].mems_allowed == frozenset({0})


@pytest.mark.parametrize("table, words", [
    ({}, "missing key 'topology'"),
    ({"topology": {"preset": "numa2"}}, "no operations"),
    ({"topology": {"preset": "numa2"}, "colour": 1}, "unknown key 'colour'"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNAL"}]}, "unknown gfp flag 'GFP_KERNAL'"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL", "orders": ["x"]}]}, "alloc[0].orders"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL", "env": {"luck": 1}}]},
     "env: unknown key 'luck' = 1"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}], "depth": 0}, "depth = 0"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}], "symmetry": "yes"},
     "symmetry = 'yes': expected true, false or \"auto\""),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}], "drain": {"cpus": ["some"]}},
     "neither 'all' nor a cpu"),
    ({"topology": {"preset": "numa2"}, "policy": [{"mode": "MPOL_SOMETIMES"}]}, "mode = 'MPOL_SOMETIMES'"),
    # numa2: MAX_ORDER 4 (8 pages) and pageblock_order 2: an isolation range must be 8-aligned
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}], "isolate": [{"start_pfn": 4, "end_pfn": 8}]},
     "aligned to 8 pages"),
])
def test_bad_scenarios_name_the_problem(table, words):
    with pytest.raises(ConfigError) as err:
        scenario_from_dict(table)
    assert words in str(err.value)


def test_symmetry_is_auto_unless_set():
    table = {"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}]}
    assert scenario_from_dict(table).symmetry == "auto"
    assert scenario_from_dict({**table, "symmetry": True}).symmetry is True
    assert scenario_from_dict({**table, "symmetry": False}).symmetry is False


def test_printed_program_replays_the_setup():
    from buddycheck.checks.printing import format_program

    sc = scenario_from_dict({"topology": {"preset": "numa2"}, "task": [{"id": 1, "mems": [0]}],
                             "alloc_pages": [{"gfp": "GFP_KERNEL", "task": 1, "cpus": [1]}]})
    text = format_program(sc, (AllocPages(G.GFP_KERNEL, 0, 1, 1),))
    assert "m.add_task(1, {0})" in text
    namespace = {"__name__": "replayed"}
    exec(compile(text, "replayed", "exec"), namespace)
    m = namespace["m"]
    # task 1 is confined to node 0 by its cpuset: the hardwall GFP_KERNEL page comes from node 0
    (pfn,) = m.allocated
    assert m.page_zone(pfn).nid == 0


# ---- the portfolio's format features -----------------------------------------------------------------------

SMALL = {"max_order": 2, "pageblock_order": 1, "min_free_kbytes": 0, "page_group_by_mobility_disabled": False,
         "node": [{"id": 0, "cpus": [0], "zone": [{"type": "Normal", "start_pfn": 0, "pages": 4,
                                                   "watermarks": [0, 0, 0], "pcp": [1, 1]}]},
                  {"id": 1, "cpus": [1], "zone": [{"type": "Normal", "start_pfn": 4, "pages": 4,
                                                   "watermarks": [0, 0, 0], "pcp": [1, 1]}]}]}

FEATURES = """
name = "features"
sometimes = ["split", "policy-set"]

[topology]
max_order = 2
pageblock_order = 1
min_free_kbytes = 0
memcg_kmem_enabled = true
[[topology.node]]
id = 0
cpus = [0]
[[topology.node.zone]]
type = "Normal"
start_pfn = 0
pages = 4
cma_pageblocks = [1]
[[topology.node]]
id = 1
cpus = [1]
[[topology.node.zone]]
type = "Normal"
start_pfn = 4
pages = 4

[[task]]
id = 0
memcg_limit = 2

[[task]]
id = 1
mems = [1]
memcg_limit = 1

[[mmap]]
task = 1
start = 0x200000
length = 0x2000

[[alloc]]
gfp = "GFP_KERNEL_ACCOUNT"
nid = 1
nodes = [0, 1]
context = ["pf_memalloc", "rt_task"]
env = [{}, { compact_result = "COMPACT_SUCCESS", node_reclaim_result = "NODE_RECLAIM_SOME" }]

[[alloc_pages]]
gfp = "GFP_ATOMIC"
in_interrupt = true
env = { fail_alloc = true }

[[alloc_vma]]
gfp = "GFP_TRANSHUGE"
orders = [1]
task = 1
cpus = [1]
addr = 0x200000
env = { reclaim_progress = 2 }

[[policy]]
mode = "MPOL_BIND"
flags = ["MPOL_F_STATIC_NODES"]
nodes = [1]

[[policy]]
mode = "MPOL_PREFERRED"
flags = ["MPOL_F_RELATIVE_NODES"]
nodes = [0]
maxnode = 3

[[mbind]]
task = 1
start = 0x200000
length = 0x1000
mode = "MPOL_INTERLEAVE"
nodes = [0, 1]
mbind_flags = ["MPOL_MF_STRICT"]

[[get_mempolicy]]
task = 1
flags = ["MPOL_F_ADDR"]
addr = 0x200000

[[isolate]]
start_pfn = 2
end_pfn = 4
migratetype = "CMA"
"""


def test_every_new_operation_and_field_parses(tmp_path):
    from buddycheck.checks.ops import AllocVma, GetMempolicy, Isolate, Mbind, Mmap, SetMemcgLimit, UndoIsolate
    from buddycheck.model.constants import COMPACT_SUCCESS, MIGRATE_CMA, NODE_RECLAIM_SOME
    from buddycheck.model.mempolicy import (
        MPOL_BIND,
        MPOL_F_ADDR,
        MPOL_F_RELATIVE_NODES,
        MPOL_F_STATIC_NODES,
        MPOL_MF_STRICT,
        MPOL_PREFERRED,
    )

    path = tmp_path / "f.toml"
    path.write_text(FEATURES)
    sc = load_scenario(path)
    env = Environment(compact_result=COMPACT_SUCCESS, node_reclaim_result=NODE_RECLAIM_SOME)
    assert sc.allocs == tuple(Alloc(G.GFP_KERNEL_ACCOUNT, 0, 0, 1, e, frozenset({0, 1}), pf_memalloc=True,
                                    rt_task=True) for e in (Environment(), env))
    assert sc.setup == (SetMemcgLimit(0, 2), AddTask(1, frozenset({1})), SetMemcgLimit(1, 1), Mmap(0x200000, 0x2000, 1))
    assert sc.extra_ops == (
        SetMempolicy(MPOL_BIND | MPOL_F_STATIC_NODES, frozenset({1})),
        SetMempolicy(MPOL_PREFERRED | MPOL_F_RELATIVE_NODES, frozenset({0}), 0, 3),
        Mbind(0x200000, 0x1000, MPOL_INTERLEAVE, frozenset({0, 1}), MPOL_MF_STRICT, 1),
        GetMempolicy(MPOL_F_ADDR, 0x200000, 1),
        AllocPages(G.GFP_ATOMIC, 0, 0, 0, True, Environment(fail_alloc=True)),
        AllocVma(G.GFP_TRANSHUGE, 1, 0x200000, 1, 1, True, Environment(reclaim_progress=2)),
    )
    assert sc.isolations == ((2, 4, MIGRATE_CMA),)
    assert Isolate(2, 4, MIGRATE_CMA) in sc.actions(sc.initial())
    assert UndoIsolate(2, 4, MIGRATE_CMA) in sc.actions(sc.initial())
    assert [g.name for g in sc.sometimes] == ["an allocation split a larger block", "a mempolicy was set"]
    m = sc.initial()
    assert (m.tasks[0].memcg_limit, m.tasks[1].memcg_limit, len(m.tasks[1].vmas)) == (2, 1, 1)
    # every operation runs on the machine (none is disabled for a reason of the scenario)
    for op in sc.actions(m):
        op.apply(sc.initial())


def test_new_operations_round_trip_through_json_and_print_as_code():
    import json

    from buddycheck.checks.ops import AllocVma, GetMempolicy, Isolate, Mbind, SetMemcgLimit
    from buddycheck.checks.trace_json import op_from_dict, op_to_dict

    ops = (Alloc(G.GFP_KERNEL, 1, nodes=frozenset({1}), in_interrupt=True, oom_victim=True),
           AllocPages(G.GFP_KERNEL, 0, env=Environment(dirty_ok=False)),
           AllocVma(G.GFP_TRANSHUGE, 1, 0x200000, env=Environment(reclaim_progress=1)),
           Mbind(0x200000, 0x1000, 2, frozenset({0}), 1, 0, 5), GetMempolicy(2, 0x200000, 1, 9),
           SetMemcgLimit(1, 3), Isolate(0, 4, 4), SetMempolicy(1, frozenset({0}), 0, 3))
    for op in ops:
        assert op_from_dict(json.loads(json.dumps(op_to_dict(op)))) == op
    assert "migratetype" not in op_to_dict(Isolate(0, 4))  # new fields at their default stay out of documents
    assert ops[0].code() == "m.alloc(G.GFP_KERNEL, 1, cpu=0, nodemask={1}, in_interrupt=True, oom_victim=True)"
    assert ops[1].code().startswith("m.env = Environment(dirty_ok=False); m.alloc_pages(")
    assert ops[6].code() == "m.isolate(0, 4, migratetype=C.MIGRATE_CMA)"


def _with(**extra):
    return {"topology": SMALL, **extra}


ALLOC = [{"gfp": "GFP_KERNEL"}]


@pytest.mark.parametrize("table, words", [
    (_with(alloc=[{"gfp": "GFP_KERNEL", "cpu": [1]}]), "alloc[0]: unknown key 'cpu' = [1]"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "orders": 1}]), "alloc[0].orders = 1: expected a list of integers"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "context": ["in_a_hurry"]}]), "context[0] = 'in_a_hurry': not one of"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "env": {"dirty_ok": 1}}]), "env.dirty_ok = 1: expected true or false"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "env": {"compact_result": "COMPACT_MAYBE"}}]),
     "compact_result = 'COMPACT_MAYBE'"),
    (_with(alloc=[{"gfp": 1.5}]), "alloc[0].gfp = 1.5"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "cpus": [7]}]), "cpu = 7: no such CPU"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "nid": 5}]), "nid = 5: no such node"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "nodes": [0, 3]}]), "nodes = 3: no such node"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "orders": [2]}]), "order = 2: not below MAX_ORDER = 2"),
    (_with(alloc=[{"gfp": "GFP_DMA|__GFP_HIGHMEM"}]), "gfp = "),
    (_with(alloc_pages=[{"gfp": "GFP_KERNEL", "task": 3}]), "task = 3: no such task"),
    (_with(alloc_vma=[{"gfp": "GFP_KERNEL", "addr": 0x200000}]), "addr = 2097152: in no VMA of task 0"),
    (_with(alloc=ALLOC, free={"cpus": [4]}), "free.cpus = 4: no such CPU"),
    (_with(alloc=ALLOC, drain={"cpus": [4]}), "cpu = 4: no such CPU"),
    (_with(alloc=ALLOC, isolate=[{"start_pfn": 8, "end_pfn": 10}]), "pfn 8 is in no zone"),
    (_with(alloc=ALLOC, isolate=[{"start_pfn": 0, "end_pfn": 2, "migratetype": "UNMOVABLE"}]),
     "migratetype = 'UNMOVABLE'"),
    (_with(alloc=ALLOC, task=[{"id": 2}]), "missing key 'mems'"),
    (_with(alloc=ALLOC, task=[{"id": 2, "mems": [0], "memcg": 3}]), "task[0]: unknown key 'memcg'"),
    (_with(alloc=ALLOC, task=[{"id": 2, "mems": [3]}]), "setup step m.add_task(2, {3}) fails"),
    (_with(alloc=[{"gfp": "GFP_KERNEL", "orders": [1], "setup": True, "cpus": [0, 0, 0, 0, 0]}, *ALLOC]),
     "setup allocation m.alloc(G.GFP_KERNEL, 1, cpu=0) fails"),
    (_with(policy=[{"mode": "MPOL_BIND", "flags": ["MPOL_F_LOUD"], "nodes": [0]}]),
     "flags[0] = 'MPOL_F_LOUD': not one of"),
    (_with(policy=[{"mode": "MPOL_BIND", "nodes": [-1]}]), "nodes[0] = -1: must be between 0 and 1023"),
    (_with(mbind=[{"start": 0, "length": 4096}]), "mbind[0]: missing key 'mode'"),
    (_with(fault=[{"task": 0}]), "fault[0]: missing key 'addr'"),
    (_with(fault=[{"addr": 0, "cpus": [4]}]), "cpu = 4: no such CPU"),
    (_with(fault=[{"addr": 0}], munmap=[{"start": 0, "length": 4096, "task": 5}]), "task = 5: no such task"),
    (_with(alloc=ALLOC, sometimes=["everything-worked"]), "sometimes[0] = 'everything-worked': no such built-in"),
    (_with(alloc=ALLOC, sometimes=[{"name": "x"}]), "sometimes[0]: missing key 'predicate'"),
    (_with(alloc=ALLOC, invariant=[{"name": "x"}]), "exactly one of 'state' or 'step'"),
    (_with(alloc=ALLOC, invariant=[{"name": "x", "state": "no_such_module_here:f"}]), "cannot import"),
])
def test_bad_operations_name_the_key_and_the_value(table, words):
    with pytest.raises(ConfigError) as err:
        scenario_from_dict(table, "s.toml")
    assert "s.toml" in str(err.value) and words in str(err.value)


CHECKS_PY = '''
from buddycheck.checks.ops import Alloc


def served_on_node_1(op, result, m):
    return getattr(result, "nid", None) == 1


def nothing_of_order_1(view):
    return [f"order-1 block at pfn {pfn}" for pfn, order, _ in view.allocated if order == 1]


def no_order_1_request(before, op, result, after):
    return ["an order-1 request"] if isinstance(op, Alloc) and op.order == 1 else []
'''


def _user_scenario(tmp_path, check):
    (tmp_path / "checks.py").write_text(CHECKS_PY)
    (tmp_path / "u.toml").write_text(f"""
depth = 3
[topology]
max_order = 2
pageblock_order = 1
min_free_kbytes = 0
[[topology.node]]
id = 0
cpus = [0]
[[topology.node.zone]]
type = "Normal"
start_pfn = 0
pages = 4
watermarks = [0, 0, 0]
[[alloc]]
gfp = "GFP_KERNEL"
orders = [0, 1]
[free]
cpus = [0]
[[sometimes]]
name = "served on node 1"
predicate = "checks.py:served_on_node_1"
[[invariant]]
name = "planted"
{check}
""")
    return load_scenario(tmp_path / "u.toml")


def test_a_user_goal_and_a_planted_state_invariant_from_a_file(tmp_path):
    from buddycheck.checks.explore import Explorer

    sc = _user_scenario(tmp_path, 'state = "checks.py:nothing_of_order_1"')
    (inv,) = sc.invariants
    assert inv.per_state and inv.name == "planted"
    r = Explorer(sc).check(*sc.invariants).run()
    (v,) = r.violations
    assert (v.invariant, len(v.trace), v.message) == ("planted", 1, "order-1 block at pfn 2")
    assert r.sometimes == {"served on node 1": False}  # one node only: the goal is honestly unreached


def test_a_planted_step_invariant_is_reported_with_its_shortest_trace(tmp_path):
    from buddycheck.checks.explore import Explorer
    from buddycheck.checks.properties import all_properties

    sc = _user_scenario(tmp_path, 'step = "checks.py:no_order_1_request"')
    (inv,) = sc.invariants
    assert not inv.per_state
    r = Explorer(sc).check(*all_properties(), *sc.invariants).run()
    (v,) = r.violations
    assert (v.invariant, v.trace) == ("planted", (Alloc(G.GFP_KERNEL, 1),))
