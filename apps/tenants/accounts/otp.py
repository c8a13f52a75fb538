"""Second factor for local accounts: TOTP devices (django-otp) and recovery codes."""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.db import transaction
from django_otp import devices_for_user, match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from fixops.platform.audit import audit_record

RECOVERY_DEVICE = "recovery"


def _audit(*, user, actor: str, action: str, after: dict) -> None:
    # A second factor belongs to the account, not to a tenant: the global chain records it.
    audit_record(
        tenant=None,
        actor=actor or f"user:{user.get_username()}",
        action=action,
        target_type="auth.user",
        target_id=user.pk,
        before=None,
        after={"username": user.get_username(), **after},
    )


def otp_has_device(*, user) -> bool:
    """True when `user` has a confirmed second factor."""
    return any(True for _ in devices_for_user(user, confirmed=True))


def totp_pending_device(*, user) -> TOTPDevice:
    """The unconfirmed TOTP device being enrolled (created on first call)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def totp_qr_data_uri(*, device: TOTPDevice) -> str:
    """The otpauth:// URI as an SVG QR code in a data: URI (no inline script or style)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


def totp_secret(*, device: TOTPDevice) -> str:
    """The shared secret in base32, for typing into an app that cannot scan."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def totp_confirm(*, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm enrolment with a first code; returns fresh recovery codes, or None if wrong."""
    if not device.verify_token(token.strip()):
        return None
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        # One authenticator per account: an older one stops working.
        replaced, _ = TOTPDevice.objects.filter(user=device.user).exclude(pk=device.pk).delete()
        _audit(
            user=device.user,
            actor="",
            action="account.totp_enrol",
            after={"device": device.pk, "replaced_devices": replaced},
        )
        return recovery_codes_regenerate(user=device.user)


def recovery_codes_regenerate(*, user, actor: str = "") -> list[str]:
    """New single-use recovery codes (the old ones stop working); shown once."""
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=RECOVERY_DEVICE, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(settings.FIXOPS_RECOVERY_CODES)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=c) for c in codes])
        _audit(user=user, actor=actor, action="account.recovery_codes", after={"count": len(codes)})
    return codes


def otp_verify(*, user, token: str):
    """The device that accepts `token` (TOTP code or unused recovery code), or None."""
    token = token.strip().replace(" ", "")
    if not token:
        return None
    return match_token(user, token)


def otp_reset(*, user, actor: str = "system") -> int:
    """Remove every second factor of `user` (lost phone); they enrol again at next sign-in."""
    removed = 0
    with transaction.atomic():
        for model in (TOTPDevice, StaticDevice):
            devices = model.objects.filter(user=user)
            removed += devices.count()
            devices.delete()
        _audit(
            user=user, actor=actor, action="account.otp_reset", after={"devices_removed": removed}
        )
    return removed
