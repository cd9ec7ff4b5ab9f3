from django.contrib import admin
from django.urls import include, path

from labdeck import views

urlpatterns = [
    path("", views.home, name="home"),
    path("", include("sandboxes.urls")),
    path("", include("lessons.urls")),
    path("admin/", admin.site.urls),
]
