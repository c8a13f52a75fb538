"""CycloneDX JSON and XML parsers: real fixtures (cyclonedx-py, pip-audit, cyclonedx-python-lib),
hand-built edge cases, hostile input (XML bombs, XXE, truncation) and streaming properties."""

from __future__ import annotations

import contextlib
import io
import json
import tracemalloc
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser
from apps.findings.parsers.base import Component, Cvss, NormalizedFinding, ParseError, ParseResult
from apps.findings.parsers.cyclonedx import CycloneDxJsonParser, CycloneDxXmlParser
from apps.findings.parsers.grype import GrypeParser
from apps.findings.parsers.spdx import SpdxJsonParser
from apps.findings.parsers.trivy import TrivyParser

SCANS = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
FIXTURES = SCANS / "cyclonedx"
MINE = (CycloneDxJsonParser, CycloneDxXmlParser, SpdxJsonParser, TrivyParser, GrypeParser)


class Parsed(NamedTuple):
    result: ParseResult
    components: list[Component]
    findings: list[NormalizedFinding]

    def finding(self, rule_id: str) -> NormalizedFinding:
        return next(f for f in self.findings if f.rule_id == rule_id)

    def issues(self) -> list[tuple[str, str]]:
        return [(i.pointer, i.message) for i in self.result.skipped]


def parse(fmt: str, data: bytes | Path) -> Parsed:
    raw = data.read_bytes() if isinstance(data, Path) else data
    result = get_parser(fmt).parse(io.BytesIO(raw))
    components = list(result.components)
    return Parsed(result, components, list(result.findings))


def bom(spec: str = "1.6", **sections: Any) -> bytes:
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": spec, **sections}).encode()


def library(ref: str, name: str, version: str = "1.0", **extra: Any) -> dict[str, Any]:
    return {"type": "library", "bom-ref": ref, "name": name, "version": version, **extra}


def without_pointer(findings: list[NormalizedFinding]) -> list[tuple[Any, ...]]:
    return [
        (
            f.rule_id,
            f.title,
            f.severity,
            f.cvss,
            f.cwes,
            f.vuln_ids,
            f.component,
            f.vex_state,
            f.vex_justification,
            f.message,
            f.references,
            f.properties,
        )
        for f in findings
    ]


# --- real fixtures -----------------------------------------------------------------------------

REQUESTS_DEPS = ("certifi==2026.10.18", "chardet==3.0.4", "idna==2.7", "urllib3==1.23")


@pytest.mark.parametrize("name", ["env-1.4.cdx.json", "env-1.5.cdx.json", "env-1.6.cdx.json"])
def test_cyclonedx_py_environment_sbom_json(name: str) -> None:
    parsed = parse("cyclonedx-json", FIXTURES / name)

    assert (parsed.result.tool_name, parsed.result.tool_version) == ("cyclonedx-py", "7.5.0")
    assert parsed.findings == [] and parsed.result.skipped == []
    assert len(parsed.components) == 14
    root = parsed.components[0]
    assert (root.name, root.version, root.ref, root.type) == (
        "demo-shop",
        "1.4.0",
        "root-component",
        "application",
    )
    assert root.depends_on == ("Django==3.2", "Jinja2==2.10", "requests==2.19.0")
    by_name = {c.name: c for c in parsed.components}
    requests = by_name["requests"]
    assert requests.purl == "pkg:pypi/requests@2.19.0"
    assert requests.depends_on == REQUESTS_DEPS
    assert by_name["Django"].purl == "pkg:pypi/django@3.2"
    assert by_name["Django"].licenses[0] == "BSD-3-Clause"
    assert by_name["MarkupSafe"].depends_on == ()


