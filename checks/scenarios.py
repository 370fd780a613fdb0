"""Built-in scenarios with names: what `buddycheck explore --preset NAME` and `buddycheck check` run.

`portfolio_scenarios()` is the default check's portfolio: the TOML files of checks/portfolio_scenarios/
(package data), each a small machine and alphabet aimed at one part of the allocator; docs/coverage.md
says what each is for and what the portfolio leaves unreached.
"""

import tomllib
from importlib.resources import files

from buddycheck.model import NodeSpec, Topology, ZoneSpec, preset
from buddycheck.model import gfp as G
from buddycheck.model.constants import ZONE_MOVABLE, ZONE_NORMAL
from buddycheck.model.errors import ConfigError
from buddycheck.model.mempolicy import MPOL_BIND, MPOL_INTERLEAVE

from .ops import Alloc, AllocPages, Drain, Isolate, SetCpuset, SetMempolicy
from .scenario import STANDARD_SOMETIMES, Scenario, Sometimes, fell_back_to_remote_node
from .scenario_file import scenario_from_dict

PORTFOLIO_PACKAGE = "buddycheck.checks"
PORTFOLIO_FOLDER = "portfolio_scenarios"


def buddy_core(pages=16, max_order=4, orders=(1, 3)):
    """The buddy system alone: allocations of orders LO..HI and frees of any block, to exhaustion."""
    lo, hi = orders
    if not 0 <= lo <= hi < max_order:
        raise ConfigError(f"buddy-core: --orders {lo}-{hi}: need 0 <= LO <= HI < max-order {max_order}")
    return Scenario(
        name="buddy-core",
        topology=preset("buddy-core", pages=pages, max_order=max_order),
        allocs=tuple(Alloc(G.GFP_KERNEL, o) for o in range(lo, hi + 1)),
        depth=10_000,
        description=f"{pages} pages, MAX_ORDER {max_order}, orders {lo}-{hi}, free any block; to exhaustion",
        params={"preset": "buddy-core", "pages": pages, "max_order": max_order, "orders": (lo, hi)},
    )


def numa2_kernel():
    """Two nodes: kernel, user-movable, atomic and node-local DMA32 requests from both CPUs, frees, drains."""
    allocs = (
        Alloc(G.GFP_KERNEL, 0, cpu=0),
        Alloc(G.GFP_KERNEL, 2, cpu=1),
        Alloc(G.GFP_HIGHUSER_MOVABLE, 3, cpu=0),
        Alloc(G.GFP_ATOMIC, 1, cpu=1),
        Alloc(G.GFP_DMA32 | G.__GFP_THISNODE, 3, cpu=0),
    )
    return Scenario(
        name="numa2-kernel",
        topology=preset("numa2"),
        allocs=allocs,
        free_cpus=(0,),
        drains=(Drain(None),),
        depth=5,
        sometimes=STANDARD_SOMETIMES + (Sometimes("an allocation fell back to a remote node",
                                                  fell_back_to_remote_node),),
        description="numa2, 5 allocation kinds, free, drain; depth 5",
        params={"preset": "numa2", "scenario": "numa2-kernel"},
    )


def numa2_policy():
    """Two nodes: a task interleaving or binding, a cpuset change, allocations through its policy."""
    ops = (
        SetMempolicy(MPOL_INTERLEAVE, frozenset({0, 1})),
        SetMempolicy(MPOL_BIND, frozenset({1})),
        SetCpuset(0, frozenset({0})),
        AllocPages(G.GFP_KERNEL, 2, cpu=0),
        AllocPages(G.GFP_DMA32, 3, cpu=0),
    )
    return Scenario(
        name="numa2-policy",
        topology=preset("numa2"),
        extra_ops=ops,
        free_cpus=(0,),
        depth=5,
        sometimes=STANDARD_SOMETIMES + (Sometimes("an allocation fell back to a remote node",
                                                  fell_back_to_remote_node),),
        description="numa2, interleave/bind policies, a cpuset change, policy allocations, free; depth 5",
        params={"preset": "numa2", "scenario": "numa2-policy"},
    )


def isolated_a_range(op, result, m):
    return isinstance(op, Isolate) and result.value == 0


def numa2_isolation():
    """Two nodes: kernel requests while MAX_ORDER-aligned ranges of node 0 are isolated and given back."""
    k = numa2_kernel()
    return Scenario(
        name="numa2-isolation",
        topology=k.topology,
        allocs=k.allocs,
        free_cpus=(0,),
        drains=k.drains,
        isolations=((8, 16), (16, 24)),
        depth=5,
        sometimes=k.sometimes + (Sometimes("a pageblock range was isolated", isolated_a_range),),
        description="numa2, 5 allocation kinds, free, drain, isolation and undo of pfn 8-15 (DMA32) and "
                    "16-23 (Normal); depth 5",
        params={"preset": "numa2", "scenario": "numa2-isolation"},
    )


def numa2_mixed():
    """Both workloads together: kernel requests from both CPUs and a task's policy allocations."""
    k, p = numa2_kernel(), numa2_policy()
    return Scenario(
        name="numa2-mixed",
        topology=k.topology,
        allocs=k.allocs[:3],
        extra_ops=p.extra_ops,
        free_cpus=(0,),
        drains=k.drains,
        depth=6,
        sometimes=k.sometimes,
        description="numa2: kernel, movable and DMA32 requests, interleave/bind policies, a cpuset change, "
                    "free, drain; depth 6",
        params={"preset": "numa2", "scenario": "numa2-mixed"},
    )


SCENARIOS = {
    "buddy-core": buddy_core,
    "numa2-kernel": numa2_kernel,
    "numa2-policy": numa2_policy,
    "numa2-isolation": numa2_isolation,
    "numa2-mixed": numa2_mixed,
}
# ---- scenarios made for diff --------------------------------------------------------------------


