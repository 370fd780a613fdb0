"""Scenario files: what they build, and errors that name the key and the value."""

import pytest

from buddycheck.checks.ops import Alloc, AllocPages, Drain, SetCpuset, SetMempolicy
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
    ({}, "missing [topology]"),
    ({"topology": {"preset": "numa2"}}, "no operations"),
    ({"topology": {"preset": "numa2"}, "colour": 1}, "unknown key 'colour'"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNAL"}]}, "unknown gfp flag 'GFP_KERNAL'"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL", "orders": ["x"]}]}, "alloc[0].orders"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL", "env": {"luck": 1}}]}, "unknown answer 'luck'"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}], "depth": 0}, "depth = 0"),
    ({"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}], "symmetry": "yes"},
     "symmetry = 'yes': expected true or false"),
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


def test_symmetry_is_off_unless_asked_for():
    table = {"topology": {"preset": "numa2"}, "alloc": [{"gfp": "GFP_KERNEL"}]}
    assert scenario_from_dict(table).symmetry is False
    assert scenario_from_dict({**table, "symmetry": True}).symmetry is True


def test_printed_program_replays_the_setup():
    from buddycheck.checks.trace import format_program

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
