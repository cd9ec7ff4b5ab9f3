from django.urls import path

from sandboxes.consumers import TerminalConsumer

websocket_urlpatterns = [
    path("ws/terminal/<uuid:sandbox_id>/", TerminalConsumer.as_asgi()),
    path("ws/terminal/<uuid:sandbox_id>/node<int:node>/", TerminalConsumer.as_asgi()),
]
