"""Writes for teams: a tenant's named groups of members (owners of findings with a person).

Members are named by username and must hold a membership in the team's tenant; an unknown
name and another tenant's user are refused alike (`not_a_member`), so the answer never tells
whether an account exists elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from apps.tenants.models import Team, Tenant
from apps.tenants.selectors import tenant_members_among
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict, Invalid
from fixops.platform.text import clean_text

NAME_MAX = 100
MEMBERS_MAX = 1000


def _audit(team: Team, actor: str, action: str, before: dict | None, after: dict | None) -> None:
    audit_record(
        tenant=team.tenant,
        actor=actor,
        action=action,
        target_type="tenants.team",
        target_id=team.pk,
        before=before,
        after=after,
    )


def _clean_name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > NAME_MAX or clean_text(cleaned)[1]:
        raise Invalid(
            f"A team name is 1-{NAME_MAX} characters, without NUL.",
            code="invalid_team",
            details={"name": [f"1-{NAME_MAX} characters, no NUL"]},
        )
    return cleaned


def team_members_resolve(*, tenant: Tenant, usernames: Sequence[str]) -> list[AbstractBaseUser]:
    """The tenant's members named `usernames` (each once, in the order given); Invalid
    `not_a_member` naming those that are no member of `tenant`."""
    names = list(dict.fromkeys(str(name).strip() for name in usernames))
    if len(names) > MEMBERS_MAX:
        raise Invalid(
            f"A team has at most {MEMBERS_MAX} members.",
            code="invalid_team",
            details={"members": [f"at most {MEMBERS_MAX}"]},
        )
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=names)}
    members = tenant_members_among(tenant=tenant, user_ids=[u.pk for u in users.values()])
    missing = [n for n in names if n not in users or users[n].pk not in members]
    if missing:
        raise Invalid(
            "Team members must be members of the tenant.",
            code="not_a_member",
            details={"members": missing},
        )
    return [users[n] for n in names]


def _members_check(team: Team, users: Iterable[AbstractBaseUser]) -> list[AbstractBaseUser]:
    users = list(users)
    members = tenant_members_among(tenant=team.tenant, user_ids=[u.pk for u in users])
    outsiders = [u.get_username() for u in users if u.pk not in members]
    if outsiders:
        raise Invalid(
            "Team members must be members of the tenant.",
            code="not_a_member",
            details={"members": outsiders},
        )
    return users


def _usernames(team: Team) -> list[str]:
    return sorted(team.members.values_list("username", flat=True))


def _save_name(team: Team) -> None:
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError:
        raise Conflict(
            f"A team named {team.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
        ) from None


def team_create(
    *,
    tenant: Tenant,
    name: str,
    actor: str,
    members: Iterable[AbstractBaseUser] = (),
) -> Team:
    """Create a team in `tenant` with `members` (users of the tenant); 409 if the name is
    taken."""
    team = Team(tenant=tenant, name=_clean_name(name))
    with transaction.atomic():
        users = _members_check(team, members)
        _save_name(team)
        team.members.set(users)
        _audit(team, actor, "team.create", None, {"name": team.name, "members": _usernames(team)})
    return team


def team_update(
    *,
    team: Team,
    actor: str,
    name: str | None = None,
    members: Iterable[AbstractBaseUser] | None = None,
) -> Team:
    """Rename a team and/or replace its members, in one transaction; 409 if another team of
    the tenant has the name."""
    cleaned = None if name is None else _clean_name(name)
    with transaction.atomic():
        locked = Team.objects.select_for_update().select_related("tenant").get(pk=team.pk)
        if cleaned is not None and locked.name != cleaned:
            before = {"name": locked.name}
            locked.name = cleaned
            _save_name(locked)
            _audit(locked, actor, "team.update", before, {"name": cleaned})
        if members is not None:
            team_members_set(team=locked, actor=actor, members=members)
    team.name = locked.name
    return team


def team_members_set(*, team: Team, actor: str, members: Iterable[AbstractBaseUser]) -> Team:
    """Make `members` (users of the team's tenant) the team's whole member list."""
    with transaction.atomic():
        locked = Team.objects.select_for_update().select_related("tenant").get(pk=team.pk)
        users = _members_check(locked, members)
        before = _usernames(locked)
        locked.members.set(users)
        after = _usernames(locked)
        if before != after:
            _audit(locked, actor, "team.members", {"members": before}, {"members": after})
    return team


def team_delete(*, team: Team, actor: str) -> None:
    """Delete a team; the findings it owned are left without an owner."""
    with transaction.atomic():
        before = {"name": team.name, "members": _usernames(team)}
        _audit(team, actor, "team.delete", before, None)
        team.delete()
