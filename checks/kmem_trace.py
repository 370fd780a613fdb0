"""Trace validation: replay a recorded kmem trace on a model machine and find where the model departs from it.

A trace is the text of `trace-cmd report` or of the ftrace buffer (/sys/kernel/tracing/trace) with the
page allocator's events as 4.19 prints them (include/trace/events/kmem.h):

    mm_page_alloc              page=%p pfn=%lu order=%d migratetype=%d gfp_flags=%s
    mm_page_free               page=%p pfn=%lu order=%d
    mm_page_alloc_zone_locked  page=%p pfn=%lu order=%u migratetype=%d percpu_refill=%d
    mm_page_pcpu_drain         page=%p pfn=%lu order=%d migratetype=%d
    mm_page_alloc_extfrag      page=%p pfn=%lu alloc_order=%d fallback_order=%d ...

(later kernels print pfn=0x%lx; both are read). Each mm_page_alloc is asked of the model with the
recorded gfp mask, order and CPU, and the model's own choice (pfn, order, migratetype, node and zone;
or a failure) is compared with the recorded one; each mm_page_free frees the recorded block, which the
model must hold as allocated with that order. These two drive the replay. Other events in the trace
are ignored; a line that says events were lost makes the trace unusable.

The other three events fire inside an allocation or a free, and the model fires them where 4.19 does
(model/tracepoints.py). Each replayed step runs with the model's tracepoints on, and the internal
events it fires must equal, in order and in every field both print (all but page=, whose %p is a
hashed address), the internal events recorded for that step. Which recorded events belong to which
step follows from what 4.19 guarantees on one CPU:

- mm_page_alloc fires last in __alloc_pages_nodemask, after everything rmqueue did: the
  mm_page_alloc_extfrag of a steal, the mm_page_alloc_zone_locked of each page a per-cpu refill
  (rmqueue_bulk) or a buddy allocation took, and the mm_page_pcpu_drain of the slow path draining
  this CPU's lists.
  So the internal events recorded on a CPU since its previous mm_page_alloc or mm_page_free (and not
  claimed by that free) belong to its next mm_page_alloc.
- mm_page_free fires first, in free_pages_prepare; a free that fills the per-cpu list then spills a
  batch through free_pcppages_bulk, one mm_page_pcpu_drain per page, with interrupts off. So the run
  of mm_page_pcpu_drain recorded on the CPU right after an mm_page_free belongs to that free.
- Internal events left over at the end of the trace, with no allocation or free after them on their
  CPU, are a divergence: the model did nothing that fires them.

The rule sees one CPU as one sequence; it does not hold when the sequence is broken, and such a trace
diverges where it breaks: an interrupt that allocates between an allocation's zone_locked events and
its mm_page_alloc; a drain the kernel runs on its own (vmstat's drain_zone_pages, or drain_all_pages
through per-CPU work, which the model runs inline on the allocating CPU); pages freed as a list
(free_unref_page_list prints every mm_page_free before any drain, the model frees one at a time).
`selected` (the CLI's --events) chooses which events are compared; alloc and free always are, since
they drive the replay.

Recorded pfns map onto the model's as `model pfn = recorded pfn - offset`. The offset must be a
multiple of the model's MAX_ORDER_NR_PAGES so that buddy alignment is kept. It is the pfn at which the
recorded machine's memory that the model stands for begins, less the model's own first pfn: for a
model of one zone from pfn 0 laid on a recorded zone starting at 0x100000, the offset is 1048576.

A model booted with all memory free does not hold the pages a running machine allocated before
recording began, so a trace's free of one is a divergence. A machine started from the recorded
machine's free state (`--from-proc DIR` with DIR/proc/buddyinfo; model/procfs_free_state.py) holds
every page that was not free as allocated, and those frees replay. The order such a page was
allocated with is not known (the import records the largest aligned blocks), so a free of part of a
block held since before the replay first splits the block, as split_page() would, into aligned
blocks of which the freed one is one; a block allocated during the replay is never split.
"""

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from buddycheck.model.constants import ZONE_NAMES
from buddycheck.model.errors import ModelError
from buddycheck.model.gfp import gfpflags_to_migratetype, parse_gfp

from .render import machine_picture
from .tracepoints import record_tracepoints, trace_line

