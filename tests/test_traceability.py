"""Traceability: every kernel function is documented, named after its kernel counterpart, and listed."""

import ast
import importlib.util
import pathlib
import re
import tomllib

import pytest

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "traceability.md").read_text()
UNREGISTERED = ("gfp_zone", "next_node_in", "__next_node", "default_policy")


def generator():
    spec = importlib.util.spec_from_file_location("make_traceability", ROOT / "docs" / "make_traceability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tables_are_current():
    assert generator().render() == DOC, "docs/traceability.md is out of date: run python docs/make_traceability.py"


def kernel_sources():
    with open(ROOT / "docs" / "kernel-sources.toml", "rb") as f:
        sources = tomllib.load(f)
    return {**sources["registered"], **{name: w["kernel"] for name, w in sources["unregistered"].items()}}


def test_every_kernel_function_has_its_419_file_and_no_other_entry():
    with open(ROOT / "docs" / "kernel-sources.toml", "rb") as f:
        sources = tomllib.load(f)
    assert set(sources["registered"]) == set(KERNEL_FUNCTIONS)
    assert set(sources["unregistered"]) == set(UNREGISTERED)
    parse = generator().parse_location
    for where in kernel_sources().values():
        file, line = parse(where)  # raises unless "file" or "file:line" with a line from 1
        assert re.fullmatch(r"(mm|include|kernel|lib|arch)/[\w/.-]+\.[ch]", file) and (line is None or line >= 1)


@pytest.mark.parametrize("where, expected", [
    ("mm/page_alloc.c", ("mm/page_alloc.c", None)),
    ("mm/page_alloc.c:1234", ("mm/page_alloc.c", 1234)),
    ("kernel/cgroup/cpuset.c:7", ("kernel/cgroup/cpuset.c", 7)),
])
def test_a_location_is_a_file_and_an_optional_line(where, expected):
    assert generator().parse_location(where) == expected


@pytest.mark.parametrize("where", [
    "mm/page_alloc.c:0", "mm/page_alloc.c:-3", "mm/page_alloc.c:12a", "mm/page_alloc.c:", "/mm/page_alloc.c",
    "mm/page_alloc.py", "drivers/base/node.c", "mm/page_alloc.c:12:4", 1234,
])
def test_a_malformed_location_is_refused_naming_it(where):
    with pytest.raises(ValueError, match="kernel-sources.toml"):
        generator().parse_location(where)


def test_the_419_column_links_the_line_when_known_and_the_identifier_search_otherwise():
    link = generator().kernel_link
    assert link("expand", "mm/page_alloc.c:1234") == (
        "[mm/page_alloc.c:1234](https://elixir.bootlin.com/linux/v4.19/source/mm/page_alloc.c#L1234)")
    assert link("mpol_new", "mm/mempolicy.c") == (
        "[mm/mempolicy.c](https://elixir.bootlin.com/linux/v4.19/A/ident/mpol_new)")


@pytest.mark.parametrize("name", sorted(kernel_sources()))
def test_each_row_shows_the_location_of_the_table(name):
    row = next(line for line in DOC.splitlines() if line.startswith(f"| `{name}` |"))
    assert row.split(" | ")[1] == generator().kernel_link(name, kernel_sources()[name])


@pytest.mark.parametrize("name", UNREGISTERED)
def test_functions_kept_without_registering_have_a_row(name):
    assert f"| `{name}` |" in DOC and name not in KERNEL_FUNCTIONS


def test_a_row_lists_tests_that_name_the_function_and_not_others():
    # __rmqueue_smallest is called by name in test_buddy.py; test_cli.py only runs it through commands
    row = next(line for line in DOC.splitlines() if line.startswith("| `__rmqueue_smallest` |"))
    assert "test_buddy.py" in row and "test_cli.py" not in row
    assert "model/buddy.py:" in row and "mm/page_alloc.c" in row


@pytest.mark.parametrize("name", sorted(KERNEL_FUNCTIONS))
def test_every_kernel_function_has_a_row(name):
    assert f"| `{name}` |" in DOC, f"docs/traceability.md has no row for {name}"


@pytest.mark.parametrize("name", sorted(KERNEL_FUNCTIONS))
def test_docstring_names_the_kernel_function(name):
    doc = KERNEL_FUNCTIONS[name].__doc__ or ""
    # a function starts "name(): ..."; a kernel array or table starts "name[...]: ..."
    assert doc.startswith((f"{name}(", f"{name}[")), f"{name}'s docstring should start with '{name}(': {doc[:60]!r}"


@pytest.mark.parametrize("name", sorted(KERNEL_FUNCTIONS))
def test_kernel_functions_are_methods_of_the_model(name):
    assert getattr(Kernel419, name) is KERNEL_FUNCTIONS[name]


MODEL_MODULES = sorted(p for p in (ROOT / "model").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", MODEL_MODULES, ids=lambda p: p.name)
def test_module_docstring_states_its_scope(path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert len(doc) > 40, f"{path.name} needs a module docstring saying what it models"
    defines_kernel_functions = "@kernel_function" in path.read_text() and path.name != "kernel.py"
    if defines_kernel_functions:
        assert "abstracted away" in doc.lower() or "not modelled" in doc.lower(), (
            f"{path.name}: the module docstring must list what it abstracts away")


def test_every_page_alloc_function_gives_its_line_and_no_two_share_one():
    parse = generator().parse_location
    located = [parse(where) for where in kernel_sources().values() if where.startswith("mm/page_alloc.c")]
    lines = [line for _, line in located]
    assert lines and None not in lines, "every mm/page_alloc.c entry should give its 4.19 line"
    assert len(set(lines)) == len(lines)
