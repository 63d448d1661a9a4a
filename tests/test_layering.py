"""Imports flow one way (../shared/DESIGN.md, "Layering"):

    base utilities (recpim.units, errors, validation, paths, interrupts, runinfo, console, crossbar_numbers)
      -> arch (inside it: data, graph, crossbar -> model -> train), pim (independent of each other)
      -> mapping -> search -> reports -> recpim.api -> recpim.cli and recpim.demo -> recpim.__main__

This test reads every module's imports from its source (ast, nothing is executed) and fails on an
import that points up a layer, on arch <-> pim, on any circle of modules, and on an import inside a
function that saves nothing: a function may import only a heavy or optional library (torch,
optuna, matplotlib, pyarrow, ray ...) or a recpim module that loads one its own module does not.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"arch": "recpim.arch", "pim": "recpim.pim", "mapping": "recpim.mapping", "search": "recpim.search",
           "reports": "recpim.reports", "recpim": "recpim"}
BASE = {"recpim", "recpim.units", "recpim.errors", "recpim.validation", "recpim.paths", "recpim.interrupts",
        "recpim.runinfo", "recpim.console", "recpim.crossbar_numbers"}
# Inside arch/ (DESIGN.md, "Layout"): five rooms, ranked. data, graph and crossbar stand side by side
# (none imports another), model builds on them, train on model.
ARCH_ROOMS = {"recpim.arch.data": 0, "recpim.arch.graph": 0, "recpim.arch.crossbar": 0, "recpim.arch.model": 1,
              "recpim.arch.train": 2}
LAYERS = {"recpim.arch": 1, "recpim.pim": 1, "recpim.mapping": 2, "recpim.search": 3, "recpim.reports": 4,
          "recpim.api": 5, "recpim.demo": 6, "recpim.cli": 6, "recpim.__main__": 7}
# Libraries worth deferring: slow to import (torch ~2 s, optuna ~1 s, networkx ~0.3 s, numpy ~0.2 s:
# the CLI's start-up should not pay for every command's stack) or optional/platform-specific.
HEAVY = {"torch", "optuna", "matplotlib", "pyarrow", "sqlalchemy", "networkx", "numpy", "scipy", "simpy",
         "ray", "playwright", "resource", "numba"}


@dataclass(frozen=True)
class Import:
    target: str          # a recpim module, or an external top-level package
    line: int
    in_function: bool
    internal: bool


def module_files() -> dict[str, Path]:
    files = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            files[name] = path
    return files


FILES = module_files()


def layer(module: str) -> int:
    if module in BASE:
        return 0
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise AssertionError(f"{module} is in no layer: add it to tests/test_layering.py and DESIGN.md")


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING" or \
        isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if FILES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _resolve(module, node)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in FILES else base for alias in node.names]
    out = []
    for name in names:
        if name.split(".")[0] == "recpim":
            while name not in FILES and "." in name:
                name = name.rsplit(".", 1)[0]
        out.append(name)
    return sorted(set(out))


def imports_of(module: str) -> list[Import]:
    """Every import of `module` outside `if TYPE_CHECKING:` blocks."""
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(module, child):
                    found.append(Import(target, child.lineno, in_function, target in FILES))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(FILES[module].read_text()), False)
    return found


IMPORTS = {module: imports_of(module) for module in FILES}


def _heavy(target: str) -> bool:
    return any(target == lib or target.startswith(lib + ".") for lib in HEAVY)


def heavy_at_import() -> dict[str, frozenset[str]]:
    """The heavy libraries each module loads when imported (its module-level imports, transitively)."""
    graph = nx.DiGraph()
    for module, found in IMPORTS.items():
        graph.add_node(module)
        for item in found:
            if not item.in_function:
                graph.add_edge(module, item.target)
                # Importing a.b.c runs the __init__ of a.b first: its imports load too (the
                # importer's own packages are loaded before it runs, so they are not its doing).
                parts = item.target.split(".")
                for depth in range(1, len(parts)):
                    parent = ".".join(parts[:depth])
                    if parent in FILES and not module.startswith(parent + "."):
                        graph.add_edge(module, parent)
    loads = {}
    for module in FILES:
        reached = nx.descendants(graph, module) | {module}
        loads[module] = frozenset(t for t in reached if _heavy(t))
    return loads


HEAVY_AT_IMPORT = heavy_at_import()


def loads_when_imported(target: str, importer: str) -> frozenset[str]:
    """What importing `target` from `importer` loads: the target's own imports and its packages'
    __init__ imports (but not the importer's own packages: they are loaded already)."""
    parts = target.split(".")
    packages = [".".join(parts[:depth]) for depth in range(1, len(parts))]
    modules = [target] + [p for p in packages if p in FILES and not importer.startswith(p + ".")]
    return frozenset().union(*(HEAVY_AT_IMPORT[m] for m in modules))


def test_every_module_is_in_a_layer():
    for module in FILES:
        layer(module)


def test_no_import_points_up_a_layer_and_arch_and_pim_stay_apart():
    upward = []
    for module, found in IMPORTS.items():
        for item in found:
            if not item.internal or item.target == module:
                continue
            if layer(item.target) > layer(module):
                upward.append(f"{module}:{item.line} imports {item.target} (layer {layer(item.target)} > "
                              f"{layer(module)})")
            sides = {(module.split(".") + [""])[1], (item.target.split(".") + [""])[1]}
            if sides == {"arch", "pim"}:
                upward.append(f"{module}:{item.line} imports {item.target}: arch and pim are independent")
    assert not upward, "\n".join(upward)


def test_modules_import_each_other_in_no_circle():
    graph = nx.DiGraph()
    for module, found in IMPORTS.items():
        for item in found:
            if item.internal and item.target != module:
                graph.add_edge(module, item.target)
    circles = [" -> ".join([*cycle, cycle[0]]) for cycle in nx.simple_cycles(graph)]
    assert not circles, "\n".join(circles[:20])


def test_imports_inside_functions_only_defer_something_heavy():
    needless = []
    for module, found in IMPORTS.items():
        for item in found:
            if not item.in_function:
                continue
            if item.internal:
                if loads_when_imported(item.target, module) - HEAVY_AT_IMPORT[module]:
                    continue           # e.g. a CLI command deferring the module that loads torch
            elif _heavy(item.target):
                continue
            needless.append(f"{module}:{item.line} imports {item.target} inside a function (it loads nothing "
                            "heavy its module does not already load: import it at the top)")
    assert not needless, "\n".join(needless)


def arch_room(module: str) -> str | None:
    for room in ARCH_ROOMS:
        if module == room or module.startswith(room + "."):
            return room
    return None


def test_arch_holds_only_its_rooms():
    """arch/ has no module at its top level but __init__.py: every module lives in one of the rooms."""
    loose = sorted(p.name for p in (ROOT / "arch").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside arch's rooms: {loose}"
    rooms = sorted(p.name for p in (ROOT / "arch").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert rooms == sorted(r.rsplit(".", 1)[1] for r in ARCH_ROOMS)
    for module in FILES:
        if module.startswith("recpim.arch."):
            assert arch_room(module), f"{module} is in no arch room: add it to ARCH_ROOMS"


def test_arch_rooms_import_downward_only():
    wrong = []
    for module, found in IMPORTS.items():
        room = arch_room(module)
        if room is None:
            continue
        for item in found:
            target = arch_room(item.target) if item.internal else None
            if target is None or target == room:
                continue
            if ARCH_ROOMS[target] >= ARCH_ROOMS[room]:
                wrong.append(f"{module}:{item.line} imports {item.target} ({target} is not below {room})")
    assert not wrong, "\n".join(wrong)


# The modules whose docstrings promise they are torch-free (a promise this test keeps true).
@pytest.mark.parametrize("module", ["recpim.arch.model.lowering", "recpim.mapping.cost", "recpim.pim.engine",
                                    "recpim.cli", "recpim.reports.breakdown", "recpim.arch.crossbar.arithmetic",
                                    "recpim.mapping.arithmetic", "recpim.arch.train.config",
                                    "recpim.arch.model.sharing", "recpim.arch.graph.builder",
                                    "recpim.arch.graph.workload", "recpim.crossbar_numbers"])
def test_cost_path_modules_load_no_torch(module):
    assert "torch" not in HEAVY_AT_IMPORT[module], f"{module} loads torch at import"


def test_the_cli_starts_without_the_heavy_stacks():
    """`recpim --help` and `recpim chip` pay for none of torch, optuna, matplotlib or pyarrow."""
    assert not HEAVY_AT_IMPORT["recpim.cli"] & {"torch", "optuna", "matplotlib", "pyarrow", "ray"}


def test_each_command_module_loads_only_its_own_stack():
    """recpim.cli loads a command's module only when that command runs (recpim/cli/__init__.py): what
    each module loads at import is what that command pays before it starts."""
    from recpim.cli import COMMANDS

    assert not HEAVY_AT_IMPORT["recpim.cli"] & {"networkx", "numpy", "torch", "simpy", "matplotlib"}
    assert not HEAVY_AT_IMPORT["recpim.cli.cmd_chip"] & {"networkx", "numpy", "torch", "simpy", "matplotlib"}
    for name, (module, _) in COMMANDS.items():
        assert f"recpim.cli.{module}" in FILES, name
        if name not in ("supernet", "demo", "search"):    # training and search commands need torch
            assert "torch" not in HEAVY_AT_IMPORT[f"recpim.cli.{module}"], name
