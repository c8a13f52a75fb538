"""SARIF 2.1.0 parser: real tool output (bandit, semgrep, checkov), faithful hand-made CodeQL,
trivy and gitleaks logs, a spec-features log, and hostile input. Pure Python, no database."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser, path_context
from apps.findings.parsers.base import KINDS, SEVERITIES, NormalizedFinding, ParseError, ParseResult
from apps.findings.parsers.checkov import CheckovParser
from apps.findings.parsers.gitleaks import GitleaksParser
from apps.findings.parsers.sarif import SarifParser

SCANS = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
SARIF = SCANS / "sarif"
URI = "/locations/0/physicalLocation/artifactLocation/uri"


def parse(source: str | bytes, **kwargs) -> tuple[ParseResult, list[NormalizedFinding]]:
    data = (SARIF / source).read_bytes() if isinstance(source, str) else source
    result = SarifParser(**kwargs).parse(io.BytesIO(data))
    return result, list(result.findings)


def by_rule(findings: list[NormalizedFinding]) -> dict[str, NormalizedFinding]:
    return {f.rule_id: f for f in findings}


def sarif_log(results: list, *, tool: dict | None = None, **run) -> bytes:
    tool = tool or {"driver": {"name": "Tester", "version": "1.0"}}
    return json.dumps(
        {"version": "2.1.0", "runs": [{"tool": tool, "results": results, **run}]}
    ).encode()


def result(uri: str = "src/a.py", **extra) -> dict:
    physical = {"artifactLocation": {"uri": uri}, "region": {"startLine": 3}}
    return {
        "ruleId": "R1",
        "message": {"text": "m"},
        "locations": [{"physicalLocation": physical}],
    } | extra


class NonSeekable(io.RawIOBase):
    """A pipe-like stream: forces the parser's copy-to-temporary-file path."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


# -- detection ---------------------------------------------------------------------------

ALL_SARIF = sorted(p.relative_to(SARIF).as_posix() for p in SARIF.rglob("*.sarif"))


@pytest.mark.parametrize("name", ALL_SARIF)
def test_every_sarif_fixture_is_detected_as_sarif(name):
    head = (SARIF / name).read_bytes()[:HEAD_BYTES]
    assert detect_parser(head).format == "sarif"
    assert not CheckovParser.detect(head)
    assert not GitleaksParser.detect(head)


@pytest.mark.parametrize(
    "path", sorted(p for d in ("checkov", "gitleaks") for p in (SCANS / d).rglob("*.json"))
)
def test_sarif_detector_does_not_claim_checkov_or_gitleaks_json(path):
    assert not SarifParser.detect(path.read_bytes()[:HEAD_BYTES])


def test_detection_survives_a_head_cut_mid_file_and_a_bom():
    data = (SARIF / "bandit.sarif").read_bytes()  # bandit writes "runs" first, "version" last
    assert SarifParser.detect(data[:300])
    assert SarifParser.detect(b"\xef\xbb\xbf" + data[:300])
    assert not SarifParser.detect(b"")
    assert not SarifParser.detect(b'[{"runs": []}]')


@given(st.binary(max_size=2048))
def test_detection_never_crashes_on_arbitrary_bytes(head):
    for parser in (SarifParser, CheckovParser, GitleaksParser):
        assert parser.detect(head) in (True, False)
    with contextlib.suppress(ParseError):
        detect_parser(head)


# -- real tool output ------------------------------------------------------------------


def test_bandit_sarif():
    result, findings = parse("bandit.sarif")
    assert (result.tool_name, result.tool_version) == ("bandit", "1.9.4")
    assert len(findings) == 12 and result.skipped == []
    rules = [f.rule_id for f in findings]
    assert rules.count("B307") == 2
    shell = by_rule(findings)["B602"]
    assert (shell.kind, shell.tool, shell.severity, shell.cwes) == ("sast", "bandit", "high", (78,))
    assert (shell.path, shell.start_line, shell.end_line, shell.start_column) == (
        "app/db.py",
        18,
        18,
        5,
    )
    assert shell.snippet == '    subprocess.call("tar czf /tmp/backup.tgz " + path, shell=True)\n'
    assert shell.confidence == "high" and shell.pointer == "/runs/0/results/3"
    assert by_rule(findings)["B404"].severity == "low"
    assert by_rule(findings)["B608"].severity == "medium"
    assert by_rule(findings)["B608"].cwes == (89,)
    assert by_rule(findings)["B608"].references == (
        "https://bandit.readthedocs.io/en/1.9.4/plugins/b608_hardcoded_sql_expressions.html",
    )
    assert {f.path for f in findings} == {"app/db.py", "app/web.py"}


