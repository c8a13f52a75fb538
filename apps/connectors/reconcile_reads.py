"""How reconciliation reads tickets back from a vendor: paced, within its rate limits.

Every tracker client's `fetch_states(refs)` reads its tickets through a `Pacer`: a pause of
FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS between two vendor calls (so a walk over 10,000 tickets does
not burst into the vendor's limit), and a 429 / 503 is retried in-process after the vendor's
Retry-After (or rate-limit reset header), up to FIXOPS_RECONCILE_RETRIES times. The reads are
GETs or read-only POSTs (search, batch fetch), so retrying them is safe.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import requests
from django.conf import settings

from fixops.platform.http.retry import with_retries

# What `fetch_states` answers per remote id: the ticket's state, or None when it is gone.
# An id missing from the answer could not be read this time (skipped, tried next run).


class Pacer:
    """Runs one vendor read after another with a pause between them and Retry-After honoured."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.calls = 0

    def __call__(self, method, *args: Any, **kwargs: Any) -> requests.Response:
        if self.calls:
            time.sleep(settings.FIXOPS_RECONCILE_PAGE_PAUSE_SECONDS)
        self.calls += 1
        return with_retries(
            lambda: method(*args, **kwargs),
            retries=settings.FIXOPS_RECONCILE_RETRIES,
            backoff=settings.FIXOPS_RECONCILE_BACKOFF_SECONDS,
            label=self.label,
        )


def chunks(values: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
