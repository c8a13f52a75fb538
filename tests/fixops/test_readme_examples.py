"""README.md's own examples, run as written against the demo tenant on a live server: every
shell block that talks to FixOps (`curl` on 127.0.0.1:8000 or $FIXOPS, `python manage.py`),
in order, under `set -e` with curl failing on any HTTP error; and every inline `GET /api/...`
path. A README change that breaks an example, or a demo change that breaks the README, fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from apps.evidence.models import BundleStatus, EvidenceBundle
from apps.evidence.services import bundle_store
from apps.findings.models import Application, Scan
from apps.tenants.models import ApiToken, Tenant
from apps.tenants.services import api_token_issue

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
INLINE_GET = re.compile(r"`GET (/api/v1/[^`\s]*)`")
# Shell blocks that start containers or the stack itself are not examples to run here.
NOT_HERE = ("make ", "docker ", "cp .env")


def readme_blocks() -> list[str]:
    blocks = []
    for block in BLOCK.findall(README.read_text()):
        if any(line.lstrip().startswith(NOT_HERE) for line in block.splitlines()):
            continue
        if "127.0.0.1:8000" in block or "$FIXOPS" in block or "manage.py" in block:
            blocks.append(block)
    return blocks


def _script(blocks: list[str], base_url: str, ids: dict[str, str]) -> str:
    lines = []
    for block in blocks:
        for raw in block.replace("\\\n", " ").splitlines():
            if "<" in raw and ">" in raw:  # a placeholder, e.g. revoke_token <prefix>
                continue
            line = raw.replace("http://127.0.0.1:8000", base_url)
            for first_run, here in ids.items():
                line = line.replace(first_run, here)
            lines.append(line)
    preamble = [
        "set -euo pipefail",
        # Any 4xx/5xx answer fails the example (the README's -s alone would hide it).
        'curl() { command curl --fail --show-error "$@"; }',
        'python() { "$PY" "$@"; }',
    ]
    return "\n".join([*preamble, *lines, ""])


def test_readme_has_the_examples_this_test_runs():
    blocks = readme_blocks()
    text = "\n".join(blocks)
    for example in ("issue_token", "/api/v1/me/", "/api/v1/scans/", "verify_evidence grc.zip"):
        assert example in text, example


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_readme_examples_work_against_the_demo(live_server, tmp_path):
    call_command("load_demo", stdout=StringIO())
    for bundle in EvidenceBundle.objects.filter(status=BundleStatus.PENDING):
        bundle_store(bundle_id=bundle.pk)  # what `make run`'s worker does after each decision
    db = connection.settings_dict
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "LANG")},
        "PY": sys.executable,
        "DJANGO_SETTINGS_MODULE": "fixops.settings.test",
        # The subprocesses' manage.py reads and writes the live server's (test) database.
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
    }
    # Run where the README's relative paths point (fixops/demo/..., manage.py), writing the
    # downloaded files into a scratch directory through symlinks.
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("manage.py", "fixops", "apps", ".git", "tools"):
        (work / name).symlink_to(ROOT / name)
    # The README's ids are a first run's (application 1 is payments-api, evidence 1 its
    # decision's); this database's sequences have run on, so they are mapped.
    payments = Application.objects.get(tenant__slug="demo", name="payments-api")
    evidence = EvidenceBundle.objects.filter(decision__application=payments).get()
    assert Application.objects.order_by("pk").first() == payments  # the first created
    ids = {"application=1&": f"application={payments.pk}&", "/1/bundle": f"/{evidence.pk}/bundle"}
    script = _script(readme_blocks(), live_server.url, ids)
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (
        f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    # What the examples did is there.
    assert Application.objects.filter(tenant__slug="demo", name="billing-api").exists()
    assert Tenant.objects.filter(slug="acme").exists()
    assert ApiToken.objects.filter(tenant__slug="demo", name="ci-main").exists()
    assert Scan.objects.filter(tenant__slug="demo", tool_name="semgrep").exists()
    assert '"results":[{"id"' in result.stdout  # the findings query found payments-api's
    assert "all evidence verified" in result.stdout

    token = api_token_issue(tenant=Tenant.objects.get(slug="demo"), name="readme", role="admin")
    checked = 0
    for path in INLINE_GET.findall(README.read_text()):
        if "|" in path or "<" in path or "…" in path:
            continue
        url = live_server.url + path.replace("{id}", str(payments.pk))
        answer = subprocess.run(
            ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-H",
             f"Authorization: Bearer {token.plaintext}", url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        body, _, status = answer.stdout.rpartition("\n")
        assert status == "200", (path, status, body[:300])
        json.loads(body)
        checked += 1
    assert checked >= 6
