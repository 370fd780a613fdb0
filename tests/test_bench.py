"""Benchmarks (pytest-benchmark): allocation and free throughput on each preset.

Run with `python -m pytest -q tests/test_bench.py --benchmark-enable`; by default each body runs
once as a plain test.
"""

import pytest

from buddycheck.checks.bench import CYCLE, alloc_free_round
from buddycheck.model import Kernel419, preset
from buddycheck.model import gfp as G
from buddycheck.spec.view import static_view, view_from_frozen, view_of


@pytest.mark.parametrize("name, params", [
    ("buddy-core", {"pages": 64, "max_order": 4}),
    ("numa2", {}),
    ("x86-64-1g", {}),
])
def test_alloc_free_throughput(benchmark, name, params):
    m = Kernel419(preset(name, **params))
    cpus = m.topology.cpus
    n = benchmark(alloc_free_round, m)
    assert n == len(CYCLE) * len(cpus)  # every request fits on these machines
    assert not m.allocated


def test_freeze_restore(benchmark):
    m = Kernel419(preset("numa2"))
    alloc_free_round(m)
    m.alloc(G.GFP_KERNEL, 1)
    frozen = m.freeze()
    benchmark(m.restore, frozen)
    assert m.freeze() == frozen


def test_view_from_frozen(benchmark):
    m = Kernel419(preset("numa2"))
    alloc_free_round(m)
    m.alloc(G.GFP_KERNEL, 1)
    static, frozen = static_view(m), m.freeze()
    view = benchmark(view_from_frozen, static, frozen)
    assert view == view_of(m)
