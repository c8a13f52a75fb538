"""Evidence API: list, metadata, the envelope byte for byte, verification, keys, export (which
verifies offline with the command), audit events; roles and tenant isolation."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.evidence.services import bundle_store, evidence_envelope
from fixops.platform.audit import audit_record
from tests.evidence.factories import make_bundle, make_decision

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundle(acme, evidence_settings):
    return make_bundle(make_decision(acme))


def test_list_detail_and_filters(acme_viewer, bundle, globex, evidence_settings):
    make_bundle(make_decision(globex))
    page = acme_viewer.get("/api/v1/evidence/").json()
    assert [row["id"] for row in page["results"]] == [bundle.pk]
    row = page["results"][0]
    assert row["bundle_url"] == f"/api/v1/evidence/{bundle.pk}/bundle"
    assert row["envelope_digest"] == bundle.envelope_digest
    assert (
        acme_viewer.get(f"/api/v1/evidence/?decision={bundle.decision_id + 999}").json()["results"]
        == []
    )
    assert acme_viewer.get(
        f"/api/v1/evidence/?application={bundle.decision.application_id}"
    ).json()["results"]
    bad = acme_viewer.get("/api/v1/evidence/?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")
    assert bad.status_code == 400 and "to" in bad.content.decode()
    detail = acme_viewer.get(f"/api/v1/evidence/{bundle.pk}/").json()
    assert detail["decision_id"] == bundle.decision_id and detail["algorithm"] == "ed25519"


def test_bundle_is_byte_identical_and_verifies(acme_viewer, bundle, tmp_path, capsys):
    first = acme_viewer.get(f"/api/v1/evidence/{bundle.pk}/bundle")
    second = acme_viewer.get(f"/api/v1/evidence/{bundle.pk}/bundle")
    assert first.status_code == 200 and first["Content-Type"] == "application/json"
    assert first.content == second.content == evidence_envelope(bundle)
    assert first["ETag"] == f'"sha256:{bundle.envelope_digest}"'
    verify = acme_viewer.get(f"/api/v1/evidence/{bundle.pk}/verify").json()
    assert verify["valid"] is True and verify["keyid"] == bundle.keyid
    # Offline, with the published public key.
    keys = acme_viewer.get("/api/v1/evidence/keys").json()
    signing = [k for k in keys if k["signing"]][0]
    assert signing["keyid"] == bundle.keyid and signing["status"] == "active"
    (tmp_path / "pub.pem").write_text(signing["pem"])
    (tmp_path / "bundle.json").write_bytes(first.content)
    call_command(
        "verify_evidence", str(tmp_path / "bundle.json"), "--public-key", str(tmp_path / "pub.pem")
    )
    assert "all evidence verified" in capsys.readouterr().out
    # Against the installation's keyring when no key is given.
    call_command("verify_evidence", str(tmp_path / "bundle.json"))


def test_a_pending_bundle_answers_409_until_stored(
    acme_viewer, acme, evidence_settings, issue_token, api_client
):
    pending = make_bundle(make_decision(acme), store=False)
    response = acme_viewer.get(f"/api/v1/evidence/{pending.pk}/bundle")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "evidence_pending"
    detail = acme_viewer.get(f"/api/v1/evidence/{pending.pk}/").json()
    assert detail["status"] == "pending"
    verify = acme_viewer.get(f"/api/v1/evidence/{pending.pk}/verify").json()
    assert (verify["valid"], verify["reason"]) == (False, "pending")
    # An export holds stored evidence only.
    approver = api_client(issue_token(acme, role="approver"))
    archive = zipfile.ZipFile(io.BytesIO(approver.get("/api/v1/evidence/export").content))
    assert not [n for n in archive.namelist() if n.startswith("bundles/")]
    bundle_store(bundle_id=pending.pk)
    assert acme_viewer.get(f"/api/v1/evidence/{pending.pk}/bundle").status_code == 200
    assert acme_viewer.get(f"/api/v1/evidence/{pending.pk}/").json()["status"] == "stored"


def test_tampered_storage_answers_409(acme_viewer, bundle, evidence_settings):
    path = evidence_settings.FIXOPS_EVIDENCE_DIR / bundle.location
    path.chmod(0o600)
    path.write_bytes(b"garbage")
    response = acme_viewer.get(f"/api/v1/evidence/{bundle.pk}/bundle")
    assert response.status_code == 409 and response.json()["error"]["code"] == "evidence_tampered"
    path.unlink()
    response = acme_viewer.get(f"/api/v1/evidence/{bundle.pk}/bundle")
    assert response.status_code == 503
    verify = acme_viewer.get(f"/api/v1/evidence/{bundle.pk}/verify").json()
    assert verify["valid"] is False and verify["reason"] == "unreadable"


def test_export_verifies_offline_and_tampering_fails(
    acme, issue_token, api_client, bundle, evidence_settings, tmp_path, capsys
):
    second = make_bundle(make_decision(acme, outcome="ALLOW"))
    approver = api_client(issue_token(acme, role="approver"))
    response = approver.get("/api/v1/evidence/export")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    assert {"manifest.json", "manifest.dsse.json", "keys.json"} <= names
    assert f"bundles/decision-{second.decision_id}.dsse.json" in names
    manifest = json.loads(archive.read("manifest.json"))
    assert [b["bundleId"] for b in manifest["bundles"]] == [bundle.pk, second.pk]
    path = tmp_path / "export.zip"
    path.write_bytes(response.content)
    call_command("verify_evidence", str(path))
    out = capsys.readouterr().out
    assert out.count("OK bundles/") == 2 and "all evidence verified" in out

    # One changed byte in one bundle: the command fails and names it.
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as target:
        for name in archive.namelist():
            data = archive.read(name)
            if name == f"bundles/decision-{second.decision_id}.dsse.json":
                data = data.replace(b'"keyid":"', b'"keyid":"0', 1)
            target.writestr(name, data)
    with pytest.raises(CommandError, match="1 verification failure"):
        call_command("verify_evidence", str(tampered))
    assert "digest_mismatch" in capsys.readouterr().err

    # A bundle dropped from the zip, and an extra one smuggled in.
    dropped = tmp_path / "dropped.zip"
    with zipfile.ZipFile(dropped, "w") as target:
        for name in archive.namelist():
            if name != f"bundles/decision-{bundle.decision_id}.dsse.json":
                target.writestr(name, archive.read(name))
        target.writestr("bundles/extra.dsse.json", b"{}")
    with pytest.raises(CommandError, match="2 verification failure"):
        call_command("verify_evidence", str(dropped))
    err = capsys.readouterr().err
    assert "missing" in err and "unlisted" in err

    # A range with nothing in it still makes a verifiable, empty export.
    empty = approver.get(
        "/api/v1/evidence/export?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z"
    )
    assert (
        json.loads(zipfile.ZipFile(io.BytesIO(empty.content)).read("manifest.json"))["bundles"]
        == []
    )


def test_export_limits_and_roles(
    acme, acme_viewer, issue_token, api_client, bundle, evidence_settings
):
    assert acme_viewer.get("/api/v1/evidence/export").status_code == 403
    evidence_settings.FIXOPS_EVIDENCE_EXPORT_MAX = 0
    approver = api_client(issue_token(acme, role="approver"))
    response = approver.get("/api/v1/evidence/export")
    assert response.status_code == 400 and response.json()["error"]["code"] == "export_too_large"


def test_export_command(acme, bundle, tmp_path, capsys):
    out = tmp_path / "cmd.zip"
    call_command(
        "export_evidence", "--tenant", "acme", "--from", "2000-01-01T00:00:00+00:00", "-o", str(out)
    )
    call_command("verify_evidence", str(out))
    assert "all evidence verified" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no tenant"):
        call_command("export_evidence", "--tenant", "nope", "-o", str(out))
    with pytest.raises(CommandError, match="time zone"):
        call_command("export_evidence", "--tenant", "acme", "--to", "2026-01-01", "-o", str(out))
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("export_evidence", "--tenant", "acme", "--to", "soon", "-o", str(out))


def test_verify_command_reasons(bundle, tmp_path, signing_key_file, capsys):
    data = evidence_envelope(bundle)
    (tmp_path / "b.json").write_bytes(data)
    _, stranger = signing_key_file(name="stranger.pem")
    (tmp_path / "stranger.pub").write_text(stranger.public.pem)
    with pytest.raises(CommandError):
        call_command(
            "verify_evidence",
            str(tmp_path / "b.json"),
            "--public-key",
            str(tmp_path / "stranger.pub"),
        )
    assert "unknown_key" in capsys.readouterr().err
    (tmp_path / "bad.json").write_bytes(b"{")
    with pytest.raises(CommandError):
        call_command("verify_evidence", str(tmp_path / "bad.json"))
    assert "malformed" in capsys.readouterr().err
    with pytest.raises(CommandError):
        call_command("verify_evidence", str(tmp_path / "absent.json"))
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(CommandError, match="--public-key"):
        call_command(
            "verify_evidence", str(tmp_path / "b.json"), "--public-key", str(tmp_path / "junk.pem")
        )


def test_rotate_command_generates_and_retires(tmp_path, evidence_settings, bundle, capsys):
    target = tmp_path / "next.pem"
    call_command(
        "rotate_evidence_keys",
        "--generate-signing-key",
        str(target),
        "--algorithm",
        "rsa-pss-sha256",
    )
    assert oct(target.stat().st_mode)[-3:] == "600" and "rsa-pss-sha256" in capsys.readouterr().out
    with pytest.raises(CommandError, match="exists"):
        call_command("rotate_evidence_keys", "--generate-signing-key", str(target))
    evidence_settings.FIXOPS_EVIDENCE_SIGNING_KEY = str(target)
    call_command(
        "rotate_evidence_keys", "--retire-key", bundle.keyid, "--at", "2999-01-01T00:00:00+00:00"
    )
    assert "retired key" in capsys.readouterr().out
    for bad, message in (("soon", "ISO 8601"), ("2999-01-01", "time zone")):
        with pytest.raises(CommandError, match=message):
            call_command("rotate_evidence_keys", "--retire-key", bundle.keyid, "--at", bad)
    with pytest.raises(CommandError, match="no registered key"):
        call_command("rotate_evidence_keys", "--retire-key", "ab" * 32)


def test_audit_events_for_approvers_only(acme, globex, acme_viewer, issue_token, api_client):
    audit_record(
        tenant=acme,
        actor="user:alice",
        action="policy.activate",
        target_type="policy",
        target_id=7,
        before={"v": 1},
        after={"v": 2},
    )
    audit_record(
        tenant=globex,
        actor="user:charlie",
        action="secret-globex-action",
        target_type="policy",
        target_id=8,
        before=None,
        after=None,
    )
    assert acme_viewer.get("/api/v1/audit/").status_code == 403
    approver = api_client(issue_token(acme, role="approver"))
    rows = approver.get("/api/v1/audit/?target_type=policy").json()["results"]
    assert [(r["action"], r["after"]) for r in rows] == [("policy.activate", {"v": 2})]
    assert approver.get("/api/v1/audit/?action=nothing").json()["results"] == []


def test_outsider_gets_404(globex_admin, bundle):
    for suffix in ("", "bundle", "verify"):
        assert globex_admin.get(f"/api/v1/evidence/{bundle.pk}/{suffix}").status_code == 404