@pytest.mark.parametrize(
    "name", ["env-1.2.cdx.xml", "env-1.4.cdx.xml", "env-1.5.cdx.xml", "env-1.6.cdx.xml"]
)
def test_cyclonedx_py_environment_sbom_xml_matches_json(name: str) -> None:
    xml = parse("cyclonedx-xml", FIXTURES / name)
    json_ = parse("cyclonedx-json", FIXTURES / "env-1.6.cdx.json")

    assert (xml.result.tool_name, xml.result.tool_version) == ("cyclonedx-py", "7.5.0")
    key = [(c.name, c.version, c.purl, c.ref, c.type, c.depends_on) for c in xml.components]
    assert key == [
        (c.name, c.version, c.purl, c.ref, c.type, c.depends_on) for c in json_.components
    ]
    assert xml.findings == [] and xml.result.skipped == []


def test_osv_vex_json_findings() -> None:
    parsed = parse("cyclonedx-json", FIXTURES / "vex-osv-1.5.cdx.json")

    # cyclonedx-python-lib is listed first-or-second but is a serialiser, not the producer
    assert (parsed.result.tool_name, parsed.result.tool_version) == ("make-osv-vex", "1.0.0")
    assert len(parsed.findings) == 14 and parsed.result.skipped == []
    assert {f.kind for f in parsed.findings} == {"sca"}
    assert sum(f.component.name == "urllib3" for f in parsed.findings) == 7

    requests = parsed.finding("PYSEC-2018-28")
    assert requests.vuln_ids == ("PYSEC-2018-28", "CVE-2018-18074", "GHSA-x84v-xcm2-53pg")
    assert requests.title == "PYSEC-2018-28 in requests 2.19.0"
    assert requests.pointer == "/vulnerabilities/0/affects/0"
    assert requests.component.purl == "pkg:pypi/requests@2.19.0"
    assert requests.component.depends_on == REQUESTS_DEPS
    assert requests.cwes == (522,)
    assert requests.severity == "info"  # the advisory carries no rating at all
    assert requests.cvss == ()
    assert (requests.vex_state, requests.vex_justification) == ("exploitable", "")
    assert requests.properties["vex_response"] == "update"
    assert requests.properties["recommendation"] == "Upgrade requests to 2.20.0 or later"
    assert "https://osv.dev/vulnerability/PYSEC-2018-28" in requests.references

    # cyclonedx-python-lib strips "CVSS:3.1/" when serialising; method CVSSv31 restores it
    cookie = parsed.finding("PYSEC-2023-192")
    assert cookie.cvss == (Cvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N", 8.1, "OSV"),)
    assert cookie.severity == "high"

    sandbox = parsed.finding("PYSEC-2019-217")
    assert (sandbox.vex_state, sandbox.vex_justification) == ("not_affected", "code_not_reachable")
    assert sandbox.properties["vex_detail"].startswith("demo-shop never renders")
    assert parsed.finding("PYSEC-2022-1").vex_state == "false_positive"
    assert parsed.finding("PYSEC-2023-212").vex_state == "in_triage"


def test_osv_vex_xml_yields_the_same_findings_with_line_pointers() -> None:
    xml = parse("cyclonedx-xml", FIXTURES / "vex-osv-1.5.cdx.xml")
    json_ = parse("cyclonedx-json", FIXTURES / "vex-osv-1.5.cdx.json")

    assert xml.result.tool_name == "make-osv-vex"
    assert without_pointer(xml.findings) == without_pointer(json_.findings)
    assert all(f.pointer.startswith("line:") for f in xml.findings)


def test_pip_audit_output_without_tools_or_purls() -> None:
    parsed = parse("cyclonedx-json", FIXTURES / "pip-audit-1.4.cdx.json")

    assert (parsed.result.tool_name, parsed.result.tool_version) == ("cyclonedx", "")
    assert [c.name for c in parsed.components] == ["Django", "Jinja2", "requests", "urllib3"]
    assert all(c.purl == "" for c in parsed.components)
    assert len(parsed.findings) == 14
    assert all(f.component is not None and f.tool == "cyclonedx" for f in parsed.findings)
    assert parsed.finding("PYSEC-2021-66").component.name == "Jinja2"
    assert parsed.finding("PYSEC-2021-66").properties["recommendation"] == "Upgrade"


def test_vulnerabilities_before_components_give_the_same_result() -> None:
    doc = json.loads((FIXTURES / "vex-osv-1.5.cdx.json").read_bytes())
    reordered = {"vulnerabilities": doc.pop("vulnerabilities"), **doc}
    assert next(iter(reordered)) == "vulnerabilities"

    moved = parse("cyclonedx-json", json.dumps(reordered).encode())
    original = parse("cyclonedx-json", FIXTURES / "vex-osv-1.5.cdx.json")
    assert moved.findings == original.findings
    assert moved.components == original.components


class _PipeLike(io.RawIOBase):
    """A readable stream that cannot seek, like a socket or a pipe."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("cyclonedx-json", "vex-osv-1.5.cdx.json"), ("cyclonedx-xml", "vex-osv-1.5.cdx.xml")],
)
def test_non_seekable_stream_is_spooled(fmt: str, name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    result = get_parser(fmt).parse(io.BufferedReader(_PipeLike(data)))
    assert len(list(result.findings)) == 14


def test_utf8_byte_order_mark_is_accepted() -> None:
    data = b"\xef\xbb\xbf" + (FIXTURES / "env-1.6.cdx.json").read_bytes()
    assert detect_parser(data[:HEAD_BYTES]).format == "cyclonedx-json"
    assert len(parse("cyclonedx-json", data).components) == 14


# --- mapping rules on hand-built BOMs ----------------------------------------------------------


def _edge_bom() -> bytes:
    return bom(
        "1.5",
        serialNumber="urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
        metadata={"tools": {"components": [{"type": "library", "name": "cyclonedx-python-lib"}]}},
        components=[
            library(
                "app",
                "web",
                components=[library("nested", "left-pad", "1.3.0", purl="pkg:npm/left-pad@1.3.0")],
            ),
            library("bad", "broken", purl="pkg:", group="acme"),
            library("app", "duplicate-ref"),
            {"type": "library", "bom-ref": "noname"},
        ],
        dependencies=[{"ref": "app", "dependsOn": ["nested"]}, {"dependsOn": ["x"]}],
        vulnerabilities=[
            {
                "id": "CVE-2024-0001",
                "references": [{"id": "GHSA-aaaa-bbbb-cccc"}, {"id": "CVE-2024-0001"}],
                "ratings": [
                    {"method": "CVSSv2", "vector": "AV:N/AC:L/Au:N/C:P/I:P/A:P", "score": 1.0},
                    {"method": "CVSSv3", "vector": "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
                    {
                        "method": "CVSSv4",
                        "source": {"name": "GitHub"},
                        "vector": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                    },
                    {"method": "CVSSv31", "vector": "CVSS:3.1/AV:X/AC:L", "score": 6.5},
                    {"method": "OWASP", "score": 9.9, "severity": "unknown"},
                ],
                "cwes": [79, "CWE-89", "eighty"],
                "description": "Summary.",
                "detail": "Longer detail.",
                "affects": [{"ref": "nested"}, {"ref": "nested"}, {"ref": "ghost"}],
            },
            {
                "id": "CVE-2024-0002",
                "ratings": [{"method": "other", "severity": "moderate", "score": 3}],
                "affects": [
                    {"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#app"},
                    {"ref": "urn:cdx:00000000-0000-0000-0000-000000000000/1#nested"},
                    {"ref": "pkg:pypi/Django@4.2.0"},
                ],
            },
            {"id": "CVE-2024-0003", "affects": [{"ref": "app"}]},
            {"description": "no id", "affects": [{"ref": "app"}]},
            {
                "id": "CVE-2024-0004",
                "ratings": [{"method": "CVSSv31", "score": 9.1}],
                "affects": [{"ref": "nested"}],
            },
        ],
    )


def test_components_nested_invalid_purl_and_duplicates() -> None:
    parsed = parse("cyclonedx-json", _edge_bom())

    assert parsed.result.tool_name == "cyclonedx-python-lib"  # only a library is named
    names = [c.name for c in parsed.components]
    assert names == ["web", "left-pad", "acme/broken", "duplicate-ref"]
    web, left_pad, broken, _dup = parsed.components
    assert web.depends_on == ("nested",)
    assert left_pad.purl == "pkg:npm/left-pad@1.3.0"
    assert broken.purl == ""
    issues = dict(parsed.issues())
    assert "invalid purl 'pkg:'" in issues["/components/1/purl"]
    assert "duplicate bom-ref 'app'" in issues["/components/2"]
    assert issues["/components/3"] == "component has no name; skipped"
    assert issues["/dependencies/1"] == "dependency has no ref; skipped"


def test_ratings_cvss_versions_and_invalid_vector() -> None:
    parsed = parse("cyclonedx-json", _edge_bom())
    first = parsed.finding("CVE-2024-0001")

    assert first.cvss == (
        Cvss("2.0", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, ""),  # producer's 1.0 is not trusted
        Cvss("3.0", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, ""),
        Cvss(
            "4.0", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, "GitHub"
        ),
        Cvss("3.1", "", 6.5, ""),  # invalid vector: score only
    )
    # no stated severity ("unknown" does not count) -> best CVSS band; OWASP is not CVSS
    assert first.severity == "critical"
    assert first.vuln_ids == ("CVE-2024-0001", "GHSA-aaaa-bbbb-cccc")
    assert first.cwes == (79, 89)
    assert first.message == "Summary.\n\nLonger detail."
    issues = dict(parsed.issues())
    assert "invalid CVSS 3.1 vector" in issues["/vulnerabilities/0/ratings/3/vector"]
    assert "score only" in issues["/vulnerabilities/0/ratings/3/vector"]
    assert "eighty" in issues["/vulnerabilities/0/cwes/2"]

    assert parsed.finding("CVE-2024-0002").severity == "medium"  # stated "moderate"
    assert parsed.finding("CVE-2024-0002").cvss == ()  # "other" is not CVSS
    assert parsed.finding("CVE-2024-0003").severity == "info"  # nothing at all
    assert parsed.finding("CVE-2024-0004").cvss == (Cvss("3.1", "", 9.1, ""),)
    assert parsed.finding("CVE-2024-0004").severity == "critical"


def test_affects_resolution_one_finding_per_affected_component() -> None:
    parsed = parse("cyclonedx-json", _edge_bom())
    pairs = [(f.rule_id, f.component.name, f.pointer) for f in parsed.findings]

    assert pairs == [
        ("CVE-2024-0001", "left-pad", "/vulnerabilities/0/affects/0"),  # duplicate ref folded
        ("CVE-2024-0002", "web", "/vulnerabilities/1/affects/0"),  # BOM-Link to this BOM
        ("CVE-2024-0002", "django", "/vulnerabilities/1/affects/2"),  # a purl ref
        ("CVE-2024-0003", "web", "/vulnerabilities/2/affects/0"),
        ("CVE-2024-0004", "left-pad", "/vulnerabilities/4/affects/0"),
    ]
    django = parsed.findings[2].component
    assert (django.purl, django.version) == ("pkg:pypi/django@4.2.0", "4.2.0")
    issues = dict(parsed.issues())
    assert "'ghost' matches no component" in issues["/vulnerabilities/0/affects/2"]
    assert "matches no component" in issues["/vulnerabilities/1/affects/1"]  # other BOM's link
    assert issues["/vulnerabilities/3"] == "vulnerability has no id; skipped"


def test_tools_legacy_array_and_services() -> None:
    legacy = {
        "tools": [
            {"vendor": "CycloneDX", "name": "cyclonedx-python-lib", "version": "8"},
            {"vendor": "OWASP", "name": "Dependency-Track", "version": "4.11.4"},
        ]
    }
    services = {"tools": {"services": [{"name": "Scanner-SaaS", "version": "2024.1"}]}}
    empty = {"timestamp": "2024-01-01T00:00:00Z"}

    assert (
        parse("cyclonedx-json", bom("1.4", metadata=legacy)).result.tool_name == "dependency-track"
    )
    result = parse("cyclonedx-json", bom("1.5", metadata=services)).result
    assert (result.tool_name, result.tool_version) == ("scanner-saas", "2024.1")
    assert parse("cyclonedx-json", bom("1.5", metadata=empty)).result.tool_name == "cyclonedx"


def test_plain_sbom_with_empty_vulnerability_list_and_null_arrays() -> None:
    parsed = parse(
        "cyclonedx-json", bom(components=[library("a", "a")], vulnerabilities=[], dependencies=None)
    )
    assert [c.name for c in parsed.components] == ["a"] and parsed.findings == []


# --- XML versions and safety ------------------------------------------------------------------


def _xml_bom(version: str, with_vulnerability: bool = True) -> bytes:
    vulnerability = """
  <vulnerabilities>
    <vulnerability bom-ref="v1">
      <id>CVE-2021-44228</id>
      <references><reference><id>GHSA-jfh8-c2jp-5v3q</id></reference></references>
      <ratings><rating><score>10.0</score><severity>critical</severity><method>CVSSv31</method>
        <vector>CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H</vector></rating></ratings>
      <cwes><cwe>502</cwe><cwe>917</cwe></cwes>
      <description>Log4Shell</description>
      <analysis><state>not_affected</state><justification>requires_configuration</justification>
        <responses><response>will_not_fix</response></responses></analysis>
      <affects><target><ref>log4j</ref></target></affects>
    </vulnerability>
  </vulnerabilities>"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bom xmlns="http://cyclonedx.org/schema/bom/{version}" version="1">
  <metadata><tools><tool><vendor>acme</vendor><name>XmlTool</name><version>2.0</version></tool></tools></metadata>
  <components>
    <component type="library" bom-ref="log4j">
      <group>org.apache.logging.log4j</group><name>log4j-core</name><version>2.14.1</version>
      <scope>required</scope>
      <licenses>
        <license><id>Apache-2.0</id></license><expression>Apache-2.0 OR MIT</expression>
      </licenses>
      <cpe>cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*</cpe>
      <purl>pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1</purl>
    </component>
  </components>
  <dependencies><dependency ref="log4j"><dependency ref="log4j-api"/></dependency></dependencies>
  {vulnerability if with_vulnerability else ""}
</bom>
""".encode()


@pytest.mark.parametrize("version", ["1.2", "1.3", "1.4", "1.5", "1.6", "1.7"])
def test_xml_namespaces_of_every_supported_version(version: str) -> None:
    with_vulnerability = version >= "1.4"
    parsed = parse("cyclonedx-xml", _xml_bom(version, with_vulnerability))

    assert (parsed.result.tool_name, parsed.result.tool_version) == ("xmltool", "2.0")
    (log4j,) = parsed.components
    assert log4j == Component(
        name="org.apache.logging.log4j/log4j-core",
        version="2.14.1",
        purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        type="library",
        ref="log4j",
        cpe="cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*",
        licenses=("Apache-2.0", "Apache-2.0 OR MIT"),
        depends_on=("log4j-api",),
        scope="required",
    )
    if with_vulnerability:
        (finding,) = parsed.findings
        assert finding.vuln_ids == ("CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q")
        assert finding.cwes == (502, 917)
        assert finding.cvss == (Cvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),)
        assert finding.severity == "critical"
        assert (finding.vex_state, finding.vex_justification) == (
            "not_affected",
            "requires_configuration",
        )
        assert finding.component == log4j
        target_line = (
            _xml_bom(version)
            .decode()
            .splitlines()
            .index("      <affects><target><ref>log4j</ref></target></affects>")
            + 1
        )
        assert finding.pointer == f"line:{target_line}"


def test_xml_unsupported_version_and_foreign_root() -> None:
    with pytest.raises(ParseError) as old:
        parse("cyclonedx-xml", _xml_bom("0.9", with_vulnerability=False))
    assert "'0.9' is not supported" in old.value.message and old.value.pointer == "line:2"

    with pytest.raises(ParseError) as foreign:
        parse("cyclonedx-xml", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert "expected <bom>" in foreign.value.message and foreign.value.pointer == "line:2"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE bom [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1">
  <components><component type="library"><name>&lol9;</name></component></components>
</bom>
"""


def test_xml_billion_laughs_is_refused() -> None:
    with pytest.raises(ParseError) as error:
        parse("cyclonedx-xml", BILLION_LAUGHS)
    assert error.value.format == "cyclonedx-xml"
    assert "unsafe XML refused" in error.value.message
    assert "DTD" in error.value.message and "billion laughs" in error.value.message
    assert error.value.pointer == "line:2"


def test_xml_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "passwd"
    secret_file.write_text("root-password-marker-31337")
    payload = f"""<?xml version="1.0"?>
<!DOCTYPE bom [<!ENTITY xxe SYSTEM "file://{secret_file}">]>
<bom xmlns="http://cyclonedx.org/schema/bom/1.6" version="1">
  <components><component type="library"><name>&xxe;</name></component></components>
</bom>""".encode()

    with pytest.raises(ParseError) as error:
        parse("cyclonedx-xml", payload)
    assert "external entity (XXE)" in error.value.message
    assert "root-password-marker" not in str(error.value)


def test_xml_external_dtd_and_parameter_entities_are_refused() -> None:
    external_dtd = (
        b'<?xml version="1.0"?>\n<!DOCTYPE bom SYSTEM "http://127.0.0.1:9/x.dtd">\n'
        b'<bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>'
    )
    parameter = (
        b'<?xml version="1.0"?>\n<!DOCTYPE bom [<!ENTITY % p SYSTEM "file:///etc/passwd">'
        b'%p;]>\n<bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>'
    )
    for payload in (external_dtd, parameter):
        with pytest.raises(ParseError, match="unsafe XML refused"):
            parse("cyclonedx-xml", payload)


@pytest.mark.parametrize(
    ("payload", "message", "pointer"),
    [
        (b"", "no element found", "line:1"),
        (
            b'<bom xmlns="http://cyclonedx.org/schema/bom/1.6">\n<components>\n</bom>',
            "mismatched tag",
            "line:3",
        ),
        ((FIXTURES / "env-1.6.cdx.xml").read_bytes()[:5000], "no element found", None),
    ],
)
def test_xml_malformed_and_truncated(payload: bytes, message: str, pointer: str | None) -> None:
    with pytest.raises(ParseError) as error:
        parse("cyclonedx-xml", payload)
    assert message in error.value.message
    assert error.value.pointer.startswith("line:")
    if pointer:
        assert error.value.pointer == pointer


# --- JSON errors -------------------------------------------------------------------------------


def _truncated_fixture() -> bytes:
    data = (FIXTURES / "env-1.6.cdx.json").read_bytes()
    cut = data.index(b'"name": "idna"')  # inside components[6]
    return data[:cut]


@pytest.mark.parametrize(
    ("payload", "message", "pointer"),
    [
        (
            _truncated_fixture(),
            "invalid or truncated JSON: parse error: premature EOF",
            "/components/6",
        ),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [tru]}',
            "invalid or truncated JSON: lexical error",
            "/components/0",
        ),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.6"} trailing', "trailing garbage", ""),
        (b"[]", "top-level JSON value must be an object", ""),
        (b'{"specVersion": "1.6", "components": []}', "bomFormat is missing", ""),
        (b'{"bomFormat": "SPDX", "specVersion": "1.6"}', "bomFormat is 'SPDX'", "/bomFormat"),
        (bom("1.1"), "specVersion '1.1' is not supported (1.2–1.7)", "/specVersion"),
        (b'{"bomFormat": "CycloneDX"}', "specVersion is missing", "/specVersion"),
        (bom(components={"a": 1}), "`components` must be an array", "/components"),
        (bom(vulnerabilities="none"), "`vulnerabilities` must be an array", "/vulnerabilities"),
    ],
)
def test_json_errors_name_the_problem_and_where(payload: bytes, message: str, pointer: str) -> None:
    with pytest.raises(ParseError) as error:
        parse("cyclonedx-json", payload)
    assert error.value.format == "cyclonedx-json"
    assert message in error.value.message
    assert error.value.pointer == pointer


