"""The exploration figures of `buddycheck bench`: W1, W2, largest and numa2, and how each search is reported.

Every search is reported with its states, transitions, depth, seconds, states per second and
microseconds per transition, and whether it was exhausted. Only a search that ended because no state
was left to expand is "exhausted"; one stopped by --time, --max-states, a violation or a signal is
"cut short" and says why. A signal (Ctrl-C, SIGTERM) stops the whole bench: the search reports what
it reached and KeyboardInterrupt goes on to checks/bench.py, which prints what was measured.

W1 and W2 set buddycheck against Spin on the same state space (checks/spin.py): the Promela model
stores exactly the explorer's states, so the ratio of the two times compares the two tools'
cost per state. Spin's time is its search alone; generating and compiling pan are shown apart.
"""

import resource

from .explore import Explorer
from .portfolio import properties_for
from .scenarios import scenario
from .spin import run_spin

W1_CORE = (24, 4, (1, 3))  # pages, MAX_ORDER, orders
W2_CORE = (32, 4, (1, 3))
LARGEST_FROM = 16  # the first number of pages the search over pages tries
LARGEST_BUDGET = 600.0  # seconds each exploration of that search may take
NUMA2_SECONDS = 60.0
NUMA2_SCENARIO = "numa2-mixed"


def stop_name(report):
    """Why a search stopped, as a word (the engine's reason, a string or an enum member), or None."""
    reason = report.stopped_by
    return getattr(reason, "value", reason)


def explore(sc, args, time_limit=None, symmetry=None, workers=None, max_states=float("inf"), progress=None,
            label=None, all_violations=False):
    """Explore `sc` with every invariant, as `buddycheck explore` would: the search's figures.

    symmetry and workers default to --symmetry and --workers; --time and --max-states, when given,
    stand in for time_limit and max_states (a bench search is not capped unless asked).
    `progress` (the command line's progress line) is told of the search as it goes under `label`, and
    of its end, so every search shows at least one line.
    With `all_violations` a violation does not end the search (one counterexample per invariant is kept).
    KeyboardInterrupt (a signal) is raised again after the figures are taken, with them in `.figures`.
    """
    sc.symmetry = bool(args.symmetry if symmetry is None else symmetry)
    workers = args.workers if workers is None else workers
    explorer = Explorer(sc).check(*properties_for(sc)).workers(workers)
    if all_violations:
        explorer.all_violations()
    limit = args.time if time_limit is None else time_limit
    if limit is not None:
        explorer.time_limit(limit)
    explorer.max_states(args.max_states or max_states)
    if progress is not None:
        progress.describe(search_label(label or sc.name, sc.symmetry, workers))
        explorer.progress(progress)
    cpu = cpu_seconds()
    report = explorer.run()
    if progress is not None:
        progress(report)
    figures = search_figures(sc, report, workers)
    figures["cpu_seconds"] = round(cpu_seconds() - cpu, 3)
    if figures["stopped_by"] == "interrupt":
        stop = KeyboardInterrupt()
        stop.figures = figures
        raise stop
    return figures


def search_label(label, symmetry, workers):
    """What a search is called in lines about it: its label, then [symmetry] and its workers."""
    plural = "s" if workers > 1 else ""
    return f"{label} [{'symmetry, ' if symmetry else ''}{workers} worker{plural}]"


def search_figures(sc, report, workers):
    stop = stop_name(report)
    concurrent = {"preemption_bound": sc.preemption_bound, "interleavings": report.interleavings} if sc.concurrent \
        else {}
    return {**concurrent,
        "scenario": sc.name, "description": sc.description, "symmetry": sc.symmetry, "workers": workers,
        "reachable_states": report.reachable_states, "transitions": report.transitions, "depth": report.depth,
        "exhausted": bool(report.complete) and stop is None, "stopped_by": stop,
        "seconds": round(report.seconds, 3), "states_per_second": round(report.states_per_second, 1),
        "microseconds_per_transition": per_transition(report.seconds, report.transitions),
        "peak_memory_mb": round(report.peak_memory_mb, 1), "violations": len(report.violations),
    }


