"""The tutorial's routing.py (and an empty URLconf: this project has no pages)."""

from django.urls import re_path

from bench.tutorial_baseline import consumers

websocket_urlpatterns = [
    re_path(r"ws/chat/(?P<room_name>\w+)/$", consumers.ChatConsumer.as_asgi()),
]

urlpatterns = []
