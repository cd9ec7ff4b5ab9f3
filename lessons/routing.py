from django.urls import path

from lessons.consumers import ProgressConsumer

websocket_urlpatterns = [
    path("ws/progress/<slug:slug>/", ProgressConsumer.as_asgi()),
]
