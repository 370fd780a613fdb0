"""Counterexample traces (checks/replay.py, naming.py, trace_json.py, printing.py): replay, printing, JSON,
the pinned pytest file.

The planted bug here: NR_FREE_PAGES is never decremented (rmqueue's __mod_zone_freepage_state with a
negative count does nothing), so after any allocation the counter exceeds the pages on the free lists.
"""

import contextlib
import io
import json
import os
import runpy

import pytest

from buddycheck.checks.explore import Violation
from buddycheck.checks.naming import object_reference, resolve_reference
from buddycheck.checks.ops import Alloc, Drain, Free, Isolate, UndoIsolate
from buddycheck.checks.printing import emit_pytest, format_program, pytest_source, write_atomic
from buddycheck.checks.render import machine_picture
from buddycheck.checks.replay import replay
from buddycheck.checks.scenario import Scenario
from buddycheck.checks.trace_error import TraceError
from buddycheck.checks.trace_json import op_from_dict, op_to_dict, trace_from_json, trace_to_json
from buddycheck.model import Environment, Kernel419, preset
from buddycheck.model import gfp as G

Leaky = Kernel419.variant("nr-free-not-decremented", "NR_FREE_PAGES only ever grows")


@Leaky.override
def __mod_zone_freepage_state(k, zone, nr_pages, migratetype):
    """__mod_zone_freepage_state() that forgets every decrement."""
    if nr_pages > 0:
        Kernel419.__mod_zone_freepage_state(k, zone, nr_pages, migratetype)


class NrFreeMatches:
    """NR_FREE_PAGES counts exactly the pages on the zone's free lists (per-cpu pages are not free pages)."""

    name = "NR_FREE_PAGES equals the pages on the free lists"

    def violations(self, before, op, result, m, after=None):
        out = []
        for zone in m.zones():
            listed = sum(1 << order for _, order, _ in m.free_blocks(zone))
            if zone.nr_free_pages != listed:
                out.append(f"{zone.label()}: NR_FREE_PAGES {zone.nr_free_pages} but the free lists hold {listed} pages")
        return out


NR_FREE = NrFreeMatches()
K1 = Alloc(G.GFP_KERNEL, 1)
K2 = Alloc(G.GFP_KERNEL, 2)


def buddy_core(model=Leaky, pages=8, orders=(1, 2), **kw):
    return Scenario("buddy-core", preset("buddy-core", pages=pages, max_order=4),
                    allocs=tuple(Alloc(G.GFP_KERNEL, o) for o in orders), model=model,
                    params={"preset": "buddy-core", "pages": pages, "max_order": 4, "orders": list(orders)}, **kw)


# ---- replay ------------------------------------------------------------------------------------------


def test_replay_reports_each_step_and_the_first_violation():
    sc = buddy_core()
    r = replay(sc, (K1, Free(0)), [NR_FREE])
    # 8 pages boot as one order-3 block at pfn 0; the order-1 request splits it: 0-1 allocated, 2 (o1) and
    # 4 (o2) free = 6 listed pages, while the leaky counter stays at 8. The free puts 2 pages back: 10 vs 8.
    assert [str(s.result) for s in r.steps] == ["alloc order 1 GFP_KERNEL -> pfn 0 (node 0 Normal)",
                                                "free pfn 0 order 1"]
    zone = "node 0 zone Normal"
    assert r.steps[0].violations == ((NR_FREE.name, f"{zone}: NR_FREE_PAGES 8 but the free lists hold 6 pages"),)
    assert r.steps[1].violations == ((NR_FREE.name, f"{zone}: NR_FREE_PAGES 10 but the free lists hold 8 pages"),)
    assert r.first_violation == Violation(NR_FREE.name, r.steps[0].violations[0][1], (K1,))
    assert r.disabled is None and not r.ok
    m = sc.initial()
    m.restore(r.steps[1].state)
    assert dict(m.page_buddy) == {0: 3}  # everything merged back into the order-3 block
    assert replay(sc, (K1, Free(0)), [NR_FREE], stop_at_first=True).steps[-1].index == 0


def test_replay_on_the_correct_model_finds_nothing():
    r = replay(buddy_core(Kernel419), (K1, K2, Free(0)), [NR_FREE])
    assert r.ok and r.first_violation is None and len(r.steps) == 3


def test_replay_names_the_step_that_is_not_enabled_and_why():
    sc = buddy_core()
    r = replay(sc, (K1, Free(4)), [NR_FREE])
    # after the split, pfn 4 heads the free order-2 block: freeing it is a double free
    assert len(r.steps) == 1 and r.disabled.index == 1 and r.disabled.op == Free(4)
    assert "already free" in r.disabled.reason
    assert str(r.disabled).startswith("step 2 (m.free(4, cpu=0)) is not enabled: free of pfn 4")
    assert r.first_violation is not None  # step 1 still ran and was checked