def test_json_error_message_does_not_quote_the_report() -> None:
    payload = b'{"bomFormat": "CycloneDX", "components": [{"name": "s3cr3t-token-value" ]}'
    with pytest.raises(ParseError) as error:
        parse("cyclonedx-json", payload)
    assert "s3cr3t" not in str(error.value)


# --- detection ---------------------------------------------------------------------------------

ALL_FIXTURES = {
    path: expected
    for expected, folder, pattern in [
        ("cyclonedx-json", "cyclonedx", "*.json"),
        ("cyclonedx-xml", "cyclonedx", "*.xml"),
        ("spdx-json", "spdx", "*.json"),
        ("trivy", "trivy", "*.json"),
        ("grype", "grype", "*.json"),
    ]
    for path in sorted((SCANS / folder).glob(pattern))
}


@pytest.mark.parametrize("path", list(ALL_FIXTURES), ids=lambda p: p.name)
def test_detection_across_all_sbom_and_sca_fixtures(path: Path) -> None:
    head = path.read_bytes()[:HEAD_BYTES]
    expected = ALL_FIXTURES[path]

    assert detect_parser(head).format == expected
    assert [cls.format for cls in MINE if cls.detect(head)] == [expected]


OTHER_FIXTURES = sorted(
    path
    for path in SCANS.rglob("*")
    if path.is_file()
    and path.relative_to(SCANS).parts[0] not in ("cyclonedx", "spdx", "trivy", "grype")
    and "sample_project" not in path.parts
    and path.suffix not in (".md", ".py", ".sh")
)


