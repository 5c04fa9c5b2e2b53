"""Real WebSocket clients (the websockets library) for the reliability tests' Daphne servers."""

import asyncio
import json
from urllib.parse import urlencode

import websockets

from tests.sockets import next_frame

# Generous: the machine running the tests may be busy.
TIMEOUT = 15


async def join(server, room, username, after=None):
    """A client in the room, as room.js opens it; its first history frame is in .history, its
    user list in .users."""
    parameters = {"username": username}
    if after is not None:
        parameters["after"] = after
    socket = await websockets.connect(
        server.ws_url(f"/ws/chat/{room}/?{urlencode(parameters)}"),
        additional_headers=server.origin,
        # wss:// through the test proxy: trust its certificate authority.
        ssl=server.ssl_context() if hasattr(server, "ssl_context") else None,
    )
    socket.history = (await next_frame(socket, "history", TIMEOUT))["messages"]
    socket.users = (await next_frame(socket, "user.list", TIMEOUT))["users"]
    return socket


def chat_frame(text, username, client_id=None):
    """A frame as room.js sends it."""
    frame = {"message": text, "username": username}
    if client_id is not None:
        frame["client_id"] = client_id
    return json.dumps(frame)


class Listener:
    """Reads a client's frames in the background and keeps its chat messages in arrival order."""

    def __init__(self, socket):
        self.socket = socket
        self.messages = list(socket.history)
        self.errors = []
        self.closed = False
        self.arrived = asyncio.Event()
        self.task = asyncio.create_task(self.read())

    async def read(self):
        try:
            async for text in self.socket:
                frame = json.loads(text)
                if frame["type"] == "chat.message":
                    self.messages.append(frame)
                elif frame["type"] == "history":
                    self.messages.extend(frame["messages"])
                elif frame["type"] == "error":
                    self.errors.append(frame)
                self.arrived.set()
        except websockets.ConnectionClosed:
            pass
        self.closed = True
        self.arrived.set()

    @property
    def sequences(self):
        return [message["sequence"] for message in self.messages]

    async def wait_until(self, condition, timeout=TIMEOUT):
        """Wait until condition() is true, checking each time a frame arrives."""
        async with asyncio.timeout(timeout):
            while not condition():
                if self.closed:
                    raise AssertionError("the connection closed first")
                self.arrived.clear()
                await self.arrived.wait()

    async def close(self):
        await self.socket.close()
        await self.task
