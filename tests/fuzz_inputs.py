"""Bad input for the command line, generated: malformed scenario files and topologies, mutated kmem traces,
bad option values, malformed exported counterexamples; each run in process through
`buddycheck.checks.cli.main(argv)` and judged.

Every generated case is bad input whose expected status is 2 (a valid input is never generated here, so a
search never starts): a case is a `Case(argv, names, files)` where `names` are words stderr must contain
(the offending key, option or file and line) and `files` the texts to write first (relative paths, filled
in under a temporary folder).

`outcome(case, folder)` runs one case and sorts it:

    clean       exit 2, stderr names what `names` asks for, no traceback
    unnamed     exit 2 without a traceback, but the key or file is not named
    traceback   an exception escaped main(), or stderr holds a traceback, or exit 4 (an internal error)
    success     exit 0: bad input taken as good
    wrong       any other status (1 a violation, 3 inconclusive) for bad input

tests/test_fuzz_cli.py draws small samples of each kind; tests/fuzz_measure.py counts outcomes over many.
"""

import contextlib
import io
import math
import os
from dataclasses import dataclass, field

from hypothesis import strategies as st

from buddycheck.checks.cli import main

OUTCOMES = ("clean", "unnamed", "traceback", "success", "wrong")

# ---- a case and its outcome ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, what stderr must name, and the files to write first ({dir} is the folder)."""

    argv: tuple
    names: tuple  # each a word stderr must hold, or a tuple of words one of which it must hold
    files: tuple = field(default=())  # (relative path, text)

    def resolved(self, folder):
        """argv and names with {dir} replaced by folder, after writing the files there."""
        for rel, text in self.files:
            path = os.path.join(folder, rel)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        fill = lambda s: s.replace("{dir}", folder)  # noqa: E731
        names = [fill(n) if isinstance(n, str) else tuple(map(fill, n)) for n in self.names]
        return [fill(a) for a in self.argv], names


def run(argv):
    """main(argv) with standard output and error captured: (status, stdout, stderr, escaped exception or None)."""
    out, err = io.StringIO(), io.StringIO()
    escaped = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as e:  # argparse's --help and --version
            status = e.code if isinstance(e.code, int) else 2
        except BaseException as e:  # noqa: BLE001  (any escape is what is measured)
            status, escaped = None, e
    return status, out.getvalue(), err.getvalue(), escaped


def classify(status, stderr, escaped, names):
    if escaped is not None or "Traceback (most recent call last)" in stderr or status == 4:
        return "traceback"
    if status == 0:
        return "success"
    if status != 2:
        return "wrong"
    low = stderr.lower()
    named = all(any(a.lower() in low for a in ((n,) if isinstance(n, str) else n)) for n in names)
    return "clean" if named else "unnamed"


def outcome(case, folder):
    """(kind, status, stderr) of one case run with its files written under folder."""
    argv, names = case.resolved(folder)
    status, _, stderr, escaped = run(argv)
    if escaped is not None:
        stderr += f"\n{type(escaped).__name__}: {escaped}"
    return classify(status, stderr, escaped, names), status, stderr


# ---- TOML text, written here so that any value (nan, huge, nested junk) can be put anywhere -------------------

def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):  # a basic string; every character outside printable ASCII escaped
        return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                             else f"\\U{ord(c):08x}" for c in v) + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def _key(k):
    return k if k.replace("_", "").replace("-", "").isalnum() else toml_value(k)


def toml_text(doc):
    """A document whose tables are all inline: [[alloc]] is written alloc = [{ ... }], which TOML reads alike."""
    return "".join(f"{_key(k)} = {toml_value(v)}\n" for k, v in doc.items())


# ---- scenario files --------------------------------------------------------------------------------------------

# a small valid scenario on a topology table; `tests/test_fuzz_cli.py` checks that it explores cleanly
BASE_SCENARIO = {
    "name": "fuzz-base",
    "description": "one node, one zone of 16 pages",
    "depth": 1,
    "max_states": 1000,
    "topology": {
        "name": "fuzz-16", "max_order": 3, "pageblock_order": 1,
        "node": [{"id": 0, "cpus": [0], "zone": [{"type": "Normal", "start_pfn": 0, "pages": 16}]}],
    },
    "alloc": [{"gfp": "GFP_KERNEL", "orders": [0, 1], "cpus": [0]}],
    "free": {"cpus": [0]},
    "drain": {"cpus": ["all"]},
}