@pytest.mark.parametrize("path", OTHER_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_sbom_or_sca_detector_claims_other_formats_fixtures(path: Path) -> None:
    head = path.read_bytes()[:HEAD_BYTES]
    assert [cls.format for cls in MINE if cls.detect(head)] == []


def test_detection_of_a_bom_whose_bomformat_is_beyond_the_head() -> None:
    # cyclonedx-python-lib writes bomFormat after components: a big BOM's head lacks it
    components = [library(f"c{i}", f"component-{i}", description="x" * 200) for i in range(400)]
    data = json.dumps({"components": components, "bomFormat": "CycloneDX", "specVersion": "1.6"})
    head = data.encode()[:HEAD_BYTES]
    assert b"bomFormat" not in head
    assert detect_parser(head).format == "cyclonedx-json"


def test_detection_rejects_look_alikes() -> None:
    sarif = json.dumps(
        {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": []}
    ).encode()
    escaped = json.dumps({"note": 'a string that says "bomFormat": "CycloneDX"'}).encode()
    other_xml = b'<?xml version="1.0"?><project xmlns="http://maven.apache.org/POM/4.0.0"/>'
    for head in (sarif, escaped, other_xml, b"", b"\x00\xff"):
        assert not CycloneDxJsonParser.detect(head)
        assert not CycloneDxXmlParser.detect(head)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_detectors_never_crash_on_arbitrary_bytes(head: bytes) -> None:
    for cls in MINE:
        assert cls.detect(head) in (True, False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=512), st.text(max_size=512).map(str.encode)))
