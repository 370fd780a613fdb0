"""The `concurrency` figure of `buddycheck bench`: what each preemption bound costs.

For the portfolio's `concurrent` scenario and the pair scenarios of checks/concurrent_scenarios.py,
one exhaustive search each at preemption bounds 0, 1, 2 and 3 (every invariant, one worker, no
symmetry reduction; a violation does not end the search, so a scenario where 4.19 shows its own
race is still searched to its end): reachable states, transitions, interleavings explored and
seconds, and each bound's interleavings and seconds as a ratio of bound 0's in the same run.
--max-states and --time cap each search as for the other figures.
"""

from .bench_explore import measure
from .concurrent_scenarios import PAIR_SCENARIOS
from .scenarios import scenario

BOUNDS = (0, 1, 2, 3)
PORTFOLIO_SCENARIO = "concurrent"


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


def concurrency(args, emit, figure, progress=None):
    """Each concurrent scenario at preemption bounds 0-3: states, interleavings and seconds, as ratios of bound 0."""
    figure["bounds"] = list(BOUNDS)
    figure["searches"] = []
    for name, make in makers():
        rows = []
        for bound in BOUNDS:
            measure(make(bound), args, emit, f"{name} bound {bound}", rows.append, progress=progress,
                    figure="concurrency", symmetry=False, workers=1, all_violations=True)
        base = rows[0]
        for f in rows:
            f["interleavings_ratio"] = ratio(f["interleavings"], base["interleavings"])
            f["seconds_ratio"] = ratio(f["seconds"], base["seconds"])
        figure["searches"] += rows
        emit(f"  {name}: interleavings x" + " / x".join(str(f["interleavings_ratio"]) for f in rows)
             + ", seconds x" + " / x".join(str(f["seconds_ratio"]) for f in rows) + " at bounds "
             + "/".join(map(str, BOUNDS)) + " (of bound 0, this run)")
    return figure
