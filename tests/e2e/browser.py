"""Shared browser plumbing for the slow tier: Debian's chromium driven by Playwright (never a
downloaded browser), problem capture, sign-in with TOTP, screenshots.

- `browsing` (fixture): launches /usr/bin/chromium once per test; `browsing.page()` opens a
  page in a fresh context (its own cookies: one context per person) with the capture below.
- Capture: console errors and warnings, uncaught page errors, and CSP violations recorded by
  a `securitypolicyviolation` listener that an init script installs before any page script
  runs. Init scripts come in through the DevTools protocol, so the page's own CSP does not
  apply to them (checked: the listener runs under `script-src 'self'`); the listener does not
  depend on the console's wording ("Refused to …" became "… violates the following Content
  Security Policy directive" in recent Chromium). It records into `window.__cspViolations`
  and reports through a binding, so a violation on a page left at once is not lost.
- `assert_clean(page)`: fails on any of those since the last check, listing them.
- `shot(page, name)`: a full-page screenshot, `var/screenshots/<test>/<nnn>-<name>.png`
  (var/ is git-ignored; CI keeps the folder as an artefact, docs/workspace.md).
- `sign_in(page, base, username, password, totp_secret=None)`: the local sign-in with the
  second factor: enrolment on first sign-in (returns the secret it read off the page), or
  the code of a known device (`totp_device(user)` makes one).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "correct horse battery staple"  # tests/tenants/factories.py UserFactory
VIEWPORT = {"width": 1440, "height": 900}
# No first-run, sync, component update or field trials: nothing leaves the machine and no
# background fetch writes to the console.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]

CSP_LISTENER = """
(() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    const v = {
      page: document.location.href, directive: e.effectiveDirective,
      blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample,
    };
    window.__cspViolations.push(v);
    if (window.__fixopsCsp) { window.__fixopsCsp(v); }
  });
})();
"""


@dataclass
class Capture:
    """What went wrong on a page since the last `assert_clean`."""

    shots: Path
    problems: list[str] = field(default_factory=list)
    seen_csp: set[str] = field(default_factory=set)

    def csp(self, violation: dict) -> None:
        text = (
            f"CSP violation: {violation.get('directive')} blocked {violation.get('blocked')!r} "
            f"at {violation.get('source')}:{violation.get('line')} "
            f"(page {violation.get('page')}) {violation.get('sample') or ''}".rstrip()
        )
        if text not in self.seen_csp:
            self.seen_csp.add(text)
            self.problems.append(text)


@dataclass
class Browsing:
    """One chromium for one test; pages in separate contexts; numbered screenshots."""

    browser: object
    shots: Path
    counter: int = 0
    pages: list[str] = field(default_factory=list)  # "label url", in the order visited

    def page(self) -> Page:
        context = self.browser.new_context(viewport=VIEWPORT, locale="en-GB")
        context.set_default_timeout(15_000)  # a missing control fails in seconds, not 30
        context.add_init_script(CSP_LISTENER)
        capture = Capture(self.shots)
        context.expose_function("__fixopsCsp", capture.csp)
        page = context.new_page()
        page.on("console", lambda msg: _console(capture, page, msg))
        page.on("pageerror", lambda exc: capture.problems.append(f"page error: {exc} ({page.url})"))
        page.fixops_capture = capture
        page.fixops_browsing = self
        return page


def _console(capture: Capture, page: Page, msg) -> None:
    if msg.type in ("error", "warning"):
        capture.problems.append(f"console {msg.type}: {msg.text} ({page.url})")


@pytest.fixture
def browsing(request, live_server):
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install the Debian chromium package (.ci/run does)")
    shots = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the tests
    # happen between page loads, never concurrently.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                yield Browsing(browser, shots)
            finally:
                browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def problems(page: Page) -> list[str]:
    """Everything captured on `page` since the last check, including CSP violations of the
    document shown now (read from the page, in case the binding's report is still in flight)."""
    capture: Capture = page.fixops_capture
    try:
        for violation in page.evaluate("window.__cspViolations || []"):
            capture.csp(violation)
    except Exception as exc:  # noqa: BLE001 - a download or a closed page has no window
        if "Execution context was destroyed" not in str(exc):
            raise
    found, capture.problems[:] = list(capture.problems), []
    return found


def assert_clean(page: Page) -> None:
    """No CSP violation, console error or warning, or page error since the last check."""
    found = problems(page)
    assert not found, f"{len(found)} problem(s) on {page.url}:\n" + "\n".join(found)


def shot(page: Page, name: str) -> Path:
    """Full-page screenshot of `page` as var/screenshots/<test>/<nnn>-<name>.png."""
    browsing: Browsing = page.fixops_browsing
    browsing.counter += 1
    slug = re.sub(r"[^\w.-]+", "-", name).strip("-")[:80]
    path = browsing.shots / f"{browsing.counter:03d}-{slug}.png"
    page.screenshot(path=str(path), full_page=True)
    browsing.pages.append(f"{name} {page.url}")
    return path


def visit(page: Page, url: str, name: str, *, status: int = 200) -> Page:
    """Open `url`, check its status, screenshot it and assert it clean."""
    response = page.goto(url)
    assert response is not None and response.status == status, (url, response and response.status)
    page.wait_for_load_state("load")
    shot(page, name)
    assert_clean(page)
    return page


# --- second factor -------------------------------------------------------------------------
_last_step: dict[str, int] = {}  # secret -> last TOTP time step used (a code works once)


def totp_code(secret: str) -> str:
    """A valid code for `secret` that has not been used yet: django-otp refuses a code of a
    time step it already accepted, so a second sign-in within 30 s takes the next step (the
    device tolerates one step of drift)."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    now = int(time.time()) // 30
    drift = max(0, _last_step.get(secret, now - 1) + 1 - now)
    if drift > 1:
        time.sleep(30 - time.time() % 30 + 0.5)
        now, drift = int(time.time()) // 30, 0
    _last_step[secret] = now + drift
    return f"{totp(key, drift=drift):06d}"


def totp_device(user) -> str:
    """A confirmed TOTP device for `user`, as if enrolled earlier; returns its secret."""
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def sign_in(
    page: Page, base: str, username: str, password: str = PASSWORD, totp_secret: str | None = None
) -> str:
    """Sign in locally from /admin/ and land on the admin index; enrol a TOTP app when the
    account has none (`totp_secret` None). Returns the secret. Screenshots each step."""
    page.goto(f"{base}/admin/")
    assert page.url.startswith(f"{base}/accounts/login/"), page.url
    shot(page, f"{username}-sign-in")
    assert_clean(page)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    if totp_secret is None:
        page.wait_for_url(f"{base}/accounts/login/enrol/")
        assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 0
        shot(page, f"{username}-enrol-totp")
        assert_clean(page)
        totp_secret = page.locator("code.secret").inner_text()
        page.fill("#id_otp_token", totp_code(totp_secret))
        page.click("button[type=submit]")
        expect(page.locator("ul.codes li")).to_have_count(10)  # waits for the codes page
        shot(page, f"{username}-recovery-codes")
        assert_clean(page)
        page.click("a.button")
    else:
        page.wait_for_url(f"{base}/accounts/login/otp/")
        shot(page, f"{username}-second-factor")
        assert_clean(page)
        page.fill("#id_otp_token", totp_code(totp_secret))
        page.click("button[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    assert_clean(page)
    return totp_secret
