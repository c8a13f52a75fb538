"""Comments on findings: a thread per finding, written in FixOps or mirrored from a ticket."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.tenants.scoping import TenantOwned

BODY_MAX = 10_000
SOURCE_FIXOPS = "fixops"


class FindingComment(TenantOwned):
    """One comment. `source` is "fixops" for comments written here, else the vendor kind of
    the ticket it was mirrored from ("jira", "gitlab"…), with that `integration`, the
    comment's id there (`external_id`, unique per integration) and its author there
    (`remote_author`). Only apps/findings/comments.py writes rows.
    """

    finding = models.ForeignKey(
        "findings.Finding", on_delete=models.CASCADE, related_name="comments", db_index=False
    )
    # The person who wrote it (NULL for a token, a mirrored comment or a deleted account);
    # `author_label` is the audit actor ("user:alice", "token:ab12…"), which decides "own".
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    author_label = models.CharField(max_length=150)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=40, default=SOURCE_FIXOPS)
    # A reference by name to the connectors layer above (which mirrors ticket comments): no
    # code of this layer imports it.
    integration = models.ForeignKey(
        "connectors.Integration",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="finding_comments",
        db_index=False,
    )
    external_id = models.CharField(max_length=200, blank=True, default="")
    remote_author = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "external_id"],
                condition=Q(integration__isnull=False) & ~Q(external_id=""),
                name="finding_comment_external_uniq",
            )
        ]
        indexes = [models.Index(fields=["finding", "id"], name="finding_comment_thread_idx")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"comment {self.pk} on finding {self.finding_id} by {self.author_label}"