def test_replay_strict_rejects_operations_outside_the_alphabet():
    sc = buddy_core(orders=(1,))
    r = replay(sc, (K2,))
    assert r.disabled.index == 0 and "does not offer" in r.disabled.reason
    assert replay(sc, (K2,), strict=False).disabled is None


# ---- the program ---------------------------------------------------------------------------------------


def run_program(text, raises=None):
    """(globals, printed output) of the program; `raises`: the message its last statement must raise with."""
    out = io.StringIO()
    namespace = {"__name__": "counterexample"}
    with contextlib.redirect_stdout(out):
        if raises is None:
            exec(compile(text, "<counterexample>", "exec"), namespace)
        else:
            with pytest.raises(AssertionError) as e:
                exec(compile(text, "<counterexample>", "exec"), namespace)
            assert str(e.value) == raises
    return namespace, out.getvalue()


def test_program_text_and_replay():
    sc = buddy_core()
    text = format_program(sc, (K1,), [NR_FREE])
    lines = text.splitlines()
    assert lines[0] == ('"""Counterexample: NR_FREE_PAGES equals the pages on the free lists fails after '
                        '1 operation(s) on model nr-free-not-decremented (scenario buddy-core).')
    assert "m = Leaky(preset('buddy-core', pages=8, max_order=4))" in lines
    assert any(line.startswith("_spec = importlib.util.spec_from_file_location(") and "test_trace.py" in line
               for line in lines)
    i = lines.index("m.alloc(G.GFP_KERNEL, 1, cpu=0)")
    assert lines[i + 1] == "# step 1 -> alloc order 1 GFP_KERNEL -> pfn 0 (node 0 Normal)"
    # the block map after the split: 0-1 allocated, 2-3 free (order 1), 4-7 free (order 2)
    assert lines[i + 2].startswith("#   node 0 Normal") and "[AA|..|....]" in lines[i + 2]
    # the free lists the split left, head first: the order-1 buddy 2-3 and the order-2 buddy 4-7
    assert lines[i + 3] == "#   node 0 Normal  free lists: o1/Unmovable 2; o2/Unmovable 4"
    assert lines[i + 4] == f"#   ! {NR_FREE.name}: node 0 zone Normal: NR_FREE_PAGES 8 but the free lists hold 6 pages"
    # the initial state: the zone's four lines, its map first
    assert lines[i - 4].startswith("#   node 0 Normal") and "[........]" in lines[i - 4]
    assert lines[i - 1] == "#   node 0 Normal  pcp lists: empty"
    assert f"# violated: {NR_FREE.name}" in lines

    message = f"{NR_FREE.name}: node 0 zone Normal: NR_FREE_PAGES 8 but the free lists hold 6 pages"
    assert lines[-1] == f"raise AssertionError({message!r})"
    namespace, printed = run_program(text, raises=message)
    expected = replay(sc, (K1,))
    assert namespace["m"].freeze() == expected.steps[-1].state
    m = sc.initial()
    m.restore(expected.steps[-1].state)
    assert printed == machine_picture(m) + "\n"


def test_program_for_a_custom_topology_with_environment_answers():
    # numa2's machine, but the scenario does not say so: the topology prints as Topology(...) code
    fail = Environment(fail_alloc=True)
    ops = (Alloc(G.GFP_ATOMIC, 1, cpu=1, env=fail), Alloc(G.GFP_KERNEL, 0, cpu=1), Drain())
    sc = Scenario("two nodes", preset("numa2"), allocs=ops[:2], drains=(Drain(),))
    text = format_program(sc, ops)
    assert "from buddycheck.model import Kernel419" in text
    assert "m = Kernel419(Topology(" in text
    assert "m.env = Environment(fail_alloc=True); m.alloc(G.GFP_ATOMIC, 1, cpu=1); m.env = IDLE" in text
    # GFP_ATOMIC cannot sleep, so fault injection applies: the first allocation fails
    assert "# step 1 -> alloc order 1 GFP_ATOMIC -> NULL" in text
    assert "# no property was violated by this trace" in text
    namespace, _ = run_program(text)
    assert namespace["m"].freeze() == replay(sc, ops).steps[-1].state


def test_program_of_a_trace_that_does_not_run_is_an_error():
    with pytest.raises(TraceError, match=r"step 1 \(m.free\(0, cpu=0\)\) is not enabled"):
        format_program(buddy_core(), (Free(0),))


REGISTRY = {"leaky": Leaky}
PROPERTIES = (NrFreeMatches(),)


