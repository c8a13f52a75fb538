"""The structural rules of docs/architecture.md that import-linter does not state: thin API
views, small modules, and no imports hidden inside functions (they would hide a layer cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    path
    for package in ("apps", "fixops")
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts
)
MAX_LINES = 500


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _may_import_in_functions(path: Path) -> bool:
    """Celery tasks and management commands import their services in the body (house style),
    AppConfig.ready() wires what needs the app registry, settings are plain configuration."""
    return (
        path.name in ("tasks.py", "apps.py") or "commands" in path.parts or "settings" in path.parts
    )


def test_api_views_read_through_selectors():
    offenders = [
        f"{_rel(path)}:{number}"
        for path in SOURCES
        if "api" in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ".objects." in line
    ]
    assert offenders == []


def test_no_module_grows_past_the_limit():
    sizes = {_rel(path): len(path.read_text().splitlines()) for path in SOURCES}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_no_project_import_hides_inside_a_function():
    hidden = []
    for path in SOURCES:
        if _may_import_in_functions(path):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.level == 0:
                    names = [inner.module or ""]
                elif isinstance(inner, ast.Import):
                    names = [alias.name for alias in inner.names]
                else:
                    continue
                if any(name.split(".")[0] in ("apps", "fixops") for name in names):
                    hidden.append(f"{_rel(path)}:{inner.lineno} {names[0]}")
    assert hidden == []
