"""A real Daphne server and a real WebSocket client (the `websockets` package), over TCP."""

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

pytestmark = pytest.mark.asyncio

# Generous: the machine running the tests may be busy.
TIMEOUT = 10


async def receive_json(websocket):
    return json.loads(await asyncio.wait_for(websocket.recv(), TIMEOUT))


async def test_handshake_welcome_echo_and_clean_close(daphne_server):
    """HTTP upgrades to a WebSocket (101), the server pushes a welcome, echoes, closes cleanly."""
    url = f"{daphne_server.ws_url}/ws/chat/lobby/"
    async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as websocket:
        # The handshake is one HTTP request, answered "101 Switching Protocols".
        assert websocket.response.status_code == 101
        assert websocket.response.headers["Upgrade"].lower() == "websocket"
        assert "Sec-WebSocket-Accept" in websocket.response.headers

        assert await receive_json(websocket) == {"type": "welcome", "room": "lobby"}
        await websocket.send(json.dumps({"message": "hello, Daphne"}))
        assert await receive_json(websocket) == {"type": "echo", "message": "hello, Daphne"}
        # A bad frame gets its error over the real socket too, and the socket stays open.
        await websocket.send(b"\x00\x01")
        assert (await receive_json(websocket))["code"] == "unsupported_frame"
        await websocket.send(json.dumps({"message": "still open"}))
        assert await receive_json(websocket) == {"type": "echo", "message": "still open"}

    # Leaving the block sent a close frame (1000); the server answered with the same code.
    assert websocket.close_code == 1000


@pytest.mark.parametrize(
    "path",
    ["/ws/nowhere/", "/ws/chat/caf%C3%A9/", f"/ws/chat/{'a' * 65}/", "/ws/chat/%3Cscript%3E/"],
)
async def test_a_bad_path_is_refused_with_403(daphne_server, path):
    """Daphne turns a refused handshake into an HTTP 403 answer, not a 500."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{daphne_server.ws_url}{path}", open_timeout=TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


async def test_a_frame_over_one_mib_closes_only_that_socket(daphne_server):
    """Daphne refuses a frame over 1 MiB by dropping that connection; other sockets go on."""
    url = f"{daphne_server.ws_url}/ws/chat/lobby/"
    async with (
        connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as sender,
        connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as bystander,
    ):
        await receive_json(sender)
        await receive_json(bystander)

        # Daphne's limit (websocket_max_message_size) is 1 MiB: one byte more is refused
        # before the consumer sees it. The connection is dropped without a close frame,
        # which a client (a browser too) reports as code 1006, "abnormal closure".
        with pytest.raises(ConnectionClosed):
            await sender.send("x" * (1024 * 1024 + 1))
            await asyncio.wait_for(sender.recv(), TIMEOUT)
        assert sender.close_code == 1006

        await bystander.send(json.dumps({"message": "unharmed"}))
        assert await receive_json(bystander) == {"type": "echo", "message": "unharmed"}


async def test_a_frame_just_under_one_mib_reaches_the_consumer(daphne_server):
    """Up to 1 MiB, a frame reaches the consumer, which answers with its own error."""
    url = f"{daphne_server.ws_url}/ws/chat/lobby/"
    async with connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as websocket:
        await receive_json(websocket)
        await websocket.send(json.dumps({"message": "x" * (1024 * 1024 - 100)}))
        assert (await receive_json(websocket))["code"] == "too_long"
    assert websocket.close_code == 1000