def test_registry_entries_are_references_too(tmp_path):
    # an object held only in a registry of its class's module is named by its entry
    assert object_reference(PROPERTIES[0]).endswith("test_trace.py:PROPERTIES[0]")
    ref = object_reference(REGISTRY["leaky"], "buddycheck.model:Kernel419.variant('x')")
    assert resolve_reference(ref).NAME == "x"
    assert resolve_reference("buddycheck.model:PRESETS['numa2']") is preset.__globals__["PRESETS"]["numa2"]
    with pytest.raises(TraceError, match="KeyError"):
        resolve_reference("buddycheck.model:PRESETS['nope']")
    # a property given as a registry entry and a model given as an expression still make a working test
    sc = buddy_core()
    v = Violation(NR_FREE.name, "", (K1,))
    path = emit_pytest(tmp_path / "test_registry.py", sc, v, [PROPERTIES[0]],
                       model_ref=object_reference(Leaky).replace(":Leaky", ":REGISTRY['leaky']"))
    text = path.read_text()
    assert "Model = _loaded0.REGISTRY['leaky']" in text and "PROPERTY = _loaded0.PROPERTIES[0]" in text
    with pytest.raises(AssertionError, match="violated at step 1: node 0 zone Normal: NR_FREE_PAGES 8"):
        runpy.run_path(str(path))["test_nr_free_pages_equals_the_pages_on_the_free_lists"]()


def test_object_references():
    assert object_reference(Kernel419) == "buddycheck.model:Kernel419"
    ref = object_reference(Leaky)
    assert os.path.isabs(ref) and ref.endswith("test_trace.py:Leaky")
    assert object_reference(NR_FREE).endswith("test_trace.py:NR_FREE")
    assert resolve_reference("buddycheck.model:Kernel419") is Kernel419
    assert resolve_reference(ref).NAME == "nr-free-not-decremented"
    nowhere = Kernel419.variant("bound-to-no-global")
    with pytest.raises(TraceError, match="cannot name 'bound_to_no_global'"):
        object_reference(nowhere)
    with pytest.raises(TraceError, match="expected 'module:NAME'"):
        object_reference(nowhere, "no-colon-here")
    with pytest.raises(TraceError, match="expected 'module:NAME'"):
        object_reference(nowhere, "buddycheck.model:1 + 2")
    with pytest.raises(TraceError, match="no such file"):
        resolve_reference("/nonexistent/file.py:X")


# ---- JSON ------------------------------------------------------------------------------------------------

EVERY_KIND = (
    Alloc(G.GFP_KERNEL | G.__GFP_THISNODE, 2, cpu=1, nid=0, env=Environment(fail_alloc=True, reclaim_progress=3)),
    Free(8, cpu=1), Drain(), Drain(1), Isolate(0, 4), UndoIsolate(0, 4),
)


def test_every_kind_of_operation_round_trips():
    for op in EVERY_KIND:
        assert op_from_dict(json.loads(json.dumps(op_to_dict(op)))) == op
    assert op_to_dict(EVERY_KIND[0]) == {"kind": "alloc", "gfp": "GFP_KERNEL|__GFP_THISNODE", "order": 2, "cpu": 1,
                                         "nid": 0, "env": {"fail_alloc": True, "reclaim_progress": 3}}
    assert op_to_dict(Drain()) == {"kind": "drain", "cpu": None}
    assert op_from_dict({"kind": "alloc", "gfp": int(G.GFP_KERNEL), "order": 1}) == K1  # defaults fill in


def test_operations_print_as_expressions_that_build_them():
    from buddycheck.checks.naming import op_expr

    names = {"Alloc": Alloc, "Free": Free, "Drain": Drain, "Isolate": Isolate, "UndoIsolate": UndoIsolate,
             "G": G, "Environment": Environment}
    for op in EVERY_KIND:
        assert eval(op_expr(op), names) == op
    assert [op_expr(op) for op in (K1, Free(0), Drain(), EVERY_KIND[3], EVERY_KIND[4])] == [
        "Alloc(G.GFP_KERNEL, 1)", "Free(0)", "Drain()", "Drain(cpu=1)", "Isolate(0, 4)"]


