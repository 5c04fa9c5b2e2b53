"""A real Daphne server and real WebSocket clients (the `websockets` package), over TCP."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.sockets import save, saved

# The server reads the rows a test saves: they must be committed, not rolled back.
pytestmark = pytest.mark.django_db(transaction=True)

# Generous: the machine running the tests may be busy.
TIMEOUT = 10


def open_socket(server, room="lobby", origin=None):
    """A client connecting as a page of the server's own site would (its Origin header)."""
    return connect(
        f"{server.ws_url}/ws/chat/{room}/",
        origin=origin or server.url,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    )


async def receive_json(websocket):
    return json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))


async def test_two_clients_in_one_room_hear_each_other(daphne_server):
    """Through the server's channel layer, each client hears the other's message, once."""
    async with open_socket(daphne_server) as alice, open_socket(daphne_server) as bob:
        assert (await receive_json(alice))["type"] == "history"
        assert (await receive_json(bob))["type"] == "history"
        await alice.send(json.dumps({"message": "hi bob", "username": "alice"}))
        for websocket in (alice, bob):
            frame = await receive_json(websocket)
            assert (frame["message"], frame["username"]) == ("hi bob", "alice")
        await bob.send(json.dumps({"message": "hi alice", "username": "bob"}))
        for websocket in (alice, bob):
            assert (await receive_json(websocket))["message"] == "hi alice"
    assert alice.close_code == bob.close_code == 1000
    assert await saved() == [("alice", "hi bob"), ("bob", "hi alice")]


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost.evil.example"])
async def test_a_handshake_from_another_site_is_refused_with_403(daphne_server, origin):
    """The origin check refuses the handshake; Daphne answers it with HTTP 403."""
    with pytest.raises(InvalidStatus) as refused:
        async with open_socket(daphne_server, origin=origin):
            pass
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("path", ["/ws/nowhere/", "/ws/chat/caf%C3%A9/", "/ws/chat/%3Cx%3E/"])
async def test_a_bad_path_is_refused_with_403(daphne_server, path):
    """An unknown path or a bad room name is refused with 403, not a 500."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"{daphne_server.ws_url}{path}", origin=daphne_server.url, open_timeout=TIMEOUT
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_a_history_of_50_emoji_messages_passes_daphnes_1_mib_limit(daphne_server):
    """50 messages of 2,000 emoji are 400,000 bytes of UTF-8: one frame, well under 1 MiB."""
    await save("lobby", ["👋" * 2000] * 50)
    async with open_socket(daphne_server) as websocket:
        history = await receive_json(websocket)
    assert [message["message"] for message in history["messages"]] == ["👋" * 2000] * 50


async def test_a_frame_over_one_mib_closes_only_that_socket(daphne_server):
    """Daphne refuses a frame over 1 MiB by dropping that connection; the room goes on."""
    async with open_socket(daphne_server) as sender, open_socket(daphne_server) as bystander:
        await receive_json(sender)
        await receive_json(bystander)
        # The connection is dropped without a close frame: the client reports code 1006.
        with pytest.raises(ConnectionClosed):
            await sender.send("x" * (1024 * 1024 + 1))
            await asyncio.wait_for(sender.recv(), TIMEOUT)
        assert sender.close_code == 1006

        await bystander.send(json.dumps({"message": "unharmed", "username": "bob"}))
        assert (await receive_json(bystander))["message"] == "unharmed"
    assert await saved() == [("bob", "unharmed")]
