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


# Modules a function imports on first use because they are slow to import and most processes
# never need them (docs/operations.md, "Start-up"): each within its own package, so no layer
# edge hides behind it.
DEFERRED = {
    "apps/workspace/reports/pdf.py": "apps.workspace.reports.pdf_layout",  # WeasyPrint, Pango
    "apps/tenants/sso/urls.py": "apps.tenants.sso.saml_views",  # pysaml2's XML schemas
}


def test_deferred_imports_stay_in_their_package():
    for source, target in DEFERRED.items():
        assert (
            target.rsplit(".", 1)[0]
            == source.removesuffix(".py").replace("/", ".").rsplit(".", 1)[0]
        ), (source, target)


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
                if isinstance(inner, ast.ImportFrom) and DEFERRED.get(_rel(path)) in (
                    f"{inner.module}.{alias.name}" for alias in inner.names
                ):
                    continue
                if any(name.split(".")[0] in ("apps", "fixops") for name in names):
                    hidden.append(f"{_rel(path)}:{inner.lineno} {names[0]}")
    assert hidden == []
