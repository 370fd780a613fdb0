"""Spin on the Promela buddy-core model (checks/bench_models/buddy_core.pml): the comparison of `buddycheck bench`.

The model is package data. A run copies it to a temporary folder and takes three steps:
1. `spin -DSHOW_BOOT` simulates the model's own boot and prints the booted free lists;
2. they are written to booted.h, so that the verifier's initial state is the booted machine (as the
   explorer's is) and not an extra state before boot;
3. `spin -a` with -DBOOTED, `gcc -DBFS -DNOREDUCE` (plus -DHC4 for hash compaction) and the search.
Spin's "states, stored" is then the explorer's reachable_states for the same pages, MAX_ORDER and orders.
Only the search is timed; generating and compiling pan are reported apart.
"""

import re
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

MODEL_PACKAGE = "buddycheck.checks"
MODEL_PATH = ("bench_models", "buddy_core.pml")
MEMORY_LIMIT_MB = 8192  # pan stops with "out of memory" past this rather than exhausting a shared machine
BOOT_ARRAYS = ("BOOT_HEAD", "BOOT_NR", "BOOT_BLOCK")


@dataclass
class SpinRun:
    """What one Spin search of the buddy-core model found, or why there was none."""

    pages: int
    max_order: int
    orders: tuple
    options: tuple = ()  # the gcc defines of pan
    missing: str | None = None  # why Spin did not run (a tool not on PATH)
    states_stored: int = 0
    transitions: int = 0
    depth: int = 0
    errors: int = 0
    complete: bool = False  # the search ended by itself, without errors or a memory stop
    search_seconds: float = 0.0  # the pan run, wall clock
    cpu_seconds: float = 0.0  # the pan run's CPU time
    compile_seconds: float = 0.0  # spin -a and gcc
    memory_mb: float = 0.0  # pan's "total actual memory usage"
    stopped_by: str | None = None  # "memory", "time", "error" or None

    def to_json(self):
        return dict(self.__dict__, orders=list(self.orders), options=list(self.options))


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def missing_tools():
    """The tools Spin's comparison needs that are not on PATH, in words, or None."""
    absent = [tool for tool in ("spin", "gcc") if shutil.which(tool) is None]
    return f"{' and '.join(absent)} not on PATH" if absent else None


def model_text():
    return files(MODEL_PACKAGE).joinpath(*MODEL_PATH).read_text(encoding="utf-8")


def defines(pages, max_order, orders):
    lo, hi = orders
    return [f"-DPAGES={pages}", f"-DMAX_ORDER={max_order}", f"-DLO={lo}", f"-DHI={hi}"]


def booted_header(simulation_output):
    """booted.h from the lines `-DSHOW_BOOT` prints: one #define of an initialiser list per array."""
    found = {}
    for line in simulation_output.splitlines():
        words = line.split()
        if words and words[0] in BOOT_ARRAYS:
            found[words[0]] = words[1:]
    if set(found) != set(BOOT_ARRAYS):
        raise RuntimeError(f"spin -DSHOW_BOOT printed no boot state: {simulation_output.strip()[:300]}")
    return "".join(f"#define {name} {{ {', '.join(found[name])} }}\n" for name in BOOT_ARRAYS)


def parse_pan(text, run):
    """Fill `run` from pan's report (pan prints its counts with %g: 3.4e+07 for a large one)."""
    def number(label, cast=int):
        m = re.search(r"([\d.]+(?:e[+-]?\d+)?)\s*" + label, text)
        return cast(float(m.group(1))) if m else 0

    run.states_stored = number(r"states, stored")
    run.transitions = number(r"transitions \(= stored\+matched\)")
    m = re.search(r"depth reached (\d+)", text)
    run.depth = int(m.group(1)) if m else 0
    m = re.search(r"errors: (\d+)", text)
    run.errors = int(m.group(1)) if m else 0
    run.memory_mb = number(r"total actual memory usage", float)
    if "out of memory" in text or "reached -DMEMLIM bound" in text:
        run.stopped_by = "memory"
    elif run.errors:
        run.stopped_by = "error"
    run.complete = run.stopped_by is None and "Search not completed" not in text and run.states_stored > 0


def run_spin(pages, max_order, orders, hash_compact=False, timeout=None):
    """Spin's breadth-first search of the buddy-core model, without partial-order reduction."""
    options = ("-DBFS", "-DNOREDUCE", f"-DMEMLIM={MEMORY_LIMIT_MB}") + (("-DHC4",) if hash_compact else ())
    run = SpinRun(pages, max_order, tuple(orders), options, missing=missing_tools())
    if run.missing:
        return run
    with tempfile.TemporaryDirectory(prefix="buddycheck-spin-") as folder:
        work = Path(folder)
        (work / "buddy_core.pml").write_text(model_text(), encoding="utf-8")
        d = defines(pages, max_order, orders)

        def step(*cmd):
            done = subprocess.run(cmd, cwd=work, capture_output=True, text=True)  # seconds: the timeout is pan's
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:2])} failed: {(done.stderr or done.stdout).strip()[:500]}")
            return done.stdout

        start = time.perf_counter()
        (work / "booted.h").write_text(booted_header(step("spin", *d, "-DSHOW_BOOT", "buddy_core.pml")))
        step("spin", *d, "-DBOOTED", "-a", "buddy_core.pml")
        step("gcc", "-O2", "-w", *options, "-o", "pan", "pan.c")
        run.compile_seconds = time.perf_counter() - start
        start, cpu = time.perf_counter(), children_cpu()
        try:
            done = subprocess.run(["./pan"], cwd=work, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            run.search_seconds, run.cpu_seconds = time.perf_counter() - start, children_cpu() - cpu
            run.stopped_by = "time"
            return run
        run.search_seconds, run.cpu_seconds = time.perf_counter() - start, children_cpu() - cpu
        parse_pan(done.stdout, run)
    return run
