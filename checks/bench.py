"""`buddycheck bench`: the speed figures of this machine, measured in one run.

Figures: allocation+free throughput of the model on each preset; exhaustive exploration of
buddy-core (16 and 24 pages, MAX_ORDER 4, orders 1-3) with every invariant, with and without the
symmetry reduction (the speed-up is a ratio of two figures of this run) and then with one worker
per core; the default `check` scenario, also both ways; the theorem suite and interleave fairness at 1024 nodes.
"""

import json
import os
import time

from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.spec.theorems import THEOREMS_BY_NAME, prove_all

from .exit_codes import EXIT_OK
from .explore import Explorer
from .properties import all_properties
from .scenarios import DEFAULT_SCENARIO, scenario

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


def exploration_figures(sc, symmetry=False, workers=1):
    sc.symmetry = symmetry
    r = Explorer(sc).check(*all_properties()).workers(workers).run()
    return {"scenario": sc.name, "description": sc.description, "symmetry": symmetry, "workers": workers,
            "reachable_states": r.reachable_states,
            "transitions": r.transitions, "depth": r.depth, "complete": r.complete,
            "seconds": round(r.seconds, 2), "states_per_second": round(r.states_per_second),
            "violations": len(r.violations)}


def run_bench(args, out):
    figures = {"alloc_free_per_second": {}}
    for name, params in (("buddy-core", {"pages": 64, "max_order": 4}), ("numa2", {}), ("x86-64-1g", {})):
        figures["alloc_free_per_second"][name] = round(alloc_free_rate(name, params))
        if not args.json:
            out(f"alloc+free on {name:10} {figures['alloc_free_per_second'][name]:>9,} pairs/s")
    figures["explorations"] = []
    makers = {"core-16": lambda: scenario("buddy-core", pages=16, max_order=4, orders=(1, 3)),
              "core-24": lambda: scenario("buddy-core", pages=24, max_order=4, orders=(1, 3)),
              "check": lambda: scenario(DEFAULT_SCENARIO)}
    pairs = {}  # (plain, symmetric) figures of each scenario
    for label, make in makers.items():
        pair = []
        for symmetry in (False, True):
            sc = make()
            f = exploration_figures(sc, symmetry)
            pair.append(f)
            figures["explorations"].append(f)
            if not args.json:
                out(f"explore {sc.name:12} {sc.description}{' [symmetry]' if symmetry else ''}: "
                    f"{f['reachable_states']:,} states, {f['transitions']:,} transitions, {f['seconds']} s, "
                    f"{f['states_per_second']:,} states/s")
        pair[1]["speedup"] = round(pair[0]["seconds"] / pair[1]["seconds"], 2) if pair[1]["seconds"] else None
        pairs[label] = pair
        if not args.json:
            out(f"  symmetry: {pair[1]['speedup']}x faster in this run")
    cores = os.cpu_count() or 1
    if cores > 1:
        sc = makers["core-24"]()
        f = exploration_figures(sc, True, workers=cores)
        base = pairs["core-24"][1]["seconds"]
        f["speedup"] = round(base / f["seconds"], 2) if f["seconds"] else None
        figures["explorations"].append(f)
        if not args.json:
            out(f"explore {sc.name:12} {sc.description} [symmetry, {cores} workers]: {f['seconds']} s, "
                f"{f['speedup']}x faster than one process in this run")
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
