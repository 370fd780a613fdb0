"""Bad arguments to the machine API and the command line's numbers: refused with a specific error, nothing changed.

restore() of another machine's state or a malformed one (StateMismatch), bools where a CPU, node, task,
order or pfn goes, set_cpuset with None, a huge order, --max-states 1, prove --timeout nan/inf, kmem traces
with negative fields or events the model cannot be asked.
"""

import json

import pytest
from fuzz_inputs import COUNTEREXAMPLE, PLANTED_MODEL

from buddycheck.checks.cli import main
from buddycheck.checks.explore import Explorer
from buddycheck.checks.kmem_trace import TraceFormatError, parse_kmem_trace, replay_kmem
from buddycheck.checks.portfolio import properties_for
from buddycheck.checks.scenarios import scenario
from buddycheck.model.errors import InvalidOperation, ModelError, StateMismatch
from buddycheck.model.frozen import FrozenMachine
from buddycheck.model.gfp import __GFP_NOWARN, GFP_KERNEL
from buddycheck.model.machine import Kernel419
from buddycheck.model.mempolicy import ENOSPC, MPOL_BIND
from buddycheck.model.presets import preset


def numa2():
    return Kernel419(preset("numa2"))


def core(pages=16, max_order=4):
    return Kernel419(preset("buddy-core", pages=pages, max_order=max_order))


def used(m):
    """m after a few operations, so that a restore has something to undo."""
    m.alloc(GFP_KERNEL, 1)
    m.alloc(GFP_KERNEL, 0)
    return m


# ---- restore() refuses a state this machine cannot hold --------------------------------------------------------

@pytest.mark.parametrize("other, words", [
    (lambda: core(pages=32), "node 0 zone Normal.free_lists[0][0]: pfn 27 is in none of this machine's zones"),
    (lambda: core(max_order=3), "node 0 zone Normal.free_lists has 3 orders, this machine has 4"),
    (lambda: numa2(), "zones has 4 populated zones, this machine has 1"),
])
def test_restore_of_another_machines_state_is_refused_and_changes_nothing(other, words):
    m = used(core())
    before = m.freeze()
    foreign = used(other()).freeze()
    with pytest.raises(StateMismatch) as e:
        m.restore(foreign)
    assert words in str(e.value)
    assert m.freeze() == before


def _malformed(state):
    zone = state.zones[0]
    return {
        "not a FrozenMachine": tuple(state),
        "a field of the wrong type": state._replace(cpusets_on=1),
        "a pageblock too many": state._replace(pageblock_flags=state.pageblock_flags + (1,)),
        "a migratetype out of range": state._replace(pageblock_flags=(99,) + state.pageblock_flags[1:]),
        "a string pfn": state._replace(page_buddy=(("0", 3),) + state.page_buddy[1:]),
        "an order past MAX_ORDER": state._replace(page_buddy=((0, 9),)),
        "a CPU missing": state._replace(zones=(zone._replace(pcp=()),)),
        "a bool counter": state._replace(zones=(zone._replace(nr_free_pages=True),)),
        "task 0 missing": state._replace(tasks=()),
        "a node this machine lacks": state._replace(tasks=(state.tasks[0]._replace(mems_allowed=(5,)),)),
        "a task that is a dict": state._replace(tasks=({"tid": 0},)),
    }


@pytest.mark.parametrize("what", list(_malformed(core().freeze())))
def test_restore_of_a_malformed_state_is_refused_and_changes_nothing(what):
    m = used(core())
    before = m.freeze()
    with pytest.raises(StateMismatch, match="the machine is unchanged"):
        m.restore(_malformed(before)[what])
    assert m.freeze() == before


def test_restore_still_takes_its_own_states_and_copies():
    m = used(numa2())
    state = m.freeze()
    fresh = numa2()
    fresh.restore(state)
    assert fresh.freeze() == state and isinstance(state, FrozenMachine)
    assert m.copy().freeze() == state


def test_state_mismatch_is_a_model_error_so_the_command_line_reports_it_as_bad_input():
    assert issubclass(StateMismatch, ModelError)


# ---- bools are not numbers of CPUs, nodes, tasks, orders or pfns ------------------------------------------------

