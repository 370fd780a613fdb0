"""Bad input gets exit 2 and a message naming the file, the key and the value: never a traceback, never a success.

Each row is a scenario file run through the command line in process (`buddycheck explore --config`):
the exit status must be 2, standard error must name the key path, and no traceback may show. The
classes: operation tables of the wrong shape or with unknown keys, operations the machine could never
run, topology values out of range or of the wrong type, machines the kernel never builds, and sizes
beyond what the model can search. Every shipped scenario file still loads. A search in which no
operation ever ran says so and is inconclusive (exit 3).
"""

import json
from pathlib import Path

import pytest

import buddycheck.spec.theorems as theorems
from buddycheck.checks.cli import main
from buddycheck.checks.scenario_file import load_scenario
from buddycheck.model.config import load_topology

HERE = Path(__file__).parent
SHIPPED = sorted([*(HERE.parent / "checks" / "portfolio_scenarios").glob("*.toml"),
                  *HERE.glob("*_scenarios/*.toml")])

TOPOLOGY = """
[topology]
max_order = 3
pageblock_order = 1
{topology}
[[topology.node]]
id = 0
cpus = [0]
[[topology.node.zone]]
type = "Normal"
start_pfn = 0
pages = 16
{zone}
"""
ALLOC = '[[alloc]]\ngfp = "GFP_KERNEL"\n'


def scenario(top="", topology="", zone="", ops=ALLOC):
    return f'name = "t"\n{top}\n{TOPOLOGY.format(topology=topology, zone=zone)}\n{ops}'


