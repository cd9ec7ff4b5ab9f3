from django.contrib import admin

from labdeck.models import Learner, Workshop


@admin.register(Workshop)
class WorkshopAdmin(admin.ModelAdmin):
    list_display = ("title", "code", "course", "starts_at", "open", "instructor")
    readonly_fields = ("code",)
    search_fields = ("title", "code")

    def save_model(self, request, obj, form, change):
        if not change and not obj.instructor_id:
            obj.instructor = request.user
        super().save_model(request, obj, form, change)


@admin.register(Learner)
class LearnerAdmin(admin.ModelAdmin):
    list_display = ("display_name", "workshop", "joined_at")
    list_filter = ("workshop",)
