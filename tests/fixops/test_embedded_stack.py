"""`make run` from a clean directory: web + worker + beat on SQLite and the filesystem broker.

Starts the real stack in a copy of the repository, waits until /readyz reports a heartbeat
that went beat -> broker -> worker -> database, then stops it the way Ctrl-C does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import requests

from tests.findings.reports import Result, sarif

ROOT = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "node_modules", "*.pyc")
# /readyz shows its checks to the monitoring probe token (or a signed-in caller) only.
PROBE_TOKEN = "embedded-probe-token"  # noqa: S105 - a test value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {PROBE_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.slow
def test_make_run_serves_health_and_beats(tmp_path):
    workdir = tmp_path / "fixops"
    shutil.copytree(ROOT, workdir, ignore=IGNORE)
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FIXOPS_", "DATABASE_", "CELERY_", "DJANGO_"))
    }
    env.update({"FIXOPS_HEARTBEAT_SECONDS": "2", "PYTHONUNBUFFERED": "1"})
    env["FIXOPS_PROBE_TOKEN"] = PROBE_TOKEN
    log = (tmp_path / "stack.log").open("w")
    proc = subprocess.Popen(
        ["make", "run", f"VENV={Path(sys.prefix)}", f"PORT={port}"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready: dict = {}
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health_status, _ = _get(f"{base}/healthz")
                ready_status, ready = _get(f"{base}/readyz")
            except OSError:
                time.sleep(0.5)
                continue
            if health_status == 200 and ready_status == 200 and ready.get("status") == "ok":
                break
            time.sleep(0.5)
        output = (tmp_path / "stack.log").read_text()
        assert ready.get("status") == "ok", output[-3000:]
        assert ready["checks"]["database"]["vendor"] == "sqlite"
        assert ready["checks"]["broker"]["transport"] == "filesystem"
        assert ready["checks"]["beat"]["beats"] >= 1
        assert "API token: fxo_" in output and "password" in output
        assert "gate decisions: payments-api BLOCK" in output
        assert (workdir / "var" / "fixops.sqlite3").exists()
        _upload_a_report_through_the_api(base, output)
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the stack did not stop within 40 s of Ctrl-C")
        log.close()
    assert not _processes_in(workdir), "processes survived Ctrl-C"


def _upload_a_report_through_the_api(base: str, output: str) -> None:
    """The SQLite code paths of ingestion (no COPY) work end to end, twice (re-import), and
    so does the gate with its evidence bundle."""
    token = output.split("API token: ")[1].split(maxsplit=1)[0]
    headers = {"Authorization": f"Bearer {token}"}
    first = sarif([Result(), Result(path="src/other.py")])
    response = requests.post(
        f"{base}/api/v1/scans/",
        headers=headers,
        timeout=30,
        files={"file": ("r.sarif", first)},
        data={"application": "smoke-app", "branch": "main"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["findings_new"] == 2
    second = requests.post(
        f"{base}/api/v1/scans/",
        headers=headers,
        timeout=30,
        files={"file": ("r.sarif", sarif([Result()]))},
        data={"application": "smoke-app", "branch": "main", "decide": "true"},
    )
    assert second.json()["counts"]["findings_closed"] == 1, second.text
    decision = second.json()["decision"]
    assert decision["outcome"] == "ALLOW", decision
    # The worker stores the bundle after the decision commits; until then it answers 409.
    deadline = time.monotonic() + 30
    while True:
        bundle = requests.get(f"{base}{decision['evidence_url']}", headers=headers, timeout=30)
        if bundle.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert bundle.json()["payloadType"] == "application/vnd.in-toto+json", bundle.text
    app_id = response.json()["application_id"]
    listed = requests.get(
        f"{base}/api/v1/findings/", params={"application": app_id}, headers=headers, timeout=30
    ).json()
    assert sorted(f["status"] for f in listed["results"]) == ["fixed", "open"]


def _processes_in(directory: Path) -> list[str]:
    """Command lines of live processes whose working directory is `directory`."""
    found = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc_dir / "cwd")) == directory:
                found.append((proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found
