"""Benchmarks (pytest-benchmark): allocation and free throughput on each preset.

Run with `python -m pytest -q tests/test_bench.py --benchmark-enable`; by default each body runs
once as a plain test.
"""

import pytest

from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G

CYCLE = [(G.GFP_KERNEL, 0), (G.GFP_HIGHUSER_MOVABLE, 1), (G.GFP_KERNEL, 2), (G.GFP_ATOMIC, 0),
         (G.GFP_HIGHUSER_MOVABLE, 0), (G.__GFP_RECLAIMABLE | G.GFP_KERNEL, 1)]


def alloc_free_round(m, cpus):
    """Allocate a mixed batch on every CPU, then free it all: len(CYCLE) * len(cpus) alloc+free pairs."""
    pages = []
    for cpu in cpus:
        for gfp, order in CYCLE:
            r = m.alloc(gfp, order, cpu=cpu)
            if r.page is not None:
                pages.append(r.page)
    for p in pages:
        m.free(p)
    return len(pages)


@pytest.mark.parametrize("name, params", [
    ("buddy-core", {"pages": 64, "max_order": 4}),
    ("numa2", {}),
    ("x86-64-1g", {}),
])
def test_alloc_free_throughput(benchmark, name, params):
    m = Kernel419(preset(name, **params))
    cpus = m.topology.cpus
    n = benchmark(alloc_free_round, m, cpus)
    assert n == len(CYCLE) * len(cpus)  # every request fits on these machines
    assert not m.allocated


def test_freeze_restore(benchmark):
    m = Kernel419(preset("numa2"))
    alloc_free_round(m, m.topology.cpus)
    m.alloc(G.GFP_KERNEL, 1)
    frozen = m.freeze()
    benchmark(m.restore, frozen)
    assert m.freeze() == frozen
