"""WebSocket routes: the socket-side twin of urls.py."""

from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from . import consumers

websocket_urlpatterns = [
    path("ws/chat/<room_name:room_name>/", consumers.ChatConsumer.as_asgi()),
    # Any other socket path is refused at the handshake, instead of crashing into a 500.
    re_path(r"", WebsocketDenier.as_asgi()),
]
