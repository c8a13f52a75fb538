"""Writes for comments on findings: add, edit (the author only), delete (the author or an
admin). Each is audited with the text it adds or removes, so a deleted comment stays on the
record. Mirrored ticket comments (source = a vendor kind) come through `comment_add` too."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.findings.models import Finding, FindingComment
from apps.findings.models.comment import BODY_MAX, SOURCE_FIXOPS
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict, Forbidden, Invalid
from fixops.platform.text import clean_text


def _body(body: str) -> str:
    """The body as stored: trimmed, 1-BODY_MAX characters; NUL (and lone surrogates, which
    PostgreSQL cannot store either) refused rather than silently replaced."""
    text = (body or "").strip()
    if not text or len(text) > BODY_MAX or clean_text(text)[1]:
        raise Invalid(
            f"A comment is 1-{BODY_MAX} characters, without NUL.",
            code="invalid_comment",
            details={"body": [f"1-{BODY_MAX} characters, no NUL"]},
        )
    return text


def _audit(comment: FindingComment, actor: str, action: str, before, after) -> None:
    audit_record(
        tenant=Tenant(pk=comment.tenant_id),  # an id is all the chain needs
        actor=actor,
        action=action,
        target_type="findings.findingcomment",
        target_id=comment.pk,
        before=before,
        after=after,
    )


def comment_add(
    *,
    tenant: Tenant,
    finding: Finding,
    body: str,
    actor: str,
    author: AbstractBaseUser | None = None,
    source: str = SOURCE_FIXOPS,
    integration_id: int | None = None,
    external_id: str = "",
    remote_author: str = "",
) -> FindingComment:
    """Add a comment to a finding of `tenant`; `actor` ("user:alice") is its author for
    edits. A mirrored comment names its source, integration and external id (409 when that
    external id is stored already)."""
    if finding.tenant_id != tenant.pk:
        raise Invalid("The finding is not this tenant's.", code="invalid_comment")
    comment = FindingComment(
        tenant=tenant,
        finding=finding,
        author=author if author is not None and author.is_authenticated else None,
        author_label=actor[:150],
        body=_body(body),
        source=source[:40] or SOURCE_FIXOPS,
        integration_id=integration_id,
        external_id=external_id[:200],
        remote_author=remote_author[:200],
    )
    try:
        with transaction.atomic():
            comment.save()
            _audit(
                comment,
                actor,
                "comment.add",
                None,
                {"finding": finding.pk, "source": comment.source, "body": comment.body},
            )
    except IntegrityError:
        raise Conflict(
            "This external comment is mirrored already.",
            code="conflict",
            details={"external_id": [external_id]},
        ) from None
    return comment


def comment_edit(*, comment: FindingComment, body: str, actor: str) -> FindingComment:
    """Change the text of one's own comment (`actor` must be its author); 403 otherwise."""
    text = _body(body)
    with transaction.atomic():
        locked = FindingComment.objects.select_for_update().get(pk=comment.pk)
        if locked.author_label != actor or locked.source != SOURCE_FIXOPS:
            raise Forbidden("Only its author may edit a comment.", code="not_comment_author")
        if locked.body != text:
            before = {"body": locked.body}
            locked.body, locked.edited_at = text, timezone.now()
            locked.save(update_fields=["body", "edited_at"])
            _audit(locked, actor, "comment.edit", before, {"body": text})
    return locked


def comment_delete(*, comment: FindingComment, actor: str, moderator: bool = False) -> None:
    """Delete a comment: its author may, and so may a `moderator` (the tenant's admin role);
    403 otherwise. The audit row keeps the text."""
    if comment.author_label != actor and not moderator:
        raise Forbidden(
            "Only its author or an admin may delete a comment.", code="not_comment_author"
        )
    with transaction.atomic():
        _audit(
            comment,
            actor,
            "comment.delete",
            {"finding": comment.finding_id, "author": comment.author_label, "body": comment.body},
            None,
        )
        comment.delete()
