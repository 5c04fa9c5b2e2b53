"""The room's socket protocol, spoken to the real routing (learning.asgi.application) without a
server: the history, one group per room, saving before sending, identity, the origin check.

https://channels.readthedocs.io/en/stable/topics/testing.html#websocketcommunicator
"""

import asyncio
import json

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from chat.models import Message, Room
from learning.asgi import application
from tests.sockets import (
    MESSAGE_KEYS,
    ORIGIN,
    TIMEOUT,
    connect,
    login_cookie,
    save,
    saved,
    send_raw,
)

# Consumers save through their own database connections: tests must commit, not roll back.
pytestmark = pytest.mark.django_db(transaction=True)

# The history


async def test_a_new_socket_first_receives_the_history_of_its_room_and_nothing_else():
    """On connect the server sends one frame, unasked: the room's history (empty at first)."""
    communicator = WebsocketCommunicator(application, "/ws/chat/lobby/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "type": "history",
        "messages": [],
    }
    assert await communicator.receive_nothing()
    await communicator.disconnect()


async def test_the_history_is_the_rooms_last_50_messages_oldest_first():
    """55 messages saved: a newcomer gets numbers 6 to 55 in one frame, and none of another room."""
    await save("lobby", [f"message {number}" for number in range(1, 56)])
    await save("elsewhere", ["not for the lobby"])
    communicator = await connect()
    assert [message["message"] for message in communicator.history] == [
        f"message {number}" for number in range(6, 56)
    ]
    assert all(message.keys() == MESSAGE_KEYS for message in communicator.history)
    await communicator.disconnect()


@pytest.mark.parametrize("character", ["x", "👋"])
async def test_a_history_of_50_longest_messages_stays_under_1_mib(character):
    """The history frame is sent as UTF-8 characters, so even 50 emoji messages fit in 1 MiB."""
    await save("lobby", [character * 2000] * 50)
    communicator = WebsocketCommunicator(application, "/ws/chat/lobby/", headers=[ORIGIN])
    await communicator.connect(timeout=TIMEOUT)
    text = (await communicator.receive_output(timeout=TIMEOUT))["text"]
    assert len(json.loads(text)["messages"]) == 50
    assert len(text.encode("utf-8")) < 1024 * 1024
    await communicator.disconnect()


# Everyone in the room, and only the room


async def test_three_sockets_in_a_room_each_receive_a_message_exactly_once():
    """group_send reaches every member of the room's group, the sender included, once."""
    alice, bob, carol = [await connect() for _ in range(3)]
    await alice.send_json_to({"message": "  hello, room  ", "username": "alice"})

    for communicator in (alice, bob, carol):
        frame = await communicator.receive_json_from(timeout=TIMEOUT)
        assert frame.keys() == MESSAGE_KEYS
        assert frame["type"] == "chat.message"
        assert (frame["message"], frame["username"], frame["authenticated"]) == (
            "hello, room",
            "alice",
            False,
        )
        assert await communicator.receive_nothing()
        await communicator.disconnect()


async def test_three_senders_at_once_every_socket_gets_every_message_once_in_the_same_order():
    """Messages sent at the same moment reach every socket once each, in one shared order."""
    sockets = [await connect() for _ in range(3)]
    await asyncio.gather(
        *(
            communicator.send_json_to({"message": f"{name} {number}", "username": name})
            for number in range(5)
            for name, communicator in zip(("alice", "bob", "carol"), sockets, strict=True)
        )
    )
    orders = []
    for communicator in sockets:
        frames = [await communicator.receive_json_from(timeout=TIMEOUT) for _ in range(15)]
        assert await communicator.receive_nothing()
        orders.append([frame["id"] for frame in frames])
    assert len(set(orders[0])) == 15
    assert orders[0] == orders[1] == orders[2] == sorted(orders[0])
    assert len(await saved()) == 15
    for communicator in sockets:
        await communicator.disconnect()