ALLOC, FREE = "mm_page_alloc", "mm_page_free"
ZONE_LOCKED, PCPU_DRAIN, EXTFRAG = "mm_page_alloc_zone_locked", "mm_page_pcpu_drain", "mm_page_alloc_extfrag"
# the events fired inside an allocation or a free, with the fields each must carry
INTERNAL = {
    ZONE_LOCKED: ("pfn", "order", "migratetype"),
    PCPU_DRAIN: ("pfn", "order", "migratetype"),
    EXTFRAG: ("pfn", "alloc_order", "fallback_order"),
}
REQUIRED = {ALLOC: ("page", "pfn", "order", "migratetype", "gfp_flags"), FREE: ("pfn", "order"), **INTERNAL}
# the short names --events takes, in the order they are listed
SHORT_NAMES = {"alloc": ALLOC, "free": FREE, "zone_locked": ZONE_LOCKED, "pcpu_drain": PCPU_DRAIN,
               "extfrag": EXTFRAG}
ALL_EVENTS = frozenset(REQUIRED)
# fields not compared: %p prints a hashed address on a real kernel; gfp_flags is the mask the model is asked with
_NOT_COMPARED = {"page", "gfp_flags"}

# "<task>-<pid> [(<tgid>)] [<cpu>] [<irq flags>] <seconds>: <event>: <fields>"; the task name may hold '-'
_LINE = re.compile(r"^\s*(?P<task>.+)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
                   r"(?:[^\s\d][^\s]*\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s*(?P<body>.*)$")
_FIELD = re.compile(r"(\w+)=(\S*)")
# header lines of trace-cmd report and of the ftrace buffer
_HEADER = re.compile(r"^\s*(#|$|cpus=\d+|version\s*=|CPU \d+ is empty)")
_LOST = re.compile(r"LOST \d+ EVENTS|\[LOST EVENTS\]")


class TraceFormatError(Exception):
    """A trace line that cannot be read; names the file, line and text."""

    def __init__(self, path, line_no, text, why):
        super().__init__(f"{path}:{line_no}: {why}: {text.strip()!r}")


def _null_page(page):
    """page=%p of NULL: 4.19 prints "(null)", later kernels "(nil)" or zeros."""
    return page in ("(null)", "(nil)") or bool(re.fullmatch(r"(0x)?0+", page))


@dataclass(frozen=True)
class KmemEvent:
    """One recorded event: where it stands in the file, its CPU, name and fields (numbers where numeric)."""

    line_no: int
    text: str
    cpu: int
    event: str
    fields: dict = field(hash=False)

    @property
    def failed(self):
        """No page: an mm_page_alloc that failed, an rmqueue that found nothing (4.19 prints NULL and pfn 0)."""
        return _null_page(self.fields.get("page", ""))

    def __str__(self):
        return f"line {self.line_no}: {self.text.strip()}"


class ModelEvent(NamedTuple):
    """One tracepoint the model fired, as the trace buffer would print it, and its fields read back."""

    event: str
    text: str
    fields: dict

    @property
    def pfn(self):
        return None if _null_page(self.fields["page"]) else self.fields["pfn"]


def _number(text):
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def _read_fields(body):
    """The key=value fields of an event's text, numbers where numeric; ValueError naming a bad one.

    4.19 prints pfns unsigned and orders and migratetypes that are never negative: a negative one is bad.
    """
    fields = dict(_FIELD.findall(body))
    for key, value in fields.items():
        if key in _NOT_COMPARED:
            continue
        try:
            fields[key] = _number(value)
        except ValueError:
            raise ValueError(f"{key}={value!r} is not a number") from None
        if fields[key] < 0:
            raise ValueError(f"{key}={value} is negative")
    return fields


def parse_kmem_trace(text, path="<trace>"):
    """The page allocator events of a trace, in recorded order; TraceFormatError for a line that cannot be read."""
    events = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if _LOST.search(line):
            raise TraceFormatError(path, line_no, line, "events were lost while recording; the trace is incomplete")
        if _HEADER.match(line):
            continue
        m = _LINE.match(line)
        if m is None:
            raise TraceFormatError(path, line_no, line, "not a trace line (task-pid [cpu] seconds: event: fields)")
        name = m["event"]
        if name not in REQUIRED:
            continue
        missing = [f for f in REQUIRED[name] if f not in dict(_FIELD.findall(m["body"]))]
        if missing:
            raise TraceFormatError(path, line_no, line, f"{name} without {', '.join(missing)}")
        try:
            fields = _read_fields(m["body"])
        except ValueError as e:
            raise TraceFormatError(path, line_no, line, str(e)) from None
        if name == ALLOC:
            flags = fields["gfp_flags"]
            try:
                fields["gfp"] = 0 if flags in ("", "none") else parse_gfp(flags)
            except ValueError as e:
                raise TraceFormatError(path, line_no, line, str(e)) from None
        events.append(KmemEvent(line_no, line, int(m["cpu"]), name, fields))
    return events


