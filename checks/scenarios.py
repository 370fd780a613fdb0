"""Built-in scenarios with names: what `buddycheck explore --preset NAME` and `buddycheck check` run.

`portfolio_scenarios()` is the default check's portfolio: the TOML files of checks/portfolio_scenarios/
(package data), each a small machine and alphabet aimed at one part of the allocator; docs/coverage.md
says what each is for and what the portfolio leaves unreached.
"""

import tomllib
from importlib.resources import files

from buddycheck.model import gfp as G
from buddycheck.model import preset
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
DEFAULT_SCENARIO = "numa2-mixed"


def scenario(name, **params):
    if name not in SCENARIOS:
        raise ConfigError(f"unknown scenario {name!r}; the built-in scenarios are: {', '.join(SCENARIOS)}")
    if params and name != "buddy-core":
        raise ConfigError(f"scenario {name!r} takes no --pages/--max-order/--orders")
    return SCENARIOS[name](**params).validate(f"scenario {name}")


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
