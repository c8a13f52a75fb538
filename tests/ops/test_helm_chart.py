"""The Helm chart in docker/helm/fixops, checked without helm or a cluster (docs/operations.md,
"Kubernetes"): its values schema against the example values, then the chart rendered by
tools/helm_render (Go's text/template with sprig, Helm's own engine parts) and every object
validated by kubernetes-validate against the Kubernetes versions the chart supports."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "docker" / "helm" / "fixops"
EXAMPLES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSIONS = ("1.25.0", "1.31.0", "1.37.0")  # the chart's kubeVersion floor to the newest
GO_PACKAGES = "golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev"
# Custom resources kubernetes-validate has no schema for; their fields are asserted below.
CUSTOM_KINDS = {"ExternalSecret"}


def merged(*docs: dict) -> dict:
    out: dict = {}
    for doc in docs:
        stack = [(out, doc)]
        while stack:
            dst, src = stack.pop()
            for key, value in src.items():
                if isinstance(value, dict) and isinstance(dst.get(key), dict):
                    stack.append((dst[key], value))
                else:
                    dst[key] = copy.deepcopy(value)
    return out


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@pytest.fixture(scope="module")
def schema() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads((CHART / "values.schema.json").read_text()))


@pytest.fixture(scope="module")
def helm_render(tmp_path_factory) -> Path:
    if not shutil.which("go"):
        pytest.fail(f"go is missing: apt-get install {GO_PACKAGES} (.ci/run does)")
    out = tmp_path_factory.mktemp("helm") / "helm_render"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": "/usr/share/gocode",  # Debian's Go library packages
        "GOCACHE": str(out.parent / "gocache"),
        "GOFLAGS": "",
    }
    subprocess.run(
        ["go", "build", "-o", str(out), "."],
        cwd=ROOT / "tools" / "helm_render",
        env=env,
        check=True,
        capture_output=True,
    )
    return out


def render(helm_render: Path, *values: Path) -> list[dict]:
    args = [str(helm_render), "-name", "fixops", "-namespace", "fixops"]
    for path in values:
        args += ["-f", str(path)]
    done = subprocess.run([*args, str(CHART)], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def containers(objects: list[dict]):
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            pod = obj["spec"]["template"]["spec"]
            for container in pod["containers"]:
                yield obj, pod, container


def test_every_example_values_file_matches_the_schema(schema):
    assert EXAMPLES, "docker/helm/fixops/ci/ holds the example values"
    defaults = load(CHART / "values.yaml")
    for path in EXAMPLES:
        errors = [e.message for e in schema.iter_errors(merged(defaults, load(path)))]
        assert errors == [], f"{path.name}: {errors}"


def test_the_schema_refuses_what_would_deploy_wrongly(schema):
    defaults = load(CHART / "values.yaml")
    evaluation = load(CHART / "ci" / "evaluation-values.yaml")

    def errors(extra: dict) -> list[str]:
        return [e.message for e in schema.iter_errors(merged(defaults, evaluation, extra))]

    # Without any source of secrets the install is refused before anything is created.
    refused = [e.message for e in schema.iter_errors(defaults)]
    assert "'SECRET_KEY' is a required property" in refused
    assert errors({"web": {"replica": 3}})  # a typo is not silently ignored
    assert errors({"config": {"SECRET_KEY": "x"}})  # secrets never go into the ConfigMap
    assert errors({"config": {"DATABASE_REPLICA_URL": "postgres://u:p@replica/fixops"}})
    # The optional read replica's URL is a key of the Secret like DATABASE_URL.
    assert errors({"secret": {"values": {"DATABASE_REPLICA_URL": "postgres://r/fixops"}}}) == []
    assert errors({"securityContext": {"readOnlyRootFilesystem": False}})
    assert errors({"podSecurityContext": {"runAsNonRoot": False}})
    assert errors({"web": {"port": 80}})  # a non-root process cannot bind below 1024
    assert errors({"image": {"pullPolicy": "Sometimes"}})
    assert errors({}) == []


def test_config_keys_are_settings_fixops_reads():
    read = set()
    for path in (ROOT / "fixops" / "settings").rglob("*.py"):
        read |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', path.read_text()))
    # read by fixops/env.py and settings' preamble, and by prometheus-client itself
    read |= {"FIXOPS_ENV", "FIXOPS_VAR_DIR", "PROMETHEUS_MULTIPROC_DIR"}
    template = (CHART / "templates" / "configmap.yaml").read_text()
    fixed = set(re.findall(r"^  ([A-Z][A-Z0-9_]+):", template, re.M))
    for path in [CHART / "values.yaml", *EXAMPLES]:
        fixed |= set(load(path).get("config", {}))
    assert fixed - read == set(), "the chart sets variables FixOps never reads"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_rendered_objects_are_valid_kubernetes(helm_render, example):
    objects = render(helm_render, example)
    for version in KUBE_VERSIONS:
        for obj in objects:
            if obj["kind"] in CUSTOM_KINDS:
                continue
            kubernetes_validate.validate(obj, version, strict=True)


def test_the_chart_runs_one_beat_web_and_workers_safely(helm_render):
    objects = render(helm_render, CHART / "ci" / "evaluation-values.yaml")
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == {"fixops-web", "fixops-worker", "fixops-beat"}
    beat = deployments["fixops-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    assert "fixops-beat" not in by_kind(objects, "HorizontalPodAutoscaler")
    web = deployments["fixops-web"]["spec"]
    assert web["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    probes = web["template"]["spec"]["containers"][0]
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for obj, pod, container in containers(objects):
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts  # the one writable path besides the data volumes
    settings = by_kind(objects, "ConfigMap")["fixops"]["data"]
    # The image's collected static files, not the writable (empty) var directory.
    assert settings["STATIC_ROOT"] == "/app/var/static"
    assert settings["FIXOPS_VAR_DIR"].startswith("/tmp/")
    # Queued uploads written by web are read by workers: one shared ReadWriteMany claim.
    claims = by_kind(objects, "PersistentVolumeClaim")
    assert claims["fixops-uploads"]["spec"]["accessModes"] == ["ReadWriteMany"]
    assert set(by_kind(objects, "HorizontalPodAutoscaler")) == {"fixops-web", "fixops-worker"}
    assert set(by_kind(objects, "PodDisruptionBudget")) == {"fixops-web", "fixops-worker"}
    assert set(by_kind(objects, "NetworkPolicy")) == {
        "fixops-web",
        "fixops-worker-metrics",
        "fixops-default",
    }
    # Every process group sums its processes' metrics: gunicorn's hooks, one directory.
    assert (
        "python:fixops.gunicorn_conf"
        in deployments["fixops-web"]["spec"]["template"]["spec"]["containers"][0]["command"]
    )
    assert settings["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")


def test_migrations_run_as_a_hook_before_the_new_pods(helm_render):
    objects = render(helm_render, CHART / "ci" / "evaluation-values.yaml")
    job = by_kind(objects, "Job")["fixops-migrate"]
    hooks = job["metadata"]["annotations"]
    assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
    command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "manage.py migrate" in command
    # What the Job reads must exist before it: the ConfigMap and Secret are earlier hooks.
    for kind in ("ConfigMap", "Secret"):
        meta = by_kind(objects, kind)["fixops"]["metadata"]
        assert meta["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(meta["annotations"]["helm.sh/hook-weight"]) < int(hooks["helm.sh/hook-weight"])


def test_secrets_come_from_an_existing_or_external_secret(helm_render):
    existing = render(helm_render, CHART / "ci" / "production-values.yaml")
    assert by_kind(existing, "Secret") == {}
    for _, _, container in containers(existing):
        refs = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
        assert refs == ["fixops-secrets"]
    assert "fixops-evidence" not in by_kind(existing, "PersistentVolumeClaim")
    assert by_kind(existing, "Ingress")["fixops"]["spec"]["tls"][0]["secretName"] == "fixops-tls"

    external = render(helm_render, CHART / "ci" / "external-secrets-values.yaml")
    assert by_kind(external, "Secret") == {}
    spec = by_kind(external, "ExternalSecret")["fixops"]["spec"]
    assert spec["target"]["name"] == "fixops"
    assert spec["secretStoreRef"] == {"name": "vault", "kind": "ClusterSecretStore"}
    assert {d["secretKey"] for d in spec["data"]} >= {
        "SECRET_KEY",
        "FIXOPS_ENCRYPTION_KEYS",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
    }
    web = by_kind(external, "Deployment")["fixops-web"]["spec"]
    assert web["replicas"] == 3  # autoscaling off: the Deployment holds the count
