"""Fixtures of the browser tier: the browser (tests/e2e/browser.py)."""

from tests.e2e.browser import browsing  # noqa: F401 - a fixture