def parse_event_selection(text):
    """The events --events names (short names or mm_page_* names, comma-separated); ValueError for a bad list."""
    full = {name: name for name in ALL_EVENTS} | SHORT_NAMES
    chosen = set()
    for word in (w.strip() for w in text.split(",")):
        if word not in full:
            raise ValueError(f"unknown event {word!r} (one of: {', '.join(SHORT_NAMES)})")
        chosen.add(full[word])
    if not {ALLOC, FREE} <= chosen:
        raise ValueError("alloc and free must be among them: they drive the replay")
    return frozenset(chosen)


def max_order_pages(m):
    return 1 << (m.MAX_ORDER - 1)


def check_pfn_offset(m, offset, path="<trace>"):
    """The offset recorded pfns are moved down by, checked against the model's MAX_ORDER_NR_PAGES."""
    block = max_order_pages(m)
    if offset % block:
        raise ModelError(f"{path}: --pfn-offset {offset}: must be a multiple of MAX_ORDER_NR_PAGES ({block}) "
                         "so that recorded blocks stay aligned")
    return offset


@dataclass
class Divergence:
    """Where the model first departs from the trace: the event, what was recorded and what the model did."""

    index: int  # position among the replayed events
    event: KmemEvent
    recorded: str
    model: str
    before: tuple  # the events replayed just before it
    state: str  # the model's machine before the step (or, with none, at the event)
    step: KmemEvent | None = None  # the allocation or free the model was serving
    model_events: tuple = ()  # the trace lines the model fired serving it

    def lines(self, path):
        out = [f"divergence at event {self.index + 1}, {path}:{self.event.line_no}:",
               f"  {self.event.text.strip()}",
               f"  recorded: {self.recorded}",
               f"  model:    {self.model}"]
        if self.step is not None:
            out.append(f"  the model's events serving line {self.step.line_no} "
                       f"({self.step.event} on CPU {self.step.cpu}):")
            out += [f"    {e.text}" for e in self.model_events] or ["    (none)"]
        out.append("  events before it:")
        out += [f"    {e}" for e in self.before] or ["    (none)"]
        start = self.step if self.step is not None else self.event
        out += [f"  the model's machine before line {start.line_no}:", self.state]
        return out


@dataclass
class KmemReplay:
    """The outcome: how many events were replayed and compared, and the first divergence or None."""

    replayed: int
    compared: int
    offset: int
    divergence: Divergence | None = None

    @property
    def followed(self):
        return self.divergence is None


def _where(m, pfn):
    zone = m.page_zone(pfn)
    return "no zone" if zone is None else f"node {zone.nid} {ZONE_NAMES[zone.idx]}"


def _choice(pfn, order, mt, where):
    return f"pfn {pfn} order {order} migratetype {mt} ({where})"


def _alloc_step(m, e, cpu, offset):
    """Ask the model for the recorded allocation; (recorded, model) texts when they differ, else None."""
    f = e.fields
    result = m.alloc(f["gfp"], f["order"], cpu=cpu)
    ac = m.last_ac
    mt = ac.migratetype if ac is not None else gfpflags_to_migratetype(f["gfp"], m.page_group_by_mobility_disabled)
    recorded_pfn = None if e.failed else f["pfn"] - offset
    if recorded_pfn is None:
        recorded = f"no page (order {f['order']} migratetype {f['migratetype']})"
    else:
        recorded = _choice(recorded_pfn, f["order"], f["migratetype"], _where(m, recorded_pfn))
        recorded += f" [recorded pfn {f['pfn']}]" if offset else ""
    if result.ok:
        model = _choice(result.page, result.order, mt, _where(m, result.page))
    else:
        model = f"no page (order {result.order} migratetype {mt}: {result.reason})"
    same = (recorded_pfn == result.page and f["order"] == result.order and f["migratetype"] == mt)
    return None if same else (recorded, model)