ZONE = ("topology", "node", 0, "zone", 0)
NODE = ("topology", "node", 0)
ALLOC = ("alloc", 0)


@dataclass(frozen=True)
class Base:
    """A valid scenario and what each of its keys takes: ranges every valid value lies in (None: unbounded)."""

    doc: dict
    ints: dict  # path -> (lo, hi): a whole number
    int_lists: dict  # path -> (lo, hi): a list of whole numbers
    strs: frozenset  # paths of strings
    tables: frozenset  # paths of tables
    required: frozenset  # paths of keys that must be there
    gfps: tuple = (ALLOC + ("gfp",),)


BASE = Base(
    BASE_SCENARIO,
    ints={("depth",): (1, None), ("max_states",): (1, None), ("topology", "max_order"): (1, 20),
          ("topology", "pageblock_order"): (0, 2), NODE + ("id",): (0, 0), ZONE + ("start_pfn",): (0, None),
          ZONE + ("pages",): (1, None)},
    # orders below MAX_ORDER, CPUs that exist
    int_lists={ALLOC + ("orders",): (0, 2), ALLOC + ("cpus",): (0, 0), ("free", "cpus"): (0, 0),
               NODE + ("cpus",): (0, None)},
    strs=frozenset({("name",), ("description",), ZONE + ("type",)}),
    tables=frozenset({("topology",), NODE, ZONE, ALLOC, ("free",), ("drain",)}),
    required=frozenset({NODE + ("id",), ZONE + ("type",), ZONE + ("start_pfn",), ZONE + ("pages",),
                        ALLOC + ("gfp",)}),
)

# numa2 (two nodes of CPUs 0 and 1, MAX_ORDER 4, pageblocks of 4 pages) with tasks, mappings and the system calls
POLICY_SCENARIO = {
    "name": "fuzz-policy", "depth": 1, "max_states": 1000,
    "topology": {"preset": "numa2"},
    "task": [{"id": 1, "mems": [0]}],
    "mmap": [{"task": 0, "start": 0x200000, "length": 0x200000}],
    "policy": [{"task": 0, "mode": "MPOL_BIND", "nodes": [1]}],
    "mbind": [{"task": 0, "start": 0x200000, "length": 0x200000, "mode": "MPOL_INTERLEAVE", "nodes": [0, 1]}],
    "cpuset": [{"task": 1, "nodes": [0]}],
    "get_mempolicy": [{"task": 0, "addr": 0x200000, "flags": ["MPOL_F_ADDR"]}],
    "alloc_pages": [{"gfp": "GFP_KERNEL", "orders": [0], "cpus": [0], "task": 0}],
    "alloc_vma": [{"gfp": "GFP_HIGHUSER_MOVABLE", "orders": [0], "cpus": [0], "task": 0, "addr": 0x200000,
                   "hugepage": False}],
    "isolate": [{"start_pfn": 0, "end_pfn": 16, "migratetype": "MOVABLE"}],
    "free": {"cpus": [0, 1]},
}
_TASKS = [("policy", 0), ("mbind", 0), ("cpuset", 0), ("get_mempolicy", 0), ("alloc_pages", 0), ("alloc_vma", 0),
          ("mmap", 0)]
POLICY = Base(
    POLICY_SCENARIO,
    # tasks that exist (0 and 1); a mapping page-aligned inside the user address space; a new task's id unused
    ints={**{t + ("task",): (0, 1) for t in _TASKS}, ("mmap", 0, "start"): (0, 2**47 - 0x200000),
          ("mmap", 0, "length"): (1, 2**47 - 0x200000), ("task", 0, "id"): (1, None)},
    # the mems of a new task: nodes with memory; orders below MAX_ORDER 4; CPUs 0 and 1
    int_lists={("task", 0, "mems"): (0, 1), ("alloc_pages", 0, "orders"): (0, 3), ("alloc_pages", 0, "cpus"): (0, 1),
               ("alloc_vma", 0, "orders"): (0, 3), ("alloc_vma", 0, "cpus"): (0, 1), ("free", "cpus"): (0, 1)},
    strs=frozenset({("name",), ("isolate", 0, "migratetype")}),  # a mode may be a raw number
    tables=frozenset({("policy", 0), ("mbind", 0), ("cpuset", 0), ("get_mempolicy", 0), ("task", 0), ("mmap", 0),
                      ("alloc_pages", 0), ("alloc_vma", 0), ("isolate", 0), ("free",)}),
    required=frozenset({("task", 0, "mems"), ("alloc_pages", 0, "gfp"), ("alloc_vma", 0, "gfp")}),
    gfps=(("alloc_pages", 0, "gfp"), ("alloc_vma", 0, "gfp")),
)
BASES = (BASE, POLICY)

