"""Counterexamples as pictures (PNG or SVG): one row per state, pfns across.

`trace_picture(scenario, trace)` replays a trace (checks/replay.py) and lays out what every state
holds: the initial state in the top row, then one row per operation, labelled with the operation.
Each row draws every block of the state (spec/view.py: free in the buddy lists, on a per-cpu list,
allocated) as a rectangle from its first pfn to its last, with a dark edge so the block boundaries
show. Free blocks are a light tint of their list's migratetype, allocated blocks the full colour of
the migratetype asked for, per-cpu pages the tint of their list hatched; pfns that no block holds
(unmanaged, or lost) stay white. Zone boundaries are dashed vertical lines.

`write_picture(picture, path)` draws it with matplotlib, the format from the suffix (FORMATS), and
writes the file atomically. matplotlib is an optional extra (`pip install 'buddycheck[plot]'`),
imported only when drawing; `require_plotting(path)` refuses a path before a search rather than
after it. Each block's rectangle carries an id "block-ROW-KIND-PFN" in an SVG, so tools (and the
tests) can find it.
"""

import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

from buddycheck.model.constants import MIGRATETYPE_NAMES
from buddycheck.spec.view import ALLOC, PCP, static_view, view_from_frozen

from .printing import write_atomic
from .replay import replay

FORMATS = {".png": "png", ".svg": "svg"}

# the full colour of each migratetype (allocated blocks) and its light tint (free and per-cpu pages)
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#7f7f7f")
TINTS = ("#f4a6a6", "#a6cdeb", "#b3e2b3", "#d3c1e6", "#ffd0a6", "#d0d0d0")
UNKNOWN_COLOUR = "#000000"  # a migratetype number past MIGRATETYPE_NAMES
PCP_HATCH = "///"
ROW_HEIGHT = 0.8


class PictureError(Exception):
    """A picture that cannot be made: an unknown format, no matplotlib, a trace that does not replay."""


@dataclass(frozen=True)
class Cell:
    """One block of one row: `npages` pages from `pfn`, of kind free / pcp / alloc, with its migratetype."""

    row: int
    kind: str
    pfn: int
    npages: int
    mt: int

    @property
    def colour(self):
        return colour_of(self.kind, self.mt)

    @property
    def gid(self):
        return f"block-{self.row}-{self.kind}-{self.pfn}"


@dataclass(frozen=True)
class Picture:
    """What is drawn: the row labels (top first), the blocks, the pfn range and the zone boundaries."""

    title: str
    labels: tuple
    cells: tuple
    first_pfn: int
    end_pfn: int
    zone_starts: tuple


def colour_of(kind, mt):
    """The fill colour of a block: the migratetype's full colour when allocated, its tint otherwise."""
    table = COLOURS if kind == ALLOC else TINTS
    return table[mt] if 0 <= mt < len(table) else UNKNOWN_COLOUR


def trace_picture(scenario, trace, title=""):
    """Replay `trace` on `scenario` and lay out its states; PictureError if an operation is not enabled."""
    result = replay(scenario, trace, strict=False)
    if result.initial_state is None:
        raise PictureError("the model failed while booting: there is no state to draw")
    if result.disabled is not None:
        raise PictureError(f"the trace does not replay: {result.disabled}")
    static = static_view(scenario.initial())
    states = [result.initial_state] + [s.state for s in result.steps]
    labels = ["initial state"] + [f"{s.index + 1}. {s.op.code()}" for s in result.steps]
    if result.failure is not None:  # the failing operation left no state: say so under the last row
        title = f"{title} (then {result.failure.trace[-1].code()} fails: {result.failure.invariant})".strip()
    cells = []
    for row, frozen in enumerate(states):
        view = view_from_frozen(static, frozen)
        cells.extend(Cell(row, b.kind, b.pfn, 1 << b.order, b.mt) for b in view.blocks())
    zones = static.zones
    return Picture(title, tuple(labels), tuple(cells), min(z.start_pfn for z in zones),
                   max(z.end_pfn for z in zones), tuple(sorted(z.start_pfn for z in zones)))


def picture_format(path):
    """The matplotlib format for path's suffix; PictureError naming the suffix if it is not one of FORMATS."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise PictureError(f"{path}: unknown picture format {suffix or '(no suffix)'!r} "
                           f"(known: {', '.join(FORMATS)})")
    return FORMATS[suffix]


def require_plotting(path):
    """Refuse a picture path up front: an unknown suffix, or matplotlib not installed."""
    picture_format(path)
    if importlib.util.find_spec("matplotlib") is None:
        raise PictureError(f"{path}: pictures need matplotlib, which is not installed: pip install 'buddycheck[plot]'")


def write_picture(picture, path):
    """Draw `picture` and write it to path (PNG or SVG from the suffix) atomically; returns the path."""
    fmt = picture_format(path)
    require_plotting(path)
    return write_atomic(path, render(picture, fmt))


def render(picture, fmt):
    """The picture as the bytes of an image in format fmt ("png" or "svg")."""
    from matplotlib import rc_context  # the optional extra; a Figure needs no pyplot and no display
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    with rc_context({"svg.hashsalt": "buddycheck"}):  # the same picture gives the same SVG
        return _render(picture, fmt, Figure, Patch, Rectangle)


def _render(picture, fmt, Figure, Patch, Rectangle):
    width = picture.end_pfn - picture.first_pfn
    rows = len(picture.labels)
    fig = Figure(figsize=(min(4 + width * 0.25, 24), 1.2 + rows * 0.45))
    ax = fig.add_subplot()
    for cell in picture.cells:
        rect = Rectangle((cell.pfn, cell.row - ROW_HEIGHT / 2), cell.npages, ROW_HEIGHT,
                         facecolor=cell.colour, edgecolor="#202020", linewidth=1.0,
                         hatch=PCP_HATCH if cell.kind == PCP else None)
        rect.set_gid(cell.gid)
        ax.add_patch(rect)
    for start in picture.zone_starts[1:]:
        ax.axvline(start, color="#000000", linestyle="--", linewidth=1.0)
    ax.set_xlim(picture.first_pfn, picture.end_pfn)
    ax.set_ylim(rows - 0.5, -0.5)  # the initial state on top
    ax.set_yticks(range(rows), picture.labels, fontsize=8)
    ax.set_xlabel("pfn")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if picture.title:
        ax.set_title(picture.title, fontsize=9)
    used = sorted({c.mt for c in picture.cells if 0 <= c.mt < len(MIGRATETYPE_NAMES)})
    legend = [Patch(facecolor=TINTS[mt], edgecolor=COLOURS[mt], label=f"{MIGRATETYPE_NAMES[mt]} free / allocated")
              for mt in used]
    if any(c.kind == PCP for c in picture.cells):
        legend.append(Patch(facecolor="#ffffff", edgecolor="#202020", hatch=PCP_HATCH, label="per-cpu list"))
    if legend:
        ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format=fmt, **({"metadata": {"Date": None}} if fmt == "svg" else {}))
    return out.getvalue()


def write_violation_picture(scenario, violation, path):
    """The picture of a counterexample (a Violation, or a loaded TraceDocument's `violation()`) written to path."""
    title = f"{scenario.name}: {violation.invariant} after {len(violation.trace)} operations"
    return write_picture(trace_picture(scenario, violation.trace, title), path)
