from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class WorkspaceConfig(AppConfig):
    name = "apps.workspace"
    label = "workspace"
    verbose_name = "Workspace"

    def ready(self) -> None:
        # The PDF reports' check (fixops.W150: Pango missing).
        import apps.workspace.checks  # noqa: F401


class WorkspaceAdminConfig(AdminConfig):
    """django.contrib.admin with FixOps's site as `admin.site` (apps/workspace/site.py)."""

    default_site = "apps.workspace.site.WorkspaceAdminSite"
