"""`buddycheck bench`: named speed figures of this machine, each measured in the run that prints it.

`buddycheck bench --list` lists the figures; `buddycheck bench NAME...` runs the named ones, and
without a name the DEFAULT ones run. The figures:
- alloc-free: allocation+free throughput of the model on each preset;
- symmetry: exhaustive exploration of buddy-core (16 and 24 pages, MAX_ORDER 4, orders 1-3) and of
  the default `check` scenario with every invariant, with and without the symmetry reduction (the
  speed-up is a ratio of two figures of this run), then with one worker per core;
- theorems: the theorem suite and interleave fairness at 1024 nodes;
- W1, W2, largest, numa2: buddycheck against Spin and the reach of one search (checks/bench_explore.py);
- concurrency: the concurrent scenarios at preemption bounds 0-3 (checks/bench_concurrency.py).

Off a terminal, standard error gets a line naming each figure as it starts and the progress lines of
its searches (checks/cli/common.py's Progress, given by checks/cli/bench.py), as `explore` prints them.

A signal (Ctrl-C, SIGTERM) stops the bench as it stops `explore`: what was measured is printed, with
the figure that was running marked interrupted, and the exit status is 3.
"""

import json
import os
import time
from dataclasses import dataclass

from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.model.errors import ConfigError
from buddycheck.spec.theorems import THEOREMS_BY_NAME, prove_all

from . import bench_explore
from .arg_types import order_range, positive_float, positive_int
from .bench_concurrency import concurrency
from .bench_explore import measure
from .exit_codes import EXIT_INCONCLUSIVE, EXIT_OK
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


def alloc_free_figure(args, emit, figure, progress=None):
    """alloc+free pairs per second on each preset."""
    for name, params in (("buddy-core", {"pages": 64, "max_order": 4}), ("numa2", {}), ("x86-64-1g", {})):
        if progress is not None:
            progress.announce(f"bench alloc-free: measuring {name}")
        figure[name] = round(alloc_free_rate(name, params))
        emit(f"alloc+free on {name:10} {figure[name]:>9,} pairs/s")
    return figure


def symmetry_figure(args, emit, figure, progress=None):
    """buddy-core 16 and 24 and the default check scenario, with and without symmetry, then with workers.

    Each search is capped at its scenario's max_states (2,000,000) unless --max-states says otherwise.
    """
    figure["explorations"] = []
    makers = {"core-16": lambda: scenario("buddy-core", pages=16, max_order=4, orders=(1, 3)),
              "core-24": lambda: scenario("buddy-core", pages=24, max_order=4, orders=(1, 3)),
              "check": lambda: scenario(DEFAULT_SCENARIO)}
    pairs = {}  # (plain, symmetric) figures of each scenario
    for label, make in makers.items():
        pair = []
        for symmetry in (False, True):
            sc = make()
            measure(sc, args, emit, f"{sc.name} {sc.description}", pair.append, symmetry=symmetry, workers=1,
                    max_states=sc.max_states, progress=progress, figure="symmetry")
        figure["explorations"] += pair
        pair[1]["speedup"] = round(pair[0]["seconds"] / pair[1]["seconds"], 2) if pair[1]["seconds"] else None
        pairs[label] = pair
        emit(f"  symmetry: {pair[1]['speedup']}x faster in this run")
    cores = os.cpu_count() or 1
    if cores > 1:
        sc = makers["core-24"]()
        f = measure(sc, args, emit, f"{sc.name} {sc.description}", figure["explorations"].append, symmetry=True,
                    workers=cores, max_states=sc.max_states, progress=progress, figure="symmetry")
        base = pairs["core-24"][1]["seconds"]
        f["speedup"] = round(base / f["seconds"], 2) if f["seconds"] else None
        emit(f"  {cores} workers: {f['speedup']}x faster than one process in this run")
    return figure


def theorems_figure(args, emit, figure, progress=None):
    """The theorem suite's time, each theorem's, and interleave fairness at 1024 nodes."""
    start = time.perf_counter()
    heard = None if progress is None else (lambda r: progress.announce(f"bench theorems: {r.name} {r.status.value}"))
    results = prove_all(on_result=heard)
    figure["theorems_seconds"] = round(time.perf_counter() - start, 2)
    figure["theorems"] = {t.name: round(t.seconds, 2) for t in results}
    if progress is not None:
        progress.announce("bench theorems: measuring interleave_fairness at 1024 nodes")
    il = THEOREMS_BY_NAME["interleave_fairness"].prove(max_numnodes=1024)
    figure["interleave_fairness_1024_seconds"] = round(il.seconds, 2)
    emit(f"theorem suite: {figure['theorems_seconds']} s; interleave fairness at 1024 nodes: "
         f"{figure['interleave_fairness_1024_seconds']} s ({il.status.value})")
    return figure


