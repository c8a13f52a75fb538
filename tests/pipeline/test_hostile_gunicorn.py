"""The hostile corpus against a real gunicorn, with the worker's memory watched.

Every case of tests/fixtures/hostile/ goes to every JSON and XML entry point: POST
/api/v1/scans/ with no format hint and with each hint whose parser reads JSON or XML, and
as the body of the JSON endpoints (/api/v1/policies/validate/, /api/v1/decisions/). A
watchdog thread reads the worker's VmRSS every 50 ms. Every answer must be a 4xx in the
error shape (never a 5xx, never a reset connection) — or, for trufflehog, whose output
may legitimately hold only JSON log records (stderr captured with 2>&1), a 2xx import of
nothing; any other 2xx imports nothing and counts what it could not read as lost (a gitleaks
array of other objects) — and the peak RSS must stay
under the idle RSS plus FIXOPS_UPLOAD_MEMORY_MB. Also: a chunked upload is imported and too
many form fields answer in the error shape, through gunicorn's own request handling.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from apps.findings.parsers import registry
from tests.findings.reports import Result, multipart_body, sarif
from tests.fixtures.hostile.corpus import cases

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
LENIENT = {"trufflehog"}
HINTS = ["", *sorted(fmt for fmt in registry() if fmt != "spdx-tag-value")]  # text, not JSON
JSON_ENDPOINTS = ["/api/v1/policies/validate/", "/api/v1/decisions/"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


class Watchdog(threading.Thread):
    """Samples one process's RSS every 50 ms; `peak_kb` is the highest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.samples = 0
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.05):
            try:
                rss = _rss_kb(self.pid)
            except OSError:
                self.lost = True  # the worker died (killed for memory, or crashed)
                return
            self.peak_kb = max(self.peak_kb, rss)
            self.samples += 1

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


@pytest.fixture
def gunicorn(tmp_path):
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "FIXOPS_VAR_DIR": str(tmp_path / "var"),
        "FIXOPS_UPLOAD_DIR": str(tmp_path / "uploads"),
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fixops.wsgi:application", "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--graceful-timeout", "5"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "gunicorn.log").read_text()[-3000:])
        [worker] = _children(proc.pid)
        yield base, proc.pid, worker, tmp_path / "gunicorn.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _upload(base: str, headers: dict, data: bytes, hint: str) -> requests.Response:
    # a branch per hint: the same bytes accepted under one hint would otherwise answer the
    # next hint as an idempotent replay of that import
    fields = {"application": "hostile", "branch": hint or "detect"}
    fields.update({"format": hint} if hint else {})
    return requests.post(
        f"{base}/api/v1/scans/",
        headers=headers,
        files={"file": ("report", data)},
        data=fields,
        timeout=60,
    )


def _json_post(base: str, headers: dict, url: str, data: bytes) -> requests.Response:
    headers = {**headers, "Content-Type": "application/json"}
    return requests.post(f"{base}{url}", headers=headers, data=data, timeout=60)


def _judge(response: requests.Response, hint: str, name: str) -> str:
    """ "4xx" or "2xx-empty"; anything else fails with what came back."""
    if 400 <= response.status_code < 500:
        error = response.json()["error"]
        assert set(error) == {"code", "message", "details", "request_id"}, error
        return "4xx"
    body = response.json()
    assert response.status_code in (200, 201), (name, hint, response.status_code, body)
    counts = body["counts"]
    imported = counts["findings_new"] + counts["findings_existing"] + counts.get("components", 0)
    # Nothing imported, and nothing lost silently: either trufflehog's log-only output, or a
    # report whose unreadable results are counted (lost/warnings) and lower the confidence.
    counted = counts.get("lost", 0) + counts.get("warnings", 0)
    assert imported == 0 and (hint in LENIENT or counted > 0), (name, hint, body)
    return "2xx-empty"


