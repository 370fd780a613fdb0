"""No import cycles among the modules of buddycheck.model, buddycheck.spec and buddycheck.checks.

Every import statement of a module counts, wherever it stands: at the top, inside a function (an
import deferred to call time is still a dependency, and a cycle hidden that way breaks as soon as
someone moves it up) or under `if TYPE_CHECKING`. Relative imports are resolved against the
module's package. `from P import name` is an edge to the module P.name when that is a module of the
packages, else to P itself; `import P.m` is an edge to P.m alone, not to P's __init__ too.
"""

import ast
import graphlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_PACKAGES = ("buddycheck.model", "buddycheck.spec", "buddycheck.checks")


def package_folders(root):
    """{package name: folder} of the top packages, from pyproject.toml's package-dir."""
    with open(root / "pyproject.toml", "rb") as f:
        package_dir = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    return {name: root / package_dir[name] for name in TOP_PACKAGES}


def module_files(packages):
    """{module name: (path, is a package __init__)} of every .py below the given package folders."""
    modules = {}
    for package, folder in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            modules[".".join([package, *parts])] = (path, is_package)
    return modules


def imported_names(tree, module, is_package):
    """For every name an import statement of the module asks for: the absolute names it may be, likeliest first."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name,) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # from BASE import NAME: the submodule BASE.NAME if there is one
                yield f"{base}.{alias.name}", base


def import_graph(packages):
    """{module: set of modules of the packages it imports}."""
    modules = module_files(packages)
    graph = {}
    for module, (path, is_package) in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[module] = {next(name for name in candidates if name in modules)
                         for candidates in imported_names(tree, module, is_package)
                         if any(name in modules for name in candidates)}
    return graph


def find_cycle(graph):
    """One import cycle as 'a -> b -> a', or None.

    A topological order exists exactly when no strongly connected component has two modules and no
    module imports itself; graphlib names a cycle when it does not.
    """
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        cycle = list(reversed(e.args[1][1:]))  # graphlib lists it against the import direction
    else:
        return None
    start = cycle.index(min(cycle))  # the same cycle is named the same way every time
    cycle = cycle[start:] + cycle[:start]
    return " -> ".join(cycle + cycle[:1])


def test_the_packages_have_no_import_cycle():
    graph = import_graph(package_folders(ROOT))
    assert len(graph) > 50, "the package folders were not found"
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {cycle}"


def test_only_the_command_line_imports_the_command_line():
    # the engines (explore, diff, bench, verdict, ...) report through exit codes and return values
    graph = import_graph(package_folders(ROOT))
    cli = "buddycheck.checks.cli"
    inside = lambda module: module == cli or module.startswith(cli + ".")
    assert cli + ".common" in graph
    importers = sorted(m for m, targets in graph.items() if not inside(m) and any(inside(t) for t in targets))
    assert importers == []


def write_package(folder, files):
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize("files, expected", [
    # a cycle hidden in a function body, through a relative import
    ({"__init__.py": "", "a.py": "from .b import f\n", "b.py": "def f():\n    from . import a\n"},
     "pkg.a -> pkg.b -> pkg.a"),
    # under `if TYPE_CHECKING`, an absolute import, a two-dot relative one from a subpackage, one in a method
    ({"__init__.py": "", "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.sub.c\n",
      "sub/__init__.py": "", "sub/c.py": "from ..b import x\n",
      "b.py": "class B:\n    def f(self):\n        from .a import y\n"},
     "pkg.a -> pkg.sub.c -> pkg.b -> pkg.a"),
    # a module importing itself
    ({"__init__.py": "", "a.py": "import pkg.a\n"}, "pkg.a -> pkg.a"),
])
def test_a_planted_cycle_is_found_and_named(tmp_path, files, expected):
    write_package(tmp_path / "pkg", files)
    assert find_cycle(import_graph({"pkg": tmp_path / "pkg"})) == expected


def test_a_package_without_a_cycle_passes(tmp_path):
    write_package(tmp_path / "pkg", {"__init__.py": "from .a import f\n", "a.py": "from .b import g\n",
                                     "b.py": "import json\n\ndef g():\n    from . import c\n", "c.py": ""})
    graph = import_graph({"pkg": tmp_path / "pkg"})
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": set()}
    assert find_cycle(graph) is None