def split_held_before(m, pfn, order, before):
    """Split the block held since before the replay (`before`: allocated blocks then) that holds the
    aligned block (pfn, order) into aligned blocks, one of them that block; nothing if none holds it."""
    if pfn in m.allocated or pfn % (1 << order):
        return
    for o in range(order + 1, m.MAX_ORDER):
        head = pfn & ~((1 << o) - 1)
        held = m.allocated.get(head)
        if held is not None and held[0] == o and before.get(head) == held:
            del m.allocated[head]
            for level in range(o - 1, order - 1, -1):  # halves not holding pfn stay allocated
                half = (pfn & ~((1 << level) - 1)) ^ (1 << level)
                m.allocated[half] = (level, *held[1:])
            m.allocated[pfn] = (order, *held[1:])
            return


def _free_step(m, e, cpu, offset, before=None):
    f = e.fields
    pfn = f["pfn"] - offset
    split_held_before(m, pfn, f["order"], before or {})
    try:
        m.free(pfn, f["order"], cpu=cpu)
    except ModelError as err:
        return f"free pfn {pfn} order {f['order']}", f"refuses the free ({type(err).__name__}): {err}"
    return None


def _model_event(record, pageblock_order):
    """A TracepointRecord as the buffer prints it, its fields read back the way a recorded line's are."""
    text = trace_line(record, pageblock_order)
    return ModelEvent(record.name, text, _read_fields(text.split(": ", 1)[1]))


def _recorded_pfn(e, offset):
    return None if e.failed else e.fields["pfn"] - offset


def _differences(recorded, model, offset):
    """The fields in which a recorded internal event and the model's differ (pfn moved by the offset;
    page= left out; fields only one side prints are not compared); ["event"] for another event."""
    if recorded.event != model.event:
        return ["event"]
    common = (recorded.fields.keys() & model.fields.keys()) - _NOT_COMPARED - {"pfn"}
    differ = ["pfn"] if _recorded_pfn(recorded, offset) != model.pfn else []
    return differ + sorted(k for k in common if recorded.fields[k] != model.fields[k])


def _describe(event, fields, pfn, recorded_pfn=None):
    """'name pfn=P key=value ...' in model pfns, the recorded pfn added when it differs."""
    rest = " ".join(f"{k}={v}" for k, v in fields.items() if k not in _NOT_COMPARED | {"pfn", "gfp"})
    text = f"{event} pfn={'none' if pfn is None else pfn} {rest}".rstrip()
    return text + (f" [recorded pfn {recorded_pfn}]" if recorded_pfn not in (None, pfn) else "")


def _describe_recorded(e, offset):
    return _describe(e.event, e.fields, _recorded_pfn(e, offset), None if e.failed else e.fields["pfn"])


def _describe_model(e):
    return _describe(e.event, e.fields, e.pfn)


def _first_difference(recorded, model, offset):
    """The first position where the recorded run and the model's run differ, or None when they are equal."""
    for pos in range(max(len(recorded), len(model))):
        if pos >= len(recorded) or pos >= len(model) or _differences(recorded[pos], model[pos], offset):
            return pos
    return None


def _split_around(model_events, own, selected):
    """The model's internal events before and after the step's own event, keeping only the selected ones.

    The own event is the last mm_page_alloc of an allocation (a memcg refusal frees inside it) and the
    first mm_page_free of a free; without one (a refused free) everything counts as before it.
    """
    names = [e.event for e in model_events]
    if own not in names:
        at = len(names)
    else:
        at = len(names) - 1 - names[::-1].index(own) if own == ALLOC else names.index(own)
    kept = [e if e.event in INTERNAL and e.event in selected else None for e in model_events]
    return [e for e in kept[:at] if e is not None], [e for e in kept[at + 1:] if e is not None]


def _drains_after(events, index):
    """Indices of the run of mm_page_pcpu_drain recorded on the CPU of events[index] right after it."""
    cpu, run = events[index].cpu, []
    for j in range(index + 1, len(events)):
        if events[j].cpu != cpu:
            continue
        if events[j].event != PCPU_DRAIN:
            break
        run.append(j)
    return run


def _picture(m, frozen):
    """The picture of machine m as it was in the frozen state (m itself is left as the event made it)."""
    earlier = type(m)(m.topology, m.env)
    earlier.restore(frozen)
    return machine_picture(earlier)