HUGE = st.sampled_from([2**31, 2**32, 2**63 - 1, 10**18])
NOT_A_NUMBER = st.sampled_from([math.nan, math.inf, -math.inf])
JUNK = st.recursive(
    st.one_of(st.text(max_size=8), st.booleans(), st.floats(allow_nan=True)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(["a", "b", "zz"]), inner, max_size=2)),
    max_leaves=6)


def _copy(doc):
    if isinstance(doc, dict):
        return {k: _copy(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_copy(v) for v in doc]
    return doc


def _at(doc, path):
    for step in path:
        doc = doc[step]
    return doc


def _set(doc, path, value):
    doc = _copy(doc)
    _at(doc, path[:-1])[path[-1]] = value
    return doc


def _delete(doc, path):
    doc = _copy(doc)
    del _at(doc, path[:-1])[path[-1]]
    return doc


def _name(path):
    """The key an error must name: the last named key of the path."""
    return next(str(p) for p in reversed(path) if isinstance(p, str))


@st.composite
def out_of_range_int(draw, lo, hi):
    below = st.integers(max_value=lo - 1).filter(lambda v: v > -(2**63)) if lo is not None else st.nothing()
    above = st.integers(min_value=hi + 1, max_value=2**63 - 1) if hi is not None else st.nothing()
    choices = [below, above, HUGE.filter(lambda v: hi is not None and v > hi)]
    return draw(st.one_of(*choices))


def wrong_type_for(kind):
    """Values of another type than kind ("int", "ints", "str", "table")."""
    scalars = {"int": st.one_of(st.text(max_size=6), st.booleans(), st.floats(allow_nan=True), NOT_A_NUMBER,
                                st.lists(st.integers(0, 3), max_size=2), st.just({"x": 1})),
               "ints": st.one_of(st.integers(0, 3), st.text(max_size=6), st.just({"x": [1]}),
                                 st.lists(st.one_of(st.text(min_size=1, max_size=3), st.floats(), st.booleans()),
                                          min_size=1, max_size=3)),
               "str": st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=True),
                                st.lists(st.integers(), max_size=2), st.just({"x": "y"})),
               "table": st.one_of(st.integers(), st.text(max_size=6), st.floats(allow_nan=True),
                                  st.lists(st.integers(), max_size=3))}
    return scalars[kind]


