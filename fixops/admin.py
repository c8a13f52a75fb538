from django.contrib import admin

from fixops.models import Heartbeat
from fixops.platform.admin_audit import AuditedAdmin, audited


@admin.register(Heartbeat)
class HeartbeatAdmin(AuditedAdmin):
    list_display = ("source", "last_seen", "beats", "hostname")
    readonly_fields = ("source", "last_seen", "beats", "hostname")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# The admins of the libraries FixOps installs (users and groups, second-factor devices,
# lockouts, beat schedules) are registered before this module runs (INSTALLED_APPS order):
# re-register each with the audit mixed in, so a superuser's change there is audited too.
for model, model_admin in list(admin.site._registry.items()):
    if not isinstance(model_admin, AuditedAdmin):
        admin.site.unregister(model)
        admin.site.register(model, audited(type(model_admin)))