def run(tmp_path, capsys, text, *options):
    path = tmp_path / "s.toml"
    path.write_text(text)
    code = main(["explore", "--config", str(path), *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


BAD = [
    # operation tables of the wrong shape, or with keys nobody reads
    ("free-not-table", scenario(top="free = 5"), "s.toml.free = 5: expected a table"),
    ("alloc-not-tables", scenario(top="alloc = [5]", ops=""), "s.toml.alloc[0] = 5: expected a table"),
    ("drain-cpus-int", scenario(top="drain = {cpus = 5}"), "s.toml.drain.cpus = 5: expected a list"),
    ("drain-cpus-word", scenario(top='drain = {cpus = ["x"]}'), "drain.cpus[0] = 'x': neither 'all' nor a cpu"),
    ("unknown-cpu-key", scenario(ops=ALLOC + "cpu = [1]"), "alloc[0]: unknown key 'cpu' = [1]"),
    ("free-unknown-key", scenario(top="free = {cpu = [0]}"), "s.toml.free: unknown key 'cpu'"),
    ("orders-bool", scenario(ops=ALLOC + "orders = [true]"), "alloc[0].orders[0] = True: expected an integer"),
    ("order-negative", scenario(ops=ALLOC + "orders = [-1]"), "alloc[0].orders[0] = -1: must be between 0"),
    ("env-unknown", scenario(ops=ALLOC + "env = {luck = 1}"), "alloc[0].env: unknown key 'luck'"),
    ("env-list-bad", scenario(ops=ALLOC + "env = [{dirty_ok = 1}]"), "alloc[0].env[0].dirty_ok = 1: expected true"),
    ("gfp-bool", scenario(ops='[[alloc]]\ngfp = true\n'), "alloc[0].gfp = True: expected a gfp name"),
    ("gfp-wide", scenario(ops='[[alloc]]\ngfp = 0x100000000\n'), "alloc[0].gfp = 4294967296: 0x100000000: a gfp_t"),
    ("gfp-negative", scenario(ops='[[alloc]]\ngfp = -1\n'), "alloc[0].gfp = -1: -0x1: a gfp_t is 32 bits"),
    ("depth-huge", scenario(top="depth = 100000"), "s.toml.depth = 100000: must be between 1 and 1000"),
    ("policy-mode", scenario(ops='[[policy]]\nmode = 3.5\n'), "policy[0].mode = 3.5: expected a name"),
    # operations the scenario's machine can never run
    ("cpu-absent", scenario(ops=ALLOC + "cpus = [9]"), "alloc[0]: m.alloc(G.GFP_KERNEL, 0, cpu=9): cpu = 9: no such"),
    ("node-absent", scenario(ops=ALLOC + "nid = 3"), "alloc[0]: m.alloc(G.GFP_KERNEL, 0, cpu=0, nid=3): nid = 3"),
    ("task-absent", scenario(ops='[[alloc_pages]]\ngfp = "GFP_KERNEL"\ntask = 3\n'), "alloc_pages[0]: "),
    ("order-max", scenario(ops=ALLOC + "orders = [3]"), "alloc[0]: m.alloc(G.GFP_KERNEL, 3, cpu=0): order = 3"),
    ("gfp-zones", scenario(ops='[[alloc]]\ngfp = "__GFP_DMA|__GFP_DMA32"\n'), "alloc[0]: m.alloc(G.__GFP_DMA"),
    ("isolate-outside", scenario(ops=ALLOC + "[[isolate]]\nstart_pfn = 64\nend_pfn = 72\n"),
     "isolate[0]: isolate = 64..72"),
    ("drain-cpu-absent", scenario(top="drain = {cpus = [4]}"), "drain: m.drain(cpu=4): cpu = 4: no such CPU"),
    # topology values of the wrong type or out of range
    ("min-free-negative", scenario(topology="min_free_kbytes = -5"), "topology.min_free_kbytes = -5: must be"),
    ("ratio-negative", scenario(topology="lowmem_reserve_ratio = [-1, 0, 0, 0, 0]"),
     "topology.lowmem_reserve_ratio[0] = -1"),
    ("reclaim-mode", scenario(topology="node_reclaim_mode = -3"), "topology.node_reclaim_mode = -3: must be between"),
    ("gfp-mask-bool", scenario(topology="gfp_allowed_mask = true"), "topology.gfp_allowed_mask = True: expected an"),
    ("numa-int", scenario(topology="numa = 1"), "topology.numa = 1: expected true or false"),
    ("fraction", scenario(topology="percpu_pagelist_fraction = 3"), "percpu_pagelist_fraction = 3: 0 (the default)"),
    ("zone-type", scenario(zone='watermarks = [1, 2]'), "topology.node[0].zone[0].watermarks = [1, 2]: expected"),
    # machines the kernel never builds
    ("cma-twice", scenario(zone="cma_pageblocks = [2, 3, 3]"), "node[0].zone[0].cma_pageblocks = [2, 3, 3]: 3 is"),
    ("cma-unmanaged", scenario(zone="managed = 8\ncma_pageblocks = [6, 7]"), "not inside the managed part"),
    ("cma-half-block", scenario(zone="cma_pageblocks = [2]"), "node[0].zone[0].cma_pageblocks = [2]: a CMA area"),
    # sizes the model cannot search
    ("zone-huge", scenario(zone="pages = 1000000000").replace("pages = 16\n", ""),
     "zone[0].pages = 1000000000: must be between 0 and 1048576: a larger zone cannot be searched"),
    ("zone-2^63", scenario(zone="start_pfn = 9223372036854775807").replace("start_pfn = 0\n", ""),
     "zone[0].start_pfn = 9223372036854775807: must be between"),
    ("too-many-nodes", scenario(topology="max_numnodes = 1024\n" + "".join(
        f"[[topology.node]]\nid = {i}\ncpus = [{i}]\n" for i in range(1, 65))), "65 nodes: at most 64"),
]


@pytest.mark.parametrize("name, text, words", BAD, ids=[row[0] for row in BAD])
def test_bad_input_exits_2_naming_the_key(tmp_path, capsys, name, text, words):
    code, out, err = run(tmp_path, capsys, text)
    assert (code, "Traceback" in err) == (2, False), err
    assert words in err and err.startswith("buddycheck: error: "), err
    assert "every invariant held" not in out


def test_a_good_file_still_runs(tmp_path, capsys):
    code, out, _ = run(tmp_path, capsys, scenario(zone="cma_pageblocks = [2, 3]"), "--depth", "2")
    assert code == 0 and "every invariant held" in out


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_scenario_file_loads(path):
    sc = load_scenario(path)
    assert sc.allocs or sc.extra_ops
    assert load_topology(path).nodes == sc.topology.nodes


REFUSING_MODEL = '''
from buddycheck.model import Kernel419
from buddycheck.model.errors import InvalidOperation


class Refusing(Kernel419):
    """Refuses every request, as if each were misuse: no operation ever runs."""

    NAME = "refusing"

    def alloc(self, *args, **kwargs):
        raise InvalidOperation("refused")
'''


def test_a_search_that_made_no_transition_is_inconclusive(tmp_path, capsys):
    (tmp_path / "refusing.py").write_text(REFUSING_MODEL)
    text = scenario(ops=ALLOC) + "[free]\ncpus = [0]\n"
    code, out, err = run(tmp_path, capsys, text, "--model", f"{tmp_path / 'refusing.py'}:Refusing", "--depth", "2")
    assert code == 3, out + err
    assert "0 transitions" in out and "INCONCLUSIVE: no operation ran in any state reached" in out
    assert "every invariant held" not in out
    code, out, _ = run(tmp_path, capsys, text, "--model", f"{tmp_path / 'refusing.py'}:Refusing", "--json")
    doc = json.loads(out)
    assert code == 3 and doc["transitions"] == 0
    assert {r["result"] for r in doc["verdict"] if r["kind"] != "goal"} == {"no violation"}


def test_check_says_which_scenario_made_no_transition(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(theorems, "prove_all", lambda **_: [])  # the theorems are tests/test_prove_cli.py's
    (tmp_path / "refusing.py").write_text(REFUSING_MODEL)
    (tmp_path / "s.toml").write_text(scenario(ops=ALLOC))
    code = main(["check", "--config", str(tmp_path / "s.toml"), "--model", f"{tmp_path / 'refusing.py'}:Refusing",
                 "--depth", "2"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert out.rstrip().splitlines()[-1].startswith("verdict: inconclusive: in t, no operation ran in any state")