def cpu_seconds():
    """CPU time of this process and of its finished children (forked workers, pan): the machine is shared,
    so the wall-clock time of a search also counts the others' work and CPU time is shown beside it."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def per_transition(seconds, transitions):
    return round(seconds * 1e6 / transitions, 2) if transitions else None


def outcome(f):
    """'exhausted', or how the search was cut short."""
    if f["exhausted"]:
        return "exhausted"
    if f["stopped_by"] is None:
        return f"bounded at depth {f['depth']}"
    return f"cut short ({f['stopped_by']}) after depth {f['depth']}"


def search_line(label, f):
    return (f"  {search_label(label, f['symmetry'], f['workers'])}: {f['reachable_states']:,} states, "
            f"{f['transitions']:,} transitions, "
            + (f"{f['interleavings']:,} interleavings, " if "interleavings" in f else "")
            + f"depth {f['depth']}, {outcome(f)}; {f['seconds']} s ({f['cpu_seconds']} s CPU), "
            f"{f['states_per_second']:,.0f} states/s, "
            f"{f['microseconds_per_transition']} us/transition, peak memory {f['peak_memory_mb']:.0f} MB "
            "(of the bench so far)")


# ---- Spin's half -----------------------------------------------------------------------------------

def spin_figures(pages, max_order, orders, args, hash_compact=False):
    """Spin's search of the same space; `missing` says why there is none. A signal stops pan and goes on."""
    if args.no_spin:
        return {"missing": "left out (--no-spin)"}
    try:
        run = run_spin(pages, max_order, orders, hash_compact=hash_compact, timeout=args.time)
    except RuntimeError as e:  # spin or gcc refused the model: the figure goes on without Spin's half
        return {"missing": f"Spin failed: {e}"}
    if run.missing:
        return {"missing": run.missing}
    f = run.to_json()
    del f["missing"]
    f["exhausted"] = run.complete
    f["states_per_second"] = round(run.states_stored / run.search_seconds, 1) if run.search_seconds else None
    f["microseconds_per_transition"] = per_transition(run.search_seconds, run.transitions)
    for key in ("search_seconds", "compile_seconds", "cpu_seconds"):
        f[key] = round(f[key], 3)
    return f


def spin_line(f):
    if "missing" in f:
        return f"  Spin: not run: {f['missing']}"
    how = "exhausted" if f["exhausted"] else f"cut short ({f['stopped_by'] or 'incomplete'}) after depth {f['depth']}"
    return (f"  Spin {' '.join(f['options'])}: {f['states_stored']:,} states stored, {f['transitions']:,} "
            f"transitions, depth {f['depth']}, {how}; search {f['search_seconds']} s ({f['cpu_seconds']} s CPU; "
            f"pan generated and compiled in {f['compile_seconds']} s), {f['states_per_second']:,.0f} states/s, "
            f"{f['microseconds_per_transition']} us/transition, memory {f['memory_mb']:.0f} MB")


def compare(bc, sp):
    """buddycheck's time over Spin's, when both searches were exhausted; else why there is no ratio."""
    if "missing" in sp:
        return {"ratio": None, "why": f"Spin did not run: {sp['missing']}"}
    if not (bc["exhausted"] and sp["exhausted"]):
        return {"ratio": None, "why": "a search was cut short, so the times are not of the same work"}
    out = {"ratio": round(bc["seconds"] / sp["search_seconds"], 1) if sp["search_seconds"] else None,
           "cpu_ratio": round(bc["cpu_seconds"] / sp["cpu_seconds"], 1) if sp["cpu_seconds"] else None,
           "same_states": bc["reachable_states"] == sp["states_stored"]}
    if bc["symmetry"]:
        out["why"] = "buddycheck searched the quotient by symmetry, Spin the whole space"
    return out


def core_params(args, default):
    pages, max_order, orders = default
    return (args.pages or pages, args.max_order or max_order, args.orders or orders)


