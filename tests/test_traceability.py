"""Traceability: every kernel function is documented, named after its kernel counterpart, and listed."""

import ast
import pathlib

import pytest

from buddycheck.model import Kernel419
from buddycheck.model.kernel import KERNEL_FUNCTIONS

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "traceability.md").read_text()


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
