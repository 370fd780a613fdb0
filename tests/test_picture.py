"""Counterexamples as pictures (checks/picture.py, explore --picture): the rows, the blocks and their colours."""

import importlib.util
import re
import sys
import xml.etree.ElementTree as ET

import pytest

from buddycheck.checks.cli import main
from buddycheck.checks.picture import PictureError, require_plotting, trace_picture, write_picture
from buddycheck.checks.scenarios import scenario
from buddycheck.checks.trace_json import trace_from_json, trace_to_json

# drawing needs the plot extra (CI installs it); refusing without matplotlib is tested either way
draws = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="pip install 'buddycheck[plot]'")

SVG = "{http://www.w3.org/2000/svg}"
UNMOVABLE_TINT, UNMOVABLE = "#f4a6a6", "#d62728"  # free blocks are the tint, allocated ones the full colour


def offered(sc, *codes):
    """The operations with these codes, each offered in the state the ones before it reach."""
    m = sc.initial()
    trace = []
    for code in codes:
        (op,) = [a for a in sc.actions(m) if a.code() == code]
        op.apply(m)
        trace.append(op)
    return tuple(trace)


def two_allocations():
    sc = scenario("buddy-core")  # 16 pages, MAX_ORDER 4: two free order-3 blocks at boot
    return sc, offered(sc, "m.alloc(G.GFP_KERNEL, 1, cpu=0)", "m.alloc(G.GFP_KERNEL, 2, cpu=0)")


def svg_blocks(path):
    """{(row, kind, pfn): (fill, x0, x1)} of every block rectangle in the SVG, and the row labels' tick count."""
    root = ET.parse(path).getroot()
    blocks = {}
    for g in root.iter(f"{SVG}g"):
        m = re.fullmatch(r"block-(\d+)-(\w+)-(\d+)", g.get("id", ""))
        if m is None:
            continue
        (shape,) = g.iter(f"{SVG}path")
        fill = re.search(r"fill: ([^;]+)", shape.get("style")).group(1)
        xs = [float(x) for x in re.findall(r"[ML] ([-\d.]+) ", shape.get("d"))]
        blocks[(int(m[1]), m[2], int(m[3]))] = (fill, min(xs), max(xs))
    yticks = [g for g in root.iter(f"{SVG}g") if re.fullmatch(r"ytick_\d+", g.get("id", ""))]
    return blocks, len(yticks)


@draws
def test_svg_of_two_allocations_has_a_row_per_state_and_each_block_in_its_colour(tmp_path):
    sc, trace = two_allocations()
    path = write_picture(trace_picture(sc, trace), tmp_path / "trace.svg")
    blocks, rows = svg_blocks(path)
    assert rows == 3  # the initial state and one row per operation
    assert {key: fill for key, (fill, _, _) in blocks.items()} == {
        (0, "free", 0): UNMOVABLE_TINT, (0, "free", 8): UNMOVABLE_TINT,
        # order 1 from the order-3 block at pfn 8: pfns 8-9 allocated, 10-11 and 12-15 split off free
        (1, "free", 0): UNMOVABLE_TINT, (1, "alloc", 8): UNMOVABLE, (1, "free", 10): UNMOVABLE_TINT,
        (1, "free", 12): UNMOVABLE_TINT,
        # order 2 takes the order-2 block at pfn 12 whole
        (2, "free", 0): UNMOVABLE_TINT, (2, "alloc", 8): UNMOVABLE, (2, "free", 10): UNMOVABLE_TINT,
        (2, "alloc", 12): UNMOVABLE,
    }
    # pfns across: an order-3 block is four times as wide as an order-1 block, and they meet at pfn 8
    _, a0, a1 = blocks[(0, "free", 0)]
    _, b0, b1 = blocks[(1, "alloc", 8)]
    assert (a1 - a0) == pytest.approx(4 * (b1 - b0))
    assert b0 == pytest.approx(a1)


def test_the_rows_are_labelled_with_the_operations():
    sc, trace = two_allocations()
    picture = trace_picture(sc, trace)
    assert picture.labels == ("initial state", "1. m.alloc(G.GFP_KERNEL, 1, cpu=0)",
                              "2. m.alloc(G.GFP_KERNEL, 2, cpu=0)")
    assert (picture.first_pfn, picture.end_pfn) == (0, 16)


@draws
def test_per_cpu_pages_are_hatched_and_zone_boundaries_known(tmp_path):
    sc = scenario("numa2-kernel")  # an order-0 allocation fills the per-cpu list with the batch's rest
    picture = trace_picture(sc, offered(sc, "m.alloc(G.GFP_KERNEL, 0, cpu=0)"))
    pcp = [c for c in picture.cells if c.kind == "pcp"]
    assert pcp and all(c.row == 1 and c.npages == 1 for c in pcp)
    assert picture.zone_starts == (0, 16, 48, 64)
    blocks, rows = svg_blocks(write_picture(picture, tmp_path / "pcp.svg"))
    assert rows == 2
    for c in pcp:
        assert blocks[(1, "pcp", c.pfn)][0].startswith("url(#")  # a hatch pattern, not a plain fill
    free_fills = {fill for (row, kind, _), (fill, _, _) in blocks.items() if kind == "free"}
    assert not any(f.startswith("url(") for f in free_fills)