def test_semgrep_sarif_has_results_before_tool():
    result, findings = parse("semgrep.sarif")
    assert (result.tool_name, result.tool_version) == ("semgrep", "1.182.0")
    assert len(findings) == 5
    sql = findings[0]
    assert (sql.rule_id, sql.severity, sql.cwes, sql.path) == (
        "python-sql-string-format",
        "high",
        (89,),
        "app/db.py",
    )
    assert sql.title == 'SQL query built with string formatting from "$X"; use parameters'
    assert sql.fingerprints == {"fp:matchBasedId/v1": "requires login"}
    assert by_rule(findings)["python-weak-hash-md5"].severity == "low"  # defaultConfiguration note
    nosem = findings[-1]
    assert (nosem.rule_id, nosem.start_line) == ("python-eval-use", 32)
    assert (nosem.suppressed, nosem.suppression) == (True, "inSource")
    assert not findings[3].suppressed


def test_checkov_sarif_separates_secrets_from_iac():
    result, findings = parse("checkov.sarif")
    assert (result.tool_name, result.tool_version) == ("checkov", "3.3.30")
    assert len(findings) == 16
    kinds = {f.rule_id: f.kind for f in findings}
    assert kinds["CKV_AWS_20"] == "iac" and kinds["CKV_DOCKER_2"] == "iac"
    secrets = [f for f in findings if f.rule_id == "CKV_SECRET_2"]
    assert [s.kind for s in secrets] == ["secret", "secret"]
    expected = hashlib.sha256(b'  aws_access_key_id     = "AKIAI**********"\n').hexdigest()
    assert secrets[0].secret_hash == expected and secrets[0].snippet == ""
    skipped = by_rule(findings)["CKV_AWS_3"]
    assert skipped.suppressed and skipped.severity == "medium"
    assert skipped.suppression == (
        "inSource: Logs volume holds no sensitive data; encryption tracked in OPS-12"
    )
    assert (skipped.path, skipped.start_line, skipped.end_line) == ("main.tf", 23, 27)


# -- faithful hand-made logs -------------------------------------------------------------


def test_codeql_rules_resolved_through_extensions():
    result, findings = parse("codeql.sarif")
    assert (result.tool_name, result.tool_version) == ("codeql", "2.19.3")
    rules = by_rule(findings)
    assert {r: f.severity for r, f in rules.items()} == {
        "py/sql-injection": "high",  # security-severity 8.8
        "py/reflective-xss": "medium",  # 6.1
        "py/clear-text-logging-sensitive-data": "high",  # 7.5
        "py/unused-import": "low",  # no security-severity: level note
    }
    assert rules["py/sql-injection"].cwes == (89,)
    assert rules["py/reflective-xss"].cwes == (79, 116)
    assert rules["py/clear-text-logging-sensitive-data"].cwes == (312, 359, 532)
    sql = rules["py/sql-injection"]
    assert sql.title == "SQL query built from user-controlled sources"
    assert (sql.path, sql.start_line, sql.end_line, sql.start_column) == (
        "shop/db.py",
        14,
        None,
        20,
    )
    assert sql.fingerprints == {
        "pfp:primaryLocationLineHash": "d1b7f9a0c3e5b2a4:1",
        "pfp:primaryLocationStartColumnFingerprint": "15",
    }
    assert sql.confidence == "high" and sql.kind == "sast"
    logging = rules["py/clear-text-logging-sensitive-data"]
    assert (logging.suppressed, logging.suppression) == (True, "inSource")


def test_trivy_vulnerabilities_are_sca_and_misconfigurations_iac():
    result, findings = parse("trivy.sarif")
    assert (result.tool_name, result.tool_version) == ("trivy", "0.57.1")
    rules = by_rule(findings)
    cve = rules["CVE-2024-6345"]
    assert (cve.kind, cve.vuln_ids, cve.severity) == ("sca", ("CVE-2024-6345",), "high")
    assert (cve.component.name, cve.component.version) == ("setuptools", "65.5.0")
    assert cve.fixed_versions == ("70.0.0",)
    assert (cve.path, cve.start_line) == ("requirements.txt", 4)
    assert cve.references == ("https://avd.aquasec.com/nvd/cve-2024-6345",)
    ghsa = rules["GHSA-9wx4-h78v-vm56"]
    assert (ghsa.kind, ghsa.severity, ghsa.vuln_ids) == ("sca", "medium", ("GHSA-9wx4-h78v-vm56",))
    ds = rules["DS002"]
    assert (ds.kind, ds.severity, ds.vuln_ids, ds.component) == ("iac", "high", (), None)
    assert ds.path == "Dockerfile"


