"""The chat's WebSocket consumer.

https://channels.readthedocs.io/en/stable/topics/consumers.html
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from . import store
from .protocol import FrameError, dumps, read_frame, read_message, read_username


def room_group_name(room_name):
    """The channel layer group of a room: every socket in the room is a member."""
    return f"chat_{room_name}"


class ChatConsumer(AsyncWebsocketConsumer):
    """Everyone in a room hears every message, through the room's group on the channel layer."""

    async def connect(self):
        """Join the room's group, accept the handshake, then send the room's history."""
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = room_group_name(self.room_name)
        # The logged-in user, or AnonymousUser: AuthMiddlewareStack read the session cookie.
        self.user = self.scope["user"]
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()
        messages = await database_sync_to_async(store.history)(self.room_name)
        await self.send_json({"type": "history", "messages": messages})

    async def receive(self, text_data=None, bytes_data=None):
        """Save a good message, then send it to the whole room; a bad frame gets an error."""
        try:
            frame = read_frame(text_data, bytes_data)
            message = read_message(frame)
            # A logged-in user is always themselves; a guest names themselves in the frame.
            username = self.user.username if self.user.is_authenticated else read_username(frame)
        except FrameError as error:
            await self.send_json(error.as_frame())
            return
        saved = await database_sync_to_async(store.save_message)(
            self.room_name, message, username, self.user
        )
        # The saved message is the event: every member of the group, this socket included,
        # gets it, and its "type" names the method that handles it, chat_message().
        await self.channel_layer.group_send(self.room_group_name, saved)

    async def chat_message(self, event):
        """A saved message from the room's group: pass it on to this socket's browser."""
        await self.send_json(event)

    async def disconnect(self, close_code):
        """Leave the room's group, so that nothing is sent to a socket that is gone."""
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def send_json(self, content):
        await self.send(text_data=dumps(content))
