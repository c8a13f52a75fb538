"""docker/observability: the Prometheus rules pass promtool's check and their unit tests, and
the rules and the Grafana dashboard ask only for series FixOps exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "docker" / "observability"
SERIES = re.compile(r"\b(fixops_[a-z_]+)")
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is missing: apt-get install prometheus (.ci/run does)")
    return path


def test_rules_pass_promtool_check_and_unit_tests():
    for args in (
        ["check", "rules", "fixops-rules.yaml"],
        ["test", "rules", "fixops-rules.test.yaml"],
    ):
        done = subprocess.run(
            [promtool(), *args], cwd=OBS, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.django_db
def test_rules_and_dashboard_use_only_exported_series(client, acme_viewer):
    acme_viewer.get("/api/v1/findings/")  # at least one labelled sample of each HTTP family
    body = client.get("/metrics").content.decode()
    exported = set()
    for family in text_string_to_metric_families(body):
        exported.add(family.name)
        exported |= {family.name + suffix for suffix in SUFFIXES}
    # Families with no sample yet in this process are declared all the same (# HELP lines).
    exported |= {
        name + suffix
        for name in re.findall(r"^# HELP (fixops_[a-z_]+)", body, re.M)
        for suffix in ("", *SUFFIXES)
    }
    rules = yaml.safe_load((OBS / "fixops-rules.yaml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    asked = {name for expr in exprs for name in SERIES.findall(expr)}
    assert asked, "the files ask for FixOps series"
    assert asked - exported == set()
    # Each panel shows something the rules or exports define (recording rules included).
    records = {
        rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule
    }
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert SERIES.search(target["expr"]) or any(r in target["expr"] for r in records)
