"""Lease heartbeats: keep a claim on rows alive while slow work runs, whatever that work does.

A lease (an owner token and an expiry on the claimed rows) lets a dead worker's rows be taken
over once the expiry passes, so the expiry must be short; a live worker must then renew it
more often than it expires. Renewing between units of work is not enough: one slow vendor
call or one long import outlasts the lease. `LeaseHeartbeat` renews from a thread of its own,
every `interval` seconds, on its own database connection (the work's transaction may hold
locks for minutes; the renewal commits at once).

    with LeaseHeartbeat(lambda: renew(owner), interval=lease / 3):
        do_the_slow_work()

`renew` returns how many rows it renewed; when that reaches 0 the claim is gone (taken over,
or finished) and the heartbeat stops. The work itself must still be fenced by the owner when
it records its outcome: a heartbeat makes losing the lease unlikely, not impossible.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from django.db import connection

logger = logging.getLogger(__name__)


class LeaseHeartbeat:
    """Call `renew` every `interval` seconds from a daemon thread until the block ends."""

    def __init__(self, renew: Callable[[], int], *, interval: float, name: str = "lease") -> None:
        self._renew = renew
        self._interval = max(0.05, float(interval))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{name}-heartbeat", daemon=True)
        self.renewals = 0

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop renewing; returns once the thread (and its connection) is closed."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                try:
                    renewed = self._renew()
                except Exception:  # noqa: BLE001 - a failed renewal is retried next beat
                    logger.warning("lease renewal failed; retrying", exc_info=True)
                    continue
                self.renewals += 1
                if renewed == 0:
                    return
        finally:
            # Django opens one connection per thread: close this thread's own.
            connection.close()
