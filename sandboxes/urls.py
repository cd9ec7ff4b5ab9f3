from django.urls import path

from sandboxes import views

urlpatterns = [
    path("sandbox/start", views.start, name="sandbox-start"),
    path("sandbox/status", views.status, name="sandbox-status"),
    path("sandbox/extend", views.extend, name="sandbox-extend"),
    path("sandbox/files", views.sandbox_files, name="sandbox-files"),
    path("sandbox/files/text", views.sandbox_file_text, name="sandbox-file-text"),
]
