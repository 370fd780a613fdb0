"""The scenario of a machine imported from its /proc and /sys files (model/procfs_import.py).

Alone, `--from-proc DIR` explores the imported machine with a default alphabet: from the first CPU of
each node, a kernel request of order 0 and a movable user request of order 1; from the first CPU of the
last node, an atomic request of order MAX_ORDER-2 (a split of a larger block, a harder watermark);
frees from the first CPU and a drain of every CPU; depth 4. With `--config FILE`, the file's operations run on
the imported machine instead of the file's own.

When DIR holds proc/buddyinfo (and proc/pagetypeinfo), the machine starts from that free state, scaled
(model/procfs_free_state.py): the scenario's first setup step moves the booted machine there
(checks/start_free_state.py), before the file's own setup steps. The pages allocated then are
allocated blocks like any other: the alphabet's frees name them.

`with_free_state(sc, FILE)` (`--buddyinfo FILE`) starts any scenario from the free state of a buddyinfo
file copied from a machine of the scenario's own size (`buddycheck show` prints one): the counts are
taken as they are (a scale of 1, orders above the machine's folded into its largest), every free
block Movable.
"""

from buddycheck.model import gfp as G
from buddycheck.model.errors import ConfigError
from buddycheck.model.procfs_free_state import read_free_files, read_free_state, scale_free_state, topology_zones
from buddycheck.model.procfs_import import read_machine, scale_machine

from .ops import Alloc, Drain
from .scenario import Scenario, Sometimes, split_a_block
from .start_free_state import StartFreeState

DEFAULT_DEPTH = 4


def imported_scenario(root, pages=None, scale=None, max_order=None, base=None):
    """The scenario on the scaled machine of `root`: `base`'s operations on it, or the default alphabet."""
    kwargs = {} if max_order is None else {"max_order": max_order}
    real = read_machine(root)
    topology = scale_machine(real, pages=pages, scale=scale, **kwargs)
    state = read_free_state(root, real)
    start = () if state is None else (StartFreeState.of(scale_free_state(state, real.zones, topology)),)
    params = {"from_proc": str(root), "pages": pages, "scale": scale, "max_order": topology.max_order}
    if state is not None:
        params["free_state"] = state.source
    if base is not None:
        sc = base.with_machine(topology, params)
        sc = Scenario(**{**sc.__dict__, "setup": start + tuple(sc.setup)})
        return sc.validate(f"--config {base.params.get('path', base.name)} on --from-proc {root}")
    firsts = [n.cpus[0] for n in topology.nodes if n.cpus]
    allocs = [Alloc(gfp, order, cpu=cpu) for cpu in firsts
              for gfp, order in ((G.GFP_KERNEL, 0), (G.GFP_HIGHUSER_MOVABLE, min(1, topology.max_order - 1)))]
    allocs.append(Alloc(G.GFP_ATOMIC, max(0, topology.max_order - 2), cpu=firsts[-1]))
    pages_total = sum(z.pages for n in topology.nodes for z in n.zones)
    sc = Scenario(
        name="from-proc",
        topology=topology,
        setup=start,
        allocs=tuple(allocs),
        free_cpus=(firsts[0],),
        drains=(Drain(None),),
        depth=DEFAULT_DEPTH,
        sometimes=(Sometimes("an allocation split a larger block", split_a_block),),  # reached at depth 1
        description=f"{topology.name}: {len(topology.nodes)} node(s), {pages_total} pages, MAX_ORDER "
                    f"{topology.max_order}; kernel, movable and atomic requests, free, drain"
                    + ("" if state is None else f"; starts from the free state of {state.source}"),
        params=params,
    )
    return sc.validate(f"--from-proc {root}")


def with_free_state(sc, path):
    """The scenario started from the free state of the buddyinfo file `path`, on its own machine unscaled."""
    cma = [f"node {n.nid} {z.name}" for n in sc.topology.nodes for z in n.zones if z.cma_pageblocks]
    if cma:
        raise ConfigError(f"--buddyinfo {path}: scenario {sc.name} has CMA pageblocks ({', '.join(cma)}), which a "
                          "buddyinfo does not place")
    real_zones = topology_zones(sc.topology)
    state = read_free_files(path, None, real_zones, f"the machine of scenario {sc.name}")
    start = (StartFreeState.of(scale_free_state(state, real_zones, sc.topology)),)
    params = {**sc.params, "free_state": str(path)}
    return Scenario(**{**sc.__dict__, "setup": start + tuple(sc.setup), "params": params}).validate(
        f"--buddyinfo {path} on scenario {sc.name}")
