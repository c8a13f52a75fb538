"""The tamper-evident audit log: every layer records its state changes here.

One hash chain per tenant (tenant NULL: one chain of global changes). Each AuditEvent holds
sha256(RFC 8785 JSON of its fields + the previous row's hash). Writers lock the chain's head
row (SELECT … FOR UPDATE) until their transaction ends, so two writers cannot fork a chain; an
audit row commits or rolls back with the change it records.

`audit_chain_walk` re-computes a chain and reports edited, inserted, deleted and truncated
rows. Signed checkpoints (which pin a chain's head, so cutting rows off its end is detected
even when the head row is rewritten too) need signing keys and live in apps/evidence, which
composes this walk with its signatures.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import rfc8785
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from fixops.platform.models import AuditChainHead, AuditEvent
from fixops.platform.request_id import current_request_id

GENESIS = "0" * 64
REDACTED = "[redacted]"
# Keys whose values never enter the log, at any depth of a payload: an audit row names what
# changed (ids, fields, old -> new), and the log is read by more people than the secrets.
_SECRET_WORDS = ("secret", "password", "passwd", "credential", "plaintext", "apikey")
_SECRET_NAMES = {"token", "key", "otp", "seed", "authorization", "cookie", "sessionid"}
_SECRET_KEYS = ("private", "signing", "encryption", "access", "api", "webhook", "fernet")


class Owner(Protocol):
    """What a chain is named by: any saved row with a primary key (in practice a tenant)."""

    pk: Any


def is_secret_key(name: str) -> bool:
    """Whether a payload key names a secret (tokens, keys, passwords, credentials, TOTP
    secrets, webhook secrets): its value is redacted before the row is hashed."""
    lowered = str(name).lower().replace("-", "_")
    return (
        lowered in _SECRET_NAMES
        or lowered.endswith(("_token", "_secret", "_password"))
        or (lowered.endswith("_key") and lowered.startswith(_SECRET_KEYS))
        or any(word in lowered.replace("_", "") for word in _SECRET_WORDS)
    )


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_key(key) and inner not in (None, "") else _redacted(inner)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [_redacted(inner) for inner in value]
    return value


def _plain(value: dict | None) -> dict | None:
    """JSON-safe copy (dates, decimals, UUIDs as strings) with secret values redacted: what
    is stored is what is hashed."""
    if value is None:
        return None
    return _redacted(json.loads(json.dumps(value, cls=DjangoJSONEncoder)))


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(event: AuditEvent) -> str:
    """sha256 of the row's content and its predecessor's hash (RFC 8785 JSON)."""
    content = {
        "tenant": event.tenant_id,
        "seq": event.seq,
        "actor": event.actor,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "before": event.before,
        "after": event.after,
        "request_id": event.request_id,
        "created_at": _moment(event.created_at),
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(rfc8785.dumps(content)).hexdigest()


def _locked_head(tenant_id: int | None) -> AuditChainHead:
    heads = AuditChainHead.objects.select_for_update()
    head = heads.filter(tenant_id=tenant_id).first()
    if head is None:
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(tenant_id=tenant_id, seq=0, hash=GENESIS)], ignore_conflicts=True
        )
        head = heads.get(tenant_id=tenant_id)
    return head


def _request_id(request_id: str | None) -> str:
    if request_id is not None:
        return request_id
    current = current_request_id()
    return "" if current == "-" else current


def audit_record_many(
    *,
    tenant: Owner | None,
    actor: str,
    action: str,
    target_type: str,
    changes: Iterable[tuple[Any, dict | None, dict | None]],
    request_id: str | None = None,
) -> list[AuditEvent]:
    """Append one event per (target_id, before, after) under a single head lock."""
    tenant_id = tenant.pk if tenant is not None else None
    request = _request_id(request_id)
    now = timezone.now()
    # No savepoint: an audit row that fails must roll back the change it records anyway, and
    # hot paths (an import, a decision) save the two statements.
    with transaction.atomic(savepoint=False):
        head = _locked_head(tenant_id)
        events = []
        seq, previous = head.seq, head.hash
        for target_id, before, after in changes:
            seq += 1
            event = AuditEvent(
                tenant_id=tenant_id,
                seq=seq,
                actor=actor,
                action=action,
                target_type=target_type,
                target_id=str(target_id),
                before=_plain(before),
                after=_plain(after),
                request_id=request,
                created_at=now,
                prev_hash=previous,
            )
            event.hash = previous = event_hash(event)
            events.append(event)
        if not events:
            return []
        AuditEvent.objects.bulk_create(events)
        head.seq, head.hash, head.updated_at = seq, previous, now
        head.save(update_fields=["seq", "hash", "updated_at"])
    return events


def audit_record(
    *,
    tenant: Owner | None,
    actor: str,
    action: str,
    target_type: str,
    target_id: Any,
    before: dict | None,
    after: dict | None,
    request_id: str | None = None,
) -> AuditEvent:
    """Append one event to the tenant's chain (inside the caller's transaction)."""
    return audit_record_many(
        tenant=tenant,
        actor=actor,
        action=action,
        target_type=target_type,
        changes=[(target_id, before, after)],
        request_id=request_id,
    )[0]


@dataclass
class ChainWalk:
    """What walking one chain found: its rows' hashes by sequence number and any problems."""

    tenant_id: int | None
    events: int = 0
    last_seq: int = 0
    hashes: dict[int, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def audit_chain_ids() -> list[int | None]:
    """Every chain that has a head or a row: the global one (None) first, then by tenant id."""
    ids = set(AuditChainHead.objects.values_list("tenant_id", flat=True)) | set(
        AuditEvent.objects.values_list("tenant_id", flat=True).distinct()
    )
    return sorted(ids, key=lambda value: (value is not None, value or 0))


def audit_chain_walk(*, tenant_id: int | None) -> ChainWalk:
    """Walk one chain: edited rows (hash), deleted or inserted rows (sequence gaps, broken
    links), and a head that does not match the last row."""
    walk = ChainWalk(tenant_id=tenant_id)
    expected_seq, previous = 1, GENESIS
    rows = AuditEvent.objects.filter(tenant_id=tenant_id).order_by("seq")
    for event in rows.iterator(chunk_size=2000):
        walk.events += 1
        if event.seq != expected_seq:
            walk.problems.append(
                f"rows {expected_seq}..{event.seq - 1} are missing (deleted)"
                if event.seq > expected_seq
                else f"row {event.seq} is out of order"
            )
        if event.prev_hash != previous:
            walk.problems.append(
                f"row {event.seq} does not link to the row before it (a row was deleted or "
                "inserted)"
            )
        if event_hash(event) != event.hash:
            walk.problems.append(f"row {event.seq} was edited (its hash does not match)")
        walk.hashes[event.seq] = event.hash
        expected_seq, previous = event.seq + 1, event.hash
    walk.last_seq = expected_seq - 1
    head = AuditChainHead.objects.filter(tenant_id=tenant_id).first()
    if head is not None and (head.seq != walk.last_seq or head.hash != previous):
        walk.problems.append(
            f"the chain head says row {head.seq} but the last row is {walk.last_seq} (rows "
            "were removed from or added to the end)"
        )
    return walk


def audit_chain_head(*, tenant_id: int | None) -> AuditChainHead | None:
    """The head row of one chain (None before its first event)."""
    return AuditChainHead.objects.filter(tenant_id=tenant_id).first()


def audit_chain_heads() -> list[int | None]:
    """The tenant ids of every chain with a head."""
    return list(AuditChainHead.objects.values_list("tenant_id", flat=True))
