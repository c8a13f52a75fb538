"""The CI client (tools/fixops_gate.py) against a real FixOps server: uploads, decides, prints
the reasons and exits with the outcome's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from apps.findings.models import Scan
from apps.policies.models import Decision

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tools" / "fixops_gate.py"
GITLEAKS = ROOT / "tests" / "fixtures" / "scans" / "gitleaks" / "report.json"
# gitleaks v7.4 SARIF: no ruleId, eight leaked AWS keys (its results were once all "lost").
GITLEAKS_74_SARIF = (
    ROOT / "tests" / "fixtures" / "scans" / "sarif" / "real" / "gitleaks-7.4.0.sarif"
)


def _run(live_server, token, *args, env=None):
    return subprocess.run(
        [sys.executable, str(CLIENT), "--url", live_server.url, "--token", token, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "GITHUB_SHA": "f00dfeed",
            "GITHUB_RUN_ID": "77",
            **(env or {}),
        },
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_blocking_report_exits_1_with_a_readable_table(live_server, acme, issue_token, tmp_path):
    token = issue_token(acme, role="analyst")
    result = _run(live_server, token, "--application", "shop", str(GITLEAKS))
    assert result.returncode == 1, result.stderr
    assert "uploaded" in result.stdout
    assert "BLOCK" in result.stdout.splitlines()[1]
    assert "FX-SECRET" in result.stdout

    decision = Decision.objects.get()
    assert (decision.commit, decision.pipeline_run) == ("f00dfeed", "77")
    assert decision.scans.count() == 1

    # The mapping is configurable; a clean app allows with 0.
    remapped = _run(
        live_server, token, "--application", "shop", "--exit-codes", "BLOCK=0", str(GITLEAKS)
    )
    assert remapped.returncode == 0


@pytest.mark.django_db(transaction=True)
def test_failures_exit_3_with_the_reason(live_server, acme, issue_token, tmp_path):
    bad = _run(live_server, "fxo_nope_nope", "--application", "shop", str(GITLEAKS))
    assert bad.returncode == 3 and "HTTP 401" in bad.stderr
    token = issue_token(acme, role="analyst")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    invalid = _run(live_server, token, "--application", "shop", str(junk))
    assert invalid.returncode == 3 and "HTTP 4" in invalid.stderr
    missing = _run(live_server, token, "--application", "shop", str(tmp_path / "none.sarif"))
    assert missing.returncode == 3 and "no such file" in missing.stderr


@pytest.mark.django_db(transaction=True)
def test_sarif_without_rule_ids_blocks_its_leaked_keys(live_server, acme, issue_token):
    token = issue_token(acme, role="analyst")
    result = _run(live_server, token, "--application", "shop", str(GITLEAKS_74_SARIF))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BLOCK" in result.stdout.splitlines()[1]
    assert "FX-SECRET" in result.stdout and "8 leaked secret(s)" in result.stdout
    assert "'lost': 0" in result.stdout.splitlines()[0]
    decision = Decision.objects.get()
    assert decision.input["scans"][0]["counts"] == {
        "results": 8,
        "findings": 8,
        "lost": 0,
        "suppressed": 0,
    }


def test_target_names_the_scan_stream(live_server, acme, issue_token):
    token = issue_token(acme, role="analyst")
    args = ("--application", "shop", "--target", "shop/api:2.0 (prod)", str(GITLEAKS))
    result = _run(live_server, token, *args)
    assert result.returncode in (0, 1, 2), result.stderr
    assert Scan.objects.get().target == "shop/api:2.0 (prod)"  # verbatim
