from django.urls import path

from sandboxes import views

urlpatterns = [
    path("sandbox/start", views.start, name="sandbox-start"),
    path("sandbox/status", views.status, name="sandbox-status"),
    path("sandbox/extend", views.extend, name="sandbox-extend"),
]