def test_parsers_fail_only_with_parse_error_on_garbage(data: bytes) -> None:
    for cls in MINE:
        with contextlib.suppress(ParseError):
            parse(cls.format, data)


KEYS = [
    "name",
    "bom-ref",
    "purl",
    "ref",
    "dependsOn",
    "id",
    "ratings",
    "affects",
    "method",
    "vector",
    "score",
    "severity",
    "cwes",
    "analysis",
    "state",
    "components",
    "tools",
    "version",
    "group",
    "licenses",
    "license",
    "references",
    "source",
    "type",
    "scope",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(["CVSSv31", "CVSS:3.1/AV:N", "pkg:npm/a@1", "c1"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS), children, max_size=6)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, json_values, json_values, json_values)
def test_wrongly_typed_sections_never_crash(
    metadata: Any, components: Any, dependencies: Any, vulnerabilities: Any
) -> None:
    sections = {
        "metadata": metadata,
        "components": [components, library("c1", "one")],
        "dependencies": [dependencies],
        "vulnerabilities": [vulnerabilities],
    }
    with contextlib.suppress(ParseError):
        parse("cyclonedx-json", bom(**sections))


# --- properties and streaming ------------------------------------------------------------------

refs = st.sampled_from([f"c{i}" for i in range(6)] + ["missing-1", "missing-2"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(refs, max_size=5), max_size=8), st.sampled_from(["json", "xml"]))
def test_one_finding_per_vulnerability_and_affected_component(
    affects: list[list[str]], syntax: str
) -> None:
    known = {f"c{i}" for i in range(6)}
    components = [library(f"c{i}", f"lib{i}") for i in range(6)]
    vulns = [
        {"id": f"V-{n}", "affects": [{"ref": r} for r in refs_]} for n, refs_ in enumerate(affects)
    ]
    if syntax == "json":
        parsed = parse("cyclonedx-json", bom(components=components, vulnerabilities=vulns))
    else:
        parsed = parse("cyclonedx-xml", _to_xml(components, vulns))

    expected = [
        (f"V-{n}", r) for n, refs_ in enumerate(affects) for r in dict.fromkeys(refs_) if r in known
    ]
    assert [(f.rule_id, f.component.ref) for f in parsed.findings] == expected
    unresolved = sum(r not in known for refs_ in affects for r in refs_)
    empty = sum(not (set(refs_) & known) for refs_ in affects)
    assert len(parsed.result.skipped) == unresolved + empty


