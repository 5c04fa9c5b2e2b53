"""Helpers for talking to the chat's sockets with Channels' WebsocketCommunicator.

https://channels.readthedocs.io/en/stable/topics/testing.html#websocketcommunicator
"""

import asyncio
import json
from urllib.parse import urlencode

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient

from chat import store
from chat.models import Message
from learning.asgi import application

# Generous: the machine running the tests may be busy.
TIMEOUT = 10
# A page of this site opened the socket: AllowedHostsOriginValidator lets it through.
ORIGIN = (b"origin", b"http://localhost")
PRESENCE_TYPES = {"user.list", "user.joined", "user.left"}


async def open_socket(
    room="lobby", username="alice", headers=(), origin=ORIGIN, after=None, member=None
):
    """An open socket in the room whose history and user list have been read (kept in .history,
    .history_frames and .users, the list by username).

    `username` goes in the URL, as room.js does, to name the socket; `after` is the last
    sequence number a reconnecting page has seen; `member` is the page's key (?member=).
    """
    parameters = {"username": username, "after": after, "member": member}
    query = urlencode({key: value for key, value in parameters.items() if value is not None})
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{room}/?{query}", headers=[origin, *headers]
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    # One history frame, or several for a long replay, then the user list.
    communicator.history_frames = []
    while (frame := await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "history":
        communicator.history_frames.append(frame["messages"])
    assert communicator.history_frames and frame["type"] == "user.list", frame
    communicator.history = [message for part in communicator.history_frames for message in part]
    communicator.users = {member["username"]: member for member in frame["users"]}
    return communicator


async def receive_json(socket, timeout=TIMEOUT):
    """The next frame's JSON, from a WebsocketCommunicator or a real client (websockets)."""
    if isinstance(socket, WebsocketCommunicator):
        return await socket.receive_json_from(timeout=timeout)
    async with asyncio.timeout(timeout):
        return json.loads(await socket.recv())


async def next_frame(socket, frame_type="chat.message", timeout=TIMEOUT):
    """The next frame of this type (None: the next that is not presence, the answer to a frame).

    Presence frames on the way are skipped; any other frame fails the test.
    """
    while True:
        frame = await receive_json(socket, timeout)
        presence = frame["type"] in PRESENCE_TYPES
        if frame["type"] == frame_type or (frame_type is None and not presence):
            return frame
        assert presence, f"expected {frame_type}, got {frame}"


async def frames_left(communicator, timeout=0.3):
    """Every frame the socket still receives within `timeout` seconds of quiet, in order."""
    frames = []
    while not await communicator.receive_nothing(timeout=timeout):
        frames.append(await communicator.receive_json_from(timeout=TIMEOUT))
    return frames


async def chat_frames_left(communicator, timeout=0.3):
    """The frames left (frames_left) that are not presence: chat messages and errors."""
    frames = await frames_left(communicator, timeout)
    return [frame for frame in frames if frame["type"] not in PRESENCE_TYPES]


async def hears_no_message(communicator, timeout=0.3):
    """True if no chat message and no error arrives within `timeout` (presence may)."""
    return await chat_frames_left(communicator, timeout) == []


async def send_raw(communicator, kind, payload):
    """Send a frame as Daphne would deliver it (send_to() refuses an empty text frame)."""
    await communicator.send_input({"type": "websocket.receive", kind: payload})


async def close_all(*communicators):
    for communicator in communicators:
        await communicator.disconnect()


async def login_cookie(user):
    """The Cookie header of a browser logged in as `user`, as /admin/login/ would leave it."""
    client = AsyncClient()
    await client.aforce_login(user)
    name = settings.SESSION_COOKIE_NAME
    return (b"cookie", f"{name}={client.cookies[name].value}".encode())


@database_sync_to_async
def save_messages(room, bodies, username="bob"):
    """Save messages straight into the database, as another server would: no group event."""
    return [store.save_message(room, body, username)[0] for body in bodies]


@database_sync_to_async
def saved_bodies(room=None):
    """The bodies of the saved messages (of one room, if given), in the room's order."""
    messages = Message.objects.order_by("sequence", "id")
    if room is not None:
        messages = messages.filter(room__url=room)
    return list(messages.values_list("body", flat=True))


class ManualClock:
    """A clock for chat.protocol.TokenBucket that only moves when a test moves it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now
