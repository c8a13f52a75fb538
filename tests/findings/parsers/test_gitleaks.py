"""gitleaks native JSON parser: hand-made reports in gitleaks v8's documented format, hostile
input, and the rule that the secret itself is never kept. Pure Python, no database."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.findings.parsers import HEAD_BYTES, detect_parser, get_parser, path_context
from apps.findings.parsers.base import NormalizedFinding, ParseError, ParseResult
from apps.findings.parsers.checkov import CheckovParser
from apps.findings.parsers.gitleaks import GitleaksParser
from apps.findings.parsers.sarif import SarifParser

SCANS = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
GITLEAKS = SCANS / "gitleaks"
SECRETS = [
    "AKIAZ3MSJV4WWNKWW5FG",
    "c3b1f0e2d9a84b7fa6e5d4c3b2a1f0e9d8c7b6a5",
    "ghp_4f2B9cD8eF1a7H3j6K0m5N8p2Q4r7S1t9UvW",
]


def parse(source: str | bytes, **kwargs) -> tuple[ParseResult, list[NormalizedFinding]]:
    data = (GITLEAKS / source).read_bytes() if isinstance(source, str) else source
    result = GitleaksParser(**kwargs).parse(io.BytesIO(data))
    return result, list(result.findings)


def leak(secret: str, **fields) -> dict:
    base = {
        "RuleID": "generic-api-key",
        "Description": "Detected a Generic API Key",
        "StartLine": 4,
        "EndLine": 4,
        "StartColumn": 11,
        "EndColumn": 40,
        "Match": f"API_KEY = '{secret}'",
        "Secret": secret,
        "File": "app/settings.py",
        "SymlinkFile": "",
        "Commit": "",
        "Entropy": 4.1,
        "Author": "",
        "Email": "",
        "Date": "",
        "Message": "",
        "Tags": [],
        "Fingerprint": "app/settings.py:generic-api-key:4",
    }
    return base | fields


# -- detection ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["report.json", "redacted.json"])
def test_gitleaks_reports_are_detected(name):
    head = (GITLEAKS / name).read_bytes()[:HEAD_BYTES]
    assert detect_parser(head).format == "gitleaks"
    assert not SarifParser.detect(head) and not CheckovParser.detect(head)


def test_detection_with_a_head_cut_mid_object():
    data = (GITLEAKS / "report.json").read_bytes()
    assert GitleaksParser.detect(data[:230])  # RuleID, Description, StartLine
    assert not GitleaksParser.detect(data[:60])  # only "RuleID" so far: not enough to claim


def test_a_bare_empty_array_is_not_claimed():
    assert not GitleaksParser.detect(b"[]\n")
    with contextlib.suppress(ParseError):  # no parser claims it: the caller names the format
        assert detect_parser(b"[]\n").format != "gitleaks"
    result, findings = parse("empty.json")
    assert findings == [] and result.tool_name == "gitleaks"


@pytest.mark.parametrize(
    "path", sorted([*(SCANS / "sarif").rglob("*.sarif"), *(SCANS / "checkov").rglob("*.json")])
)
def test_gitleaks_detector_does_not_claim_other_formats(path):
    assert not GitleaksParser.detect(path.read_bytes()[:HEAD_BYTES])


# -- mapping -----------------------------------------------------------------------------


def test_report():
    result, findings = parse("report.json")
    assert (result.tool_name, result.tool_version, result.skipped) == ("gitleaks", "", [])
    assert [f.rule_id for f in findings] == ["aws-access-token", "generic-api-key", "github-pat"]
    aws = findings[0]
    assert (aws.kind, aws.tool, aws.severity) == ("secret", "gitleaks", "high")
    assert aws.title.startswith("Identified a pattern that may indicate AWS credentials")
    assert (aws.path, aws.start_line, aws.end_line, aws.start_column) == (
        "infra/settings.tf",
        2,
        2,
        28,
    )
    assert aws.fingerprints == {
        "gitleaks": "a3f1c2d4e5b6a7980f1e2d3c4b5a69788f7e6d5c:infra/settings.tf:aws-access-token:2"
    }
    assert aws.references == (
        "https://github.com/acme/shop/blob/a3f1c2d4e5b6a7980f1e2d3c4b5a69788f7e6d5c"
        "/infra/settings.tf#L2",
    )
    assert aws.properties == {
        "commit": "a3f1c2d4e5b6a7980f1e2d3c4b5a69788f7e6d5c",
        "author": "Dana Developer",
        "email": "dana@example.com",
        "date": "2026-11-20T10:12:44Z",
        "entropy": "3.684",
    }
    assert [f.secret_hash for f in findings] == [
        hashlib.sha256(s.encode()).hexdigest() for s in SECRETS
    ]
    assert findings[1].properties["tags"] == "staging,key=[REDACTED]"
    assert findings[2].fingerprints == {"gitleaks": "deploy/ci.yml:github-pat:5"}
    assert "commit" not in findings[2].properties
    assert [f.pointer for f in findings] == ["/0", "/1", "/2"]


def test_the_secret_appears_nowhere_in_the_output():
    result, findings = parse("report.json")
    text = repr(findings) + repr(result)
    for secret in SECRETS:
        assert secret not in text
    assert all(f.snippet == "" for f in findings)
    assert "temporary key" not in text  # the commit message, which quoted the key, is dropped


def test_already_redacted_secrets_give_no_hash():
    _, [finding] = parse("redacted.json")
    assert finding.secret_hash == "" and finding.fingerprints["gitleaks"]
    _, [partial] = parse(json.dumps([leak("AKIAZ3MS...")]).encode())
    assert partial.secret_hash == ""


def test_missing_rule_id_is_skipped_and_reported():
    result, findings = parse(json.dumps([leak("s3cr3t-value-1"), leak("x", RuleID="")]).encode())
    assert len(findings) == 1
    assert [(i.pointer, i.message) for i in result.skipped] == [("/1", "finding has no RuleID")]


def test_configured_roots_make_absolute_paths_relative():
    data = json.dumps([leak("s3cr3t-value-1", File="/src/repo/app/settings.py")]).encode()
    _, [finding] = parse(data, paths=path_context(roots=["/src/repo"]))
    assert (finding.path, finding.original_path) == ("app/settings.py", "/src/repo/app/settings.py")


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        ("hostile/absolute.json", ["infra/settings.tf", "app/config.py", "etc/shadow"]),
        ("hostile/traversal.json", ["infra/settings.tf", "root/.ssh/id_rsa", "deploy/ci.yml"]),
    ],
)
def test_absolute_and_climbing_paths_are_normalised_not_refused(name, paths):
    _, findings = parse(name)
    assert [f.path for f in findings] == paths


def test_explicit_format_override_gives_the_same_parser():
    assert isinstance(get_parser("gitleaks"), GitleaksParser)


# -- hostile input -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message", "pointer"),
    [
        ("hostile/truncated.json", "truncated JSON", "/2"),
        ("hostile/not_array.json", "must be a JSON array of findings, got an object", ""),
    ],
)
def test_hostile_fixtures(name, message, pointer):
    with pytest.raises(ParseError) as caught:
        parse(name)
    assert caught.value.format == "gitleaks"
    assert message in caught.value.message and caught.value.pointer == pointer


def test_errors_never_quote_the_secret():
    """yajl's own messages quote the input around the error; ours must not."""
    data = b'[{"RuleID": "r", "Secret": "hunter2-very-secret", "File": "a"},, ]'
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ParseError) as caught:
        parse("hostile/truncated.json")
    assert "ghp_4f2B9cD8eF1a7" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message", "pointer"),
    [
        (b"", "got empty input", ""),
        (b"  42", "got a number", ""),
        (b"[1]", "a finding must be a JSON object, got a number", "/0"),
        (b'[{"RuleID": "r", "File": 3}]', "File must be a string", "/0/File"),
        (b"[] []", "truncated JSON", "/0"),
    ],
)
def test_generated_broken_reports(data, message, pointer):
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert message in caught.value.message and caught.value.pointer == pointer


# -- properties --------------------------------------------------------------------------

secret_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=8,
    max_size=60,
)


@settings(max_examples=150)
@given(secret_text)
def test_no_secret_survives_in_any_field(secret):
    item = leak(
        secret,
        Description=f"found {secret} here",
        Message=f"commit with {secret}",
        Tags=[secret, "ok"],
        Author=f"<{secret}>",
        Fingerprint=f"app/settings.py:{secret}:4",
    )
    baseline = repr(parse(json.dumps([leak("PLACEHOLDER-SECRET")]).encode()))
    if secret in baseline:  # the text occurs in fixed output such as the rule id
        return
    result, [finding] = parse(json.dumps([item]).encode())
    assert secret not in repr(finding) and secret not in repr(result)
    redacted_by_gitleaks = secret == "REDACTED" or secret.endswith("...")
    expected = "" if redacted_by_gitleaks else hashlib.sha256(secret.encode()).hexdigest()
    assert finding.secret_hash == expected