def rebind_4node():
    """Four nodes: a task's BIND/INTERLEAVE policy, two cpuset writes, and allocations through the policy.

    Shows the rebind difference of 4.19.0 (docs/regression-howto.md): BIND {1}, cpuset {0,1,2},
    cpuset {2,3} leaves the policy on node 3 in 4.19 (node 1 is second of {0,1,2}, the second of
    {2,3} is 3) and on node 2 in 4.19.0 (which remaps from the policy's own nodes {1}).
    """
    zone = dict(watermarks=(0, 0, 0), lowmem_reserve=(0,) * 5, pcp_high_batch=(0, 1))
    topology = Topology(nodes=tuple(NodeSpec(n, (n,), (ZoneSpec(ZONE_NORMAL, 4 * n, 4, **zone),))
                                    for n in range(4)),
                        max_order=2, pageblock_order=1, page_group_by_mobility_disabled=False, min_free_kbytes=0,
                        name="numa4-small")
    ops = (
        SetMempolicy(MPOL_BIND, frozenset({1})),
        SetMempolicy(MPOL_INTERLEAVE, frozenset({0, 1})),
        SetCpuset(0, frozenset({0, 1, 2})),
        SetCpuset(0, frozenset({2, 3})),
        AllocPages(G.GFP_KERNEL, 0, cpu=0),
    )
    return Scenario(name="rebind-4node", topology=topology, extra_ops=ops, free_cpus=(), depth=4,
                    description="4 nodes of 4 pages, BIND {1} or INTERLEAVE {0,1}, cpuset writes {0,1,2} and "
                                "{2,3}, alloc_pages through the policy; depth 4",
                    params={"scenario": "rebind-4node"})


def classzone_2node():
    """The classzone change of 5.8: node 1 lacks ZONE_MOVABLE, so 4.19's classzone for its MOVABLE requests is NORMAL.

    Node 0: NORMAL pfn 0-3 (min = low = high = 1) and MOVABLE pfn 4-5; lowmem_reserve_ratio 1 for
    NORMAL gives node 0's NORMAL a reserve of 2 pages against MOVABLE-class requests (its node's
    MOVABLE managed pages / 1). Node 1: NORMAL pfn 8-9 only. Setup allocates node 1's two pages and
    node 0's MOVABLE pair, so a GFP_HIGHUSER_MOVABLE request from CPU 1 walks N1.NORMAL, N0.MOVABLE,
    N0.NORMAL and can only be served by N0.NORMAL. 4.19 checks it against lowmem_reserve[NORMAL] = 0
    (the preferred zoneref is N1.NORMAL) and takes pages while free > 1; 5.8 checks it against
    lowmem_reserve[MOVABLE] = 2 and takes one page (4 > 1 + 2, then 3 > 3 fails).
    """
    topology = Topology(nodes=(
        NodeSpec(0, (0,), (ZoneSpec(ZONE_NORMAL, 0, 4, watermarks=(1, 1, 1), pcp_high_batch=(0, 1)),
                           ZoneSpec(ZONE_MOVABLE, 4, 2, watermarks=(0, 0, 0), pcp_high_batch=(0, 1)))),
        NodeSpec(1, (1,), (ZoneSpec(ZONE_NORMAL, 8, 2, watermarks=(0, 0, 0), pcp_high_batch=(0, 1)),)),
    ), max_order=2, pageblock_order=1, lowmem_reserve_ratio=(256, 256, 1, 0, 0),
        page_group_by_mobility_disabled=False, min_free_kbytes=0, name="classzone-2node")
    setup = (Alloc(G.GFP_KERNEL | G.__GFP_THISNODE, 1, cpu=1),
             Alloc(G.GFP_HIGHUSER_MOVABLE | G.__GFP_THISNODE, 1, cpu=0))
    allocs = (Alloc(G.GFP_HIGHUSER_MOVABLE, 0, cpu=1),)
    return Scenario(name="classzone-2node", topology=topology, allocs=allocs, setup=setup, free_cpus=(1,),
                    depth=4, sometimes=(),
                    description="classzone: node 1 without MOVABLE, movable requests from its CPU, frees; depth 4",
                    params={"scenario": "classzone-2node"})


DIFF_SCENARIOS = {
    "rebind-4node": rebind_4node,
    "classzone-2node": classzone_2node,
}


DEFAULT_SCENARIO = "numa2-mixed"


def scenario(name, **params):
    """A built-in scenario by name: a preset, a diff scenario or one of the default portfolio."""
    if params and name != "buddy-core":
        raise ConfigError(f"scenario {name!r} takes no --pages/--max-order/--orders")
    make = SCENARIOS.get(name) or DIFF_SCENARIOS.get(name)
    if make is not None:
        return make(**params).validate(f"scenario {name}")
    portfolio = portfolio_scenarios()  # loaded only for a name that is none of the others
    for sc in portfolio:
        if sc.name == name:
            return sc
    known = [*SCENARIOS, *DIFF_SCENARIOS, *(sc.name for sc in portfolio)]
    raise ConfigError(f"unknown scenario {name!r}; the built-in scenarios are: {', '.join(known)}")


def portfolio_files():
    """The portfolio's TOML files (importlib.resources Traversables), in file-name order."""
    folder = files(PORTFOLIO_PACKAGE) / PORTFOLIO_FOLDER
    return sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)


def portfolio_scenarios():
    """Every portfolio scenario, loaded and validated, in file-name order."""
    out = []
    for f in portfolio_files():
        where = f"{PORTFOLIO_FOLDER}/{f.name}"
        try:
            doc = tomllib.loads(f.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{where}: not valid TOML: {e}") from None
        out.append(scenario_from_dict(doc, where))
    return out