class _Replay:
    """The state of one replay: the machine, the events, which recorded internal events await a step."""

    def __init__(self, m, events, offset, cpu, context, selected, path="<trace>"):
        self.m, self.events, self.offset, self.cpu, self.context = m, events, offset, cpu, context
        self.path = path
        self.selected = selected
        self.pending = {}  # recorded CPU -> indices of internal events awaiting their allocation
        self.claimed = set()  # indices of drains already matched to the free before them
        self.replayed = self.compared = 0
        self.before = dict(m.allocated)  # what the machine held as allocated before the first event

    def diverge(self, index, recorded, model, frozen, step=None, model_events=()):
        before = tuple(self.events[max(0, index - self.context):index])
        self.replayed = max(self.replayed, index + 1)  # a drain after its free counts once it is compared
        d = Divergence(index, self.events[index], recorded, model, before, _picture(self.m, frozen),
                       step, tuple(model_events))
        return KmemReplay(self.replayed, self.compared, self.offset, d)

    def run(self):
        for index, e in enumerate(self.events):
            self.replayed += 1
            if e.event in INTERNAL:
                if e.event in self.selected and index not in self.claimed:
                    self.pending.setdefault(e.cpu, []).append(index)
                continue
            found = self.step(index, e)
            if found is not None:
                return found
        leftover = sorted(i for run in self.pending.values() for i in run)
        if leftover:
            e = self.events[leftover[0]]
            return self.diverge(leftover[0], _describe_recorded(e, self.offset),
                                f"nothing: no mm_page_alloc or mm_page_free follows it on CPU {e.cpu}",
                                self.m.freeze())
        return KmemReplay(self.replayed, self.compared, self.offset)

    def step(self, index, e):
        """Replay one allocation or free and compare its own event and the internal events around it."""
        frozen = self.m.freeze()
        on_cpu = e.cpu if self.cpu is None else self.cpu
        if e.event == ALLOC:
            def step(m):
                return _alloc_step(m, e, on_cpu, self.offset)
        else:
            def step(m):
                return _free_step(m, e, on_cpu, self.offset, self.before)
        try:
            differs, records = record_tracepoints(self.m, step)
        except ModelError as err:  # an allocation the model refuses to be asked (a free's refusal is a divergence)
            raise TraceFormatError(self.path, e.line_no, e.text, str(err)) from None
        model_events = [_model_event(r, self.m.pageblock_order) for r in records]
        pre, post = _split_around(model_events, e.event, self.selected)
        before = self.pending.pop(e.cpu, [])
        after = _drains_after(self.events, index) if e.event == FREE and PCPU_DRAIN in self.selected else []
        self.claimed.update(after)
        found = self.compare_run(before, pre, index, "before", frozen, model_events)
        if found is not None:
            return found
        self.compared += 1
        if differs is not None:
            return self.diverge(index, differs[0], differs[1], frozen, e, model_events)
        return self.compare_run(after, post, index, "after", frozen, model_events)

    def compare_run(self, recorded, model, index, side, frozen, model_events):
        """Compare the recorded internal events (indices) on one side of events[index] with the model's."""
        run = [self.events[i] for i in recorded]
        pos = _first_difference(run, model, self.offset)
        if pos is None:
            self.compared += len(run)
            return None
        self.compared += min(pos + 1, len(run))  # the recorded event that differs was compared too
        step = self.events[index]
        at = recorded[pos] if pos < len(run) else index
        said = (_describe_recorded(run[pos], self.offset) if pos < len(run)
                else f"no further internal event {side} this {step.event} on CPU {step.cpu}")
        if pos < len(model):
            did = _describe_model(model[pos])
            if pos < len(run):
                did += f" (differs in {', '.join(_differences(run[pos], model[pos], self.offset))})"
        else:
            did = f"no further internal event {side} its {step.event} ({len(model)} fired)"
        return self.diverge(at, said, did, frozen, step, model_events)


def replay_kmem(m, events, offset=0, cpu=None, context=5, selected=ALL_EVENTS, path="<trace>"):
    """Replay the events in order on machine m (booted); stops at the first divergence.

    cpu, when given, runs every event on that model CPU; otherwise each runs on its recorded CPU.
    Events are attributed to steps by their recorded CPU either way. selected: the events compared
    (alloc and free always are). An event the model cannot be asked at all (a CPU it lacks, a gfp mask
    it rejects) is a TraceFormatError naming path and line.
    """
    cpus = m.topology.cpus
    for e in events:
        # every CPU is checked before anything runs: bad usage, not a divergence halfway through
        if (e.cpu if cpu is None else cpu) not in cpus:
            raise TraceFormatError(path, e.line_no, e.text,
                                   f"recorded on CPU {e.cpu if cpu is None else cpu}, which the model lacks "
                                   f"(cpus: {list(cpus)}); choose one with --cpu")
    return _Replay(m, events, offset, cpu, context, selected | {ALLOC, FREE}, path).run()
