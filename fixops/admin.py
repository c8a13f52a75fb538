from django.contrib import admin

from fixops.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("source", "last_seen", "beats", "hostname")
    readonly_fields = ("source", "last_seen", "beats", "hostname")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