async def test_a_socket_in_another_room_hears_nothing():
    """Each room is its own group: chat_lobby's messages never reach chat_elsewhere."""
    alice = await connect("lobby")
    outsider = await connect("elsewhere")
    await alice.send_json_to({"message": "lobby only", "username": "alice"})
    assert (await alice.receive_json_from(timeout=TIMEOUT))["message"] == "lobby only"
    assert await outsider.receive_nothing()
    assert await saved("elsewhere") == []
    await alice.disconnect()
    await outsider.disconnect()


async def test_a_message_is_saved_in_its_room_before_it_is_sent_to_the_group(monkeypatch):
    """At the moment the message goes to the group, it is already a row in Room.messages."""
    layer = get_channel_layer()
    group_send = layer.group_send
    saved_when_sent = []

    async def group_send_checking_the_database(group, event):
        room = await Room.objects.aget(url="lobby")
        saved_when_sent.append(await room.messages.filter(id=event["id"]).aexists())
        await group_send(group, event)

    monkeypatch.setattr(layer, "group_send", group_send_checking_the_database)
    alice = await connect()
    await alice.send_json_to({"message": "saved first", "username": "alice"})
    frame = await alice.receive_json_from(timeout=TIMEOUT)

    assert saved_when_sent == [True]
    message = await Message.objects.aget(id=frame["id"])
    assert (message.body, message.sentBy, message.created_By_id) == ("saved first", "alice", None)
    assert frame["created_at"] == message.createdAt.isoformat(timespec="microseconds")
    await alice.disconnect()


async def test_a_frame_cannot_choose_the_event_type_or_the_fields_of_the_message():
    """A frame that names a group event type, an id or authenticated is still just a message."""
    alice = await connect()
    await alice.send_json_to(
        {"type": "chat.message", "id": 999, "authenticated": True, "message": "hi", "username": "a"}
    )
    frame = await alice.receive_json_from(timeout=TIMEOUT)
    assert (frame["type"], frame["message"], frame["authenticated"]) == (
        "chat.message",
        "hi",
        False,
    )
    assert frame["id"] != 999
    assert await alice.receive_nothing()
    await alice.disconnect()


async def test_a_socket_that_closes_leaves_its_rooms_group():
    """disconnect() discards the channel: group_send no longer writes to a socket that is gone."""
    layer = get_channel_layer()
    alice = await connect()
    bob = await connect()
    assert len(layer.groups["chat_lobby"]) == 2
    await bob.disconnect()
    assert len(layer.groups["chat_lobby"]) == 1
    await alice.disconnect()
    assert "chat_lobby" not in layer.groups


# Who sent it


async def test_a_logged_in_user_is_their_username_whatever_the_frame_claims():
    """The session cookie decides: the frame's username is ignored for a logged-in user."""
    alice = await get_user_model().objects.acreate_user("alice", password="x-secret-1")
    communicator = await connect(headers=[ORIGIN, await login_cookie(alice)])
    await communicator.send_json_to({"message": "it is me", "username": "admin"})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert (frame["username"], frame["authenticated"]) == ("alice", True)
    message = await Message.objects.aget(id=frame["id"])
    assert (message.sentBy, message.created_By_id) == ("alice", alice.id)
    # A logged-in user needs no username in the frame at all.
    await communicator.send_json_to({"message": "no name given"})
    assert (await communicator.receive_json_from(timeout=TIMEOUT))["username"] == "alice"
    await communicator.disconnect()


async def test_a_guest_names_themselves_in_the_frame_trimmed():
    """A guest's username is the frame's, trimmed, and the message is not authenticated."""
    communicator = await connect()
    await communicator.send_json_to({"message": "hi", "username": "  Zoë 🌱  "})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert (frame["username"], frame["authenticated"]) == ("Zoë 🌱", False)
    assert await saved() == [("Zoë 🌱", "hi")]
    await communicator.disconnect()


# The origin check


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"origin", b"http://evil.example")],
        [(b"origin", b"http://localhost.evil.example")],
        [(b"origin", b"null")],
    ],
    ids=["no origin", "another site", "a look-alike host", "null origin"],
)
async def test_a_handshake_from_a_page_on_another_site_is_refused(headers):
    """AllowedHostsOriginValidator closes the handshake unless Origin is in ALLOWED_HOSTS."""
    communicator = WebsocketCommunicator(application, "/ws/chat/lobby/", headers=headers)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize(
    "origin", [b"http://localhost", b"http://127.0.0.1:8000", b"https://[::1]"]
)
async def test_a_handshake_from_an_allowed_host_is_accepted(origin):
    """Any page served from a host in ALLOWED_HOSTS may open the socket."""
    communicator = await connect(headers=[(b"origin", origin)])
    await communicator.disconnect()


