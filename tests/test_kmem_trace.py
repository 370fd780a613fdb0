"""Replaying recorded kmem traces (checks/kmem_trace.py, `buddycheck trace`) on the traces in tests/kmem_traces/.

The traces are written in the format 4.19 prints: follows.txt (the ftrace buffer) is what numa2's
machine does laid at pfn 0x100000, diverges.txt (trace-cmd report) allocates its second block elsewhere,
malformed.txt is cut short in the middle of a line. For each internal event a pair: refill-*.txt
(trace-cmd report; the second per-cpu refill recorded with a third page), drain-*.txt (the ftrace
buffer; a free spills a batch while CPU 1 allocates, the diverging one drains the batch in the other
order), extfrag-*.txt (two steals; the diverging one does not claim the second pageblock).

The planted bugs: the per-cpu list hands out its tail instead of its head, so the first order-0
allocation after a batch refill gets the second page of the batch; a free spills a batch only once
the list is over its high mark, which only the mm_page_pcpu_drain events show.
"""

from pathlib import Path

import pytest

from buddycheck.checks.cli import main
from buddycheck.checks.kmem_trace import (
    ALLOC,
    FREE,
    TraceFormatError,
    check_pfn_offset,
    parse_event_selection,
    parse_kmem_trace,
    replay_kmem,
)
from buddycheck.checks.scenarios import scenario
from buddycheck.model import Kernel419
from buddycheck.model import gfp as G
from buddycheck.model.constants import MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_PCPTYPES
from buddycheck.model.errors import ModelError

TRACES = Path(__file__).parent / "kmem_traces"
OFFSET = 0x100000  # where the recorded machine's pfns of numa2's memory begin
ALLOC_FREE = frozenset({ALLOC, FREE})  # the events compared without the internal ones


def events_of(name):
    return parse_kmem_trace((TRACES / name).read_text(), name)


def numa2(model=Kernel419):
    return scenario("numa2-kernel").with_model(model).initial()


PcpTail = Kernel419.variant("pcp-takes-tail", "the per-cpu list hands out its last page")


@PcpTail.override
def __rmqueue_pcplist(k, zone, migratetype, pcp, lst):
    """__rmqueue_pcplist() that pops the tail of the list."""
    if not lst:
        pcp.count += k.rmqueue_bulk(zone, 0, pcp.batch, lst, migratetype)
        if not lst:
            return None
    pcp.count -= 1
    return lst.pop()


SpillLate = Kernel419.variant("pcp-spills-late", "a free spills a batch only once the list is over high")


@SpillLate.override
def free_unref_page_commit(k, page, pfn):
    """free_unref_page_commit() comparing the count with high by '>' where 4.19 has '>='."""
    zone = k.page_zone(page)
    migratetype = k.get_pcppage_migratetype(page)
    k.stats.pgfree += 1
    if migratetype >= MIGRATE_PCPTYPES:
        if migratetype == MIGRATE_ISOLATE:
            k.free_one_page(zone, page, pfn, 0, migratetype)
            return
        migratetype = MIGRATE_MOVABLE
    pcp = zone.pageset[k.current.cpu]
    pcp.lists[migratetype].insert(0, page)
    pcp.count += 1
    if pcp.count > pcp.high:
        k.free_pcppages_bulk(zone, pcp.batch, pcp)


FreeBypass = Kernel419.variant("free-bypasses-pcp", "order-0 frees go straight to buddy")


@FreeBypass.override
def __free_pages(k, page, order):
    """__free_pages() without the per-cpu lists: every order goes through __free_pages_ok."""
    k.__free_pages_ok(page, order)


def test_parse_reads_the_kmem_events_and_skips_headers_and_other_events():
    events = events_of("follows.txt")
    assert [e.event for e in events].count("mm_page_alloc") == 6
    assert [e.event for e in events].count("mm_page_free") == 3
    assert [e.event for e in events].count("mm_page_alloc_zone_locked") == 6
    assert [e.event for e in events].count("mm_page_alloc_extfrag") == 2
    assert "kmalloc" not in {e.event for e in events}
    second = [e for e in events if e.event == "mm_page_alloc"][1]
    assert second.fields["gfp"] == G.GFP_KERNEL | G.__GFP_COMP
    assert (second.fields["pfn"], second.fields["order"], second.line_no) == (1048618, 1, 18)
    assert {e.cpu for e in events if e.text.lstrip().startswith("kworker/1:2")} == {1}


