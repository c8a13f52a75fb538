from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html

from apps.tenants.admin_scoping import TenantScopedAdmin
from apps.tenants.models import ApiToken, Membership, Tenant
from apps.tenants.scopes import SCOPES
from apps.tenants.services import api_token_issue, api_token_revoke
from fixops.exceptions import ApiError


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_field = "pk"
    list_display = ("slug", "name", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("slug", "name")

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and obj.pk not in (self._tenant_ids(request) or []):
            raise PermissionDenied("You may only change your own tenants.")
        obj.save()


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    search_fields = ("user__username", "user__email", "tenant__slug")
    list_select_related = ("user", "tenant")
    autocomplete_fields = ("user", "tenant")


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


@admin.register(ApiToken)
class ApiTokenAdmin(TenantScopedAdmin):
    list_display = ("name", "prefix", "tenant", "role", "live", "expires_at", "last_used_at")
    list_filter = ("role", "tenant", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix", "tenant__slug")
    list_select_related = ("tenant",)
    actions = ["revoke_selected"]
    readonly_fields = (
        "prefix",
        "secret_hash",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    @admin.display(boolean=True)
    def live(self, obj: ApiToken) -> bool:
        return obj.is_live

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("tenant", "name", "role", "scopes_text", "expires_at")
        return ("tenant", "name", "role", "expires_at", *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        # A token's identity never changes after issue; only its name/expiry can be edited.
        return () if obj is None else (*self.readonly_fields, "tenant", "role")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        ids = self._tenant_ids(request)
        if ids is not None and obj.tenant_id not in ids:
            raise PermissionDenied("You may only issue tokens for your own tenants.")
        try:
            issued = api_token_issue(
                tenant=obj.tenant,
                name=obj.name,
                role=obj.role,
                scopes=form.cleaned_data.get("scopes_text", "").split(","),
                expires_at=obj.expires_at,
                created_by=request.user,
            )
        except ApiError as exc:
            self.message_user(request, str(exc.detail), messages.ERROR)
            raise
        obj.pk = issued.token.pk
        obj.prefix = issued.token.prefix
        self.message_user(
            request,
            format_html(
                "Token issued. Copy it now, it is not shown again: "
                '<code class="fixops-token">{}</code>',
                issued.plaintext,
            ),
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request, queryset):
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)
