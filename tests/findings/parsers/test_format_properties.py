"""Property tests for every registered parser, seeded with the real reports: reordering keys
changes nothing; dropping optional fields and adding unknown ones never raises anything but
ParseError. (NUL and absolute-path properties live in their own module.)"""

from __future__ import annotations

import io
import json
import random
import xml.etree.ElementTree as ET  # noqa: S405 - only our own committed fixtures are parsed
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.findings.parsers import get_parser, registry
from apps.findings.parsers.base import ParseError
from tests.findings.parsers.fidelity import SCANS

# one or more seeds per format, from the real corpus
SEEDS: dict[str, tuple[str, ...]] = {
    "sarif": ("sarif/real/bandit-1.8.6.sarif", "sarif/real/semgrep-1.90.0.sarif"),
    "checkov": ("checkov/real/multi-3.2.400.json", "checkov/real/summary-2.5.20.json"),
    "cyclonedx-json": ("cyclonedx/real/requirements-cdxbom7.2.1-1.6.json",),
    "cyclonedx-xml": (
        "cyclonedx/real/requirements-cdxbom3.11.7-1.0.xml",
        "cyclonedx/ext-vulnerability-1.1.xml",
        "cyclonedx/vex-osv-1.5.cdx.xml",
    ),
    "detect-secrets": ("detect-secrets/real/baseline-1.5.0.json",),
    "spdx-json": ("spdx/real/requirements-spdxtools0.8.3-2.3.spdx.json",),
    "spdx-tag-value": ("spdx/real/requirements-spdxtools0.8.3-2.2.spdx",),
    "gitleaks": ("gitleaks/real/v7.6.1-repo.json", "gitleaks/real/v8.18.4-git.json"),
    "trufflehog": (
        "trufflehog/real/v3.88.0-git-with-log.jsonl",
        "trufflehog/real/v2.2.1-legacy.jsonl",
    ),
    "trivy": (
        "trivy/real/legacy-0.19.2-fs.json",
        "trivy/real/schema2-0.69.1-fs.json",
        "trivy/real/k8s-0.35.0-cluster.json",
    ),
    "grype": ("grype/real/v0.3.0-dir.json", "grype/real/v0.73.0-dir.json"),
}
CASES = [(fmt, path) for fmt, paths in SEEDS.items() for path in paths]
UNKNOWN = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)


def test_every_registered_format_has_a_seed() -> None:
    assert set(SEEDS) == set(registry())


def _run(fmt: str, data: bytes) -> tuple[int, int, list[str]] | None:
    """(findings, components, rule ids) or None when the parser refused with ParseError."""
    try:
        result = get_parser(fmt).parse(io.BytesIO(data))
        findings = list(result.findings)
        components = list(result.components)
    except ParseError:
        return None
    return len(findings), len(components), sorted(f.rule_id for f in findings)


# --- JSON (and JSON lines) ------------------------------------------------------------------


def _json_docs(fmt: str, raw: bytes) -> list[Any]:
    if fmt == "trufflehog":
        return [json.loads(line) if line.startswith("{") else line for line in _lines(raw)]
    return [json.loads(raw)]


def _lines(raw: bytes) -> list[str]:
    return [line for line in raw.decode().splitlines() if line.strip()]


def _dump(fmt: str, docs: list[Any]) -> bytes:
    if fmt == "trufflehog":
        text = "\n".join(d if isinstance(d, str) else json.dumps(d) for d in docs)
        return (text + "\n").encode()
    return json.dumps(docs[0]).encode()


def _walk(value: Any, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    if isinstance(value, dict):
        return edit({k: _walk(v, edit) for k, v in value.items()})
    if isinstance(value, list):
        return [_walk(v, edit) for v in value]
    return value


def _shuffled(rnd: random.Random) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        keys = list(obj)
        rnd.shuffle(keys)
        return {k: obj[k] for k in keys}

    return edit


def _dropped_and_added(
    rnd: random.Random, extra: Any
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in obj.items() if rnd.random() > 0.15}
        if rnd.random() < 0.3:
            kept[f"x-unknown-{rnd.randrange(1000)}"] = extra
        return kept

    return edit


JSON_CASES = [case for case in CASES if not case[1].endswith((".xml", ".spdx"))]
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("fmt", "path"), JSON_CASES)
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1))
def test_json_key_order_changes_nothing(fmt: str, path: str, seed: int) -> None:
    rnd = random.Random(seed)
    raw = (SCANS / path).read_bytes()
    docs = [_walk(doc, _shuffled(rnd)) for doc in _json_docs(fmt, raw)]
    assert _run(fmt, _dump(fmt, docs)) == _run(fmt, raw)


