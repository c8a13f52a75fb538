from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils.html import format_html, format_html_join

from apps.tenants.admin_scoping import TenantScopedAdmin, role_action
from apps.tenants.models import ApiToken, Membership, RetentionPolicy, SsoIdentity, Team, Tenant
from apps.tenants.retention import RETENTION_FIELDS, retention_update
from apps.tenants.roles import Role
from apps.tenants.scopes import SCOPES
from apps.tenants.selectors import tenant_members_among
from apps.tenants.services import (
    api_token_check,
    api_token_expiry_check,
    api_token_issue,
    api_token_revoke,
    api_token_rotate,
    api_token_update,
)
from apps.tenants.teams import team_create, team_delete, team_members_set, team_update
from fixops.platform.admin_audit import AuditedAdmin
from fixops.platform.errors import DomainError

ADMIN_ONLY = {"view": Role.ADMIN, "add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = "pk"
    admin_roles = {"change": Role.ADMIN}
    list_display = ("slug", "name", "is_active", "token_max_lifetime_days", "created_at")
    list_filter = ("is_active",)
    search_fields = ("slug", "name")

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        # Tenant admins set their policy; only superusers rename or deactivate a tenant.
        if request.user.is_superuser:
            return ()
        return ("slug", "is_active", "created_at")


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    admin_roles = {"add": Role.ADMIN, "change": Role.ADMIN, "delete": Role.ADMIN}
    list_display = ("user", "tenant", "role", "managed_by", "created_at")
    list_filter = ("role", "tenant", "managed_by")
    search_fields = ("user__username", "user__email", "tenant__slug")
    list_select_related = ("user", "tenant")
    autocomplete_fields = ("user", "tenant")
    readonly_fields = ("managed_by",)


@admin.register(SsoIdentity)
class SsoIdentityAdmin(AuditedAdmin):
    """Who signed in through which IdP; read-only (rows come from sign-ins)."""

    list_display = ("user", "protocol", "provider", "subject", "last_login_at")
    list_filter = ("protocol", "provider")
    search_fields = ("user__username", "subject", "issuer")
    readonly_fields = [f.name for f in SsoIdentity._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ApiTokenAddForm(forms.ModelForm):
    scopes_text = forms.CharField(
        required=False,
        label="Scopes",
        help_text="Comma-separated; empty = everything the role allows. "
        f"Known: {', '.join(SCOPES)}",
    )

    class Meta:
        model = ApiToken
        fields = ("tenant", "name", "role", "expires_at")

    def clean(self):
        data = super().clean()
        tenant = data.get("tenant")
        if tenant is not None and data.get("role"):
            try:
                # Same rules as the API: no wider than the issuer, within the tenant policy.
                api_token_check(
                    tenant=tenant,
                    role=data["role"],
                    scopes=data.get("scopes_text", "").split(","),
                    expires_at=data.get("expires_at"),
                    created_by=self.issuer,
                    issuer_token=None,
                )
            except DomainError as exc:
                raise ValidationError(exc.message) from None
        return data


class ApiTokenChangeForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ("name", "expires_at")

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        try:
            api_token_expiry_check(token=self.instance, expires_at=expires_at)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return expires_at


def _shown_once(tokens) -> str:
    return format_html(
        "Copy now, not shown again: {}",
        format_html_join(", ", '<code class="fixops-token">{}</code>', ((t,) for t in tokens)),
    )


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    admin_roles = ADMIN_ONLY
    list_display = (
        "name",
        "prefix",
        "tenant",
        "role",
        "scopes",
        "live",
        "expires_at",
        "last_used_at",
    )
    list_filter = ("role", "tenant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "tenant__slug")
    list_select_related = ("tenant",)
    actions = ["revoke_selected", "rotate_selected"]
    readonly_fields = (
        "prefix",
        "secret_hash",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "replaced_by",
    )

    @admin.display(boolean=True)
    def live(self, obj: ApiToken) -> bool:
        return obj.is_live

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = ApiTokenAddForm if obj is None else ApiTokenChangeForm
        form = super().get_form(request, obj, change=change, **kwargs)
        form.issuer = request.user
        return form

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("tenant", "name", "role", "scopes_text", "expires_at")
        return ("tenant", "name", "role", "expires_at", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        # A token's identity never changes after issue; only its name/expiry can be edited.
        return () if obj is None else (*self.readonly_fields, "tenant", "role")

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request, Role.ADMIN)
        if change:
            if ids is not None and obj.tenant_id not in ids:
                raise PermissionDenied("You may only change tokens of your own tenants.")
            api_token_update(
                token=ApiToken.objects.get(pk=obj.pk),
                name=obj.name,
                expires_at=obj.expires_at,
                actor=f"user:{request.user.get_username()}",
            )
            return None
        if ids is not None and obj.tenant_id not in ids:
            raise PermissionDenied("You may only issue tokens for your own tenants.")
        issued = api_token_issue(
            tenant=obj.tenant,
            name=obj.name,
            role=obj.role,
            scopes=form.cleaned_data.get("scopes_text", "").split(","),
            expires_at=obj.expires_at,
            created_by=request.user,
        )
        obj.pk = issued.token.pk
        obj.prefix = issued.token.prefix
        self.message_user(request, _shown_once([issued.plaintext]), messages.WARNING)

    @admin.action(description="Revoke selected tokens")
    @role_action(Role.ADMIN)
    def revoke_selected(self, request, queryset):
        count = 0
        for token in queryset:
            api_token_revoke(token=token, actor=f"user:{request.user.get_username()}")
            count += 1
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)

    @admin.action(description="Rotate selected tokens (old ones keep working for the grace period)")
    @role_action(Role.ADMIN)
    def rotate_selected(self, request, queryset):
        issued, refused = [], []
        for token in queryset.select_related("tenant"):
            try:
                issued.append(api_token_rotate(token=token, created_by=request.user))
            except DomainError as exc:
                refused.append(f"{token.prefix}: {exc.message}")
        if issued:
            self.message_user(request, _shown_once([i.plaintext for i in issued]), messages.WARNING)
        if refused:
            self.message_user(request, "; ".join(refused), messages.ERROR)


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ("tenant", "name", "members")

    def clean(self):
        cleaned = super().clean()
        tenant, members = cleaned.get("tenant"), cleaned.get("members")
        if tenant is not None and members:
            ids = tenant_members_among(tenant=tenant, user_ids=[u.pk for u in members])
            outsiders = sorted(u.get_username() for u in members if u.pk not in ids)
            if outsiders:
                self.add_error("members", f"Not members of {tenant.slug}: {', '.join(outsiders)}.")
        return cleaned


@admin.register(Team)
class TeamAdmin(TenantScopedAdmin):
    """A tenant's teams (owners of findings); every write goes through apps/tenants/teams.py."""

    form = TeamForm
    admin_roles = ADMIN_ONLY
    list_display = ("name", "tenant", "member_count", "created_at")
    list_filter = ("tenant",)
    search_fields = ("name", "members__username")
    list_select_related = ("tenant",)
    filter_horizontal = ("members",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_n=Count("members", distinct=True))

    @admin.display(description="members", ordering="members_n")
    def member_count(self, team: Team) -> int:
        return team.members_n

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("tenant",)

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request, Role.ADMIN)
        if ids is not None and obj.tenant_id not in ids:
            raise PermissionDenied("You may only change teams of your own tenants.")
        actor = f"user:{request.user.get_username()}"
        if change:
            team_update(team=obj, name=form.cleaned_data["name"], actor=actor)
        else:
            obj.pk = team_create(tenant=obj.tenant, name=obj.name, actor=actor).pk

    def save_related(self, request, form, formsets, change):
        # The members go through the service too (checked, audited), not Django's m2m save.
        team_members_set(
            team=form.instance,
            members=form.cleaned_data.get("members", []),
            actor=f"user:{request.user.get_username()}",
        )

    def delete_model(self, request, obj):
        if not self.has_delete_permission(request, obj):
            raise PermissionDenied("Deleting needs the admin role in this team's tenant.")
        team_delete(team=obj, actor=f"user:{request.user.get_username()}")

    def delete_queryset(self, request, queryset):
        for team in queryset.select_related("tenant"):
            self.delete_model(request, team)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(TenantScopedAdmin):
    """A tenant's retention periods; saved through `retention_update` (audited). The form's
    field validators hold the same bounds, so a save that reaches it is valid."""

    admin_roles = ADMIN_ONLY
    list_display = ("tenant", *RETENTION_FIELDS, "updated_at")
    list_select_related = ("tenant",)
    readonly_fields = ("updated_at",)

    def get_readonly_fields(self, request, obj=None):
        return ("updated_at",) if obj is None else ("tenant", "updated_at")

    def save_model(self, request, obj, form, change):
        ids = self._tenant_ids(request, Role.ADMIN)
        if ids is not None and obj.tenant_id not in ids:
            raise PermissionDenied("You may only change your own tenants' retention.")
        values = {name: form.cleaned_data[name] for name in RETENTION_FIELDS}
        actor = f"user:{request.user.get_username()}"
        obj.pk = retention_update(tenant=obj.tenant, actor=actor, **values).pk
