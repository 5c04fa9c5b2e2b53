from django.apps import AppConfig
from django.urls import register_converter

from .converters import RoomNameConverter


class ChatConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "chat"

    def ready(self):
        # From here on, every route can say <room_name:room_name>.
        register_converter(RoomNameConverter, "room_name")
        # Logging out, a new password, a deactivated account: the user's sockets hear of it.
        from .identity import connect_receivers

        connect_receivers()