@pytest.mark.parametrize("call, words", [
    (lambda m: m.alloc(GFP_KERNEL, cpu=True), "cpu True"),
    (lambda m: m.alloc(GFP_KERNEL, True), "order True"),
    (lambda m: m.alloc(GFP_KERNEL, nid=True), "node True"),
    (lambda m: m.alloc(GFP_KERNEL, nodemask={True}), "node True"),
    (lambda m: m.alloc_pages_node(True, GFP_KERNEL), "node True"),
    (lambda m: m.alloc_pages(GFP_KERNEL, cpu=True), "cpu True"),
    (lambda m: m.alloc_pages(GFP_KERNEL, task=False), "task False"),
    (lambda m: m.drain(cpu=True), "cpu True"),
    (lambda m: m.free(True), "pfn True"),
    (lambda m: m.isolate(0, True), "end_pfn True"),
    (lambda m: m.set_mempolicy(MPOL_BIND, {True}), "True"),
    (lambda m: m.set_cpuset(0, {False}), "False"),
    (lambda m: m.set_cpuset(True, {0}), "task True"),
    (lambda m: m.add_task(True), "task id True"),
    (lambda m: m.add_task(2, mems_allowed={True}), "mems_allowed"),
    (lambda m: m.mmap(True, 0x1000), "mmap(True"),
    (lambda m: m.zone(True, 1), "node True"),
    (lambda m: m.zone(0, 1.0), "zone index 1.0"),
])
def test_a_bool_is_refused_where_a_number_goes_and_nothing_changes(call, words):
    m = numa2()
    m.add_task(1)  # task 1 exists, so True would otherwise be taken for it
    before = m.freeze()
    with pytest.raises(InvalidOperation) as e:
        call(m)
    assert words in str(e.value)
    assert m.freeze() == before


def test_set_cpuset_with_none_is_the_empty_write_its_docstring_describes():
    m = numa2()
    before = m.freeze()
    assert m.set_cpuset(0, None).ret == -ENOSPC  # a cpuset holding a task cannot lose all its mems
    assert m.set_cpuset(0, set()).ret == -ENOSPC
    assert m.freeze() == before


# ---- a huge order fails as MAX_ORDER does, without computing 1 << order ---------------------------------------

@pytest.mark.parametrize("order", [4, 64, 10**12, 2**200])
def test_an_order_past_max_order_fails_with_the_slow_paths_warning(order):
    m = core()
    before = m.freeze()
    r = m.alloc(GFP_KERNEL, order)
    assert (r.page, r.reason) == (None, "order >= MAX_ORDER")
    assert [e.kind for e in r.events] == ["warning"]
    assert m.alloc(GFP_KERNEL | __GFP_NOWARN, order).events == ()
    assert m.freeze() == before


# ---- --max-states is exact ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bound", [1, 2, 5])
def test_max_states_counts_exactly_that_many_states(bound):
    sc = scenario("buddy-core")
    report = Explorer(sc).check(*properties_for(sc)).max_states(bound).workers(1).run()
    assert report.reachable_states == bound
    assert report.stopped_by == "max_states" and not report.complete


def test_max_states_1_on_the_command_line_reports_one_state_and_exit_3(capsys):
    assert main(["explore", "--preset", "buddy-core", "--max-states", "1", "--workers", "1", "--no-coverage"]) == 3
    out = capsys.readouterr().out
    assert "1 distinct states, 0 transitions" in out


# ---- prove --timeout takes a finite number of seconds above 0 --------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e400", "0", "-1", "x"])
def test_prove_timeout_that_is_not_a_finite_positive_number_exits_2(capsys, value):
    assert main(["prove", "--timeout", value]) == 2
    err = capsys.readouterr().err
    assert "--timeout" in err and "Traceback" not in err


def test_an_empty_preset_name_is_refused_not_taken_for_the_default(capsys):
    assert main(["explore", "--preset", "", "--depth", "1"]) == 2
    assert "--preset '': an empty value" in capsys.readouterr().err


# ---- kmem traces: every error names the file and the line ----------------------------------------------------------

LINE = "  a-1 [000] 1.0: {event}: {fields}\n"


