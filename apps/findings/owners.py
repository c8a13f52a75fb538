"""Owners of findings: a person or a team of the finding's tenant, for one finding or many.

The owner is a finding column, so it is written by the findings writer (`assign`), in one
statement however many findings; no status changes, so no `finding.changed` event. Each
finding whose owner changes gets its own `finding.assign` audit row (old and new owner),
written in one statement with the update: a bulk assignment of 1,000 findings is 1,000 rows,
so a finding's history reads the same whichever way it was assigned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from apps.findings.models import Finding
from apps.findings.writer import FindingWriter
from apps.tenants.models import Team, Tenant
from apps.tenants.selectors import team_get, tenant_member_get, tenant_members_among
from fixops.platform.audit import audit_record_many
from fixops.platform.errors import Invalid, NotFound

BULK_MAX = 1000


@dataclass(frozen=True)
class Owner:
    """Whom to assign: a user, a team, or nobody (both None)."""

    user: AbstractBaseUser | None = None
    team: Team | None = None

    @property
    def ids(self) -> tuple[int | None, int | None]:
        return (
            self.user.pk if self.user is not None else None,
            self.team.pk if self.team is not None else None,
        )

    def ref(self) -> dict | None:
        if self.user is not None:
            return {"type": "user", "id": self.user.pk, "name": self.user.get_username()}
        if self.team is not None:
            return {"type": "team", "id": self.team.pk, "name": self.team.name}
        return None


def _ref(user_id: int | None, team_id: int | None) -> dict | None:
    if user_id is not None:
        return {"type": "user", "id": user_id}
    if team_id is not None:
        return {"type": "team", "id": team_id}
    return None


def owner_choose(
    *,
    tenant: Tenant,
    me: AbstractBaseUser | None = None,
    username: str | None = None,
    team_id: int | None = None,
) -> Owner:
    """The owner named by at most one of `me` (the caller), `username` or `team_id`, checked
    against `tenant` (Invalid `invalid_owner` otherwise); none of them: no owner."""
    given = [v for v in (me, username, team_id) if v is not None]
    if len(given) > 1:
        raise Invalid(
            "Name one owner: a user, a team or none.",
            code="invalid_owner",
            details={"owner": ["one of owner, user, team"]},
        )
    if me is not None:
        username = me.get_username()
    if username is not None:
        user = tenant_member_get(tenant=tenant, username=username)
        if user is None:
            raise Invalid(
                "The owner must be an active member of the tenant.",
                code="invalid_owner",
                details={"user": [username]},
            )
        return Owner(user=user)
    if team_id is not None:
        try:
            return Owner(team=team_get(tenant=tenant, team_id=team_id))
        except NotFound:
            raise Invalid(
                "No such team in this tenant.", code="invalid_owner", details={"team": [team_id]}
            ) from None
    return Owner()


def _owner_check(tenant: Tenant, owner: Owner) -> None:
    """However the Owner was built, it belongs to `tenant` (owner_choose is the usual way)."""
    user_id, team_id = owner.ids
    foreign_team = owner.team is not None and owner.team.tenant_id != tenant.pk
    outsider = user_id is not None and not tenant_members_among(tenant=tenant, user_ids=[user_id])
    if foreign_team or outsider:
        raise Invalid(
            "The owner must be a member or a team of the finding's tenant.",
            code="invalid_owner",
            details={"owner": [_ref(user_id, team_id)]},
        )


def finding_assign(*, tenant: Tenant, finding: Finding, owner: Owner, actor: str) -> Finding:
    """Give one finding of `tenant` an owner (or none); audited when it changes."""
    finding_assign_bulk(tenant=tenant, finding_ids=[finding.pk], owner=owner, actor=actor)
    finding.owner_user, finding.owner_team = owner.user, owner.team
    return finding


def finding_assign_bulk(
    *, tenant: Tenant, finding_ids: Sequence[int], owner: Owner, actor: str
) -> int:
    """Give up to BULK_MAX findings of `tenant` the same owner, all or none: an id that is
    not `tenant`'s (or does not exist) makes the whole request NotFound. Returns how many
    findings changed owner."""
    ids = sorted(set(finding_ids))
    if not ids or len(ids) > BULK_MAX:
        raise Invalid(
            f"Assign 1 to {BULK_MAX} findings at a time.",
            code="invalid_owner",
            details={"ids": [f"1-{BULK_MAX} ids"]},
        )
    _owner_check(tenant, owner)
    user_id, team_id = owner.ids
    with transaction.atomic():
        rows = list(
            Finding.objects.for_tenant(tenant)
            .filter(pk__in=ids)
            .select_for_update()
            .order_by("pk")
            .values_list("pk", "owner_user_id", "owner_team_id")
        )
        if len(rows) != len(ids):
            raise NotFound()
        changed = [(pk, u, t) for pk, u, t in rows if (u, t) != (user_id, team_id)]
        writer = FindingWriter(cause="", actor=actor, audit=False)
        writer.assign([pk for pk, _, _ in changed], owner_user_id=user_id, owner_team_id=team_id)
        after = {"owner": owner.ref()}
        audit_record_many(
            tenant=tenant,
            actor=actor,
            action="finding.assign",
            target_type="findings.finding",
            changes=[(pk, {"owner": _ref(u, t)}, after) for pk, u, t in changed],
        )
    return len(changed)