@pytest.mark.parametrize(("fmt", "path"), JSON_CASES)
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), extra=UNKNOWN)
def test_json_missing_and_unknown_fields_raise_only_parse_errors(
    fmt: str, path: str, seed: int, extra: Any
) -> None:
    rnd = random.Random(seed)
    docs = [
        _walk(doc, _dropped_and_added(rnd, extra))
        for doc in _json_docs(fmt, (SCANS / path).read_bytes())
    ]
    _run(fmt, _dump(fmt, docs))  # anything but ParseError fails the test


# --- XML (CycloneDX) ------------------------------------------------------------------------


def _xml_edit(raw: bytes, rnd: random.Random, *, drop: bool, extra: str) -> bytes:
    root = ET.fromstring(raw)  # noqa: S314 - committed fixtures only
    namespace = root.tag.partition("}")[0] + "}"
    stack = [root]
    while stack:
        node = stack.pop()
        children = list(node)
        for child in children:
            node.remove(child)
        if drop:
            children = [c for c in children if rnd.random() > 0.15]
            if rnd.random() < 0.3:
                unknown = ET.Element(f"{namespace}x-unknown")
                unknown.text = extra
                children.append(unknown)
                node.set("x-unknown", extra)
        else:
            rnd.shuffle(children)
        node.extend(children)
        stack.extend(children)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


XML_CASES = [case for case in CASES if case[1].endswith(".xml")]


@pytest.mark.parametrize(("fmt", "path"), XML_CASES)
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1))
def test_xml_element_order_changes_nothing(fmt: str, path: str, seed: int) -> None:
    rnd = random.Random(seed)
    raw = (SCANS / path).read_bytes()
    before = _run(fmt, raw)
    after = _run(fmt, _xml_edit(raw, rnd, drop=False, extra=""))
    assert after == before


@pytest.mark.parametrize(("fmt", "path"), XML_CASES)
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), extra=st.text(max_size=20))
def test_xml_missing_and_unknown_elements_raise_only_parse_errors(
    fmt: str, path: str, seed: int, extra: str
) -> None:
    rnd = random.Random(seed)
    cleaned = "".join(ch for ch in extra if ch.isprintable())
    _run(fmt, _xml_edit((SCANS / path).read_bytes(), rnd, drop=True, extra=cleaned))


# --- SPDX tag-value ------------------------------------------------------------------------


def _sections(raw: bytes) -> list[list[str]]:
    """Lines grouped by package: a new group at each PackageName."""
    groups: list[list[str]] = [[]]
    for line in _lines(raw):
        if line.startswith(("PackageName:", "## Relationships")):
            groups.append([])
        groups[-1].append(line)
    return groups


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), extra=st.text(max_size=20))
def test_tag_value_field_order_and_unknown_tags(seed: int, extra: str) -> None:
    rnd = random.Random(seed)
    raw = (SCANS / SEEDS["spdx-tag-value"][0]).read_bytes()
    shuffled = []
    for group in _sections(raw):
        head, rest = group[:1], group[1:]
        rnd.shuffle(rest)
        shuffled += head + rest
    assert _run("spdx-tag-value", "\n".join(shuffled).encode()) == _run("spdx-tag-value", raw)
    edited = []
    for line in _lines(raw):
        if rnd.random() > 0.15 or line.startswith("SPDXVersion"):
            edited.append(line)
        if rnd.random() < 0.2:
            edited.append(f"XUnknownTag: {extra}")
    _run("spdx-tag-value", "\n".join(edited).encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("level", [{}, [], ["error"], {"a": 1}])
def test_sarif_rule_level_of_the_wrong_type_is_ignored(level: Any) -> None:
    # found by mutating the real corpus: an unhashable level was a TypeError (a 500)
    log = json.loads((SCANS / "sarif/real/bandit-1.8.6.sarif").read_bytes())
    for rule in log["runs"][0]["tool"]["driver"]["rules"]:
        rule["defaultConfiguration"] = {"level": level}
    assert _run("sarif", json.dumps(log).encode()) == _run(
        "sarif", (SCANS / "sarif/real/bandit-1.8.6.sarif").read_bytes()
    )