@pytest.mark.parametrize("event, fields, words", [
    ("mm_page_free", "page=0 pfn=-1 order=0", "pfn=-1 is negative"),
    ("mm_page_free", "page=0 pfn=7 order=-1", "order=-1 is negative"),
    ("mm_page_alloc_zone_locked", "page=0 pfn=7 order=-4096 migratetype=0", "order=-4096 is negative"),
    ("mm_page_alloc", "page=1 pfn=7 order=0 migratetype=-1 gfp_flags=GFP_KERNEL", "migratetype=-1 is negative"),
])
def test_a_negative_field_makes_the_line_unreadable(event, fields, words):
    with pytest.raises(TraceFormatError, match=f"t.txt:2: {words}"):
        parse_kmem_trace("# tracer: nop\n" + LINE.format(event=event, fields=fields), "t.txt")


def test_an_allocation_the_model_refuses_to_be_asked_names_file_and_line():
    # __GFP_DMA with __GFP_DMA32 is no zone at all (GFP_ZONE_BAD)
    text = "# x\n" + LINE.format(event="mm_page_alloc",
                                 fields="page=1 pfn=1048616 order=0 migratetype=0 gfp_flags=__GFP_DMA|__GFP_DMA32")
    events = parse_kmem_trace(text, "t.txt")
    m = scenario("numa2-kernel").initial()
    with pytest.raises(TraceFormatError, match="t.txt:2: gfp_zone: invalid zone modifier"):
        replay_kmem(m, events, 0x100000, path="t.txt")


def test_a_cpu_the_model_lacks_names_file_and_line():
    events = parse_kmem_trace("  a-1 [007] 1.0: mm_page_free: page=0 pfn=7 order=0\n", "t.txt")
    with pytest.raises(TraceFormatError, match="t.txt:1: recorded on CPU 7"):
        replay_kmem(scenario("numa2-kernel").initial(), events, path="t.txt")


def test_cli_names_file_and_line_for_a_negative_order(tmp_path, capsys):
    trace = tmp_path / "neg.txt"
    trace.write_text(LINE.format(event="mm_page_free", fields="page=0 pfn=1048616 order=-1"))
    assert main(["trace", str(trace), "--preset", "numa2-kernel", "--pfn-offset", "1048576"]) == 2
    err = capsys.readouterr().err
    assert f"{trace}:1: order=-1 is negative" in err and "Traceback" not in err


# ---- exported counterexamples: a number no operation takes is bad input, not a trace that "no longer fits" -----

@pytest.mark.parametrize("path, value, words", [
    (("ops", 0, "cpu"), -1, "ops[0].cpu = -1: expected a non-negative integer"),
    (("ops", 0, "order"), -2, "ops[0].order = -2: expected a non-negative integer"),
    (("ops", 1, "pfn"), -1, "ops[1].pfn = -1: expected a non-negative integer"),
    (("ops", 0, "gfp"), -1, "ops[0].gfp = -1: expected a gfp mask"),
    (("params", "pages"), True, "pages = True: expected a whole number"),
])
def test_a_counterexample_with_a_negative_or_bool_number_exits_2_naming_it(tmp_path, capsys, path, value, words):
    doc = json.loads(json.dumps(COUNTEREXAMPLE))
    doc["model_ref"] = PLANTED_MODEL
    where = doc
    for step in path[:-1]:
        where = where[step]
    where[path[-1]] = value
    f = tmp_path / "cx.json"
    f.write_text(json.dumps(doc))
    assert main(["replay", str(f)]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and words in err


def test_the_unmutated_counterexample_replays_its_violation(tmp_path, capsys):
    f = tmp_path / "cx.json"
    f.write_text(json.dumps({**COUNTEREXAMPLE, "model_ref": PLANTED_MODEL}))
    assert main(["replay", str(f)]) == 1
    assert "VIOLATION of maximal_coalescing at step 2" in capsys.readouterr().out


def test_restore_takes_what_a_faulty_model_froze():
    """The check refuses foreign and malformed states, not unreachable ones: a faulty model's state (a page on
    another zone's list, a count below 0) is the invariants' to judge, so it restores as it was frozen."""
    from buddycheck.checks.mutants import MUTANTS
    mutant = MUTANTS["zone-xmerge"]  # boots with a block of DMA and Normal merged onto one zone's list
    topology = mutant.scenario().topology
    frozen = mutant.model(topology).freeze()
    again = mutant.model(topology)
    again.restore(frozen)
    assert again.freeze() == frozen
    m = core()
    zone = m.freeze().zones[0]
    negative = m.freeze()._replace(zones=(zone._replace(nr_free=(-1,) + zone.nr_free[1:]),))
    m.restore(negative)
    assert m.freeze().zones[0].nr_free[0] == -1
