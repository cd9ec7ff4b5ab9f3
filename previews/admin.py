from django.contrib import admin

from previews.models import PreviewShare


@admin.register(PreviewShare)
class PreviewShareAdmin(admin.ModelAdmin):
    list_display = ("sandbox", "port", "created_at", "revoked_at")
    list_filter = ("revoked_at",)
    raw_id_fields = ("sandbox",)