def _to_xml(components: list[dict[str, Any]], vulns: list[dict[str, Any]]) -> bytes:
    comps = "".join(
        f'<component type="library" bom-ref="{c["bom-ref"]}"><name>{c["name"]}</name></component>'
        for c in components
    )
    items = "".join(
        f"<vulnerability><id>{v['id']}</id><affects>"
        + "".join(f"<target><ref>{a['ref']}</ref></target>" for a in v["affects"])
        + "</affects></vulnerability>"
        for v in vulns
    )
    return (
        f'<bom xmlns="http://cyclonedx.org/schema/bom/1.6"><components>{comps}</components>'
        f"<vulnerabilities>{items}</vulnerabilities></bom>"
    ).encode()


def _big_bom(n_components: int, n_vulns: int) -> bytes:
    components = [
        library(f"pkg:npm/p{i}@1.0.0", f"p{i}", purl=f"pkg:npm/p{i}@1.0.0")
        for i in range(n_components)
    ]
    vulns = [
        {
            "id": f"CVE-2024-{n:05d}",
            "description": "d" * 300,
            "cwes": [79],
            "ratings": [
                {"method": "CVSSv31", "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
            ],
            "affects": [{"ref": f"pkg:npm/p{n % n_components}@1.0.0"}],
        }
        for n in range(n_vulns)
    ]
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "vulnerabilities": vulns,
            "components": components,
        }
    ).encode()