@st.composite
def bad_scenario(draw):
    """(document text, the key its error must name): one mutation of a valid scenario that makes it bad input."""
    kind = draw(st.sampled_from(["int_range", "int_type", "list_range", "list_type", "str_type", "table_type",
                                 "unknown_key", "missing_key", "nested_junk", "nan_inf", "syntax", "gfp"]))
    base = draw(st.sampled_from(BASES))
    doc = base.doc
    INT_KEYS, INT_LIST_KEYS, STR_KEYS, TABLES, REQUIRED = (  # noqa: N806
        base.ints, base.int_lists, base.strs, base.tables, base.required)
    if kind == "int_range":
        path = draw(st.sampled_from(sorted(INT_KEYS, key=str)))
        return toml_text(_set(doc, path, draw(out_of_range_int(*INT_KEYS[path])))), _name(path)
    if kind == "int_type":
        path = draw(st.sampled_from(sorted(INT_KEYS, key=str)))
        return toml_text(_set(doc, path, draw(wrong_type_for("int")))), _name(path)
    if kind == "nan_inf":
        path = draw(st.sampled_from(sorted(INT_KEYS, key=str) + sorted(INT_LIST_KEYS, key=str)))
        value = draw(NOT_A_NUMBER)
        return toml_text(_set(doc, path, [value] if path in INT_LIST_KEYS else value)), _name(path)
    if kind == "list_range":
        path = draw(st.sampled_from(sorted(INT_LIST_KEYS, key=str)))
        lo, hi = INT_LIST_KEYS[path]
        bad = draw(out_of_range_int(lo, hi))
        return toml_text(_set(doc, path, [bad])), _name(path)
    if kind == "list_type":
        path = draw(st.sampled_from(sorted(INT_LIST_KEYS, key=str)))
        return toml_text(_set(doc, path, draw(wrong_type_for("ints")))), _name(path)
    if kind == "str_type":
        path = draw(st.sampled_from(sorted(STR_KEYS, key=str)))
        return toml_text(_set(doc, path, draw(wrong_type_for("str")))), _name(path)
    if kind == "gfp":  # a name, names joined with "|", or a non-negative number
        bad = draw(st.one_of(st.booleans(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=2),
                             st.just({"x": 1}), st.integers(max_value=-1), st.sampled_from(["", "GFP_NO_SUCH", "|"])))
        return toml_text(_set(doc, draw(st.sampled_from(base.gfps)), bad)), "gfp"
    if kind == "table_type":
        path = draw(st.sampled_from(sorted(TABLES, key=str)))
        return toml_text(_set(doc, path, draw(wrong_type_for("table")))), _name(path)
    if kind == "unknown_key":
        path = draw(st.sampled_from(sorted(TABLES, key=str) + [()]))
        key = "bogus_" + draw(st.text("abcdefxyz_", min_size=1, max_size=6))
        return toml_text(_set(doc, path + (key,), draw(JUNK))) if path else toml_text({**doc, key: 1}), key
    if kind == "missing_key":
        path = draw(st.sampled_from(sorted(REQUIRED, key=str)))
        return toml_text(_delete(doc, path)), _name(path)
    if kind == "nested_junk":
        path = draw(st.sampled_from(sorted(INT_KEYS, key=str) + sorted(STR_KEYS, key=str)))
        junk = draw(st.dictionaries(st.sampled_from(["a", "b"]), JUNK, min_size=1, max_size=2))
        return toml_text(_set(doc, path, junk)), _name(path)
    # syntax: the text cut short, or junk lines put in; the error names the file
    text = toml_text(doc)
    cut = draw(st.integers(1, len(text) - 1))
    broken = draw(st.sampled_from([text[:cut] + "= = [\n", text + "[[alloc\n", text + "depth = 1\n",
                                   "\x00\x01 junk ===\n" + text]))
    return broken, None


def scenario_cases(command=("explore", "--workers", "1", "--no-coverage")):
    """Cases: a bad scenario file given to --config; stderr names the key (or, for bad TOML, the file)."""
    return bad_scenario().map(lambda doc_key: Case(
        (*command, "--config", "{dir}/bad.toml"),
        ("bad.toml",) + ((doc_key[1],) if doc_key[1] else ()),
        (("bad.toml", doc_key[0]),)))


# ---- topologies (a topology table inside a scenario: its own keys and the relations between them) ---------------

@st.composite
def bad_topology(draw):
    """A topology table that no machine has, with the key its error must name."""
    kind = draw(st.sampled_from(["overlap", "cpu_twice", "node_twice", "pageblock", "watermarks", "zone_type",
                                 "lowmem", "pcp", "no_nodes", "preset_junk", "unknown_preset"]))
    topo = _copy(BASE_SCENARIO["topology"])
    zone = topo["node"][0]["zone"][0]
    if kind == "overlap":
        start = draw(st.integers(0, 15))
        topo["node"][0]["zone"].append({"type": "Movable", "start_pfn": start, "pages": draw(st.integers(1, 32))})
        name = "start_pfn"
    elif kind == "cpu_twice":
        topo["node"].append({"id": 1, "cpus": [0], "zone": [{"type": "Normal", "start_pfn": 16, "pages": 16}]})
        name = "cpus"
    elif kind == "node_twice":
        topo["node"].append({"id": 0, "cpus": [1], "zone": [{"type": "Normal", "start_pfn": 16, "pages": 16}]})
        name = "id"
    elif kind == "pageblock":
        topo["pageblock_order"] = draw(st.integers(topo["max_order"], 64))
        name = "pageblock_order"
    elif kind == "watermarks":
        zone["watermarks"] = draw(st.lists(st.integers(0, 4), max_size=5).filter(lambda v: len(v) != 3))
        name = "watermarks"
    elif kind == "zone_type":
        zone["type"] = draw(st.text("abcXYZ", min_size=1, max_size=8).filter(
            lambda s: s.lower() not in {"dma", "dma32", "normal", "highmem", "movable"}))
        name = "type"
    elif kind == "lowmem":
        zone["lowmem_reserve"] = draw(st.lists(st.integers(0, 4), max_size=7).filter(lambda v: len(v) != 5))
        name = "lowmem_reserve"
    elif kind == "pcp":
        zone["pcp"] = draw(st.lists(st.integers(0, 4), max_size=4).filter(lambda v: len(v) != 2))
        name = "pcp"
    elif kind == "no_nodes":
        del topo["node"]
        name = "node"
    elif kind == "preset_junk":
        topo = {"preset": "buddy-core", draw(st.sampled_from(["node", "pageblock_order", "cpus"])): 1}
        name = "preset"
    else:
        topo = {"preset": "no-such-" + draw(st.text("abcxyz", min_size=1, max_size=5))}
        name = "preset"
    return toml_text({**BASE_SCENARIO, "topology": topo}), name


