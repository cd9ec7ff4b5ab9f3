from django.urls import path

from lessons import views

urlpatterns = [
    path("courses/", views.course_list, name="course-list"),
    path("courses/highlight.css", views.highlight_css, name="highlight-css"),
    path("courses/media/<path:path>", views.media, name="lesson-media"),
    path("courses/<slug:slug>/", views.player, name="player"),
    path("courses/<slug:slug>/sandbox/start", views.course_sandbox, name="course-sandbox"),
    path("courses/<slug:slug>/steps/", views.player, {"mode": "steps"}, name="steps"),
]
