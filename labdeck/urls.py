from django.contrib import admin
from django.urls import include, path

from labdeck import accounts, views

urlpatterns = [
    path("", views.home, name="home"),
    path("join/", views.join, name="join"),
    path("join/<str:code>/", views.join, name="join-code"),
    path("workshops/", views.workshop_list, name="workshop-list"),
    path("workshops/new/", views.workshop_new, name="workshop-new"),
    path("workshops/<str:code>/", views.dashboard, name="workshop-dashboard"),
    path("workshops/<str:code>/export.csv", views.export, name="workshop-export"),
    path("workshops/<str:code>/cards/", views.cards, name="workshop-cards"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/login/", accounts.log_in, name="login"),
    path("accounts/logout/", accounts.log_out, name="logout"),
    path("", include("sandboxes.urls")),
    path("", include("lessons.urls")),
    path("", include("previews.urls")),
    path("admin/", admin.site.urls),
]

handler500 = "labdeck.errors.server_error"
