"""The search on a Dask cluster (checks/cluster.py): the same report as one process, field for field.

A LocalCluster with two worker processes stands for the cluster. Its workers are separate Python
processes started afresh (not forked): what they know of the exploration is what was shipped to
them. Runs are cut small here (MIN_RUN lowered), so every level of a few hundred states is split
into many runs, expanded on both workers and merged in order.
"""

import os
import sys
import textwrap
import types

import pytest

pytest.importorskip("distributed", reason="the cluster extra (dask, distributed) is not installed")

from planted_failures import FAILING  # noqa: E402
from planted_models import PLANTED  # noqa: E402

import buddycheck.checks.cluster as cluster_module  # noqa: E402
from buddycheck.checks.cli import main  # noqa: E402
from buddycheck.checks.cli.common import PROGRESS_INTERVAL_VARIABLE  # noqa: E402
from buddycheck.checks.cluster import ClusterBackend, ClusterUnavailable, close, connect  # noqa: E402
from buddycheck.checks.explore import HANG, Explorer  # noqa: E402
from buddycheck.checks.properties import all_properties  # noqa: E402
from buddycheck.checks.scenarios import buddy_core, scenario  # noqa: E402
from buddycheck.model import Kernel419  # noqa: E402


@pytest.fixture(scope="module")
def client():
    c = connect("local:2")
    yield c
    close(c)


@pytest.fixture(autouse=True)
def small_runs(monkeypatch):
    monkeypatch.setattr(cluster_module, "MIN_RUN", 8)


class CountingBackend(ClusterBackend):
    """The cluster backend, remembering how many runs each level was cut into."""

    def __init__(self, client):
        super().__init__(client)
        self.runs = []

    def expand(self, level, frontier):
        slices = super().expand(level, frontier)
        self.runs.append(len(slices))
        return slices


def outcome(report):
    return (report.reachable_states, report.transitions, report.depth, report.complete, report.stopped_by,
            report.sometimes, report.audited, report.reductions,
            [(v.invariant, v.message, v.trace, v.failure) for v in report.violations])


def run(sc, backend=None, **bounds):
    explorer = Explorer(sc).check(*all_properties())
    if "depth" in bounds:
        explorer.depth(bounds["depth"])
    if "max_states" in bounds:
        explorer.max_states(bounds["max_states"])
    if bounds.get("all_violations"):
        explorer.all_violations()
    if backend is not None:
        explorer.backend(backend)
    return explorer.run()


def symmetric(sc):
    sc.symmetry = True
    return sc


