from django.contrib import admin

from labdeck import workshops
from labdeck.models import Learner, Workshop


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("title", "code", "course", "starts_at", "ends_at", "open", "ended_at", "instructor")
    readonly_fields = ("code", "ended_at", "lead_slide")
    search_fields = ("title", "code")

    def save_model(self, request, obj, form, change):
        if not change and not obj.instructor_id:
            obj.instructor = request.user
        super().save_model(request, obj, form, change)
        workshops.sync_pool(obj)  # its warm-up follows the new times and counts


@admin.register(Learner)
class LearnerAdmin(admin.ModelAdmin):
    list_display = ("display_name", "workshop", "joined_at", "removed_at")
    list_filter = ("workshop",)