def test_parse_reads_trace_cmd_report_hex_pfns_and_failed_allocations():
    text = ("cpus=4\n"
            "  cc1-7711  [003]  99.000001: mm_page_alloc:  page=0xffffea0000040000 pfn=0x1000 order=2 "
            "migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE\n"
            "  cc1-7711  [003]  99.000002: mm_page_alloc:  page=(null) pfn=0 order=3 migratetype=0 "
            "gfp_flags=GFP_NOWAIT|__GFP_NOWARN\n")
    ok, failed = parse_kmem_trace(text)
    assert (ok.cpu, ok.fields["pfn"], ok.failed) == (3, 0x1000, False)
    assert failed.failed and failed.fields["gfp"] == G.GFP_NOWAIT | G.__GFP_NOWARN


@pytest.mark.parametrize("text, words", [
    ("  a-1 [000] 1.0: mm_page_free: page=0 pfn=7\n", ["<trace>:1", "without order"]),
    ("  a-1 [000] 1.0: mm_page_free: page=0 pfn=seven order=0\n", ["pfn='seven'", "not a number"]),
    ("  a-1 [000] 1.0: mm_page_alloc: page=1 pfn=7 order=0 migratetype=0 gfp_flags=GFP_BOGUS\n",
     ["unknown gfp flag 'GFP_BOGUS'"]),
    ("# tracer: nop\nthis is no trace line\n", ["<trace>:2", "not a trace line"]),
    ("CPU:1 [LOST 12 EVENTS]\n", ["events were lost"]),
])
def test_a_malformed_line_is_named_with_its_place(text, words):
    with pytest.raises(TraceFormatError) as e:
        parse_kmem_trace(text)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_the_model_follows_the_recorded_trace():
    result = replay_kmem(numa2(), events_of("follows.txt"), OFFSET)
    assert result.followed
    assert (result.replayed, result.compared) == (17, 17)


def test_without_the_internal_events_only_allocations_and_frees_are_compared():
    result = replay_kmem(numa2(), events_of("follows.txt"), OFFSET, selected=ALLOC_FREE)
    assert result.followed and (result.replayed, result.compared) == (17, 9)


def test_the_diverging_trace_departs_at_the_zone_locked_event_of_its_second_allocation():
    d = replay_kmem(numa2(), events_of("diverges.txt"), OFFSET).divergence
    assert (d.index, d.event.line_no, d.step.line_no) == (4, 6, 7)
    assert d.recorded == ("mm_page_alloc_zone_locked pfn=44 order=1 migratetype=0 percpu_refill=0 "
                          "[recorded pfn 1048620]")
    assert d.model == "mm_page_alloc_zone_locked pfn=42 order=1 migratetype=0 percpu_refill=0 (differs in pfn)"


def test_the_model_leaves_the_diverging_trace_at_its_second_allocation():
    result = replay_kmem(numa2(), events_of("diverges.txt"), OFFSET, context=2, selected=ALLOC_FREE)
    d = result.divergence
    assert (d.index, d.event.line_no) == (5, 7)
    assert d.recorded.startswith("pfn 44 order 1") and "recorded pfn 1048620" in d.recorded
    assert d.model.startswith("pfn 42 order 1")
    assert [e.line_no for e in d.before] == [5, 6]
    assert "allocated 1" in d.state  # the machine before the event: the first page is out


def test_a_planted_bug_diverges_at_the_first_order0_allocation():
    result = replay_kmem(numa2(PcpTail), events_of("follows.txt"), OFFSET)
    d = result.divergence
    # the refill's extfrag and two zone_locked events agree: the tail is taken after them
    assert (d.index, d.event.line_no, result.compared) == (3, 15, 4)
    assert d.recorded.startswith("pfn 40 ") and d.model.startswith("pfn 41 ")


def test_a_free_of_a_page_the_model_does_not_hold_is_a_divergence():
    text = "  a-1 [000] 1.0: mm_page_free: page=00000000deadbeef pfn=1048620 order=0\n"
    d = replay_kmem(numa2(), parse_kmem_trace(text), OFFSET).divergence
    assert d.index == 0 and "refuses the free (DoubleFree)" in d.model


def test_a_migratetype_the_model_would_not_use_is_a_divergence():
    text = ("  a-1 [000] 1.0: mm_page_alloc: page=0000000012345678 pfn=1048616 order=0 migratetype=1 "
            "gfp_flags=GFP_KERNEL\n")
    d = replay_kmem(numa2(), parse_kmem_trace(text), OFFSET, selected=ALLOC_FREE).divergence
    assert "migratetype 1" in d.recorded and "migratetype 0" in d.model


def test_the_offset_keeps_max_order_blocks_aligned():
    m = numa2()
    assert check_pfn_offset(m, OFFSET) == OFFSET
    with pytest.raises(ModelError, match="multiple of MAX_ORDER_NR_PAGES \\(8\\)"):
        check_pfn_offset(m, OFFSET + 4)


