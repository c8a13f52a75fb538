"""The optional read replica (`DATABASE_REPLICA_URL`, alias `replica`).

Only reads marked replica-safe go there: a function decorated `@replica_safe`, or a block
under `replica_reads()`, whose callers accept numbers a little behind the primary (the
analytics and the dashboard, already up to five minutes old by design). Everything else —
every write and every other read — stays on the primary, as without a replica.

A replica lags, so a replica-safe read still goes to the primary:
- inside a transaction (`atomic`) on the primary: it must see the transaction's own rows;
- after a write in the same unit of work (an HTTP request, a Celery task, or a block under
  `unit_of_work()`): the writer must read what it wrote. The first write pins the unit to the
  primary for its rest (the router sees every ORM write; raw SQL writes are not seen, and
  replica-safe code runs none).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.db import connections

REPLICA = "replica"
PRIMARY = "default"

_replica_reads: ContextVar[bool] = ContextVar("fixops_replica_reads", default=False)
_wrote: ContextVar[bool] = ContextVar("fixops_wrote", default=False)

F = TypeVar("F", bound=Callable[..., Any])


def replica_enabled() -> bool:
    return bool(settings.FIXOPS_READ_REPLICA)


def read_alias() -> str:
    """The alias a read at this point goes to: `replica` only inside a replica-safe block,
    with a replica configured, outside any transaction and before any write of this unit."""
    if not (_replica_reads.get() and replica_enabled()):
        return PRIMARY
    if _wrote.get() or connections[PRIMARY].in_atomic_block:
        return PRIMARY
    return REPLICA


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Reads in this block may go to the replica (see read_alias for when they do not)."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def replica_safe(func: F) -> F:
    """Mark a selector whose reads may come from the replica (a little behind the primary)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with replica_reads():
            return func(*args, **kwargs)

    wrapper.replica_safe = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def start_unit_of_work(**_kwargs: Any) -> None:
    """A new request or task: nothing written yet (a signal receiver too)."""
    _wrote.set(False)


@contextlib.contextmanager
def unit_of_work() -> Iterator[None]:
    """A block that is its own unit: writes before it do not pin reads inside it."""
    token = _wrote.set(False)
    try:
        yield
    finally:
        _wrote.reset(token)


class ReplicaRouter:
    """DATABASE_ROUTERS entry: writes and migrations on the primary; reads on the replica
    only as read_alias() says."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        return read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        _wrote.set(True)
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, two copies

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == PRIMARY


class UnitOfWorkMiddleware:
    """Each request starts unpinned (a thread serves many requests; the pin must not leak)."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        token = _wrote.set(False)
        try:
            return self.get_response(request)
        finally:
            _wrote.reset(token)