def _peak_memory(action: Any) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_vulnerabilities_are_streamed_not_loaded() -> None:
    small, large = _big_bom(200, 1000), _big_bom(200, 4000)

    def stream(data: bytes) -> None:
        result = get_parser("cyclonedx-json").parse(io.BytesIO(data))
        assert sum(1 for _ in result.findings) in (1000, 4000)

    stream(small)  # warm up: first-use imports and caches are not per-document memory
    streamed_small = _peak_memory(lambda: stream(small))
    streamed_large = _peak_memory(lambda: stream(large))
    loaded_large = _peak_memory(lambda: json.loads(large))
    # memory does not grow with the number of vulnerabilities, and stays far below a full load
    assert streamed_large < streamed_small * 1.25, (streamed_small, streamed_large)
    assert streamed_large < loaded_large / 5, (streamed_large, loaded_large)


def test_findings_and_components_can_be_consumed_in_any_order() -> None:
    data = _big_bom(10, 50)
    result = get_parser("cyclonedx-json").parse(io.BytesIO(data))

    first = next(result.findings)  # lazily reads the stream's second pass
    assert first.rule_id == "CVE-2024-00000"
    assert len(list(result.components)) == 10
    assert sum(1 for _ in result.findings) == 49
    assert list(result.findings) == []  # single use, as base.ParseResult documents
