"""Evidence per decision (issue 6 targets, Ed25519): ≥ 200 bundles/s built, signed, encrypted
and stored locally; ≥ 1,000 bundles/s verified.

Baselines, in the same run: Ed25519 signing of the same payloads alone (the cryptographic
floor) and a write-once fsynced file write of the same ciphertexts (the storage floor).
"""

from __future__ import annotations

import os
import time

import pytest
from django.db import transaction

from apps.evidence import encryption
from apps.evidence.dsse import pae
from apps.evidence.keys import ED25519, generate, private_pem
from apps.evidence.models import EvidenceBundle
from apps.evidence.services import bundle_store, evidence_envelope, evidence_verify, keyring
from apps.evidence.signing import verify_envelope
from tests.bench.figures import figure
from tests.evidence.factories import make_bundle, make_decision, policy_version
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

N = int(os.environ.get("BENCH_EVIDENCE_N", "500"))


def test_bench_evidence(settings, tmp_path):
    key = generate(ED25519)
    (tmp_path / "key.pem").write_bytes(private_pem(key))
    settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(tmp_path / "key.pem")
    settings.FIXOPS_EVIDENCE_STORAGE = "local"
    settings.FIXOPS_EVIDENCE_DIR = tmp_path / "evidence"
    tenant = TenantFactory(slug="bench-evidence")
    app = ApplicationFactory(tenant=tenant)
    version = policy_version(tenant)
    decisions = [
        make_decision(tenant, application=app, version=version, scans=2, findings=5)
        for _ in range(N)
    ]
    decisions = [
        type(d)
        .objects.select_related("tenant", "application", "policy_version__policy")
        .prefetch_related("scans")
        .get(pk=d.pk)
        for d in decisions
    ]
    # The gate passes the scans it just linked, so the bundle does not query them again.
    scans = {d.pk: list(d.scans.all()) for d in decisions}
    make_bundle(decisions.pop())  # warm caches (key load, storage, key registry)

    # The gate records each bundle pending inside the decision's transaction (sign, encrypt,
    # insert; the commit belongs to the decision) and stores its object after commit. First
    # many decisions in one transaction, then one commit per decision as the gate runs it.
    half = len(decisions) // 2
    started = time.perf_counter()
    with transaction.atomic():
        pending = [make_bundle(d, scans[d.pk], store=False) for d in decisions[:half]]
    recorded = time.perf_counter()
    for bundle in pending:
        bundle_store(bundle_id=bundle.pk)
    build = time.perf_counter() - started
    record = recorded - started
    started = time.perf_counter()
    for decision in decisions[half:]:
        with transaction.atomic():
            bundle = make_bundle(decision, scans[decision.pk], store=False)
        bundle_store(bundle_id=bundle.pk)
        pending.append(bundle)
    build_commit = time.perf_counter() - started
    n = len(pending)
    bundles = list(
        EvidenceBundle.objects.filter(pk__in=[b.pk for b in pending])
        .select_related("decision__tenant", "decision__application", "decision__policy_version")
        .select_related("decision__policy_version__policy")
        .prefetch_related("decision__scans")
        .order_by("pk")
    )
    assert {b.status for b in bundles} == {"stored"}

    envelopes = [evidence_envelope(b) for b in bundles]
    payloads = [pae("application/vnd.in-toto+json", e) for e in envelopes]
    started = time.perf_counter()
    for payload in payloads:
        key.sign(payload)
    sign_floor = time.perf_counter() - started

    tokens = [encryption.encrypt(e) for e in envelopes]
    floor_dir = tmp_path / "floor"
    floor_dir.mkdir()
    started = time.perf_counter()
    for i, token in enumerate(tokens):
        fd = os.open(floor_dir / f"{i}.bin", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o440)
        os.write(fd, token)
        os.fsync(fd)
        os.close(fd)
    write_floor = time.perf_counter() - started

    keys = keyring()
    started = time.perf_counter()
    for envelope in envelopes:
        verify_envelope(envelope, keys)
    verify_offline = time.perf_counter() - started

    started = time.perf_counter()
    for bundle in bundles:
        assert evidence_verify(bundle).valid
    verify_full = time.perf_counter() - started

    sizes = sorted(b.size_bytes for b in bundles)
    stored = sorted(b.stored_bytes for b in bundles)
    print(
        f"\nevidence: {n} decisions (2 scans, 5 driving findings each), Ed25519, local storage"
        f"\n  build+sign+encrypt+store: {half / build:,.0f} bundles/s "
        f"({build / half * 1000:.2f} ms each)  [target >= 200/s]"
        f"\n    of which recorded pending in the decision's transaction: "
        f"{record / half * 1000:.2f} ms each; stored after commit: "
        f"{(build - record) / half * 1000:.2f} ms each"
        f"\n    with one commit per decision: {(n - half) / build_commit:,.0f} bundles/s "
        f"({build_commit / (n - half) * 1000:.2f} ms each)"
        f"\n    baseline Ed25519 sign only: {n / sign_floor:,.0f}/s; "
        f"fsynced write-once file only: {n / write_floor:,.0f}/s"
        f"\n  verify (offline, DSSE + statement): {n / verify_offline:,.0f} bundles/s"
        f"  [target >= 1,000/s]"
        f"\n  verify via service (read + decrypt + signature + subjects from DB): "
        f"{n / verify_full:,.0f} bundles/s"
        f"\n  envelope size: median {sizes[n // 2]:,} B (max {sizes[-1]:,} B); "
        f"stored (Fernet) median {stored[n // 2]:,} B"
    )
    figure("evidence.build", half / build, "bundles/s", better="higher")
    figure("evidence.build_commit_each", (n - half) / build_commit, "bundles/s", better="higher")
    figure("evidence.sign_only_baseline", n / sign_floor, "signatures/s", better="higher")
    figure("evidence.write_only_baseline", n / write_floor, "files/s", better="higher")
    figure("evidence.verify_offline", n / verify_offline, "bundles/s", better="higher")
    figure("evidence.verify_service", n / verify_full, "bundles/s", better="higher")
    figure("evidence.envelope_median", sizes[n // 2], "B", better="lower")
