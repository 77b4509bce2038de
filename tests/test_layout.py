"""The package's shape: no import cycles, and a core that names no feature."""

from __future__ import annotations

import ast
from pathlib import Path

import carafe

PACKAGE = Path(carafe.__file__).resolve().parent
# The features Carafe ships; they join an app through carafe.extensions.
FEATURES = (
    "carafe.web",
    "carafe.forms",
    "carafe.background",
    "carafe.security",
    "carafe.pagination",
    "carafe.envelopes",
    "carafe.sse",
    "carafe.pubsub",
    "carafe.openapi",
    "carafe.ratelimit",
    "carafe._pydantic",
)


def _is_feature(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FEATURES)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    names = [f"{base}.{alias.name}" for alias in node.names]
    return [name if name in MODULES else base for name in names]


def _imports(path: Path, *, lazy: bool) -> set[str]:
    """The carafe modules ``path`` imports when it is imported (or ever, with ``lazy``)."""
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update(t for t in _targets(node) if t in MODULES)
            elif isinstance(node, ast.If) and _is_type_checking(node):
                continue
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if lazy:
                    visit(node.body)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit([n for n in getattr(node, field, []) if isinstance(n, ast.AST)])

    visit(ast.parse(path.read_text()).body)
    return found


def test_no_import_cycles_outside_type_checking() -> None:
    graph = {name: _imports(path, lazy=False) for name, path in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def walk(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                walk(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name, [name])
    assert cycles == []


def test_the_core_request_path_names_no_feature() -> None:
    core = [name for name in MODULES if name.startswith(("carafe._core", "carafe.routing"))]
    core += ["carafe.app", "carafe.requests", "carafe.responses", "carafe.context"]
    core += ["carafe.extensions"]
    named = {
        name: sorted(t for t in _imports(MODULES[name], lazy=True) if _is_feature(t))
        for name in core
    }
    assert {name: found for name, found in named.items() if found} == {
        # The one place the shipped features are listed: builtin_extensions().
        "carafe.extensions": [
            "carafe.background",
            "carafe.envelopes",
            "carafe.forms",
            "carafe.pagination",
            "carafe.ratelimit",
            "carafe.security",
            "carafe.web.sessions",
        ],
        # ``await request.form()``, Flask's ``request.form``: the parser, loaded on use.
        "carafe.requests": ["carafe.forms"],
        # The app's two one-setting switches, loaded on use: ``Carafe(docs=...)`` serves
        # the OpenAPI document and pages, ``Carafe(csrf=True)`` is CSRFProtect(app).
        "carafe.app": ["carafe.openapi", "carafe.openapi.docs", "carafe.web.csrf"],
    }
