"""The chat's WebSocket consumer.

https://channels.readthedocs.io/en/stable/topics/consumers.html
"""

from channels.generic.websocket import AsyncWebsocketConsumer

from .protocol import FrameError, dumps, read_frame, read_message


class ChatConsumer(AsyncWebsocketConsumer):
    """One socket talking to one browser: every message comes back to its sender only."""

    async def connect(self):
        """Accept the handshake, then push a welcome the browser did not ask for."""
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        await self.accept()
        await self.send_json({"type": "welcome", "room": self.room_name})

    async def receive(self, text_data=None, bytes_data=None):
        """Answer a message with an echo, and a bad frame with an error; the socket stays open."""
        try:
            message = read_message(read_frame(text_data, bytes_data))
        except FrameError as error:
            await self.send_json(error.as_frame())
            return
        await self.send_json({"type": "echo", "message": message})

    async def disconnect(self, close_code):
        """Nothing to clean up: this socket shares nothing with any other."""

    async def send_json(self, content):
        await self.send(text_data=dumps(content))