SCENARIOS = {
    "buddy-core 16": (lambda: buddy_core(16, 4, (1, 3)), {}),
    "buddy-core 16 symmetric": (lambda: symmetric(buddy_core(16, 4, (1, 3))), {}),
    "numa2-policy": (lambda: scenario("numa2-policy"), {"depth": 4}),
    "buddy-core 16 cut by max-states": (lambda: buddy_core(16, 4, (1, 3)), {"max_states": 700}),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_report_is_the_one_of_a_local_run(client, name):
    make, bounds = SCENARIOS[name]
    backend = CountingBackend(client)
    here = run(make(), **bounds)
    there = run(make(), backend, **bounds)
    assert outcome(there) == outcome(here)
    assert max(backend.runs) > 2  # some level was cut into more runs than there are workers


@pytest.mark.parametrize("name", ["buddy-plus", "expand-upper", "bind-ignored"])
def test_a_planted_bug_is_found_at_its_exact_length(client, name):
    model, make, invariant, length = PLANTED[name]
    here = run(make().with_model(model), depth=length, all_violations=True)
    there = run(make().with_model(model), ClusterBackend(client), depth=length, all_violations=True)
    assert outcome(there) == outcome(here)
    assert any(v.invariant == invariant and v.length == length for v in there.violations)
    first = run(make().with_model(model), ClusterBackend(client))
    assert first.stopped_by == "violation" and first.violations[0].length == length


def test_a_hang_on_a_worker_is_stopped_by_the_watchdog(client):
    model, make, kind, length, function = FAILING["rmqueue-spins"]
    report = run(make().with_model(model), ClusterBackend(client))
    assert kind == HANG
    assert [(v.invariant, v.length, v.failure.function) for v in report.violations] == [(kind, length, function)]
    assert outcome(report) == outcome(run(make().with_model(model)))


VARIANT = """
    from buddycheck.model import Kernel419

    Plus = Kernel419.variant("plus-from-a-file", "__find_buddy_pfn adds 2^order")


    @Plus.override
    def __find_buddy_pfn(k, page_pfn, order):
        return page_pfn + (1 << order)
"""


def test_a_model_from_a_file_path_is_shipped_to_the_workers(client, tmp_path, capsys):
    path = tmp_path / "my_variant.py"
    path.write_text(textwrap.dedent(VARIANT))
    args = ["explore", "--pages", "8", "--max-order", "3", "--orders", "0-0", "--model", f"{path}:Plus"]
    assert main(args + ["--no-coverage"]) == 1
    here = capsys.readouterr().out
    assert main(args + ["--cluster", client.scheduler.address]) == 1
    there = capsys.readouterr().out
    assert "8 distinct states, 10 transitions, depth 4, stopped at the first violation" in there
    assert "VIOLATION of memory_map" in there  # shrunk from the search's 4 operations to a smaller machine's boot
    assert there.split("VIOLATION")[1:] == here.split("VIOLATION")[1:]
    assert "coverage: not measured on a cluster" in there


def test_a_model_the_workers_cannot_import_is_a_cluster_error_not_a_verdict(client, monkeypatch):
    module = types.ModuleType("only_on_this_machine")  # importable here, nowhere else
    exec("from buddycheck.model import Kernel419\nLocal = Kernel419.variant('local-only')", vars(module))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    module.Local.__qualname__ = "Local"  # found by name here: pickled by reference
    assert issubclass(module.Local, Kernel419)
    with pytest.raises(ClusterUnavailable, match="No module named 'only_on_this_machine'"):
        run(buddy_core(8, 3, (0, 0)).with_model(module.Local), ClusterBackend(client))


def test_the_cli_explores_on_a_cluster(client, capsys):
    assert main(["explore", "--pages", "16", "--no-symmetry", "--cluster", client.scheduler.address]) == 0
    assert "1829 distinct states, 12611 transitions, depth 12, exhausted" in capsys.readouterr().out
    assert main(["explore", "--pages", "16", "--no-coverage"]) == 0  # symmetry as the CLI chooses it
    here = capsys.readouterr().out.splitlines()
    assert main(["explore", "--pages", "16", "--cluster", client.scheduler.address]) == 0
    there = capsys.readouterr().out.splitlines()
    assert there[1] == here[1]  # states, transitions, depth, how it ended
    assert [line for line in there if "symmetry" in line] == [line for line in here if "symmetry" in line]
    assert "  2 worker(s); visited set" in "\n".join(there)


def test_the_cluster_search_gives_the_progress_line_each_level_as_it_completes(client, capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_INTERVAL_VARIABLE, "0")
    assert main(["explore", "--pages", "16", "--no-symmetry", "--cluster", client.scheduler.address]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress ")]
    depths = [int(line.split(",")[0].split()[-1]) for line in lines]
    assert depths == sorted(depths) and set(depths) == set(range(13))  # levels 0..12, each as it is handed out
    assert lines[-1].startswith("progress depth 12, 1829 states, 12611 transitions, ")  # the last run came back


def test_an_unreachable_scheduler_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", 1)
    assert main(["explore", "--pages", "8", "--cluster", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "--cluster tcp://127.0.0.1:9: cannot reach a Dask scheduler there" in err and "Traceback" not in err


def test_without_dask_the_error_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    assert main(["explore", "--pages", "8", "--cluster", "local:1"]) == 2
    assert "pip install 'buddycheck[cluster]'" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--workers", "2"], "--workers N and --cluster ADDRESS exclude each other"),
    (["--coverage", os.devnull], "--coverage FILE is not measured on a cluster"),
    ([], "expected local:N"),
])
def test_what_the_cluster_cannot_do_is_refused_before_connecting(extra, message, capsys):
    address = "local:0" if not extra else "local:1"
    assert main(["explore", "--pages", "8", "--cluster", address] + extra) == 2
    assert message in capsys.readouterr().err
