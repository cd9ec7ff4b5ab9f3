from django.urls import path

from previews import views

urlpatterns = [
    path("previews/<uuid:sandbox_id>/<int:port>/", views.open_preview, name="preview-open"),
    path("previews/<uuid:sandbox_id>/<int:port>/share", views.share, name="preview-share"),
    path("previews/<uuid:sandbox_id>/<int:port>/unshare", views.unshare, name="preview-unshare"),
]
