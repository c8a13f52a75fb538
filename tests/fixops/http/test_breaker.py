"""The keyed circuit breaker, for outbound callers with no row of their own (OPA)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fixops.platform.http import breaker
from fixops.platform.http.errors import BreakerOpen, PermanentError, TransientError
from fixops.platform.models import Breaker
from fixops.platform.models.breaker import BreakerState

pytestmark = pytest.mark.django_db


def _fail(key: str) -> None:
    with pytest.raises(TransientError), breaker.guarded(key):
        raise TransientError("HTTP 503")


def test_healthy_calls_write_nothing(django_assert_num_queries):
    with django_assert_num_queries(1), breaker.guarded("opa:example:8181"):
        pass
    assert not Breaker.objects.exists()


def test_threshold_opens_then_a_probe_closes(settings):
    settings.FIXOPS_BREAKER_THRESHOLD = 2
    key = "opa:example:8181"
    _fail(key)
    assert Breaker.objects.get(key=key).breaker_state == BreakerState.CLOSED
    _fail(key)
    row = Breaker.objects.get(key=key)
    assert row.breaker_state == BreakerState.OPEN and row.last_error == "HTTP 503"
    calls = []
    with pytest.raises(BreakerOpen), breaker.guarded(key):
        calls.append(1)
    assert calls == []  # held back: the remote is not called
    Breaker.objects.filter(key=key).update(breaker_until=timezone.now() - timedelta(seconds=1))
    with breaker.guarded(key):  # the probe
        calls.append(1)
    row.refresh_from_db()
    assert calls == [1] and row.breaker_state == BreakerState.CLOSED and row.breaker_failures == 0


def test_a_permanent_error_is_an_answer(settings):
    settings.FIXOPS_BREAKER_THRESHOLD = 5
    key = "opa:example:8181"
    _fail(key)
    with pytest.raises(PermanentError), breaker.guarded(key):
        raise PermanentError("HTTP 400")
    assert Breaker.objects.get(key=key).breaker_failures == 0
