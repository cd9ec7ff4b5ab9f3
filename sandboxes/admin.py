from django.contrib import admin

from sandboxes.models import Sandbox, WaitingLearner


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin):
    list_display = ("name", "state", "owner", "created_at", "ready_at", "last_seen", "reason")
    list_filter = ("state",)
    search_fields = ("name", "owner", "public_id")


@admin.register(WaitingLearner)
class WaitingLearnerAdmin(admin.ModelAdmin):
    list_display = ("owner", "joined_at", "last_poll")
