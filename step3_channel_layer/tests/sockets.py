"""Helpers for talking to the chat's socket with Channels' WebsocketCommunicator.

https://channels.readthedocs.io/en/stable/topics/testing.html#websocketcommunicator
"""

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import AsyncClient

from chat import store
from chat.models import Message
from learning.asgi import application

# Generous: the machine running the tests may be busy.
TIMEOUT = 5
# A page of this site opened the socket: AllowedHostsOriginValidator lets it through.
ORIGIN = (b"origin", b"http://localhost")
MESSAGE_KEYS = {"type", "id", "message", "username", "authenticated", "created_at"}


async def connect(room="lobby", headers=(ORIGIN,)):
    """An open socket in the room whose history frame has been read (kept in .history)."""
    communicator = WebsocketCommunicator(application, f"/ws/chat/{room}/", headers=list(headers))
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    history = await communicator.receive_json_from(timeout=TIMEOUT)
    assert history["type"] == "history"
    communicator.history = history["messages"]
    return communicator


async def login_cookie(user):
    """The Cookie header of a browser logged in as `user`, as /admin/login/ would leave it."""
    client = AsyncClient()
    await client.aforce_login(user)
    name = settings.SESSION_COOKIE_NAME
    return (b"cookie", f"{name}={client.cookies[name].value}".encode())


async def saved(room="lobby"):
    """(sentBy, body) of every message saved in the room, oldest first."""
    return [
        (message.sentBy, message.body)
        async for message in Message.objects.filter(rooms__url=room).order_by("id")
    ]


@database_sync_to_async
def save(room, bodies, username="bob"):
    """Save messages straight into the database, with no group event."""
    for body in bodies:
        store.save_message(room, body, username, AnonymousUser())


async def send_raw(communicator, kind, payload):
    """Send a frame as a server would deliver it (send_to() refuses an empty text frame)."""
    await communicator.send_input({"type": "websocket.receive", kind: payload})
