"""The admin site people work in: FixOps's titles on Django's admin, and the dashboard as its
index (apps/workspace/dashboard.py; docs/workspace.md, "Dashboard")."""

from __future__ import annotations

from functools import wraps

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.text import capfirst

from apps.workspace import dashboard
from apps.workspace.reports.admin_views import report_urls

# The analyst's sections, in the order of the work: findings, then what decides about them,
# the proof, delivery, intelligence, and who may do what. Each lists the app labels it takes
# (a model may be moved by its label: the tenant-scoped audit log reads best beside evidence).
# The names match the apps' verbose names, so breadcrumbs and sections agree.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("findings", "Findings", ("findings",)),
    ("policies", "Decisions and policies", ("policies",)),
    ("evidence", "Evidence and audit", ("evidence", "platform.AuditEvent")),
    ("connectors", "Integrations", ("connectors",)),
    ("intel", "Vulnerability intelligence", ("intel",)),
    ("tenants", "Tenants and access", ("tenants",)),
)

# Operator tables: the libraries' (accounts, groups, second factors, lockouts, beat
# schedules) and FixOps's own plumbing that holds no tenant's work. One "System" section,
# for superusers only; anyone else gets 403 on their pages whatever Django permissions they
# were given, since these tables span every tenant.
SYSTEM_APPS = frozenset({"auth", "django_celery_beat", "otp_totp", "otp_static", "axes", "fixops"})
# The evidence signing keys' public halves stay with evidence: GRC verifies bundles with them
# (staff see them only when given Django's permission; no tenant role grants it).
SYSTEM_MODELS = frozenset({"tenants.SsoIdentity", "platform.Breaker"})
SYSTEM = ("system", "System")


def is_system_model(model) -> bool:
    """Whether `model` is an operator table of the System section."""
    return model._meta.app_label in SYSTEM_APPS or model._meta.label in SYSTEM_MODELS


class WorkspaceAdminSite(admin.AdminSite):
    site_header = "FixOps"
    site_title = "FixOps admin"
    index_title = "Dashboard"

    def __init__(self, name: str = "admin") -> None:
        super().__init__(name)
        self._urls: dict[tuple, dict[tuple[str, str | None], str | None]] = {}

    def index(self, request, extra_context=None):
        extra = {**(extra_context or {}), "dashboard": dashboard.build(request)}
        return super().index(request, extra)

    def get_urls(self):
        # The reports' download pages (apps/workspace/reports/admin_views.py) come first: the
        # catch-all app index pattern would take "reports/" for an app label.
        return report_urls(self) + super().get_urls()

    def admin_view(self, view, cacheable=False):
        """Every page of a System model answers 403 to anyone but a superuser."""
        model_admin = getattr(view, "__self__", None)
        if isinstance(model_admin, admin.ModelAdmin) and is_system_model(model_admin.model):

            @wraps(view)
            def superuser_only(request, *args, **kwargs):
                if not request.user.is_superuser:
                    raise PermissionDenied
                return view(request, *args, **kwargs)

            return super().admin_view(superuser_only, cacheable)
        return super().admin_view(view, cacheable)

    def get_app_list(self, request, app_label=None):
        """Django's app list regrouped: the analyst's sections in SECTIONS order, then one
        System section of the operator tables, shown to superusers only."""
        apps = self._apps(request, app_label)
        if app_label is not None:
            return apps  # an app's own index
        placed = {key: [] for key, _, _ in SECTIONS}
        system, unplaced = [], []
        for app in apps:
            for model in app["models"]:
                label = f"{app['app_label']}.{model['object_name']}"
                if app["app_label"] in SYSTEM_APPS or label in SYSTEM_MODELS:
                    system.append(model)
                    continue
                key = _section_of(app["app_label"], label)
                (placed[key] if key else unplaced).append((app, model))
        grouped = []
        for key, name, _ in SECTIONS:
            models = [model for _, model in placed[key]]
            if models:
                owners = [app for app, _ in placed[key]]
                url = next((a["app_url"] for a in owners if a["app_label"] == key), None)
                url = url or owners[0]["app_url"]
                grouped.append(_section(key, name, models, url))
        # Apps not named in SECTIONS (a future app) keep their own entry rather than vanish.
        for app in apps:
            models = [m for a, m in unplaced if a is app]
            if models:
                grouped.append({**app, "models": models})
        if system and request.user.is_superuser:
            system.sort(key=lambda m: str(m["name"]))
            # No app index lists these tables together: the caption points back here.
            grouped.append(_section(*SYSTEM, system, reverse(f"{self.name}:index") + "#system"))
        return grouped

    def _apps(self, request, label: str | None) -> list[dict]:
        """Django's app list (AdminSite.get_app_list, same entries, same order), less the
        System models for anyone but a superuser: their permissions are never asked (a
        ModelAdmin on Django permissions reads the user's from the database).

        Every admin page builds this list for its sidebar, so its URLs are reversed once per
        URL configuration and kept (`_url_memo`): reversing about 55 of them on every page
        was a third of the list's cost.
        """
        superuser = request.user.is_superuser
        urls = self._url_memo()
        found: dict[str, dict] = {}
        for model, model_admin in self._registry.items():
            meta = model._meta
            if (label and meta.app_label != label) or (not superuser and is_system_model(model)):
                continue
            if not model_admin.has_module_permission(request):
                continue
            perms = model_admin.get_model_perms(request)
            if True not in perms.values():
                continue
            info = f"{meta.app_label}_{meta.model_name}"
            entry = {
                "model": model,
                "name": capfirst(meta.verbose_name_plural),
                "object_name": meta.object_name,
                "perms": perms,
                "admin_url": None,
                "add_url": None,
            }
            if perms.get("change") or perms.get("view"):
                entry["view_only"] = not perms.get("change")
                entry["admin_url"] = self._url(urls, f"{info}_changelist")
            if perms.get("add"):
                entry["add_url"] = self._url(urls, f"{info}_add")
            app = found.get(meta.app_label)
            if app is None:
                app = found[meta.app_label] = {
                    "name": django_apps.get_app_config(meta.app_label).verbose_name,
                    "app_label": meta.app_label,
                    "app_url": self._url(urls, "app_list", meta.app_label),
                    "has_module_perms": True,
                    "models": [],
                }
            app["models"].append(entry)
        listed = sorted(found.values(), key=lambda app: app["name"].lower())
        for app in listed:
            app["models"].sort(key=lambda entry: entry["name"])
        return listed

    def _url_memo(self) -> dict[tuple[str, str | None], str | None]:
        """reverse("admin:…") results for the URL configuration and script prefix at hand
        (all a reversed admin URL depends on)."""
        key = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
        memo = self._urls.get(key)
        if memo is None:
            memo = self._urls[key] = {}
        return memo

    def _url(self, memo: dict, name: str, app_label: str | None = None) -> str | None:
        """reverse("admin:<name>") through `memo`; None where it has no URL."""
        try:
            return memo[name, app_label]
        except KeyError:
            pass
        kwargs = {"app_label": app_label} if app_label else None
        try:
            url = reverse(f"admin:{name}", kwargs=kwargs, current_app=self.name)
        except NoReverseMatch:
            url = None
        memo[name, app_label] = url
        return url


def _section_of(app_label: str, label: str) -> str | None:
    for key, _, members in SECTIONS:
        if label in members:
            return key
    for key, _, members in SECTIONS:
        if app_label in members:
            return key
    return None


def _section(key: str, name: str, models: list[dict], url: str) -> dict:
    return {
        "name": name,
        "app_label": key,
        "app_url": url,
        "has_module_perms": True,
        "models": models,
    }
