from django.contrib import admin

from sandboxes.models import PoolTarget, Sandbox, WaitingLearner


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin):
    list_display = ("name", "state", "owner", "group", "created_at", "ready_at", "last_seen", "reason")
    list_filter = ("state", "group")
    search_fields = ("name", "owner", "public_id")


@admin.register(WaitingLearner)
class WaitingLearnerAdmin(admin.ModelAdmin):
    list_display = ("owner", "group", "joined_at", "last_poll")


@admin.register(PoolTarget)
class PoolTargetAdmin(admin.ModelAdmin):
    list_display = ("group", "initial", "reserved", "limit", "active_from", "active_until")