def test_document_round_trip():
    sc = buddy_core()
    v = replay(sc, (K1, Free(0)), [NR_FREE]).violation_of(NR_FREE.name)
    v = Violation(v.invariant, v.message, (K1, Free(0)))
    text = trace_to_json(sc, v)
    doc = json.loads(text)
    assert doc["scenario"] == "buddy-core" and doc["model"] == "nr-free-not-decremented"
    assert doc["params"] == {"preset": "buddy-core", "pages": 8, "max_order": 4, "orders": [1, 2]}
    assert doc["machine"] == "preset('buddy-core', pages=8, max_order=4)"
    assert doc["model_ref"].endswith("test_trace.py:Leaky")
    assert doc["length"] == 2 and [o["kind"] for o in doc["ops"]] == ["alloc", "free"]
    back = trace_from_json(text)
    assert back.ops == (K1, Free(0)) and back.length == 2
    assert back.violation() == v
    assert (back.scenario, back.params, back.model) == ("buddy-core", sc.params, "nr-free-not-decremented")
    assert replay(sc, back.ops, [NR_FREE]).first_violation.message == v.message


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"ops": []}', "missing key 'invariant'"),
    ('{"invariant": "x", "ops": {}}', "'ops' = {}: expected a list"),
    ('{"invariant": "x", "ops": [{"kind": "steal", "order": 1}]}', "ops[0]: unknown operation kind 'steal'"),
    ('{"invariant": "x", "ops": [{"order": 1}]}', "ops[0]: unknown operation kind None"),
    ('{"invariant": "x", "ops": [{"kind": "alloc", "gfp": "GFP_KERNEL"}]}', "ops[0]: 'alloc' needs the field 'order'"),
    ('{"invariant": "x", "ops": [{"kind": "free", "pfn": true}]}', "ops[0].pfn = True: expected an integer"),
    ('{"invariant": "x", "ops": [{"kind": "free", "pfn": 1, "size": 2}]}', "unknown field(s) 'size' for 'free'"),
    ('{"invariant": "x", "ops": [{"kind": "alloc", "gfp": "GFP_NOPE", "order": 0}]}', "unknown gfp flag 'GFP_NOPE'"),
    ('{"invariant": "x", "ops": [{"kind": "alloc", "gfp": 0, "order": 0, "env": {"luck": 1}}]}',
     "unknown Environment field 'luck'"),
    ('{"invariant": "x", "ops": [{"kind": "drain"}], "length": 2}', "'length' is 2 but there are 1 ops"),
    ('{"format": "other", "invariant": "x", "ops": []}', "format 'other' is not"),
])
def test_bad_documents_name_the_problem(text, problem):
    with pytest.raises(TraceError) as e:
        trace_from_json(text)
    assert problem in str(e.value)


# ---- the pinned test file ----------------------------------------------------------------------------


def test_emitted_test_pins_the_counterexample(tmp_path):
    sc = buddy_core()
    v = Violation(NR_FREE.name, "node 0 zone Normal: NR_FREE_PAGES 8 but the free lists hold 6 pages", (K1,))
    path = emit_pytest(tmp_path / "test_pinned.py", sc, v, [NR_FREE])
    text = path.read_text()
    assert "it FAILS while the bug is present" in text
    assert "    # step 1 -> alloc order 1 GFP_KERNEL -> pfn 0 (node 0 Normal)\n    Alloc(G.GFP_KERNEL, 1),\n" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_pinned.py"]  # no temporary file left
    test = runpy.run_path(str(path))["test_nr_free_pages_equals_the_pages_on_the_free_lists"]
    with pytest.raises(AssertionError, match=f"{NR_FREE.name} violated at step 1: node 0 zone Normal: NR_FREE_PAGES 8 "
                       "but the free lists hold 6 pages"):
        test()  # the bug is there: the test fails with the invariant's message

    fixed = tmp_path / "test_fixed.py"
    write_atomic(fixed, pytest_source(sc.with_model(Kernel419), v, [NR_FREE]))
    runpy.run_path(str(fixed))["test_nr_free_pages_equals_the_pages_on_the_free_lists"]()  # fixed: it passes


def test_emit_writes_nothing_when_it_cannot_build_the_test(tmp_path):
    target = tmp_path / "test_pinned.py"
    target.write_text("# the old file\n")
    v = Violation("some other invariant", "", (K1,))
    with pytest.raises(TraceError, match="no property named 'some other invariant'"):
        emit_pytest(target, buddy_core(), v, [NR_FREE])
    assert target.read_text() == "# the old file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_pinned.py"]


def test_write_atomic_removes_its_temporary_file_on_failure(tmp_path, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(TraceError, match="cannot write .*out.py: disk full"):
        write_atomic(tmp_path / "out.py", "x = 1\n")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(TraceError, match="cannot write .*missing/out.py"):
        write_atomic(tmp_path / "missing" / "out.py", "x = 1\n")


def test_written_files_get_the_usual_permissions(tmp_path):
    """An atomically written file is readable as one open() makes, not private like a temporary file."""
    import os

    from buddycheck.checks.printing import write_atomic

    mask = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "t.py", "x = 1\n")
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644
