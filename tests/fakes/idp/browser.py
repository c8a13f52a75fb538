"""A small browser for sign-in flows: follows redirects across FixOps (the Django test
client, host `testserver`) and real IdPs on 127.0.0.1 (requests), keeps cookies for both,
and submits HTML forms the way a browser would: with the Origin of the page that holds the
form, and with Django's CSRF checks on (the test client skips them unless asked), so a form
an IdP posts to FixOps meets the same checks as in a real browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import requests

FIXOPS_HOST = "testserver"


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                Form(attrs.get("action") or "", (attrs.get("method") or "get").lower())
            )
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1].fields[attrs["name"]] = attrs.get("value") or ""


@dataclass
class Page:
    url: str
    status: int
    text: str
    headers: dict
    history: list[str]

    def forms(self) -> list[Form]:
        parser = _FormParser()
        parser.feed(self.text)
        return parser.forms


class Browser:
    def __init__(self, django_client) -> None:
        django_client.handler.enforce_csrf_checks = True
        self.django = django_client
        self.http = requests.Session()
        self.last_post: tuple[str, dict] | None = None  # (url, data) of the last form POST

    def _one(self, method: str, url: str, data: dict | None, origin: str | None):
        parts = urlsplit(url)
        if parts.netloc in ("", FIXOPS_HOST):
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if method == "POST":
                headers = {"HTTP_ORIGIN": origin} if origin else {}
                response = self.django.post(
                    path,
                    urlencode(data or {}),
                    content_type="application/x-www-form-urlencoded",
                    **headers,
                )
            else:
                response = self.django.get(path)
            return response.status_code, dict(response.items()), response.content.decode()
        headers = {"Origin": origin} if origin and method == "POST" else {}
        response = self.http.request(
            method, url, data=data, headers=headers, allow_redirects=False, timeout=15
        )
        return response.status_code, dict(response.headers), response.text

    def request(
        self, method: str, url: str, data: dict | None = None, origin: str | None = None
    ) -> Page:
        """`origin`: the page's a form was posted from (None: typed into the address bar)."""
        if not urlsplit(url).netloc:
            url = f"http://{FIXOPS_HOST}{url}"
        history = []
        for _ in range(20):
            if method == "POST":
                self.last_post = (url, dict(data or {}))
            status, headers, text = self._one(method, url, data, origin)
            location = headers.get("Location") or headers.get("location")
            if status in (301, 302, 303, 307, 308) and location:
                history.append(url)
                url = urljoin(url, location)
                if status in (301, 302, 303):
                    method, data = "GET", None
                continue
            return Page(url=url, status=status, text=text, headers=headers, history=history)
        raise AssertionError(f"too many redirects: {history}")

    def get(self, url: str) -> Page:
        return self.request("GET", url)

    def submit(self, page: Page, index: int = 0, **values: str) -> Page:
        form = page.forms()[index]
        data = {**form.fields, **values}
        parts = urlsplit(page.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        return self.request(form.method.upper(), urljoin(page.url, form.action), data, origin)