def topology_cases():
    return bad_topology().map(lambda doc_name: Case(
        ("explore", "--workers", "1", "--no-coverage", "--config", "{dir}/topo.toml"),
        ("topo.toml", doc_name[1]), (("topo.toml", doc_name[0]),)))


# ---- kmem traces ----------------------------------------------------------------------------------------------

TRACE_SAMPLE = os.path.join(os.path.dirname(__file__), "kmem_traces", "follows.txt")
TRACE_ARGS = ("--preset", "numa2-kernel", "--pfn-offset", "1048576")


def _event_lines(lines):
    return [i for i, line in enumerate(lines) if ": mm_page_" in line]


@st.composite
def bad_trace(draw):
    """(trace text, 1-based number of the line that makes it unreadable): one kmem event line broken."""
    with open(TRACE_SAMPLE, encoding="utf-8") as f:
        lines = f.read().splitlines()
    i = draw(st.sampled_from(_event_lines(lines)))
    line = lines[i]
    kind = draw(st.sampled_from(["not_a_number", "negative", "missing_field", "cut", "junk_line", "lost", "gfp",
                                 "cpu_junk"]))
    head, _, body = line.partition(": mm_page_")
    event, _, fields = body.partition(": ")
    pairs = [p.split("=", 1) for p in fields.split()]
    numeric = [k for k, v in pairs if k not in ("page", "gfp_flags")]
    if kind == "not_a_number":
        key = draw(st.sampled_from(numeric))
        value = draw(st.sampled_from(["x", "nan", "inf", "1.5", "0xZZ", "--1", "1e9", ""]))
        line = line.replace(f" {key}={dict(pairs)[key]}", f" {key}={value}", 1)
    elif kind == "negative":
        key = draw(st.sampled_from([k for k in numeric if k in ("pfn", "order")]))
        value = draw(st.sampled_from(["-1", "-4096", str(-(2**63))]))
        line = line.replace(f" {key}={dict(pairs)[key]}", f" {key}={value}", 1)
    elif kind == "missing_field":
        key = draw(st.sampled_from([k for k, _ in pairs if k in ("pfn", "order", "migratetype", "gfp_flags")]))
        line = line.replace(f" {key}={dict(pairs)[key]}", "", 1)
    elif kind == "cut":
        line = line[:draw(st.integers(1, len(head) + 10))]
        if not line.strip() or line.lstrip().startswith("#"):
            line = "x" + line
    elif kind == "junk_line":
        line = draw(st.sampled_from(["\x00\x01\x02", "mm_page_alloc: pfn=1", "}{ garbage", "bash [000] 1.0:"]))
    elif kind == "lost":
        line = "CPU:0 [LOST 12 EVENTS]"
    elif kind == "gfp" and "gfp_flags=" in line:
        line = line.replace("gfp_flags=", "gfp_flags=GFP_NO_SUCH|", 1)
    else:  # cpu_junk: a CPU that is not a number makes the line unreadable
        line = line.replace("[000]", "[0x0]", 1).replace("[001]", "[x]", 1)
        if line == lines[i]:
            line = line.replace("]", "?]", 1)
    lines[i] = line
    return "\n".join(lines) + "\n", i + 1


