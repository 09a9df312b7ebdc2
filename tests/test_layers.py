"""The layer contract of the package, checked from the source (docs/architecture.md).

Every module of ``aof/`` is parsed with :mod:`ast`; every import counts, also one inside a
function or under ``if TYPE_CHECKING:``. The rules:

(a) a module imports only from its own layer or from a lower one (the order of ``LAYERS``);
(b) no import cycle between packages;
(c) the front ends (``aof.cli``, ``aof.mcp``) reach the library only through ``FRONT_DOOR``;
(d) no module is over ``MAX_MODULE_LINES`` lines, (e) no function over
    ``MAX_FUNCTION_LINES`` lines unless ``LONG_FUNCTIONS`` names it and says why.

The package door (``aof/__init__.py``, ``aof/__main__.py``) may import anything, lazily; but
``aof/__init__.py`` names only the modules in ``DOOR_NAMES``. The checker works on a plain
``{module: [imported modules]}`` map, so the tests at the end feed it a broken one.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import sub_env

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aof"

# The contract: layer name -> module prefixes, lowest layer first. A module may import from
# its own layer and from the layers above it in this table, never from one below it.
# registry/knowledge and the front ends mcp/web/cli are siblings, ordered explicitly:
# knowledge may import registry, web may import mcp, cli both, never the other way round.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("aof.errors", "aof.clock", "aof.layout")),
    ("files", ("aof.files",)),
    ("model", ("aof.model",)),
    ("journal", ("aof.journal",)),
    ("store", ("aof.store",)),
    ("coders", ("aof.coders",)),
    ("registry", ("aof.registry",)),
    ("knowledge", ("aof.knowledge",)),
    ("planner", ("aof.planner",)),
    ("notify", ("aof.notify",)),
    ("service", ("aof.service",)),
    ("ops", ("aof.ops",)),
    ("fleet", ("aof.fleet", "aof.fleetapi")),
    ("remote", ("aof.remote",)),
    ("runner", ("aof.runner",)),
    ("forge", ("aof.forge",)),
    ("scheduler", ("aof.scheduler",)),
    ("mcp", ("aof.mcp",)),
    ("web", ("aof.web",)),
    ("cli", ("aof.cli",)),
    ("launch", ("aof.launch",)),
]

# The package door: may import anything (lazily); not a layer.
DOOR = ("aof", "aof.__main__")

# What aof/__init__.py may name: the facade, the foundation, the actor and the model.
DOOR_NAMES = ("aof.fleet", "aof.errors", "aof.clock", "aof.layout", "aof.journal.audit")
DOOR_NAME_PREFIXES = ("aof.model",)

# Rule (c): the only modules of the library the front ends may import (besides their own
# package). A name ending in ".*" means the package and everything under it.
FRONT_ENDS = ("aof.cli", "aof.mcp", "aof.web")
FRONT_DOOR = (
    "aof",
    "aof.fleet",
    "aof.fleetapi",
    "aof.errors",
    "aof.clock",
    "aof.layout",
    "aof.model.*",
    "aof.registry",
    "aof.registry.spec",
    "aof.registry.team",
    "aof.registry.project",
    "aof.registry.host",
    "aof.registry.schedule",
    "aof.registry.agent",
    "aof.knowledge.spec",
    "aof.remote.*",
    "aof.runner.*",
    "aof.forge.*",
    "aof.scheduler.*",
)
FRONT_DOOR_EXTRA = {"aof.cli": ("aof.mcp.*", "aof.web.*"), "aof.web": ("aof.mcp.*",)}

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
# "module:qualified.name" -> why it may be longer than MAX_FUNCTION_LINES. docs/architecture.md
# lists the same entries (a test below compares the two).
LONG_FUNCTIONS: dict[str, str] = {}


# -- reading the tree ----------------------------------------------------------------------


def module_name(path: Path, package_dir: Path) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve_from(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _door_map(tree: ast.Module) -> dict[str, str]:
    """aof/__init__.py's lazy names: ``_WHERE = {"Fleet": "fleet", ...}``; the rest of
    ``__all__`` comes from aof.errors."""
    where: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and any(isinstance(t, ast.Name) and t.id == "_WHERE" for t in node.targets)
        ):
            for k, v in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant):
                    where[str(k.value)] = f"aof.{v.value}"
    return where


def imports_of(
    tree: ast.Module, module: str, is_package: bool, known: set[str], door: dict[str, str]
) -> list[str]:
    """Every module ``tree`` imports, anywhere in it, resolved to a module of ``known`` where
    one exists (``from aof.registry import team`` is ``aof.registry.team``; ``from aof import
    Fleet`` is ``aof.fleet``, through the door's own map)."""
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_from(node, module, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in known:
                    out.append(sub)
                elif base == "aof" and alias.name in door:
                    out.append(door[alias.name])
                elif base == "aof" and alias.name == "__version__":
                    continue  # a string the door defines itself: no module behind it
                elif base == "aof":
                    out.append("aof.errors")
                else:
                    out.append(base)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            name = node.args[0].value
            out.append(f"{module}{name}" if name.startswith(".") else name)
    return sorted({m for m in out if m == "aof" or m.startswith("aof.")})


@dataclass
class Tree:
    imports: dict[str, list[str]]  # module -> aof modules it imports
    lines: dict[str, int]  # module -> line count
    functions: dict[str, int]  # "module:qualname" -> line count


def _functions(tree: ast.Module, module: str) -> Iterator[tuple[str, int]]:
    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield f"{module}:{name}", (child.end_lineno or child.lineno) - child.lineno + 1
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def read_tree(package_dir: Path = PACKAGE) -> Tree:
    paths = sorted(package_dir.rglob("*.py"))
    names = {module_name(p, package_dir): p for p in paths}
    known = set(names)
    parsed = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in names.items()}
    top = package_dir.name
    door = _door_map(parsed[top]) if top in parsed else {}
    imports, lines, functions = {}, {}, {}
    for module, path in names.items():
        tree = parsed[module]
        imports[module] = imports_of(tree, module, path.name == "__init__.py", known, door)
        lines[module] = len(path.read_text(encoding="utf-8").splitlines())
        functions.update(_functions(tree, module))
    return Tree(imports, lines, functions)


# -- the checks ----------------------------------------------------------------------------


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    for i, (_, prefixes) in enumerate(layers):
        if any(_matches(module, p) for p in prefixes):
            return i
    return None


def layer_violations(
    imports: dict[str, list[str]], layers: list[tuple[str, tuple[str, ...]]] = LAYERS
) -> list[str]:
    """Rule (a): "importer (layer) -> imported (higher layer)" for each upward import, and
    any module that belongs to no layer."""
    found = []
    for module, targets in sorted(imports.items()):
        if module in DOOR:
            continue
        mine = layer_of(module, layers)
        if mine is None:
            found.append(f"{module}: in no layer")
            continue
        for target in targets:
            theirs = layer_of(target, layers)
            if target in DOOR:
                found.append(f"{module} ({layers[mine][0]}) -> {target} (the package door)")
            elif theirs is None:
                found.append(f"{module} ({layers[mine][0]}) -> {target} (in no layer)")
            elif theirs > mine:
                found.append(f"{module} ({layers[mine][0]}) -> {target} ({layers[theirs][0]})")
    return found


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_cycles(imports: dict[str, list[str]]) -> list[list[str]]:
    """Rule (b): the strongly connected parts (Tarjan) of more than one package of the graph
    between packages (``aof.X``); the door is left out, it imports everything on purpose."""
    graph: dict[str, set[str]] = {}
    for module, targets in imports.items():
        if module in DOOR:
            continue
        src = package_of(module)
        graph.setdefault(src, set())
        for target in targets:
            dst = package_of(target)
            if target not in DOOR and dst != src:
                graph[src].add(dst)
                graph.setdefault(dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                parts.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(parts)


def _allowed(target: str, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if p.endswith(".*") and _matches(target, p[:-2]):
            return True
        if target == p:
            return True
    return False


def front_end_violations(imports: dict[str, list[str]]) -> list[str]:
    """Rule (c): a front end's imports outside its own package and ``FRONT_DOOR``."""
    found = []
    for module, targets in sorted(imports.items()):
        front = next((f for f in FRONT_ENDS if _matches(module, f)), None)
        if front is None:
            continue
        permitted = (*FRONT_DOOR, f"{front}.*", *FRONT_DOOR_EXTRA.get(front, ()))
        found.extend(f"{module} -> {t}" for t in targets if not _allowed(t, permitted))
    return found


def door_violations(imports: dict[str, list[str]]) -> list[str]:
    """aof/__init__.py names only the facade, the foundation, the actor and the model."""
    return [
        f"aof -> {t}"
        for t in imports.get("aof", [])
        if t not in DOOR_NAMES and not any(_matches(t, p) for p in DOOR_NAME_PREFIXES)
    ]


def size_violations(tree: Tree) -> list[str]:
    """Rules (d) and (e)."""
    found = [
        f"{m}: {n} lines (> {MAX_MODULE_LINES})"
        for m, n in sorted(tree.lines.items())
        if n > MAX_MODULE_LINES
    ]
    found += [
        f"{f}: {n} lines (> {MAX_FUNCTION_LINES})"
        for f, n in sorted(tree.functions.items())
        if n > MAX_FUNCTION_LINES and f not in LONG_FUNCTIONS
    ]
    return found


def all_violations(tree: Tree) -> dict[str, list[str]]:
    return {
        "layers": layer_violations(tree.imports),
        "cycles": [" <-> ".join(c) for c in package_cycles(tree.imports)],
        "front ends": front_end_violations(tree.imports),
        "door": door_violations(tree.imports),
        "sizes": size_violations(tree),
    }


# -- the real tree -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree() -> Tree:
    return read_tree()


def test_every_module_is_in_a_layer(tree: Tree) -> None:
    assert [m for m in tree.imports if m not in DOOR and layer_of(m) is None] == []


def test_no_module_imports_a_higher_layer(tree: Tree) -> None:
    assert layer_violations(tree.imports) == []


def test_no_import_cycle_between_packages(tree: Tree) -> None:
    assert package_cycles(tree.imports) == []


def test_front_ends_use_only_the_front_door(tree: Tree) -> None:
    assert front_end_violations(tree.imports) == []


def test_the_package_door_names_only_the_facade_foundation_and_model(tree: Tree) -> None:
    assert door_violations(tree.imports) == []


def test_no_module_or_function_is_too_long(tree: Tree) -> None:
    assert size_violations(tree) == []


def test_long_function_allow_list_names_real_functions(tree: Tree) -> None:
    assert [f for f in LONG_FUNCTIONS if tree.functions.get(f, 0) <= MAX_FUNCTION_LINES] == []


def _doc_table(text: str, heading: str) -> list[list[str]]:
    """The rows of the first Markdown table under ``heading`` (header and rule left out)."""
    section = text.split(heading, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def test_docs_mirror_the_contract() -> None:
    """docs/architecture.md shows the same layer table and the same allow-list."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    layers = [
        (row[0].strip("`* "), tuple(re.findall(r"`([a-z_.]+)`", row[1])))
        for row in _doc_table(text, "## The layers")
    ]
    assert layers == LAYERS[::-1]
    long = {row[0].strip("`"): row[1] for row in _doc_table(text, "## Long functions")}
    assert sorted(k for k in long if k != "(none)") == sorted(LONG_FUNCTIONS)


# -- the checker can fail ------------------------------------------------------------------


def test_checker_reports_an_upward_import_and_a_cycle() -> None:
    imports = {
        "aof.files.cardfile": ["aof.errors", "aof.service.pipeline"],  # files -> service
        "aof.service.pipeline": ["aof.files.cardfile"],
        "aof.registry.entries": ["aof.knowledge.items"],  # registry -> knowledge
        "aof.knowledge.items": ["aof.registry.entries"],
        "aof.mcp.server": ["aof.cli.root"],  # mcp -> cli
        "aof.cli.root": ["aof.mcp.server", "aof.fleet"],
        "aof.errors": [],
        "aof.fleet": [],
    }
    assert layer_violations(imports) == [
        "aof.files.cardfile (files) -> aof.service.pipeline (service)",
        "aof.mcp.server (mcp) -> aof.cli.root (cli)",
        "aof.registry.entries (registry) -> aof.knowledge.items (knowledge)",
    ]
    assert package_cycles(imports) == [
        ["aof.cli", "aof.mcp"],
        ["aof.files", "aof.service"],
        ["aof.knowledge", "aof.registry"],
    ]


def test_checker_reads_every_kind_of_import(tmp_path: Path) -> None:
    """A synthetic package: imports inside functions, under TYPE_CHECKING and relative ones
    are all seen; a front end reaching past the door and an over-long function are reported."""
    pkg = tmp_path / "aof"
    for sub in ("files", "service", "cli", "model"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text('_WHERE = {"Fleet": "fleet"}\n')
    (pkg / "errors.py").write_text("")
    (pkg / "fleet.py").write_text("from .service import pipeline\n")
    (pkg / "model" / "task.py").write_text("from ..errors import *\n")
    (pkg / "files" / "cardfile.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..service.pipeline import Pipeline\n"
        "def f():\n    from aof import Fleet\n" + "    x = 1\n" * 90
    )
    (pkg / "service" / "pipeline.py").write_text("from ..files import cardfile\n")
    (pkg / "cli" / "task.py").write_text(
        "def main():\n    import aof.service.pipeline\n    from .. import Fleet\n"
    )
    tree = read_tree(pkg)
    assert tree.imports["aof.files.cardfile"] == ["aof.fleet", "aof.service.pipeline"]
    assert tree.imports["aof.cli.task"] == ["aof.fleet", "aof.service.pipeline"]
    found = all_violations(tree)
    assert found["layers"] == [
        "aof.files.cardfile (files) -> aof.fleet (fleet)",
        "aof.files.cardfile (files) -> aof.service.pipeline (service)",
    ]
    assert found["cycles"] == ["aof.files <-> aof.fleet <-> aof.service"]
    assert found["front ends"] == ["aof.cli.task -> aof.service.pipeline"]
    assert found["sizes"] == ["aof.files.cardfile:f: 92 lines (> 80)"]


# -- what one command loads ----------------------------------------------------------------

# `aof task create` must not load the runtime, the front ends it is not, the planner, the
# operations or the knowledge base, nor a heavy third-party package.
NOT_FOR_CREATE = (
    "aof.runner",
    "aof.forge",
    "aof.scheduler",
    "aof.mcp",
    "aof.knowledge",
    "aof.ops",
    "aof.planner",
    "mcp",
    "starlette",
    "uvicorn",
    "rich",
    "watchdog",
    "psutil",
    "jsonschema",
    "numpy",
    "githubkit",
    "httpx",
)


def modules_loaded_by(root: Path, *args: str) -> list[str]:
    """The modules in sys.modules after one `aof` call, run in a fresh interpreter."""
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['aof', '--root', {str(root)!r}, *{list(args)!r}]\n"
        "try:\n    runpy.run_module('aof', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=sub_env(), cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    return out.stderr.rsplit("MODULES ", 1)[1].split()


def test_task_create_loads_only_what_it_needs(root: Path) -> None:
    loaded = modules_loaded_by(root, "task", "create", "Layers", "--ready")
    assert [m for m in loaded if any(_matches(m, p) for p in NOT_FOR_CREATE)] == []