def test_gitleaks_sarif_never_keeps_the_secret():
    result, findings = parse("gitleaks.sarif")
    assert (result.tool_name, result.tool_version) == ("gitleaks", "v8.21.2")
    secrets = ["AKIAZ3MSJV4WWNKWW5FG", "c3b1f0e2d9a84b7fa6e5d4c3b2a1f0e9d8c7b6a5"]
    assert [f.kind for f in findings] == ["secret", "secret"]
    assert [f.secret_hash for f in findings] == [
        hashlib.sha256(s.encode()).hexdigest() for s in secrets
    ]
    assert all(f.snippet == "" and f.severity == "high" for f in findings)
    assert findings[1].fingerprints["pfp:commitMessage"] == "temporary key [REDACTED] for staging"
    assert findings[0].fingerprints["pfp:commitSha"] == "a3f1c2d4e5b6a7980f1e2d3c4b5a69788f7e6d5c"
    text = repr(findings) + repr(result)
    assert not any(secret in text for secret in secrets)


def test_spec_features():
    result, findings = parse("features.sarif")
    assert (result.tool_name, result.tool_version) == ("exampleanalyzer", "4.2.0")
    tainted, weak, dispose, command, review, unnamed, silent, late = findings
    # message.id -> rule messageStrings; invocation override level; relationships + taxa CWEs
    assert tainted.message == "Path from parameter 'name' reaches 'open()'."
    assert (tainted.severity, tainted.cwes, tainted.baseline_state) == ("high", (22, 73), "new")
    # relative base chain SRC -> src/ under REPO, %-decoded; contextRegion snippet
    assert tainted.path == "src/files/read file.py"
    assert (tainted.start_line, tainted.end_line, tainted.start_column) == (10, 12, 5)
    assert tainted.snippet.startswith("def read(name):")
    # ruleIndex only; absolute file URI under an originalUriBaseIds root; absurd line ignored
    assert (weak.rule_id, weak.path, weak.severity, weak.cwes) == (
        "EX2002",
        "lib/tokens.py",
        "low",
        (330, 338),
    )
    assert weak.start_line is None and weak.start_column == 3
    assert weak.properties["ignored"] == "region.startLine=-4"
    # one suppression under review: not suppressed, though another one is accepted
    assert (weak.suppressed, weak.suppression) == (False, "")
    # hierarchical rule id, relative base without a parent, endLine before startLine dropped
    assert (dispose.rule_id, dispose.title, dispose.path) == (
        "CA2000/disposable-field",
        "Dispose objects before losing scope",
        "lib/helpers.cs",
    )
    assert (dispose.end_line, dispose.suppressed, dispose.baseline_state) == (
        None,
        False,
        "updated",
    )
    # rule from an extension named by toolComponent; security-severity beats level "note";
    # absolute path under invocations[].workingDirectory
    assert (command.severity, command.cwes, command.path) == ("critical", (78,), "ops/run.py")
    # kind "review" -> info, non-file uri kept as a property; kind "pass" produced nothing
    assert (review.severity, review.path) == ("info", "")
    assert review.properties == {"sarif_kind": "review", "uri": "https://shop.example.com/login"}
    # second run: results before its tool; each finding carries its own run's tool
    assert (late.tool, late.severity, late.path, late.pointer) == (
        "latetool",
        "high",
        "b/c.go",
        "/runs/1/results/0",
    )
    # no rule at all: the message template is its identity; no message: the rule's title
    assert (unnamed.rule_id, unnamed.fingerprints) == (
        "a result with no rule at all",
        {"pfp:fixops/messageTemplate": "a result with no rule at all"},
    )
    assert (silent.rule_id, silent.message) == ("EX2002", "Weak random number generator")
    # kind "pass": listed as suppressed, not lost; the derived identity is a warning
    assert [(i.pointer, i.reason, i.lost_finding, i.suppressed) for i in result.skipped] == [
        ("/runs/0/results/4", "not_a_defect", False, True),
        ("/runs/0/results/6", "rule_derived", False, False),
    ]


