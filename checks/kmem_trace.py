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
model must hold as allocated with that order. The other three events happen inside an allocation or
a drain: they are read and their fields checked, and shown in the context of a divergence, but not
compared (the model has no tracepoints there). Other events in the trace are ignored; a line that
says events were lost makes the trace unusable.

Recorded pfns map onto the model's as `model pfn = recorded pfn - offset`. The offset must be a
multiple of the model's MAX_ORDER_NR_PAGES so that buddy alignment is kept. It is the pfn at which the
recorded machine's memory that the model stands for begins, less the model's own first pfn: for a
model of one zone from pfn 0 laid on a recorded zone starting at 0x100000, the offset is 1048576.

The model boots with all memory free; a trace recorded on a running machine frees pages allocated
before recording began, and such a free is a divergence (the model does not hold the page).
"""

import re
from dataclasses import dataclass, field

from buddycheck.model.constants import ZONE_NAMES
from buddycheck.model.errors import ModelError
from buddycheck.model.gfp import gfpflags_to_migratetype, parse_gfp

from .render import machine_picture

ALLOC, FREE = "mm_page_alloc", "mm_page_free"
# the events read and checked but not compared, with the fields each must carry
INTERNAL = {
    "mm_page_alloc_zone_locked": ("pfn", "order", "migratetype"),
    "mm_page_pcpu_drain": ("pfn", "order", "migratetype"),
    "mm_page_alloc_extfrag": ("pfn", "alloc_order", "fallback_order"),
}
REQUIRED = {ALLOC: ("page", "pfn", "order", "migratetype", "gfp_flags"), FREE: ("pfn", "order"), **INTERNAL}

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
        """An mm_page_alloc that returned no page (4.19 prints a NULL page and pfn 0)."""
        page = self.fields.get("page", "")
        return page in ("(null)", "(nil)") or bool(re.fullmatch(r"(0x)?0+", page))

    def __str__(self):
        return f"line {self.line_no}: {self.text.strip()}"


def _number(text):
    return int(text, 16) if text.lower().startswith("0x") else int(text)


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
        fields = dict(_FIELD.findall(m["body"]))
        missing = [f for f in REQUIRED[name] if f not in fields]
        if missing:
            raise TraceFormatError(path, line_no, line, f"{name} without {', '.join(missing)}")
        for key, value in fields.items():
            if key in ("page", "gfp_flags"):
                continue
            try:
                fields[key] = _number(value)
            except ValueError:
                raise TraceFormatError(path, line_no, line, f"{key}={value!r} is not a number") from None
        if name == ALLOC:
            flags = fields["gfp_flags"]
            try:
                fields["gfp"] = 0 if flags in ("", "none") else parse_gfp(flags)
            except ValueError as e:
                raise TraceFormatError(path, line_no, line, str(e)) from None
        events.append(KmemEvent(line_no, line, int(m["cpu"]), name, fields))
    return events


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
    state: str  # the model's machine before the event

    def lines(self, path):
        out = [f"divergence at event {self.index + 1}, {path}:{self.event.line_no}:",
               f"  {self.event.text.strip()}",
               f"  recorded: {self.recorded}",
               f"  model:    {self.model}",
               "  events before it:"]
        out += [f"    {e}" for e in self.before] or ["    (none)"]
        out += ["  the model's machine before it:", self.state]
        return out


@dataclass
class KmemReplay:
    """The outcome: how many events were replayed, and the first divergence or None."""

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


def _free_step(m, e, cpu, offset):
    f = e.fields
    pfn = f["pfn"] - offset
    try:
        m.free(pfn, f["order"], cpu=cpu)
    except ModelError as err:
        return f"free pfn {pfn} order {f['order']}", f"refuses the free ({type(err).__name__}): {err}"
    return None


def _picture(m, frozen):
    """The picture of machine m as it was in the frozen state (m itself is left as the event made it)."""
    earlier = type(m)(m.topology, m.env)
    earlier.restore(frozen)
    return machine_picture(earlier)


def replay_kmem(m, events, offset=0, cpu=None, context=5):
    """Replay the events in order on machine m (booted); stops at the first divergence.

    cpu, when given, runs every event on that model CPU; otherwise each runs on its recorded CPU.
    """
    cpus = m.topology.cpus
    for e in events:
        # every CPU is checked before anything runs: bad usage, not a divergence halfway through
        if (e.cpu if cpu is None else cpu) not in cpus:
            raise ModelError(f"line {e.line_no}: recorded on CPU {e.cpu if cpu is None else cpu}, which the model "
                             f"lacks (cpus: {list(cpus)}); choose one with --cpu")
    replayed = compared = 0
    for index, e in enumerate(events):
        if e.event in INTERNAL:
            replayed += 1
            continue
        before_state = m.freeze()
        on_cpu = e.cpu if cpu is None else cpu
        step = _alloc_step if e.event == ALLOC else _free_step
        differs = step(m, e, on_cpu, offset)
        replayed += 1
        compared += 1
        if differs is not None:
            before = tuple(events[max(0, index - context):index])
            state = _picture(m, before_state)
            return KmemReplay(replayed, compared, offset,
                              Divergence(index, e, differs[0], differs[1], before, state))
    return KmemReplay(replayed, compared, offset)
