"""Text hygiene in every parser: U+0000 and unpaired surrogates become U+FFFD, counted once
as a warning, never an exception other than ParseError (apps/findings/parsers/_text.py)."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser, registry
from apps.findings.parsers._text import TextGuard
from apps.findings.parsers.base import NormalizedFinding, ParseError, Parser, ParseResult
from fixops.platform.text import clean_data, clean_text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
NEEDS_FORMAT = {"gitleaks/empty.json": "gitleaks"}


def _detected(path: Path) -> str:
    """The format of a fixture ("" for files that are no report: notes, generators)."""
    name = str(path.relative_to(FIXTURES))
    if name in NEEDS_FORMAT:
        return NEEDS_FORMAT[name]
    try:
        return detect_parser(path.read_bytes()[:HEAD_BYTES]).format
    except ParseError:
        return ""


def _kind(path: Path) -> str:
    """How strings are written in the file: "json", "jsonl" (one document a line), "xml" or
    "text" (anything else, e.g. SPDX tag-value)."""
    data = path.read_bytes().lstrip(b"\xef\xbb\xbf \t\r\n")
    if data.startswith(b"<"):
        return "xml"
    try:
        json.loads(data)
        return "json"
    except ValueError:
        pass
    lines = [line for line in data.splitlines() if line.strip()]
    try:
        for line in lines:
            json.loads(line)
    except ValueError:
        return "text"
    return "jsonl" if lines else "text"


REPORTS = sorted(
    p
    for p in FIXTURES.rglob("*")
    if p.is_file() and "hostile" not in p.parts and p.suffix not in {".md", ".py"}
    and _detected(p)
)  # fmt: skip
JSON_REPORTS = [p for p in REPORTS if _kind(p) in ("json", "jsonl")]
XML_REPORTS = [p for p in REPORTS if _kind(p) == "xml"]
TEXT_REPORTS = [p for p in REPORTS if _kind(p) == "text"]
BAD = ["\x00", "\ud800", "\udc00", "\udbff", "a\x00b", "\x00\x00"]


def read_all(guard: TextGuard, size: int) -> bytes:
    out = b""
    while chunk := guard.read(size):
        out += chunk
    return out


# -- the byte-level guard ------------------------------------------------------------------------

atoms = st.sampled_from(
    [
        "a",
        "\\\\",
        "\\u0000",
        "\\ud800",
        "\\udc00",
        "\\ud83d\\ude00",
        "\\u00e9",
        '\\"',
        "é",
        "\\\\u0000",
        "\\\\\\u0000",
        "\\\\ud83d\\udc00",
        "\\uD800\\uDBFF",
        "\\uDBFF\\uDFFF",
        "\\u003c",
    ]
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(atoms, max_size=14), st.sampled_from([1, 2, 3, 5, 7, 13, 4096]))
def test_guard_matches_decoding_then_cleaning(parts, size):
    """Whatever the chunking, the guarded bytes decode to exactly what decoding the original
    and then cleaning every string gives, with the same count and the same length."""
    text = "".join(parts)
    doc = f'["{text}", {{"k": "{text}"}}]'
    expected, count = clean_data(json.loads(doc))
    guard = TextGuard(io.BytesIO(doc.encode()))
    out = read_all(guard, size)
    assert len(out) == len(doc.encode())
    assert json.loads(out.decode("utf-8")) == expected
    assert guard.replaced == count


def test_guard_counts_each_character_once_over_several_passes():
    doc = b'{"a": "x\\u0000y", "b": ["\\udc00"]}'
    guard = TextGuard(io.BytesIO(doc))
    first = guard.read()
    guard.seek(0)
    assert guard.read() == first and guard.replaced == 2
    guard.seek(5)
    assert guard.tell() == 5 and guard.read(3) == first[5:8]


def test_guard_replaces_raw_encoded_surrogates_and_leaves_other_formats_alone():
    guard = TextGuard(io.BytesIO(b'["a\xed\xa0\x80b"]'))
    assert json.loads(guard.read()) == ["a\ufffdb"] and guard.replaced == 1
    xml = b'<bom>"\\u0000"</bom>'
    guard = TextGuard(io.BytesIO(xml))
    assert guard.read(3) + guard.read() == xml and guard.mode == "xml"


def test_plain_text_is_cleaned_at_the_output():
    class Lines(Parser):  # no `format`: not registered
        label = "lines"

        @classmethod
        def detect(cls, head: bytes) -> bool:
            return False

        def parse(self, stream: BinaryIO) -> ParseResult:
            result = ParseResult(format="lines", tool_name="t\x00")
            result.findings = self._findings(stream.read().decode("utf-8", "surrogatepass"))
            return result

        def _findings(self, text: str) -> Iterator[NormalizedFinding]:
            for line in text.splitlines():
                yield NormalizedFinding(
                    kind="sast", tool="t", rule_id=line, title=line, severity="low", path=line
                )

    result = Lines().parse(io.BytesIO("a\x00b\nc\ud800\n".encode("utf-8", "surrogatepass")))
    findings = list(result.findings)
    list(result.components)
    assert [f.rule_id for f in findings] == ["a\ufffdb", "c\ufffd"]
    assert result.tool_name == "t\ufffd"
    [warning] = result.skipped
    assert not warning.lost_finding and warning.message.startswith("7 invalid characters")


# -- every parser -------------------------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for spec in dataclasses.fields(value):
            yield from _strings(getattr(value, spec.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)


def _storable(text: str) -> bool:
    return "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text)


def _inject(value: Any, choices: list[int], bad: str, counter: list[int]) -> Any:
    """`value` with `bad` inserted into the strings whose running index is in `choices`."""
    if isinstance(value, str):
        counter[0] += 1
        return value + bad if counter[0] - 1 in choices else value
    if isinstance(value, dict):
        return {k: _inject(v, choices, bad, counter) for k, v in value.items()}
    if isinstance(value, list):
        return [_inject(v, choices, bad, counter) for v in value]
    return value


def _parse(data: bytes, fmt: str) -> ParseResult:
    parser = get_parser(fmt)
    result = parser.parse(io.BytesIO(data))
    result.findings = iter(list(result.findings))
    result.components = iter(list(result.components))
    return result


def _format_of(path: Path) -> str:
    return _detected(path)


def test_every_registered_format_has_a_fixture_here():
    """So the property tests below reach every parser."""
    covered = {_format_of(p) for p in REPORTS}
    assert set(registry()) - covered == set()


@pytest.mark.parametrize("path", JSON_REPORTS, ids=lambda p: str(p.relative_to(FIXTURES)))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_nul_and_surrogates_in_any_string_of_any_json_report(path, data):
    fmt = _format_of(path)
    bad = data.draw(st.sampled_from(BAD))
    choices = data.draw(st.lists(st.integers(0, 400), min_size=1, max_size=8))
    if _kind(path) == "json":
        mutated = json.dumps(_inject(json.loads(path.read_bytes()), choices, bad, [0])).encode()
    else:  # JSON lines: the same, line by line
        counter = [0]
        lines = [line for line in path.read_bytes().splitlines() if line.strip()]
        mutated = b"\n".join(
            json.dumps(_inject(json.loads(line), choices, bad, counter)).encode() for line in lines
        )
    try:
        result = _parse(mutated, fmt)
    except ParseError:
        return
    outputs = [*result.findings, *result.components, *result.skipped]
    assert all(_storable(s) for item in outputs for s in _strings(item))
    assert _storable(result.tool_name) and _storable(result.tool_version)


@pytest.mark.parametrize("path", XML_REPORTS, ids=lambda p: str(p.relative_to(FIXTURES)))
@pytest.mark.parametrize("bad", [b"&#0;", b"&#xD800;", b"\x00", b"\xed\xa0\x80"])
def test_xml_cannot_carry_them_and_refuses_cleanly(path, bad):
    data = path.read_bytes().replace(b"</name>", bad + b"</name>", 1)
    with pytest.raises(ParseError):
        list(_parse(data, _format_of(path)).findings)


@pytest.mark.parametrize("path", TEXT_REPORTS, ids=lambda p: str(p.relative_to(FIXTURES)))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_nul_and_surrogates_anywhere_in_a_text_report(path, data):
    """Formats that are neither JSON nor XML: the raw characters, cleaned at the output."""
    text = path.read_bytes().decode("utf-8")
    bad = data.draw(st.sampled_from(BAD))
    positions = data.draw(st.lists(st.integers(0, max(len(text) - 1, 0)), min_size=1, max_size=8))
    for position in sorted(set(positions), reverse=True):
        text = text[:position] + bad + text[position:]
    try:
        result = _parse(text.encode("utf-8", "surrogatepass"), _format_of(path))
    except ParseError:
        return
    outputs = [*result.findings, *result.components, *result.skipped]
    assert all(_storable(s) for item in outputs for s in _strings(item))
    assert _storable(result.tool_name) and _storable(result.tool_version)


def test_a_grype_report_with_nuls_keeps_its_findings_with_u_fffd():
    path = FIXTURES / "grype" / "image-demo-shop.json"
    clean = _parse(path.read_bytes(), "grype")
    data = path.read_bytes().replace(b'"A buffer overflow', b'"A buffer\\u0000 overflow')
    data = data.replace(b'"name": "libc6"', b'"name": "libc6\\u0000"', 1)
    result = _parse(data, "grype")
    findings = list(result.findings)
    assert len(findings) == len(list(clean.findings))
    names = {f.component.name for f in findings if f.component}
    assert "libc6\ufffd" in names
    assert any("\ufffd" in f.message for f in findings)
    warnings = [i for i in result.skipped if "U+FFFD" in i.message]
    assert len(warnings) == 1 and not warnings[0].lost_finding
    nuls = data.count(b"\\u0000")
    assert warnings[0].message.startswith(f"{nuls} invalid characters")


def test_clean_text_is_the_rule():
    assert clean_text("a\x00b\ud800") == ("a\ufffdb\ufffd", 2)
    assert clean_text("plain") == ("plain", 0)


def _string_value_quote(data: bytes) -> int:
    """Where the first string value after the first key ends (-1: the report has none)."""
    return data.find(b'"', data.find(b'"', data.find(b":")) + 1)


# Reports with a string value to corrupt (a summary-only report may have none).
WITH_STRINGS = [p for p in JSON_REPORTS if _string_value_quote(p.read_bytes()) >= 0]


@pytest.mark.parametrize("path", WITH_STRINGS, ids=lambda p: str(p.relative_to(FIXTURES)))
@pytest.mark.parametrize("raw", [b"\xc0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"\xff"])
def test_invalid_utf8_is_a_parse_error_not_a_crash(path, raw):
    data = path.read_bytes()
    quote = _string_value_quote(data)
    with pytest.raises(ParseError):
        _parse(data[:quote] + raw + data[quote:], _format_of(path))


def test_the_guard_is_a_buffered_binary_stream_for_line_readers():
    data = b'{"a": "x\\u0000"}\n{"b": "\\udc00"}\nlast'
    guard = TextGuard(io.BytesIO(data))
    assert isinstance(guard, io.BufferedIOBase) and guard.readable()
    assert guard.readline() == b'{"a": "x\\ufffd"}\n'
    assert list(guard) == [b'{"b": "\\ufffd"}\n', b"last"]
    guard.seek(0)
    lines = list(io.TextIOWrapper(guard, "utf-8"))
    assert [json.loads(line) for line in lines[:2]] == [{"a": "x\ufffd"}, {"b": "\ufffd"}]
    assert lines[2] == "last"
    guard = TextGuard(io.BytesIO(data))
    buffer = bytearray(5)
    assert guard.readinto(buffer) == 5 and bytes(buffer) == data[:5]
    raw = io.BytesIO(data)
    with TextGuard(raw):
        pass
    assert not raw.closed
