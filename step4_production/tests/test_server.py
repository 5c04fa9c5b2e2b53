"""A real Daphne server and real WebSocket clients (the `websockets` package), over TCP."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat import store
from chat.models import Message
from tests.sockets import next_frame

# The server reads the test database from another process: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

# Generous: the machine running the tests may be busy.
TIMEOUT = 10


def open_socket(server, room):
    """A client connecting from one of the site's own pages (its Origin)."""
    return connect(
        server.ws_url(f"/ws/chat/{room}/"),
        origin=server.url,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    )


async def test_two_clients_in_one_room_hear_each_other(chat_server):
    """Each client's message reaches both, once, and is saved once; bob learns alice is there."""
    async with open_socket(chat_server, "two") as alice, open_socket(chat_server, "two") as bob:
        # The handshake is one HTTP request, answered "101 Switching Protocols".
        assert alice.response.status_code == 101
        assert (await next_frame(alice, "history"))["messages"] == []
        await next_frame(bob, "history")
        here = [user["username"] for user in (await next_frame(bob, "user.list"))["users"]]
        assert here == ["anonymous", "anonymous"]

        await alice.send(json.dumps({"message": "hello bob", "username": "alice"}))
        for socket in (alice, bob):
            frame = await next_frame(socket, "chat.message")
            assert (frame["message"], frame["username"]) == ("hello bob", "alice")
        await bob.send(json.dumps({"message": "hi alice", "username": "bob"}))
        for socket in (alice, bob):
            frame = await next_frame(socket, "chat.message")
            assert (frame["message"], frame["username"]) == ("hi alice", "bob")

    # Leaving the block sent a close frame (1000); the server answered with the same code.
    assert alice.close_code == bob.close_code == 1000
    bodies = [body async for body in Message.objects.values_list("body", flat=True)]
    assert sorted(bodies) == ["hello bob", "hi alice"]


@pytest.mark.parametrize(
    "origin", [None, "http://evil.example"], ids=["no Origin", "another site's Origin"]
)
async def test_a_handshake_from_another_site_is_refused_with_403(chat_server, origin):
    """Daphne answers 403 when AllowedHostsOriginValidator refuses the Origin: no socket opens."""
    url = chat_server.ws_url("/ws/chat/lobby/")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, origin=origin, open_timeout=TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("path", ["/ws/nowhere/", "/ws/chat/caf%C3%A9/", f"/ws/chat/{'a' * 65}/"])
async def test_a_bad_path_is_refused_with_403(chat_server, path):
    """A refused handshake is an HTTP 403 answer, not a 500."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(chat_server.ws_url(path), origin=chat_server.url, open_timeout=TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


async def test_a_history_of_50_emoji_messages_passes_daphnes_1_mib_limit(chat_server):
    """50 messages of 2,000 emoji: Daphne sends the history frame, and it is under 1 MiB."""
    await sync_to_async(
        lambda: [store.save_message("emoji", "😀" * 2000, "bob") for _ in range(50)]
    )()
    # The client enforces the same 1 MiB limit as Daphne (max_size): a bigger frame would fail.
    async with open_socket(chat_server, "emoji") as websocket:
        text = await asyncio.wait_for(websocket.recv(), TIMEOUT)
        assert len(text.encode("utf-8")) < 1024 * 1024
        history = json.loads(text)
        assert history["type"] == "history"
        assert [message["message"] for message in history["messages"]] == ["😀" * 2000] * 50
    assert websocket.close_code == 1000


async def test_a_frame_over_one_mib_closes_only_that_socket(chat_server):
    """Daphne refuses a frame over 1 MiB by dropping that connection; the room goes on."""
    async with open_socket(chat_server, "big") as sender, open_socket(chat_server, "big") as other:
        await next_frame(sender, "history")
        await next_frame(other, "history")
        # The connection is dropped without a close frame: code 1006, "abnormal closure".
        with pytest.raises(ConnectionClosed):
            await sender.send("x" * (1024 * 1024 + 1))
            async with asyncio.timeout(TIMEOUT):
                while True:  # presence frames may still be on their way
                    await sender.recv()
        assert sender.close_code == 1006

        await other.send(json.dumps({"message": "unharmed", "username": "bob"}))
        assert (await next_frame(other, "chat.message"))["message"] == "unharmed"