def versus_spin(args, emit, figure, default, hash_compact, progress=None):
    """buddycheck and then Spin on one buddy-core space, in this run: the figure's two halves and their ratio."""
    pages, max_order, orders = core_params(args, default)
    sc = scenario("buddy-core", pages=pages, max_order=max_order, orders=orders)
    emit(f"{figure['name']}: buddy-core, {sc.description}, every invariant")
    measure(sc, args, emit, "buddycheck", lambda f: figure.update(buddycheck=f), progress=progress,
            figure=figure["name"])
    figure["spin"] = spin_figures(pages, max_order, orders, args, hash_compact)
    emit(spin_line(figure["spin"]))
    figure["comparison"] = compare(figure["buddycheck"], figure["spin"])
    c = figure["comparison"]
    if c["ratio"] is not None:
        emit(f"  buddycheck / Spin: {c['ratio']}x Spin's search time ({c['cpu_ratio']}x its CPU time); "
             f"the same states: {c['same_states']}"
             + (f" ({c['why']})" if "why" in c else ""))
    else:
        emit(f"  no ratio: {c['why']}")
    return figure


def measure(sc, args, emit, label, keep, time_limit=None, progress=None, figure=None, **settings):
    """explore(), then keep(figures) and print their line; on a signal, the same with what was reached.

    The progress line calls the search "FIGURE LABEL"."""
    try:
        f = explore(sc, args, time_limit, progress=progress, label=f"{figure} {label}" if figure else label,
                    **settings)
    except KeyboardInterrupt as stop:
        if getattr(stop, "figures", None) is not None:
            keep(stop.figures)
            emit(search_line(label, stop.figures))
        raise
    keep(f)
    emit(search_line(label, f))
    return f


def w1(args, emit, figure, progress=None):
    """buddy-core 24 pages, MAX_ORDER 4, orders 1-3: buddycheck's time over Spin's -DBFS time."""
    return versus_spin(args, emit, figure, W1_CORE, hash_compact=False, progress=progress)


def w2(args, emit, figure, progress=None):
    """buddy-core 32 pages: buddycheck's exhaustive time and peak memory against Spin -DBFS -DHC4."""
    return versus_spin(args, emit, figure, W2_CORE, hash_compact=True, progress=progress)


def largest(args, emit, figure, progress=None):
    """The largest buddy-core (pages, from --pages or 16 upwards) exhausted within the budget of each search."""
    budget = args.time or LARGEST_BUDGET
    pages, max_order, orders = core_params(args, (LARGEST_FROM, *W1_CORE[1:]))
    emit(f"largest: buddy-core from {pages} pages, MAX_ORDER {max_order}, orders {orders[0]}-{orders[1]}; "
         f"each search within {budget:g} s")
    figure.update(budget_seconds=budget, largest_exhausted=None, tried=[])
    while True:
        sc = scenario("buddy-core", pages=pages, max_order=max_order, orders=orders)
        keep = lambda f, pages=pages: figure["tried"].append(f | {"pages": pages})  # noqa: E731
        f = measure(sc, args, emit, f"{pages} pages", keep, budget, progress=progress, figure="largest")
        if not f["exhausted"]:
            break
        figure["largest_exhausted"] = pages
        pages += 1
    emit(f"  largest buddy-core exhausted within {budget:g} s: "
         + (f"{figure['largest_exhausted']} pages" if figure["largest_exhausted"] else "none"))
    return figure


def numa2(args, emit, figure, progress=None):
    """The depth numa2-mixed reaches in 60 s (--time), every level before it explored completely."""
    seconds = args.time or NUMA2_SECONDS
    sc = scenario(NUMA2_SCENARIO)
    sc.depth = 10_000  # the time decides, not the scenario's bound
    emit(f"numa2: {NUMA2_SCENARIO} ({sc.description.split(';')[0]}), {seconds:g} s")
    figure["time_seconds"] = seconds
    f = measure(sc, args, emit, NUMA2_SCENARIO, lambda f: figure.update(search=f), seconds, progress=progress,
                figure="numa2")
    emit(f"  depth reached in {seconds:g} s: {f['depth']}" + (" (the whole space)" if f["exhausted"] else ""))
    return figure