def trace_cases():
    return bad_trace().map(lambda text_line: Case(
        ("trace", "{dir}/t.txt", *TRACE_ARGS), (f"t.txt:{text_line[1]}",), (("t.txt", text_line[0]),)))


# ---- command lines -----------------------------------------------------------------------------------------------

POSITIVE_INT = ["0", "-1", "-99999999999999999999", "nan", "inf", "", "1.5", "abc", "1e3", " ", "0x10"]
WHOLE = ["-1", "-99999999999999999999", "nan", "inf", "", "1.5", "abc", " "]
SECONDS = ["0", "-1", "nan", "inf", "-inf", "NaN", "", "abc", "1e400", "-0"]
# (command and the arguments it needs, option, bad values)
VALUE_OPTIONS = [
    (("explore", "--preset", "buddy-core"), "--depth", POSITIVE_INT),
    (("explore", "--preset", "buddy-core"), "--max-states", POSITIVE_INT),
    (("explore", "--preset", "buddy-core"), "--workers", POSITIVE_INT),
    (("explore", "--preset", "buddy-core"), "--pages", POSITIVE_INT),
    (("explore", "--preset", "buddy-core"), "--max-order", POSITIVE_INT),
    (("explore", "--preset", "buddy-core"), "--orders", ["", "a-b", "3-1", "-1", "1-", "-", "0-99", "1-2-3", "nan"]),
    (("explore", "--preset", "buddy-core", "--simulate"), "--seed", WHOLE),
    (("explore", "--preset", "buddy-core", "--simulate"), "--walks", POSITIVE_INT),
    (("explore", "--preset", "buddy-core", "--simulate"), "--time", SECONDS),
    (("explore", "--preset", "buddy-core"), "--invariants", ["", "nope", "4.20"]),
    (("explore", "--preset", "buddy-core"), "--invariant", ["", "no_such_invariant"]),
    (("explore",), "--preset", ["", "no-such-preset", " "]),
    (("explore",), "--model", ["", "nope", "no.such.module:X", "buddycheck.model:NOPE", ":", "{dir}/missing.py:X"]),
    (("check",), "--depth", POSITIVE_INT),
    (("check",), "--timeout", SECONDS),
    (("prove",), "--timeout", SECONDS),
    (("trace", TRACE_SAMPLE, *TRACE_ARGS), "--cpu", WHOLE + ["99"]),
    (("trace", TRACE_SAMPLE, "--preset", "numa2-kernel"), "--pfn-offset", WHOLE + ["3"]),
    (("trace", TRACE_SAMPLE, *TRACE_ARGS), "--context", WHOLE),
    (("diff", "4.19", "4.19.0", "--preset", "buddy-core"), "--depth", POSITIVE_INT),
    (("diff", "4.19", "4.19.0", "--preset", "buddy-core"), "--max-states", POSITIVE_INT),
    (("show",), "--depth", POSITIVE_INT),
    (("bench",), "--max-states", POSITIVE_INT),
]
# options naming a file that is read: a missing one, a directory, an empty name
INPUT_FILES = [
    (("explore", "--workers", "1"), "--config"),
    (("explore", "--workers", "1"), "--from-proc"),
    (("check",), "--config"),
    (("replay",), None),
    (("trace",), None),
    (("diff", "4.19", "4.19.0"), "--config"),
]
# options naming a file that is written: a directory, a file in a folder that does not exist
OUTPUT_FILES = [
    (("explore", "--preset", "buddy-core", "--depth", "1", "--workers", "1"), "--junit"),
    (("explore", "--preset", "buddy-core", "--depth", "1", "--workers", "1"), "--coverage"),
    (("explore", "--preset", "buddy-core", "--depth", "1", "--workers", "1"), "--emit-pytest"),
]


@st.composite
def bad_command_line(draw):
    kind = draw(st.sampled_from(["value", "input", "output"]))
    if kind == "value":
        base, option, values = draw(st.sampled_from(VALUE_OPTIONS))
        value = draw(st.sampled_from(values))
        # the option, or a value worth naming, quoted as messages quote it
        named = (option, repr(value))
        return Case((*base, option, value), (named,))
    if kind == "input":
        base, option = draw(st.sampled_from(INPUT_FILES))
        path = draw(st.sampled_from(["{dir}/missing.toml", "{dir}", "{dir}/sub/none.json"]))
        argv = (*base, path) if option is None else (*base, option, path)
        return Case(argv, (path if path != "" else option,))
    base, option = draw(st.sampled_from(OUTPUT_FILES))
    path = draw(st.sampled_from(["{dir}", "{dir}/no/such/folder/out.x"]))
    return Case((*base, option, path), (option,))