@draws
def test_png_is_written_and_is_a_png(tmp_path):
    sc, trace = two_allocations()
    path = write_picture(trace_picture(sc, trace), tmp_path / "trace.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["trace.png"]  # no temporary file left


def test_a_counterexample_loaded_from_json_draws_the_same_picture():
    sc, trace = two_allocations()
    from buddycheck.checks.explore import Violation

    doc = trace_from_json(trace_to_json(sc, Violation("free_accounting", "planted", trace)))
    assert trace_picture(sc, doc.ops) == trace_picture(sc, trace)


def test_errors_unknown_suffix_no_matplotlib_and_a_trace_that_does_not_replay(tmp_path, monkeypatch):
    sc, trace = two_allocations()
    picture = trace_picture(sc, trace)
    with pytest.raises(PictureError, match=r"unknown picture format '\.gif' \(known: \.png, \.svg\)"):
        write_picture(picture, tmp_path / "trace.gif")
    free = offered(scenario("buddy-core", pages=4, max_order=3, orders=(0, 0)), "m.alloc(G.GFP_KERNEL, 0, cpu=0)",
                   "m.free(0, cpu=0)")[1]
    with pytest.raises(PictureError, match="does not replay: step 1"):
        trace_picture(sc, (free,))  # nothing allocated at pfn 0 yet
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PictureError, match=r"pip install 'buddycheck\[plot\]'"):
        require_plotting(tmp_path / "trace.svg")
    with pytest.raises(PictureError, match="matplotlib"):
        write_picture(picture, tmp_path / "trace.svg")
    assert list(tmp_path.iterdir()) == []


PLANTED = (
    "from buddycheck.model import Kernel419\n"
    "Bad = Kernel419.variant('no-nr-free')\n"
    "@Bad.override\n"
    "def expand(k, zone, page, low, high, migratetype):\n"
    "    size = 1 << high\n"
    "    while high > low:\n"
    "        high -= 1\n"
    "        size >>= 1\n"
    "        zone.free_area[high].free_list[migratetype].insert(0, page + size)\n"
    "        k.page_buddy[page + size] = high\n"
    "        # nr_free not incremented: free_accounting must catch it\n"
)


def explore_planted(capsys, tmp_path, *extra):
    bug = tmp_path / "bug.py"
    bug.write_text(PLANTED)
    code = main(["explore", "--pages", "8", "--max-order", "3", "--orders", "1-1", "--model", f"{bug}:Bad",
                 "--no-coverage", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@draws
def test_explore_picture_draws_the_first_counterexample(capsys, tmp_path):
    code, out, _ = explore_planted(capsys, tmp_path, "--picture", str(tmp_path / "cex.svg"))
    assert code == 1 and "VIOLATION of free_accounting after 1 operations" in out
    blocks, rows = svg_blocks(tmp_path / "cex.svg")
    assert rows == 2  # the initial state and the one allocation
    assert blocks[(0, "free", 0)][0] == UNMOVABLE_TINT
    assert {k[1] for k in blocks if k[0] == 1} == {"free", "alloc"}


@pytest.mark.parametrize("name, words", [("cex.gif", "unknown picture format '.gif'"),
                                         ("no/such/folder/cex.svg", "cannot write a file there")])
def test_explore_picture_refuses_a_bad_path_before_searching(capsys, tmp_path, name, words):
    code, out, err = explore_planted(capsys, tmp_path, "--picture", str(tmp_path / name))
    assert code == 2 and words in err and "--picture" in err
    assert out == "" and "Traceback" not in err


def test_explore_picture_without_matplotlib_exits_2(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = explore_planted(capsys, tmp_path, "--picture", str(tmp_path / "cex.png"))
    assert code == 2 and "pip install 'buddycheck[plot]'" in err and out == ""
    assert not (tmp_path / "cex.png").exists()


@draws
def test_check_picture_draws_the_first_regression(capsys, tmp_path):
    bug = tmp_path / "bug.py"
    bug.write_text(PLANTED)
    code = main(["check", "--preset", "buddy-core", "--pages", "8", "--max-order", "3", "--orders", "1-1",
                 "--model", f"{bug}:Bad", "--no-coverage", "--picture", str(tmp_path / "regression.svg")])
    out = capsys.readouterr().out
    assert code == 1 and "VIOLATION of free_accounting in buddy-core after 1 operations" in out
    blocks, rows = svg_blocks(tmp_path / "regression.svg")
    assert rows == 2
    assert [fill for (row, kind, _), (fill, _, _) in blocks.items() if kind == "alloc"] == [UNMOVABLE]  # row 1


def test_check_picture_refuses_an_unknown_suffix_before_proving(capsys, tmp_path):
    code = main(["check", "--preset", "buddy-core", "--picture", str(tmp_path / "cex.jpeg")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown picture format '.jpeg'" in err and "Traceback" not in err
