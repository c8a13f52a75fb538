"""Local accounts: password, then TOTP (enrolment with a QR code on first sign-in), recovery
codes, lockout after repeated failures, and sessions with rotation and timeouts."""

from __future__ import annotations

import base64
import re
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.tenants.middleware import SESSION_AUTH_AT, SESSION_SEEN_AT
from tests.tenants.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def code_for(device: TOTPDevice, offset: int = 0) -> str:
    """The code `offset` steps after the device's now. The device's drift counts: when a
    30-s step ends between making a code and checking it, django-otp accepts it one step
    back and remembers drift -1, and a plain "next step" code is then out of its window."""
    drift = device.drift + offset
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift)
    return f"{code:06d}"


def password_step(client: Client, username="root", password=PASSWORD, next_url="/admin/"):
    return client.post(
        "/accounts/login/", {"username": username, "password": password, "next": next_url}
    )


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def enrol(client: Client, user) -> tuple[TOTPDevice, list[str]]:
    assert password_step(client)["Location"] == "/accounts/login/enrol/"
    page = client.get("/accounts/login/enrol/").content.decode()
    qr = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page).group(1)
    assert b"<svg" in base64.b64decode(qr)
    assert "<script" not in page and "style=" not in page
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert re.search(r'class="secret">([A-Z2-7]+)<', page)
    response = client.post("/accounts/login/enrol/", {"otp_token": code_for(device)})
    body = response.content.decode()
    codes = re.findall(r"<li><code>([a-z0-9]+)</code></li>", body)
    assert response.status_code == 200 and len(codes) == 10
    device.refresh_from_db()
    return device, codes


def test_first_sign_in_enrols_totp_then_lands_in_the_admin(root):
    client = Client()
    device, _codes = enrol(client, root)
    assert device.confirmed
    admin = client.get("/admin/")
    assert admin.status_code == 200 and "FixOps admin" in admin.content.decode()


def test_password_alone_never_signs_in(root):
    client = Client()
    device, _ = enrol(client, root)
    fresh = Client()
    assert password_step(fresh)["Location"] == "/accounts/login/otp/"
    # Between the factors nothing is signed in: not the admin, not the API.
    assert fresh.get("/admin/")["Location"].startswith("/admin/login/")
    assert fresh.get("/api/v1/me/").status_code in (401, 403)
    wrong = fresh.post("/accounts/login/otp/", {"otp_token": "000000"})
    assert wrong.status_code == 401 and "not valid" in wrong.content.decode()
    time.sleep(1.1)  # django-otp throttles a device for a second after a wrong code
    ok = fresh.post("/accounts/login/otp/", {"otp_token": code_for(device, 1)})
    assert ok.status_code == 302 and ok["Location"] == "/admin/"
    assert fresh.get("/admin/").status_code == 200


def test_recovery_code_works_once(root):
    _device, codes = enrol(Client(), root)
    for expected in (302, 401):
        client = Client()
        password_step(client)
        assert client.post("/accounts/login/otp/", {"otp_token": codes[0]}).status_code == expected


def test_session_key_rotates_at_sign_in(root):
    device, _ = enrol(Client(), root)
    client = Client()
    password_step(client)
    before = client.cookies["sessionid"].value  # the pre-authentication session
    response = client.post("/accounts/login/otp/", {"otp_token": code_for(device, 1)})
    assert response.status_code == 302
    assert client.cookies["sessionid"].value != before
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_wrong_passwords_lock_the_account_with_a_clear_message(root, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = password_step(client, password="wrong")
        assert (
            response.status_code == 401
            and "Wrong username or password" in response.content.decode()
        )
    locked = password_step(client, password="wrong")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    # Even the right password is refused while locked.
    assert password_step(client).status_code == 429
    call_command("axes_reset", stdout=StringIO())
    assert password_step(client)["Location"] == "/accounts/login/enrol/"


def test_wrong_totp_codes_count_towards_the_lockout(root, settings):
    device, _ = enrol(Client(), root)
    client = Client()
    password_step(client)
    statuses = [
        client.post("/accounts/login/otp/", {"otp_token": "123456"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-1] == 429 and statuses[0] == 401
    assert device.user.username == "root"


def test_local_login_can_be_disabled(root, settings):
    settings.FIXOPS_LOCAL_LOGIN = False
    page = Client().get("/accounts/login/").content.decode()
    assert 'name="password"' not in page
    response = password_step(Client())
    assert response.status_code == 403 and "disabled" in response.content.decode()


def test_admin_login_is_the_two_factor_flow(root):
    response = Client().get("/admin/login/?next=/admin/findings/")
    assert response["Location"] == "/accounts/login/?next=/admin/findings/"


def test_idle_and_absolute_timeouts(root, settings):
    client = Client()
    client.force_login(root)
    assert client.get("/api/v1/me/").status_code == 403  # signed in (no tenant)
    session = client.session
    session[SESSION_SEEN_AT] = int(time.time()) - settings.FIXOPS_SESSION_IDLE_SECONDS - 5
    session.save()
    assert client.get("/api/v1/me/").status_code == 401
    notice = client.get("/accounts/login/").content.decode()
    assert "inactivity" in notice

    client.force_login(root)
    client.get("/api/v1/me/")
    session = client.session
    session[SESSION_AUTH_AT] = int(time.time()) - settings.FIXOPS_SESSION_ABSOLUTE_SECONDS - 5
    session[SESSION_SEEN_AT] = int(time.time())
    session.save()
    assert client.get("/api/v1/me/").status_code == 401
    assert "maximum length" in client.get("/accounts/login/").content.decode()


def test_otp_reset_command_and_re_enrolment(root):
    enrol(Client(), root)
    out = StringIO()
    call_command("otp_reset", "root", stdout=out)
    assert "removed 2 second-factor device(s)" in out.getvalue()
    assert password_step(Client())["Location"] == "/accounts/login/enrol/"


def test_recovery_codes_can_be_replaced_when_verified(root):
    client = Client()
    _device, old = enrol(client, root)
    csrf = client.cookies["csrftoken"].value
    response = client.post("/accounts/recovery-codes/", HTTP_X_CSRFTOKEN=csrf)
    new = re.findall(r"<li><code>([a-z0-9]+)</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    unverified = Client()
    unverified.force_login(root)
    assert unverified.post("/accounts/recovery-codes/").status_code == 403


def test_logout(root):
    client = Client()
    enrol(client, root)
    assert client.get("/accounts/logout/").status_code == 200
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
    assert client.get("/admin/").status_code == 302


def test_pending_sign_in_expires(root, settings):
    client = Client()
    password_step(client)
    session = client.session
    session["fixops_pending_login"]["at"] -= 3600
    session.save()
    response = client.get("/accounts/login/enrol/")
    assert response.status_code == 400 and "took too long" in response.content.decode()
