"""`buddycheck bench`: the speed figures of this machine, measured in one run.

Figures: allocation+free throughput of the model on each preset; exhaustive exploration of
buddy-core (16 and 24 pages, MAX_ORDER 4, orders 1-3) with every invariant; the default `check`
scenario; the theorem suite and interleave fairness at 1024 nodes.
"""

import json
import time

from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G

from .cli import EXIT_OK

CYCLE = [(G.GFP_KERNEL, 0), (G.GFP_HIGHUSER_MOVABLE, 1), (G.GFP_KERNEL, 2), (G.GFP_ATOMIC, 0),
         (G.GFP_HIGHUSER_MOVABLE, 0), (G.__GFP_RECLAIMABLE | G.GFP_KERNEL, 1)]


def alloc_free_round(m):
    """Allocate the CYCLE of requests on every CPU, then free every block: the number of pairs done."""
    pages = []
    for cpu in m.topology.cpus:
        for gfp, order in CYCLE:
            r = m.alloc(gfp, order, cpu=cpu)
            if r.page is not None:
                pages.append(r.page)
    for p in pages:
        m.free(p)
    return len(pages)


def alloc_free_rate(name, params, seconds=1.0):
    """alloc+free pairs per second: mixed requests on every CPU, then every block freed."""
    m = Kernel419(preset(name, **params))
    pairs = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        pairs += alloc_free_round(m)
    return pairs / (time.perf_counter() - start)


def exploration_figures(sc):
    from .explore import Explorer
    from .properties import all_properties

    r = Explorer(sc).check(*all_properties()).run()
    return {"scenario": sc.name, "description": sc.description, "reachable_states": r.reachable_states,
            "transitions": r.transitions, "depth": r.depth, "complete": r.complete,
            "seconds": round(r.seconds, 2), "states_per_second": round(r.states_per_second),
            "violations": len(r.violations)}


def run_bench(args, out):
    from buddycheck.spec.theorems import THEOREMS_BY_NAME, prove_all

    from .scenarios import DEFAULT_SCENARIO, scenario

    figures = {"alloc_free_per_second": {}}
    for name, params in (("buddy-core", {"pages": 64, "max_order": 4}), ("numa2", {}), ("x86-64-1g", {})):
        figures["alloc_free_per_second"][name] = round(alloc_free_rate(name, params))
        if not args.json:
            out(f"alloc+free on {name:10} {figures['alloc_free_per_second'][name]:>9,} pairs/s")
    figures["explorations"] = []
    for sc in (scenario("buddy-core", pages=16, max_order=4, orders=(1, 3)),
               scenario("buddy-core", pages=24, max_order=4, orders=(1, 3)),
               scenario(DEFAULT_SCENARIO)):
        f = exploration_figures(sc)
        figures["explorations"].append(f)
        if not args.json:
            out(f"explore {sc.name:12} {sc.description}: {f['reachable_states']:,} states, "
                f"{f['transitions']:,} transitions, {f['seconds']} s, {f['states_per_second']:,} states/s")
    start = time.perf_counter()
    results = prove_all()
    figures["theorems_seconds"] = round(time.perf_counter() - start, 2)
    figures["theorems"] = {t.name: round(t.seconds, 2) for t in results}
    il = THEOREMS_BY_NAME["interleave_fairness"].prove(max_numnodes=1024)
    figures["interleave_fairness_1024_seconds"] = round(il.seconds, 2)
    if args.json:
        out(json.dumps(figures, indent=2))
    else:
        out(f"theorem suite: {figures['theorems_seconds']} s; interleave fairness at 1024 nodes: "
            f"{figures['interleave_fairness_1024_seconds']} s ({il.status.value})")
    return EXIT_OK