def run(capsys, *argv):
    status = main(["trace", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cli_exits_0_when_the_model_follows(capsys):
    status, out, _ = run(capsys, str(TRACES / "follows.txt"), "--preset", "numa2-kernel", "--pfn-offset", str(OFFSET))
    assert status == 0 and "follows the whole trace" in out


def test_cli_exits_1_at_a_divergence_with_the_state(capsys):
    status, out, _ = run(capsys, str(TRACES / "diverges.txt"), "--preset", "numa2-kernel",
                         "--pfn-offset", str(OFFSET))
    assert status == 1
    assert "diverges.txt:6:" in out and "node 1 Normal" in out and "verdict: DIVERGES" in out


def test_cli_exits_2_for_a_malformed_trace_naming_file_and_line(capsys):
    status, out, err = run(capsys, str(TRACES / "malformed.txt"), "--preset", "numa2-kernel")
    assert status == 2 and out == ""
    assert "malformed.txt:4: mm_page_alloc without order" in err and "Traceback" not in err


def test_cli_exits_2_for_a_cpu_the_model_lacks(capsys):
    # buddy-core has one CPU; the trace was recorded on two
    status, _, err = run(capsys, str(TRACES / "follows.txt"), "--pfn-offset", str(OFFSET))
    assert status == 2 and "recorded on CPU 1" in err and "--cpu" in err


def test_cli_cpu_runs_every_event_on_one_model_cpu(capsys):
    # the kworker's allocation on CPU 1 now runs on CPU 0, whose node is 0: the model stays on node 0
    status, out, _ = run(capsys, str(TRACES / "follows.txt"), "--preset", "numa2-kernel",
                         "--pfn-offset", str(OFFSET), "--cpu", "0", "--events", "alloc,free")
    assert status == 1 and "follows.txt:26:" in out
    assert "recorded: pfn 88 order 0 migratetype 0 (node 1 Normal)" in out
    assert "model:    pfn 41 order 0 migratetype 0 (node 0 Normal)" in out


def test_a_recorded_failure_where_the_model_finds_a_page_is_a_divergence():
    text = "  a-1 [000] 1.0: mm_page_alloc: page=(null) pfn=0 order=0 migratetype=0 gfp_flags=GFP_KERNEL\n"
    d = replay_kmem(numa2(), parse_kmem_trace(text), OFFSET, selected=ALLOC_FREE).divergence
    assert d.recorded.startswith("no page") and d.model.startswith("pfn 40 order 0")


# ---- the internal events: mm_page_alloc_zone_locked, mm_page_pcpu_drain, mm_page_alloc_extfrag ------


@pytest.mark.parametrize("name, counts, replayed", [
    ("refill-follows.txt", {"mm_page_alloc_zone_locked": 4, "mm_page_alloc_extfrag": 1}, 8),
    ("drain-follows.txt", {"mm_page_pcpu_drain": 2, "mm_page_free": 4}, 19),
    ("extfrag-follows.txt", {"mm_page_alloc_extfrag": 2, "mm_page_alloc": 4}, 10),
])
def test_the_model_follows_each_internal_event_trace_in_every_event(name, counts, replayed):
    events = events_of(name)
    assert all([e.event for e in events].count(k) == n for k, n in counts.items())
    result = replay_kmem(numa2(), events, OFFSET)
    assert result.followed and (result.replayed, result.compared) == (replayed, replayed)


# the exact divergence line of each diverging trace: its line, the recorded event and the model's
DIVERGING = {
    "refill-diverges.txt": (
        9, "mm_page_alloc_zone_locked pfn=44 order=0 migratetype=0 percpu_refill=1 [recorded pfn 1048620]",
        "no further internal event before its mm_page_alloc (2 fired)", 10),
    "drain-diverges.txt": (
        26, "mm_page_pcpu_drain pfn=41 order=0 migratetype=0 [recorded pfn 1048617]",
        "mm_page_pcpu_drain pfn=40 order=0 migratetype=0 (differs in pfn)", 24),
    "extfrag-diverges.txt": (
        19, "mm_page_alloc_extfrag pfn=24 alloc_order=2 fallback_order=3 pageblock_order=2 alloc_migratetype=0 "
            "fallback_migratetype=1 fragmenting=0 change_ownership=0 [recorded pfn 1048600]",
        "mm_page_alloc_extfrag pfn=24 alloc_order=2 fallback_order=3 pageblock_order=2 alloc_migratetype=0 "
        "fallback_migratetype=1 fragmenting=0 change_ownership=1 (differs in change_ownership)", 21),
}


@pytest.mark.parametrize("name", sorted(DIVERGING))
def test_each_diverging_trace_departs_at_its_internal_event(name, capsys):
    line, recorded, model, step_line = DIVERGING[name]
    status, out, _ = run(capsys, str(TRACES / name), "--preset", "numa2-kernel", "--pfn-offset", str(OFFSET))
    assert status == 1
    assert f"{name}:{line}:\n" in out
    assert f"\n  recorded: {recorded}\n  model:    {model}\n" in out
    assert f"the model's events serving line {step_line} " in out


@pytest.mark.parametrize("name", sorted(DIVERGING))
def test_comparing_only_allocations_and_frees_misses_what_the_internal_events_show(name, capsys):
    status, out, _ = run(capsys, str(TRACES / name), "--preset", "numa2-kernel", "--pfn-offset", str(OFFSET),
                         "--events", "alloc,free")
    assert status == 0 and "events alloc,free:" in out and "follows the whole trace" in out


def test_the_drain_run_after_a_free_skips_the_other_cpu_and_belongs_to_that_free():
    events = events_of("drain-follows.txt")
    assert [e.cpu for e in events if 24 < e.line_no < 30] == [1, 0, 1, 0, 1]
    # without the frees of lines 21-24 (and the header), the drains of lines 26 and 28 are left to no step
    text = "".join(e.text + "\n" for e in events if e.line_no not in range(21, 25))
    d = replay_kmem(numa2(), parse_kmem_trace(text), OFFSET).divergence
    assert (d.event.line_no, d.event.fields["pfn"], d.step) == (11, 1048616, None)
    assert d.model == "nothing: no mm_page_alloc or mm_page_free follows it on CPU 0"


def test_a_free_the_trace_shows_without_its_drain_is_a_divergence_at_the_free():
    text = "".join(e.text + "\n" for e in events_of("drain-follows.txt") if e.event != "mm_page_pcpu_drain")
    d = replay_kmem(numa2(), parse_kmem_trace(text), OFFSET).divergence
    assert (d.event.event, d.event.fields["pfn"], d.event.line_no) == ("mm_page_free", 1048619, 13)
    assert d.recorded == "no further internal event after this mm_page_free on CPU 0"
    assert d.model == "mm_page_pcpu_drain pfn=40 order=0 migratetype=0"


def test_an_internal_event_before_a_free_belongs_to_no_free():
    text = ("  a-1 [000] 1.0: mm_page_alloc: page=0000000012345678 pfn=1048616 order=1 migratetype=0 "
            "gfp_flags=GFP_KERNEL\n"
            "  a-1 [000] 1.1: mm_page_pcpu_drain: page=0000000012345678 pfn=1048600 order=0 migratetype=0\n"
            "  a-1 [000] 1.2: mm_page_free: page=0000000012345678 pfn=1048616 order=1\n")
    d = replay_kmem(numa2(), parse_kmem_trace(text), OFFSET, selected=ALLOC_FREE | {"mm_page_pcpu_drain"}).divergence
    assert (d.index, d.step.line_no) == (1, 3)
    assert d.model == "no further internal event before its mm_page_free (0 fired)"


def test_a_planted_bug_only_the_drain_events_show():
    # spilling at count > high instead of >= leaves the fourth free's batch on the list
    d = replay_kmem(numa2(SpillLate), events_of("drain-follows.txt"), OFFSET).divergence
    assert (d.index, d.event.line_no, d.step.line_no) == (14, 26, 24)
    assert d.model == "no further internal event after its mm_page_free (0 fired)"
    assert replay_kmem(numa2(SpillLate), events_of("drain-follows.txt"), OFFSET, selected=ALLOC_FREE).followed


def test_frees_bypassing_the_per_cpu_lists_show_in_the_refill_the_recorded_kernel_did_not_need():
    # the freed page went to buddy, so the next order-0 allocation refills where 4.19 took it from the list
    d = replay_kmem(numa2(FreeBypass), events_of("follows.txt"), OFFSET).divergence
    assert (d.index, d.event.line_no) == (14, 27)
    assert d.recorded == "no further internal event before this mm_page_alloc on CPU 0"
    assert d.model == "mm_page_alloc_zone_locked pfn=41 order=0 migratetype=0 percpu_refill=1"
    assert replay_kmem(numa2(FreeBypass), events_of("follows.txt"), OFFSET, selected=ALLOC_FREE).followed


def test_the_event_selection_takes_short_and_kernel_names_and_needs_alloc_and_free():
    assert parse_event_selection("alloc,free,mm_page_pcpu_drain") == ALLOC_FREE | {"mm_page_pcpu_drain"}
    with pytest.raises(ValueError, match="unknown event 'drain'"):
        parse_event_selection("alloc,free,drain")
    with pytest.raises(ValueError, match="alloc and free must be among them"):
        parse_event_selection("alloc,extfrag")


def test_cli_exits_2_for_a_bad_event_list(capsys):
    status, out, err = run(capsys, str(TRACES / "follows.txt"), "--preset", "numa2-kernel", "--events", "free")
    assert status == 2 and out == ""
    assert "--events free: alloc and free must be among them" in err and "Traceback" not in err