def test_hostile_corpus_answers_4xx_within_the_memory_ceiling(gunicorn, acme, issue_token):
    base, master, worker, log = gunicorn
    headers = {"Authorization": f"Bearer {issue_token(acme, role='admin')}"}
    # warm up: every module a request path imports, so the idle RSS is the working one
    warm = _upload(base, headers, sarif([Result()]), "")
    assert warm.status_code == 201, warm.text
    _json_post(base, headers, JSON_ENDPOINTS[0], b'{"source": "package x"}')
    time.sleep(0.5)
    idle_kb = min(_rss_kb(worker) for _ in range(5) if not time.sleep(0.05))
    ceiling_kb = settings.FIXOPS_UPLOAD_MEMORY_MB * 1024

    watchdog = Watchdog(worker)
    watchdog.start()
    tally = {"4xx": 0, "2xx-empty": 0}
    tried = 0
    try:
        for name, data in cases().items():
            for hint in HINTS:
                tried += 1
                try:
                    response = _upload(base, headers, data, hint)
                except requests.ConnectionError as exc:
                    pytest.fail(f"{name} with format={hint!r}: {exc}\n{log.read_text()[-3000:]}")
                tally[_judge(response, hint, name)] += 1
            for url in JSON_ENDPOINTS:
                tried += 1
                response = _json_post(base, headers, url, data)
                assert 400 <= response.status_code < 500, (name, url, response.text[:500])
                assert set(response.json()["error"]) >= {"code", "message", "request_id"}
                tally["4xx"] += 1
    finally:
        watchdog.stop()
    assert not watchdog.lost and _children(master) == [worker], "the worker was replaced"
    over_kb = watchdog.peak_kb - idle_kb
    print(  # noqa: T201 - the figure line the issue asks for
        f"\nhostile inputs tried {tried} / 4xx {tally['4xx']} / 2xx-empty {tally['2xx-empty']} "
        f"/ 5xx 0 / peak RSS over idle {over_kb / 1024:.0f} MiB (idle {idle_kb / 1024:.0f} MiB, "
        f"ceiling {ceiling_kb / 1024:.0f} MiB, {watchdog.samples} samples)"
    )
    assert over_kb < ceiling_kb


def _dense_gitleaks(count: int) -> bytes:
    """The densest real report: minimal gitleaks findings, ~75 bytes each."""
    item = '{"RuleID":"r%d","File":"f","StartLine":1,"Secret":"s","Fingerprint":"f:r:%d"}'
    return ("[" + ",".join(item % (i, i) for i in range(count)) + "]").encode()


def test_a_report_dense_past_the_ceiling_is_refused_within_it(gunicorn, acme, issue_token):
    """Results cost ~2 KiB each until commit, so a dense report under the async size (imported
    in the request) could pass the ceiling: the result budget refuses it while reading."""
    base, _master, worker, _log = gunicorn
    headers = {"Authorization": f"Bearer {issue_token(acme, role='analyst')}"}
    assert _upload(base, headers, sarif([Result()]), "").status_code == 201  # warm up
    idle_kb = _rss_kb(worker)
    watchdog = Watchdog(worker)
    watchdog.start()
    try:
        response = _upload(base, headers, _dense_gitleaks(140_000), "gitleaks")
    finally:
        watchdog.stop()
    assert response.status_code == 413, response.text[:500]
    error = response.json()["error"]
    assert error["code"] == "too_many_results" and error["details"]["limit"] == 131_072
    refused_kb = watchdog.peak_kb - idle_kb
    assert refused_kb < settings.FIXOPS_UPLOAD_MEMORY_MB * 1024

    # Just under the cap the report is imported, and still within the ceiling.
    watchdog = Watchdog(worker)
    watchdog.start()
    try:
        response = _upload(base, headers, _dense_gitleaks(131_072), "gitleaks")
    finally:
        watchdog.stop()
    assert response.status_code == 201, response.text[:500]
    assert response.json()["counts"]["findings_new"] == 131_072
    imported_kb = watchdog.peak_kb - idle_kb
    print(  # noqa: T201 - the figure line
        f"\ndense report: refused at {refused_kb / 1024:.0f} MiB over idle; 131,072 results "
        f"imported at {imported_kb / 1024:.0f} MiB over idle (ceiling "
        f"{settings.FIXOPS_UPLOAD_MEMORY_MB} MiB)"
    )
    assert imported_kb < settings.FIXOPS_UPLOAD_MEMORY_MB * 1024


def test_chunked_uploads_and_too_many_fields_through_gunicorn(gunicorn, acme, issue_token):
    base, _master, _worker, _log = gunicorn
    headers = {"Authorization": f"Bearer {issue_token(acme, role='analyst')}"}
    body, content_type = multipart_body(sarif([Result()]))
    chunks = (body[i : i + 1000] for i in range(0, len(body), 1000))  # a generator: chunked
    response = requests.post(
        f"{base}/api/v1/scans/",
        headers={**headers, "Content-Type": content_type},
        data=chunks,
        timeout=60,
    )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["findings_new"] == 1

    fields = {f"f{i}": "x" for i in range(1_100)}
    response = requests.post(
        f"{base}/api/v1/scans/",
        headers=headers,
        files={"file": ("r.sarif", sarif([Result()]))},
        data={"application": "shop", **fields},
        timeout=60,
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "too_many_fields"
