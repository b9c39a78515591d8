"""The tree's shape, read from the source: one typed entry for the nodes, a documented public API, no import cycles.

Static (``ast``) checks: nothing is executed except importing ``face_identity`` itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO_ROOT

import face_identity

LIBRARY = REPO_ROOT / "face_identity"
NODES = REPO_ROOT / "nodes"
LAZY_IMPORT_ALLOWED = ("face_identity.convert",)
"""Modules that may be imported inside a function: the ONNX -> torch converter, reached only when a torch backend is asked for."""
NOT_CHECKED_FOR_LAZY_IMPORTS = ("face_identity.bench", "face_identity.devtools", "face_identity.convert")
"""Checked for cycles only: the tools (benchmark, synthetic-model builders) and the converter's own modules."""


def module_name(path: Path) -> str:
    """``face_identity/swap/run.py`` -> ``face_identity.swap.run``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    files = [*LIBRARY.rglob("*.py"), *NODES.rglob("*.py")]
    return {module_name(path): path for path in sorted(files) if "__pycache__" not in path.parts}


MODULES = source_files()


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def from_module(package: str, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` statement reads from, relative imports resolved against ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".") if package else []
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(name: str, path: Path) -> Iterator[tuple[str, ast.ImportFrom | ast.Import, bool]]:
    """``(target module, node, inside a function)`` for every import of a module of this tree.

    Imports under ``if TYPE_CHECKING:`` are left out (they never run). A relative import is resolved
    against the importing module's package; ``from .package import name`` points at the submodule
    ``name`` when there is one, else at the package.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = package_of(name, path)

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, ast.ImportFrom | ast.Import, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                target = from_module(package, child)
                for alias in child.names:
                    submodule = f"{target}.{alias.name}" if target else alias.name
                    if submodule in MODULES:
                        yield submodule, child, in_function
                    elif target in MODULES:
                        yield target, child, in_function
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in MODULES:
                        yield alias.name, child, in_function
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from visit(child, inner)

    yield from visit(tree, False)


def test_the_tree_is_found() -> None:
    assert {"face_identity", "face_identity.swap.run", "face_identity.select", "nodes.swap", "nodes.loaders"} <= set(MODULES)


def test_nodes_import_only_the_public_api() -> None:
    public = set(face_identity.__all__)
    problems = []
    for name, path in MODULES.items():
        if not name.startswith("nodes"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names if alias.name.startswith("face_identity")]
                problems += [f"{name}:{node.lineno} imports {module}; import from face_identity itself" for module in modules]
            if not isinstance(node, ast.ImportFrom):
                continue
            module = from_module(package_of(name, path), node)
            if module.startswith("face_identity.") or (module == "face_identity" and node.level == 0):
                problems.append(f"{name}:{node.lineno} imports from {module}; import from ..face_identity itself")
            elif module == "face_identity":
                problems += [
                    f"{name}:{node.lineno} uses {a.name}, not in face_identity.__all__"
                    for a in node.names
                    if a.name not in public
                ]
    assert not problems, "\n".join(problems)


def test_public_api_is_complete_and_documented_by_stage() -> None:
    names = face_identity.__all__
    assert len(names) == len(set(names)), "a name is listed twice in __all__"
    assert not [name for name in names if not hasattr(face_identity, name)]
    doc = face_identity.__doc__ or ""
    assert not [name for name in names if f"``{name}``" not in doc], "every public name is documented in the package docstring"


API_LIMIT = 40
"""At most this many public names (issue 19): a small API a Python user can learn, documented by stage."""


