"""A real Daphne server and real WebSocket clients: two people in one room."""

import asyncio
import json

import pytest
import websockets
from django.db import connection

from tests.servers import daphne_server

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_type(socket, frame_type, timeout=10):
    """The next frame of the given type (presence frames may come in between)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == frame_type:
                return frame


async def test_two_clients_in_one_room_hear_each_other():
    """A message sent by one client reaches both, once, and is saved once."""
    from chat.models import Message

    with daphne_server(connection.settings_dict["NAME"]) as server:
        url = server.ws_url("/ws/chat/lobby/")
        async with (
            websockets.connect(url, additional_headers=server.origin) as alice,
            websockets.connect(url, additional_headers=server.origin) as bob,
        ):
            await receive_type(alice, "history")
            await receive_type(bob, "history")
            await alice.send(json.dumps({"message": "hello bob", "username": "alice"}))
            for socket in (alice, bob):
                frame = await receive_type(socket, "chat.message")
                assert (frame["message"], frame["username"]) == ("hello bob", "alice")
    assert await Message.objects.filter(body="hello bob").acount() == 1
