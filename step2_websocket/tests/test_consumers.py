"""The socket protocol, spoken to the real routing (learning.asgi.application) without a server.

https://channels.readthedocs.io/en/stable/topics/testing.html#websocketcommunicator
"""

import json

import pytest
from channels.testing import WebsocketCommunicator

from learning.asgi import application

pytestmark = pytest.mark.asyncio

# Generous: the machine running the tests may be busy.
TIMEOUT = 5


async def connect(path="/ws/chat/lobby/"):
    """An open socket whose welcome has already been read."""
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    welcome = await communicator.receive_json_from(timeout=TIMEOUT)
    assert welcome["type"] == "welcome"
    return communicator


async def test_connect_receives_a_welcome_with_the_room_name():
    """The server speaks first: a welcome nobody asked for, naming the room."""
    communicator = WebsocketCommunicator(application, "/ws/chat/lobby-2_B/")
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "type": "welcome",
        "room": "lobby-2_B",
    }
    # One welcome, then silence until the browser says something.
    assert await communicator.receive_nothing()
    await communicator.disconnect()


async def test_a_message_comes_back_as_an_echo():
    """A message comes back to its sender, trimmed, on the same socket."""
    communicator = await connect()
    await communicator.send_json_to({"message": "  hello, socket \n"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "type": "echo",
        "message": "hello, socket",
    }
    assert await communicator.receive_nothing()
    await communicator.disconnect()


async def test_unicode_and_html_come_back_unchanged():
    """The server echoes text as it is: escaping it is the page's job."""
    communicator = await connect()
    for message in ("héllo wörld 👋", "<img src=x onerror=alert(1)>"):
        await communicator.send_json_to({"message": message})
        echo = await communicator.receive_json_from(timeout=TIMEOUT)
        assert echo == {"type": "echo", "message": message}
    await communicator.disconnect()


async def test_the_longest_message_is_accepted():
    """2,000 characters is the limit, and it is allowed."""
    communicator = await connect()
    await communicator.send_json_to({"message": "x" * 2000})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "type": "echo",
        "message": "x" * 2000,
    }
    await communicator.disconnect()


async def test_a_second_socket_in_the_room_hears_nothing():
    """Two sockets in one room: each hears only itself (step 3's channel layer lifts this)."""
    alice = await connect("/ws/chat/lobby/")
    bob = await connect("/ws/chat/lobby/")

    await alice.send_json_to({"message": "hi bob"})
    assert await alice.receive_json_from(timeout=TIMEOUT) == {"type": "echo", "message": "hi bob"}
    # The consumer only ever calls send() on its own socket: bob hears nothing.
    assert await bob.receive_nothing(timeout=0.5)

    # And the other way round.
    await bob.send_json_to({"message": "hi alice"})
    assert await bob.receive_json_from(timeout=TIMEOUT) == {"type": "echo", "message": "hi alice"}
    assert await alice.receive_nothing(timeout=0.5)

    await alice.disconnect()
    await bob.disconnect()


# Each bad frame as it travels (text or bytes), and the error code it must get.
BAD_FRAMES = {
    "not JSON": ("text", "hello", "invalid_json"),
    "empty text frame": ("text", "", "invalid_json"),
    "JSON array": ("text", "[1]", "invalid_json"),
    "JSON string": ("text", '"x"', "invalid_json"),
    "JSON number": ("text", "42", "invalid_json"),
    "JSON null": ("text", "null", "invalid_json"),
    "JSON nested too deep": ("text", "[" * 100_000, "invalid_json"),
    "no message": ("text", "{}", "invalid_message"),
    "another key": ("text", '{"text": "hi"}', "invalid_message"),
    "message is a number": ("text", '{"message": 42}', "invalid_message"),
    "message is null": ("text", '{"message": null}', "invalid_message"),
    "message is a list": ("text", '{"message": ["hi"]}', "invalid_message"),
    "message is empty": ("text", '{"message": ""}', "invalid_message"),
    "message is blank": ("text", '{"message": " \\n\\t "}', "invalid_message"),
    "message is a lone surrogate": ("text", '{"message": "\\ud800"}', "invalid_message"),
    "message of 2001 characters": ("text", json.dumps({"message": "x" * 2001}), "too_long"),
    "binary frame": ("bytes", b'{"message": "hi"}', "unsupported_frame"),
    "binary garbage": ("bytes", b"\x00\xff", "unsupported_frame"),
}


async def send_raw(communicator, kind, payload):
    """Send a frame as a server would deliver it (send_to() refuses an empty text frame)."""
    await communicator.send_input({"type": "websocket.receive", kind: payload})


@pytest.mark.parametrize(("kind", "payload", "code"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_a_bad_frame_gets_an_error_and_the_socket_keeps_working(kind, payload, code):
    """A bad frame gets one error frame, reaches nobody else, and the socket stays usable."""
    communicator = await connect()
    bystander = await connect()

    await send_raw(communicator, kind, payload)
    error = await communicator.receive_json_from(timeout=TIMEOUT)
    assert error.keys() == {"type", "code", "detail"}
    assert (error["type"], error["code"]) == ("error", code)
    assert isinstance(error["detail"], str) and error["detail"].strip()
    # Exactly one answer, to the sender only.
    assert await communicator.receive_nothing()
    assert await bystander.receive_nothing()

    # The same socket still works.
    await communicator.send_json_to({"message": "still here"})
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "type": "echo",
        "message": "still here",
    }
    await communicator.disconnect()
    await bystander.disconnect()


@pytest.mark.parametrize(
    "path",
    [
        "/ws/chat/café/",
        "/ws/chat/caf%C3%A9/",
        f"/ws/chat/{'a' * 65}/",
        "/ws/chat/<script>/",
        "/ws/chat/a b/",
        "/ws/chat/../admin/",
        "/ws/chat//",
        "/ws/chat/lobby",
        "/ws/chat/lobby/extra/",
        "/ws/chat/",
        "/ws/",
        "/chat/lobby/",
        "/",
    ],
)
async def test_a_bad_path_is_refused_at_the_handshake(path):
    """An invalid room name or an unknown path is refused (no exception, so no 500)."""
    communicator = WebsocketCommunicator(application, path)
    # connect() would raise if the application crashed; a refusal is a close before accept.
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected
    await communicator.disconnect()


async def test_the_longest_room_name_is_accepted():
    """64 characters is the limit, and it is allowed."""
    communicator = WebsocketCommunicator(application, f"/ws/chat/{'a' * 64}/")
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "type": "welcome",
        "room": "a" * 64,
    }
    await communicator.disconnect()