def test_public_api_is_small_and_every_name_has_its_row_in_the_api_docs() -> None:
    names = face_identity.__all__
    assert len(names) <= API_LIMIT, f"{len(names)} public names; the API keeps at most {API_LIMIT}"
    doc = (REPO_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    rows = {line.split("`")[1].split("(")[0] for line in doc.splitlines() if line.startswith("| `")}
    assert not [name for name in names if name not in rows], "every public name has a row in docs/api.md"
    assert not sorted(rows - set(names)), "docs/api.md lists only public names in its tables"


def test_no_import_cycles() -> None:
    graph = {
        name: sorted({target for target, _, _ in imports_of(name, path) if target != name}) for name, path in MODULES.items()
    }
    state: dict[str, str] = {}
    trail: list[str] = []

    def walk(name: str) -> list[str] | None:
        state[name] = "open"
        trail.append(name)
        for target in graph.get(name, []):
            if state.get(target) == "open":
                return [*trail[trail.index(target) :], target]
            if target not in state and (cycle := walk(target)) is not None:
                return cycle
        state[name] = "done"
        trail.pop()
        return None

    for name in graph:
        if name not in state:
            cycle = walk(name)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", [name for name in MODULES if not name.startswith(NOT_CHECKED_FOR_LAZY_IMPORTS)])
def test_no_function_level_imports_inside_the_tree(name: str) -> None:
    lazy = [
        f"{name}:{node.lineno} imports {target} inside a function"
        for target, node, in_function in imports_of(name, MODULES[name])
        if in_function and not target.startswith(LAZY_IMPORT_ALLOWED)
    ]
    assert not lazy, "\n".join(lazy)


MODULE_LINE_LIMIT = 450
"""One concern per module: a module that outgrows this is split by what it does."""


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {
        str(path.relative_to(REPO_ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in (LIBRARY, NODES)
        for path in folder.rglob("*.py")
    }
    assert sizes and {path: lines for path, lines in sizes.items() if lines > MODULE_LINE_LIMIT} == {}


COMFYUI_MODULES = ("comfy", "comfy_api", "comfy_execution", "folder_paths", "latent_preview", "node_helpers", "server")
"""Top-level modules of ComfyUI itself (never installed outside it): the nodes' imports of these are typed by typings/."""


def mypy_config() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config: dict[str, Any] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    return config


def test_mypy_checks_the_library_the_nodes_and_the_pack_entry_points() -> None:
    """``python -m mypy`` (run by scripts/test.sh before the tests) covers nodes/ with the library's strictness.

    The nodes are reached through typings/face_identity_pack (links to the pack, so that their relative
    imports resolve): each listed path must lead to the pack's own files, and the links must not be broken.
    """
    config = mypy_config()
    checked = {(REPO_ROOT / entry).resolve() for entry in config["files"]}
    assert {LIBRARY, NODES, REPO_ROOT / "__init__.py", REPO_ROOT / "prestartup_script.py"} <= checked
    assert (REPO_ROOT / "typings" / "face_identity_pack" / "nodes" / "comfy.py").is_file()
    assert config["mypy_path"] == "typings"
    assert config["disallow_untyped_defs"] and config["disallow_incomplete_defs"] and config["check_untyped_defs"]
    assert not [o for o in config.get("overrides", []) if any(str(m).startswith(("nodes", "face_identity")) for m in o["module"])]


def test_every_comfyui_module_the_nodes_import_has_a_stub() -> None:
    stubs = REPO_ROOT / "typings"
    imported: set[str] = set()
    for name, path in MODULES.items():
        if not name.startswith("nodes"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    comfyui = sorted(module for module in imported if module.split(".")[0] in COMFYUI_MODULES)
    assert "folder_paths" in comfyui and "comfy.model_management" in comfyui  # the scan finds the lazy imports
    missing = []
    for module in comfyui:
        parts = module.split(".")
        as_module, as_package = stubs.joinpath(*parts).with_suffix(".pyi"), stubs.joinpath(*parts, "__init__.pyi")
        if not as_module.is_file() and not as_package.is_file():
            # ``from comfy_execution.graph_utils import ExecutionBlocker``: a name inside a stubbed module
            owner = stubs.joinpath(*parts[:-1]).with_suffix(".pyi")
            if not owner.is_file() or f" {parts[-1]}" not in owner.read_text(encoding="utf-8"):
                missing.append(module)
    assert not missing, f"ComfyUI names imported by the nodes without a stub in typings/: {missing}"