def command_line_cases():
    return bad_command_line()


KINDS = {"scenario": scenario_cases, "topology": topology_cases, "trace": trace_cases, "command": command_line_cases}


# ---- exported counterexamples (`buddycheck replay FILE`) ---------------------------------------------------------

# a counterexample as `explore --json` exports it: two operations on buddy-core; model_ref is filled in by the
# case (a planted model of tests/planted_models.py), so the document replays as written
COUNTEREXAMPLE = {
    "format": "buddycheck-counterexample", "version": 1, "scenario": "buddy-core",
    "params": {"preset": "buddy-core", "pages": 8, "max_order": 4, "orders": [1, 3]},
    "model": "merge-short", "model_ref": None, "machine": "preset('buddy-core', pages=8, max_order=4)",
    "invariant": "maximal_coalescing", "message": "two free buddies", "length": 2,
    "ops": [{"kind": "alloc", "gfp": "GFP_KERNEL", "order": 1, "cpu": 0, "nid": None, "env": {}},
            {"kind": "free", "pfn": 0, "cpu": 0}],
}
PLANTED_MODEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "planted_models.py") + ":MergeShort"
# (path, bad values): values no counterexample holds there (a CPU or order this machine lacks is not among them:
# on another model the same trace may fit, and replay answers 3, "no longer fits")
COUNTEREXAMPLE_BAD = {
    ("format",): [1, None, "buddycheck-trace", [], ""],
    ("version",): ["1", -1, 99, None, 1.5, [1]],
    ("params",): [[], "buddy-core", 3, None],
    ("params", "pages"): [-8, 0, "8", 2.5, [8], True],
    ("params", "max_order"): [-1, 0, "4", None, {"x": 1}],
    ("params", "orders"): ["1-3", [3, 1, 9], -1, [["x"]]],
    ("invariant",): [None, 7, [], "no_such_invariant"],
    ("ops",): [None, "alloc", 3, {"kind": "alloc"}, [1, 2], [None]],
    ("ops", 0, "kind"): ["no_such_kind", None, 3, ["alloc"]],
    ("ops", 0, "gfp"): ["GFP_NO_SUCH", -1, [1], None, {"x": 1}, 2.5],
    ("ops", 0, "order"): [-1, "1", None, 1.5, [1]],
    ("ops", 0, "cpu"): [-1, "0", None, 0.5, True],
    ("ops", 0, "env"): ["reclaim", [1], 3, {"no_such_answer": 1}],
    ("ops", 1, "pfn"): [-1, "0", None, 0.5, [0], True],
    ("ops", 1, "cpu"): [-1, "0", 1.5],
}


@st.composite
def bad_counterexample(draw):
    """(JSON text, the key its error must name)."""
    import json

    doc = _set(COUNTEREXAMPLE, ("model_ref",), PLANTED_MODEL)
    kind = draw(st.sampled_from(["value", "missing", "syntax"]))
    if kind == "value":
        path = draw(st.sampled_from(sorted(COUNTEREXAMPLE_BAD, key=str)))
        value = draw(st.sampled_from(COUNTEREXAMPLE_BAD[path]))
        return json.dumps(_set(doc, path, value)), _name(path)
    if kind == "missing":
        # (format and params may be left out: a document without them is read as one of the built-in scenario)
        path = draw(st.sampled_from([("ops",), ("ops", 0, "kind"), ("ops", 0, "gfp"), ("ops", 1, "pfn"),
                                     ("invariant",)]))
        return json.dumps(_delete(doc, path)), _name(path)
    text = json.dumps(doc)
    cut = draw(st.integers(1, len(text) - 1))
    return draw(st.sampled_from([text[:cut], text + "}", "[" + text, "\x00" + text, "NaN", "null", "[]"])), None


def counterexample_cases():
    return bad_counterexample().map(lambda text_key: Case(
        ("replay", "{dir}/cx.json"), ("cx.json",) + ((text_key[1],) if text_key[1] else ()),
        (("cx.json", text_key[0]),)))


KINDS["replay"] = counterexample_cases
