from django.urls import path, register_converter

from . import views
from .converters import RoomNameConverter

register_converter(RoomNameConverter, "room_name")

app_name = "chat"

urlpatterns = [
    path("", views.lobby, name="lobby"),
    path("<room_name:room_name>/", views.room, name="room"),
]
