from django.contrib import admin
from django.urls import include, path

from labdeck import views

urlpatterns = [
    path("", views.home, name="home"),
    path("join/", views.join, name="join"),
    path("join/<str:code>/", views.join, name="join-code"),
    path("workshops/<str:code>/cards/", views.cards, name="workshop-cards"),
    path("", include("sandboxes.urls")),
    path("", include("lessons.urls")),
    path("admin/", admin.site.urls),
]
