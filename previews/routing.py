from django.urls import path

from previews.consumers import PortsConsumer

websocket_urlpatterns = [
    path("ws/previews/<uuid:sandbox_id>/", PortsConsumer.as_asgi()),
]