def test_several_runs_keep_their_own_tool():
    result, findings = parse("multi_run.sarif")
    assert (result.tool_name, result.tool_version) == ("bandit", "1.9.4")
    assert len(findings) == 17
    assert {f.tool for f in findings[:12]} == {"bandit"}
    assert {f.tool for f in findings[12:]} == {"semgrep"}
    assert findings[12].pointer == "/runs/1/results/0"


def test_every_finding_uses_the_vocabulary():
    for name in ("bandit.sarif", "semgrep.sarif", "codeql.sarif", "trivy.sarif", "features.sarif"):
        for finding in parse(name)[1]:
            assert finding.kind in KINDS and finding.severity in SEVERITIES
            assert not finding.path.startswith("/") and ".." not in finding.path.split("/")


# -- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message", "pointer"),
    [
        ("truncated.sarif", "truncated JSON", "/runs/0/results/5"),
        ("no_runs.sarif", "SARIF has no runs", "/runs"),
        ("missing_runs.sarif", 'it has no "runs" array', ""),
        ("runs_not_array.sarif", "runs must be an array, got an object", "/runs"),
        ("version_1.sarif", "unsupported SARIF version '1.0.0'", "/version"),
        ("no_tool.sarif", "run has no tool.driver", "/runs/0"),
        (
            "result_not_object.sarif",
            "a result must be a JSON object, got a number",
            "/runs/0/results/1",
        ),
    ],
)
def test_hostile_fixtures_fail_with_a_pointer(name, message, pointer):
    with pytest.raises(ParseError) as caught:
        parse(f"hostile/{name}")
    assert caught.value.format == "sarif"
    assert message in caught.value.message
    assert caught.value.pointer == pointer


@pytest.mark.parametrize(
    ("name", "original"),
    [
        ("traversal.sarif", "../../etc/passwd"),
        ("absolute.sarif", "/etc/passwd"),
        ("base_traversal.sarif", "passwd"),
    ],
)
def test_paths_climbing_out_or_absolute_stay_inside_the_repository(name, original):
    """Paths as tools write them are normalised, never refused: ".." stops at the root and
    an absolute path under no known root loses its leading "/"; the uri is kept."""
    _, findings = parse(f"hostile/{name}")
    assert [(f.path, f.original_path) for f in findings] == [
        ("app/ok.py", ""),
        ("etc/passwd", original),
    ]


def test_structural_errors_surface_from_parse_itself():
    """The first pass reads the whole structure, so nothing is yielded from a broken file."""
    with pytest.raises(ParseError, match="truncated"):
        SarifParser().parse(io.BytesIO((SARIF / "hostile/truncated.sarif").read_bytes()))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (b"not json", "invalid or truncated JSON"),
        (b"[]", "a SARIF log must be a JSON object, got an array"),
        (b'{"version": "2.1.0", "runs": []} {}', "invalid JSON after the top-level value"),
        (b'{"runs": [{"tool": {"driver": {"name": "x"}}}]}', 'has no "version"'),
        (
            b'{"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}',
            "tool.driver.name is missing",
        ),
        (b'{"version": "2.1.0", "runs": [7]}', "a run must be a JSON object"),
    ],
)
def test_generated_broken_logs(data, message):
    with pytest.raises(ParseError, match=message):
        parse(data)


@pytest.mark.parametrize(
    ("bad", "message", "where"),
    [
        ({"message": "text"}, "message must be an object, got a string", "/message"),
        ({"locations": {}}, "locations must be an array", "/locations"),
        ({"locations": [3]}, "a location must be a JSON object", "/locations/0"),
        ({"suppressions": [None]}, "a suppression must be a JSON object", "/suppressions/0"),
        ({"fingerprints": ["x"]}, "fingerprints must be an object", "/fingerprints"),
    ],
)
def test_type_errors_inside_a_result_name_the_field(bad, message, where):
    with pytest.raises(ParseError) as caught:
        parse(sarif_log([result(), result(**bad)]))
    assert message in caught.value.message
    assert caught.value.pointer == f"/runs/0/results/1{where}"


def test_uri_type_error_and_control_characters():
    with pytest.raises(ParseError) as caught:
        parse(sarif_log([result(uri=5)]))
    assert caught.value.pointer == f"/runs/0/results/0{URI}"
    with pytest.raises(ParseError, match="control characters"):
        parse(sarif_log([result(uri="a/\x01b.py")]))
    # A NUL is not a control character by then: the reader made it U+FFFD.
    _, [finding] = parse(sarif_log([result(uri="a/\x00b.py")]))
    assert finding.path == "a/\ufffdb.py"


