"""tools/fixops_gate.py --source-root: given, or taken from the CI workspace variables, and
sent with every upload so absolute paths in reports come out relative."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from apps.findings.models import Finding, Scan
from tools import fixops_gate

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tools" / "fixops_gate.py"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"GITHUB_WORKSPACE": "/home/runner/work/shop/shop"}, "/home/runner/work/shop/shop"),
        ({"CI_PROJECT_DIR": "/builds/acme/shop", "WORKSPACE": "/var/x"}, "/builds/acme/shop"),
        ({"BUILD_SOURCESDIRECTORY": "D:\\a\\1\\s"}, "D:\\a\\1\\s"),
        ({"BITBUCKET_CLONE_DIR": "/opt/atlassian/pipelines/agent/build"}, "/opt/atlassian/"
         "pipelines/agent/build"),
        ({"CIRCLE_WORKING_DIRECTORY": "relative", "WORKSPACE": "/var/lib/jenkins/workspace/j"},
         "/var/lib/jenkins/workspace/j"),
        ({}, ""),
    ],
)  # fmt: skip
def test_source_root_comes_from_the_ci_workspace(monkeypatch, env, expected):
    for names in fixops_gate.CI_VARIABLES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert fixops_gate._source_root_from_env() == expected


def _gitleaks(path: Path, file: str) -> Path:
    leak = {
        "RuleID": "generic-api-key",
        "Description": "Generic API Key",
        "StartLine": 3,
        "Secret": "c3b1f0e2d9a84b7fa6e5d4c3b2a1f0e9d8c7b6a5",
        "Match": "API_KEY = c3b1f0e2d9a84b7fa6e5d4c3b2a1f0e9d8c7b6a5",
        "File": file,
    }
    path.write_text(json.dumps([leak]))
    return path


def _run(live_server, token, *args, env):
    return subprocess.run(
        [sys.executable, str(CLIENT), "--url", live_server.url, "--token", token, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_the_client_sends_the_source_root(live_server, acme, issue_token, tmp_path):
    token = issue_token(acme, role="analyst")
    report = _gitleaks(tmp_path / "leaks.json", "/opt/ci/shop/app/config.py")
    env = {"GITHUB_WORKSPACE": "/opt/ci/shop"}
    result = _run(live_server, token, "--application", "shop", str(report), env=env)
    assert result.returncode in (0, 1, 2), result.stderr
    assert Scan.objects.get().source_root == "/opt/ci/shop"
    assert Finding.objects.get().path == "app/config.py"
    given = _gitleaks(tmp_path / "other.json", "/srv/build/app/config.py")
    args = ("--application", "shop", "--source-root", "/srv/build", str(given))
    result = _run(live_server, token, *args, env=env)
    assert result.returncode in (0, 1, 2), result.stderr
    assert Scan.objects.order_by("-id").first().source_root == "/srv/build"
    assert Finding.objects.get().path == "app/config.py"  # the same finding