@dataclass(frozen=True)
class Figure:
    """A named figure: run(args, emit, figure, progress) fills the dict `figure` as it measures, and returns it.

    `progress` is the command line's progress line (None: none): a figure says on it what it measures,
    and gives its searches to it (states, depth, rate), as `explore` does."""

    name: str
    summary: str
    run: object


FIGURES = {f.name: f for f in (
    Figure("alloc-free", "alloc+free pairs per second of the model on each preset", alloc_free_figure),
    Figure("symmetry", "buddy-core 16/24 and the default check scenario, with and without symmetry, then workers",
           symmetry_figure),
    Figure("theorems", "the theorem suite and interleave fairness at 1024 nodes", theorems_figure),
    Figure("W1", "buddy-core 24/4/1-3, every invariant: buddycheck's time over Spin -DBFS's, same states",
           bench_explore.w1),
    Figure("W2", "buddy-core 32/4/1-3: buddycheck's exhaustive time and peak memory, Spin -DBFS -DHC4's",
           bench_explore.w2),
    Figure("largest", "the largest buddy-core (pages from 16 up) exhausted within 600 s each", bench_explore.largest),
    Figure("numa2", "the depth numa2-mixed reaches in 60 s", bench_explore.numa2),
    Figure("concurrency", "the concurrent scenarios at preemption bounds 0-3: states, interleavings, seconds",
           concurrency),
)}
DEFAULT = ("alloc-free", "symmetry", "theorems", "W1")


def add_bench_arguments(p):
    """The options of `buddycheck bench` (the command line registers the subcommand, then calls this)."""
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"the figures to measure, in this order (default: {' '.join(DEFAULT)}; see --list)")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--json", action="store_true", help="one JSON document on standard output")
    p.add_argument("--pages", type=positive_int, metavar="N",
                   help="W1, W2: buddy-core's pages in place of 24 / 32; largest: the first number of pages tried")
    p.add_argument("--max-order", type=positive_int, metavar="M", help="W1, W2, largest: MAX_ORDER in place of 4")
    p.add_argument("--orders", type=order_range, metavar="LO-HI", help="W1, W2, largest: orders in place of 1-3")
    p.add_argument("--symmetry", action="store_true",
                   help="W1, W2, largest, numa2: buddycheck searches with the symmetry reduction")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="W1, W2, largest, numa2: buddycheck expands each level in N processes")
    p.add_argument("--time", type=positive_float, metavar="SECONDS",
                   help="W1, W2: stop each search (Spin's too) after SECONDS; largest: each search's budget "
                        f"(default {bench_explore.LARGEST_BUDGET:g}); numa2: the search time "
                        f"(default {bench_explore.NUMA2_SECONDS:g})")
    p.add_argument("--max-states", type=positive_int, metavar="N",
                   help="W1, W2, largest, numa2: stop buddycheck's search after N states (default: no cap)")
    p.add_argument("--no-spin", action="store_true", help="W1, W2: leave out Spin's half")


def selected_figures(names):
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ConfigError(f"bench: no figure named {', '.join(map(repr, unknown))}; the figures are: "
                          f"{', '.join(FIGURES)}")
    return [FIGURES[n] for n in (names or DEFAULT)]


def run_bench(args, out, progress=None):
    """Measure the named figures in order; exit 3 when a signal cut the run short.

    `progress`, when given, is told which figure is measured and follows its searches (checks/cli/bench.py
    gives the command line's progress line)."""
    if args.list:
        width = max(map(len, FIGURES))
        for f in FIGURES.values():
            out(f"{f.name:{width}}  {f.summary}{'  (default)' if f.name in DEFAULT else ''}")
        return EXIT_OK
    figures = selected_figures(args.names)

    def emit(line):
        if not args.json:
            out(line)
    measured = {}
    interrupted = None
    for f in figures:
        measured[f.name] = figure = {"name": f.name}
        if progress is not None:
            progress.announce(f"bench {f.name}: {f.summary}")
        try:
            f.run(args, emit, figure, progress)
        except KeyboardInterrupt:
            figure["interrupted"] = True
            interrupted = f.name
            break
    if args.json:
        out(json.dumps({"figures": measured, "interrupted": interrupted}, indent=2, default=str))
    elif interrupted:
        out(f"bench: interrupted during {interrupted}; the figures above are what was measured")
    return EXIT_INCONCLUSIVE if interrupted else EXIT_OK