def test_deep_nesting_is_refused_with_the_result_pointer():
    deep = "[" * 10_000 + "]" * 10_000
    data = sarif_log([result(), result(properties="DEEP")]).replace(b'"DEEP"', deep.encode())
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert "nested deeper than" in caught.value.message
    assert caught.value.pointer == "/runs/0/results/1"


def test_absurd_lines_and_huge_text_are_bounded():
    big = "x" * 200_000
    _, [finding] = parse(
        sarif_log(
            [
                result(message={"text": big})
                | {
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": "a.py"},
                                "region": {
                                    "startLine": 10**12,
                                    "startColumn": "7",
                                    "snippet": {"text": big},
                                },
                            }
                        }
                    ]
                }
            ]
        )
    )
    assert finding.start_line is None and finding.start_column is None
    assert finding.properties["ignored"] == 'region.startLine=1000000000000; region.startColumn="7"'
    assert len(finding.message) == 64 * 1024 and finding.message.endswith("\u2026")
    assert len(finding.snippet) == 16 * 1024


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("src\\win\\Program.cs", "src/win/Program.cs"),
        ("./a/./b/../c.py", "a/c.py"),
        ("file:///C:/work/app/x.cs", "x.cs"),
        ("my%20dir/%C3%A9t%C3%A9.py", "my dir/\u00e9t\u00e9.py"),
    ],
)
def test_path_normalisation(uri, path):
    bases = {"originalUriBaseIds": {"ROOT": {"uri": "file:///C:/work/app/"}}}
    _, [finding] = parse(sarif_log([result(uri=uri)], **bases))
    assert finding.path == path


def test_configured_roots_make_absolute_paths_relative():
    data = sarif_log([result(uri="/opt/ci/acme/app/src/a.py")])
    _, [finding] = parse(data)
    assert (finding.path, finding.original_path) == (
        "opt/ci/acme/app/src/a.py",
        "/opt/ci/acme/app/src/a.py",
    )
    _, [finding] = parse(data, paths=path_context(roots=["/opt/ci/acme/app"]))
    assert (finding.path, finding.original_path) == ("src/a.py", "/opt/ci/acme/app/src/a.py")


def test_non_seekable_stream_and_bom():
    results = [result(uri=f"pkg/m{i}.py", ruleId=f"R{i % 7}") for i in range(3000)]
    data = b"\xef\xbb\xbf" + sarif_log(results)
    parsed = SarifParser().parse(NonSeekable(data))
    findings = list(parsed.findings)
    assert len(findings) == 3000
    assert (
        findings[2999].path == "pkg/m2999.py" and findings[2999].pointer == "/runs/0/results/2999"
    )


def test_stream_positioned_after_a_prefix_is_read_from_its_position():
    stream = io.BytesIO(b"GARBAGE" + sarif_log([result()]))
    stream.seek(len(b"GARBAGE"))
    assert len(list(SarifParser().parse(stream).findings)) == 1


def test_explicit_format_override_gives_the_same_parser():
    assert isinstance(get_parser("sarif"), SarifParser)


# -- properties --------------------------------------------------------------------------

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)
generated_result = st.fixed_dictionaries(
    {
        "rule": st.text(
            alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1, max_size=12
        ),
        "level": st.sampled_from(["error", "warning", "note", "none"]),
        "path": st.lists(segment, min_size=1, max_size=4).map("/".join),
        "line": st.integers(min_value=1, max_value=10**6),
    }
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(generated_result, max_size=40), st.booleans())
def test_generated_logs_round_trip(specs, results_first):
    results = [
        {
            "ruleId": s["rule"],
            "level": s["level"],
            "message": {"text": f"finding {i}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": s["path"]},
                        "region": {"startLine": s["line"]},
                    }
                }
            ],
        }
        for i, s in enumerate(specs)
    ]
    run = {"results": results, "tool": {"driver": {"name": "Gen", "version": "1"}}}
    if not results_first:
        run = {"tool": run["tool"], "results": results}
    data = json.dumps({"version": "2.1.0", "runs": [run]}).encode()
    _, findings = parse(data)
    levels = {"error": "high", "warning": "medium", "note": "low", "none": "info"}
    assert [(f.rule_id, f.path, f.start_line, f.severity) for f in findings] == [
        (s["rule"], s["path"], s["line"], levels[s["level"]]) for s in specs
    ]


@settings(max_examples=80)
@given(st.data())
def test_any_truncation_raises_parse_error(data):
    raw = (SARIF / "codeql.sarif").read_bytes().rstrip()
    cut = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(ParseError):
        parse(raw[:cut])
