from django.urls import path

from labdeck.consumers import DashboardConsumer, WatchConsumer

websocket_urlpatterns = [
    path("ws/workshops/<str:code>/", DashboardConsumer.as_asgi()),
    path("ws/workshops/<str:code>/watch/<int:learner_id>/", WatchConsumer.as_asgi()),
    path("ws/workshops/<str:code>/watch/<int:learner_id>/node<int:node>/", WatchConsumer.as_asgi()),
]
