from django.contrib import admin

from lessons.models import Progress


@admin.register(Progress)
class ProgressAdmin(admin.ModelAdmin):
    list_display = ("owner", "course", "exercise", "status", "attempts", "hints_used", "first_passed_at")
    list_filter = ("course", "status")
    search_fields = ("owner", "exercise")
