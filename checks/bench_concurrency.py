"""The `concurrency` figure of `buddycheck bench`: what each preemption bound costs.

For the portfolio's `concurrent` scenario and the pair scenarios of checks/concurrent_scenarios.py,
an exhaustive search each at preemption bounds 0, 1, 2 and 3 (every invariant, one worker, no
symmetry reduction; a violation does not end the search, so a scenario where 4.19 shows its own
race is still searched to its end): reachable states, transitions, interleavings explored and
seconds, and each bound's interleavings and CPU seconds as a ratio of bound 0's in the same run. A
pair scenario's search takes milliseconds, so each search is repeated until the repetitions have
taken MIN_SECONDS, and its times are the means (`seconds_per_search`, `cpu_seconds_per_search`,
`rounds`); the ratio is of CPU time, which the other users of a shared machine disturb less.
--max-states and --time cap each search as for the other figures.
"""

import time

from .bench_explore import cpu_seconds, explore, search_line
from .concurrent_scenarios import PAIR_SCENARIOS
from .scenarios import scenario

BOUNDS = (0, 1, 2, 3)
PORTFOLIO_SCENARIO = "concurrent"
MIN_SECONDS = 0.25  # the repetitions of one search take at least this long


def with_bound(sc, bound):
    sc.preemption_bound = bound
    return sc


def makers():
    """(name, make(bound)) for each scenario of the figure, the portfolio's first."""
    out = [(PORTFOLIO_SCENARIO, lambda bound: with_bound(scenario(PORTFOLIO_SCENARIO), bound))]
    out += [(make.__name__.replace("_", "-"), lambda bound, make=make: make(bound=bound)) for make in PAIR_SCENARIOS]
    return out


def ratio(value, base):
    return round(value / base, 2) if base else None


def timed(make, bound, args, progress, label):
    """The figures of one search, repeated until MIN_SECONDS have passed; its mean wall-clock and CPU time."""
    wall = cpu = 0.0
    rounds = 0
    while True:
        start_wall, start_cpu = time.perf_counter(), cpu_seconds()
        f = explore(make(bound), args, symmetry=False, workers=1, progress=progress, label=label,
                    all_violations=True)
        wall += time.perf_counter() - start_wall
        cpu += cpu_seconds() - start_cpu
        rounds += 1
        if wall >= MIN_SECONDS or f["stopped_by"] is not None:
            break
    f["rounds"] = rounds
    f["seconds_per_search"] = round(wall / rounds, 5)
    f["cpu_seconds_per_search"] = round(cpu / rounds, 5)
    return f


def concurrency(args, emit, figure, progress=None):
    """Each concurrent scenario at preemption bounds 0-3: states, interleavings and seconds, as ratios of bound 0."""
    figure["bounds"] = list(BOUNDS)
    figure["searches"] = []
    for name, make in makers():
        rows = []
        for bound in BOUNDS:
            label = f"{name} bound {bound}"
            try:
                f = timed(make, bound, args, progress, f"concurrency {label}")
            except KeyboardInterrupt as stop:
                if getattr(stop, "figures", None) is not None:
                    figure["searches"].append(stop.figures)
                raise
            rows.append(f)
            emit(search_line(label, f) + f"; per search over {f['rounds']} rounds: {f['seconds_per_search']} s, "
                 f"{f['cpu_seconds_per_search']} s CPU")
        base = rows[0]
        for f in rows:
            f["interleavings_ratio"] = ratio(f["interleavings"], base["interleavings"])
            f["cpu_seconds_ratio"] = ratio(f["cpu_seconds_per_search"], base["cpu_seconds_per_search"])
        figure["searches"] += rows
        emit(f"  {name}: interleavings x" + " / x".join(str(f["interleavings_ratio"]) for f in rows)
             + ", CPU seconds x" + " / x".join(str(f["cpu_seconds_ratio"]) for f in rows) + " at bounds "
             + "/".join(map(str, BOUNDS)) + " (of bound 0, this run)")
    return figure