# Bad frames

# Each bad frame as it travels (text or bytes), and the error code it must get.
BAD_FRAMES = {
    "not JSON": ("text", "hello", "invalid_json"),
    "empty text frame": ("text", "", "invalid_json"),
    "JSON array": ("text", "[1]", "invalid_json"),
    "JSON string": ("text", '"x"', "invalid_json"),
    "JSON null": ("text", "null", "invalid_json"),
    "JSON nested too deep": ("text", "[" * 100_000, "invalid_json"),
    "no message": ("text", '{"username": "alice"}', "invalid_message"),
    "message is a number": ("text", '{"message": 42, "username": "alice"}', "invalid_message"),
    "message is blank": ("text", '{"message": " \\n ", "username": "alice"}', "invalid_message"),
    "message is a lone surrogate": (
        "text",
        '{"message": "\\ud800", "username": "alice"}',
        "invalid_message",
    ),
    "message of 2001 characters": (
        "text",
        json.dumps({"message": "x" * 2001, "username": "alice"}),
        "too_long",
    ),
    "no username": ("text", '{"message": "hi"}', "invalid_username"),
    "username is a number": ("text", '{"message": "hi", "username": 7}', "invalid_username"),
    "username is blank": ("text", '{"message": "hi", "username": "  "}', "invalid_username"),
    "username of 33 characters": (
        "text",
        json.dumps({"message": "hi", "username": "x" * 33}),
        "invalid_username",
    ),
    "binary frame": ("bytes", b'{"message": "hi", "username": "alice"}', "unsupported_frame"),
}


@pytest.mark.parametrize(("kind", "payload", "code"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_a_bad_frame_gets_its_error_saves_nothing_and_the_socket_keeps_working(
    kind, payload, code
):
    """A bad frame gets one error, to its sender only; nothing is saved or broadcast."""
    communicator = await connect()
    bystander = await connect()

    await send_raw(communicator, kind, payload)
    error = await communicator.receive_json_from(timeout=TIMEOUT)
    assert error.keys() == {"type", "code", "detail"}
    assert (error["type"], error["code"]) == ("error", code)
    assert isinstance(error["detail"], str) and error["detail"].strip()
    assert await communicator.receive_nothing()
    assert await bystander.receive_nothing()
    assert await saved() == []

    # The same socket still works, and the room hears the good message once.
    await communicator.send_json_to({"message": "still here", "username": "alice"})
    for socket in (communicator, bystander):
        assert (await socket.receive_json_from(timeout=TIMEOUT))["message"] == "still here"
    assert await saved() == [("alice", "still here")]
    await communicator.disconnect()
    await bystander.disconnect()


async def test_the_longest_message_and_name_are_accepted():
    """2,000 characters of message and 32 of name are the limits, and they are allowed."""
    communicator = await connect()
    await communicator.send_json_to({"message": "x" * 2000, "username": "n" * 32})
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert (len(frame["message"]), frame["username"]) == (2000, "n" * 32)
    await communicator.disconnect()


# Paths


@pytest.mark.parametrize(
    "path",
    [
        "/ws/chat/café/",
        "/ws/chat/caf%C3%A9/",
        f"/ws/chat/{'a' * 65}/",
        "/ws/chat/<script>/",
        "/ws/chat/../admin/",
        "/ws/chat//",
        "/ws/chat/lobby",
        "/ws/chat/lobby/extra/",
        "/ws/",
        "/",
    ],
)
async def test_a_bad_path_is_refused_at_the_handshake(path):
    """An invalid room name or an unknown path is refused (no exception, so no 500)."""
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected
    await communicator.disconnect()


async def test_the_longest_room_name_is_accepted():
    """64 characters is the limit, and it is allowed; the group name stays under 100."""
    communicator = await connect("a" * 64)
    await communicator.disconnect()
