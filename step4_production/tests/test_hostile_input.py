"""Hostile input: arbitrary strings at the routes, arbitrary frames at the consumer, a frame over
Daphne's 1 MiB cap, and frames that name a handler in their `type`.

The property tests use Hypothesis (https://hypothesis.readthedocs.io/): it generates the inputs,
and when a check fails it shrinks the input to the smallest one that still fails.
"""

import asyncio
import json
import os
import re
from urllib.parse import quote, urlencode

import pytest
import websockets
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chat.converters import RoomNameConverter
from chat.models import Message
from chat.protocol import CLIENT_ID_PATTERN, MAX_MESSAGE_LENGTH, MAX_USERNAME_LENGTH
from learning.asgi import application
from tests.reliability_clients import chat_frame, join
from tests.servers import daphne_server
from tests.sockets import hears_no_message, next_frame, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")
TIMEOUT = 5
# Bounded, and the same examples every run in CI, so that CI never fails by chance.
PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def is_room_name(name):
    return re.fullmatch(RoomNameConverter.regex, name) is not None


@PROPERTY_SETTINGS
@given(name=st.text(max_size=80))
@example(name="<script>alert(1)</script>")
@example(name="../../etc/passwd")
@example(name="a" * 64)
@example(name="a" * 65)
@example(name="%00")
def test_arbitrary_strings_at_the_room_route_never_get_a_500(name):
    """Any string as a room name: the room (200) if it is a valid one, else 404; never a 500.
    The lobby's ?room_name= redirects a valid name and shows the lobby again otherwise."""
    client = Client()
    # The test client raises if a view raised, so a 500 cannot pass unnoticed.
    response = client.get(f"/chat/{quote(name, safe='')}/")
    assert response.status_code == (200 if is_room_name(name) else 404)
    response = client.get(f"/chat/{quote(name)}/")
    assert response.status_code == (200 if is_room_name(name) else 404)
    response = client.get("/chat/?" + urlencode({"room_name": name}))
    assert response.status_code == (302 if is_room_name(name.strip()) else 200)


@PROPERTY_SETTINGS
@given(name=st.text(max_size=80))
@example(name="lobby")
@example(name="<script>")
def test_arbitrary_strings_at_the_socket_route_are_joined_only_when_valid(name):
    """Any string as a socket's room name: joined if valid, refused at the handshake otherwise,
    and never an exception."""

    async def handshake():
        communicator = WebsocketCommunicator(
            application, f"/ws/chat/{quote(name, safe='')}/", headers=[ORIGIN]
        )
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected == is_room_name(name)
        if connected:
            assert (await communicator.receive_json_from(timeout=TIMEOUT))["type"] == "history"
            await communicator.disconnect()

    asyncio.run(handshake())


# Frames: JSON values of every shape, objects with the fields the server reads (and some it
# must ignore), texts at the edges of the limits, raw text that is not JSON, and binary.
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
EDGE_TEXTS = st.sampled_from(
    [
        "",
        " ",
        "\n\t ",
        "hi",
        "<script>alert(1)</script>",
        "\u0000",
        "x" * MAX_MESSAGE_LENGTH,
        "x" * (MAX_MESSAGE_LENGTH + 1),
        "  " + "é" * MAX_MESSAGE_LENGTH + "  ",
        "n" * MAX_USERNAME_LENGTH,
        "n" * (MAX_USERNAME_LENGTH + 1),
        "\ud800",  # a lone surrogate: JSON can carry it as \ud800, UTF-8 cannot
    ]
)
TEXTS = st.text(max_size=30) | EDGE_TEXTS
JSON_VALUES = st.recursive(
    JSON_SCALARS | TEXTS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["message", "username", "client_id", "type", "sequence", "text", "member", "channel"]
)
FRAME_OBJECTS = st.dictionaries(FIELDS | st.text(max_size=8), JSON_VALUES, max_size=5)
GOOD_FRAMES = st.fixed_dictionaries(
    {
        "message": st.text(min_size=1, max_size=40).filter(str.strip),
        # Mostly the sender's own name (fixed for its socket), trimmed or not; sometimes another.
        "username": st.sampled_from(["sender", " sender\t"])
        | st.text(min_size=1, max_size=MAX_USERNAME_LENGTH).filter(str.strip),
    },
    optional={
        "client_id": st.from_regex(CLIENT_ID_PATTERN, fullmatch=True),
        "type": st.sampled_from(["chat.message", "presence.join", "websocket.disconnect"]),
    },
)
TEXT_FRAMES = st.one_of(
    (FRAME_OBJECTS | GOOD_FRAMES | JSON_VALUES).map(json.dumps),
    GOOD_FRAMES.map(lambda frame: json.dumps(frame, ensure_ascii=False)),
    st.text(max_size=60),
    st.sampled_from(["", "null", "{}", "[]", '{"message": ', "[" * 100_000, "1" * 5_000]),
)
FRAMES = st.tuples(st.just("text"), TEXT_FRAMES) | st.tuples(st.just("bytes"), st.binary())


def decoded(text):
    """The JSON object a text frame holds, or None."""
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return frame if isinstance(frame, dict) else None


@database_sync_to_async
def message_row(message_id):
    return Message.objects.filter(id=message_id).values().first()


@database_sync_to_async
def message_count():
    return Message.objects.count()


def utf8_text(value):
    """A non-blank string that UTF-8 can carry, trimmed; None for anything else."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value.strip()


def expected_error(kind, payload):
    """The error code this frame gets from a guest socket named "sender", or None if it is good."""
    if kind == "bytes":
        return "unsupported_frame"
    frame = decoded(payload)
    if frame is None:
        return "invalid_json"
    message = utf8_text(frame.get("message"))
    if message is None:
        return "invalid_message"
    if len(message) > MAX_MESSAGE_LENGTH:
        return "too_long"
    username = utf8_text(frame.get("username"))
    if username is None or len(username) > MAX_USERNAME_LENGTH or username != "sender":
        return "invalid_username"
    client_id = frame.get("client_id")
    if client_id is not None and not (
        isinstance(client_id, str) and CLIENT_ID_PATTERN.fullmatch(client_id)
    ):
        return "invalid_message"
    return None


async def check_answer(kind, payload, answer, count_before):
    """The server answered one frame with the error it deserves, saving nothing, or with
    the message it saved, exactly as the frame had it (trimmed). True if a row was added."""
    code = expected_error(kind, payload)
    if code is not None:
        assert (answer["type"], answer["code"]) == ("error", code), answer
        assert await message_count() == count_before
        return False
    assert answer["type"] == "chat.message", answer
    frame = decoded(payload)
    row = await message_row(answer["id"])
    assert (row["body"], row["sentBy"]) == (answer["message"], answer["username"])
    if await message_count() == count_before:
        # Not saved again: a resend of a client_id saved before.
        assert row["client_id"] == frame["client_id"]
        return False
    assert (row["body"], row["sentBy"]) == (frame["message"].strip(), frame["username"].strip())
    assert row["client_id"] == frame.get("client_id")
    return True


@PROPERTY_SETTINGS
@given(frames=st.lists(FRAMES, min_size=1, max_size=8))
@example(frames=[("text", '{"message": "hi", "username": "\\ud800"}')])
@example(frames=[("text", '{"message": "\\ud800", "username": "a"}')])
@example(frames=[("text", '{"message": "hi", "username": "a", "client_id": "x y"}')])
@example(frames=[("bytes", b"")])
async def test_arbitrary_frames_never_break_the_consumer(frames, settings):
    """Whatever a client sends, it gets an error or its saved message back, nothing bad is
    saved, the room hears only saved messages, and the socket stays open and usable."""
    settings.CHAT_RATE_LIMIT = 0  # Here every frame must get an answer of its own.
    sender = await open_socket("hostile", "sender")
    observer = await open_socket("hostile", "observer")
    broadcast = []
    for kind, payload in frames:
        count_before = await message_count()
        await sender.send_input({"type": "websocket.receive", kind: payload})
        answer = await next_frame(sender, None)
        if await check_answer(kind, payload, answer, count_before):
            broadcast.append(answer)
    # The socket is still open and works; the room heard exactly the saved messages.
    await sender.send_to(text_data=chat_frame("still here", "sender"))
    last = await next_frame(sender, None)
    assert last["message"] == "still here"
    heard = [await next_frame(observer, None) for _ in range(len(broadcast) + 1)]
    assert heard == [*broadcast, last]
    assert await hears_no_message(observer, timeout=0.05)
    await sender.disconnect()
    await observer.disconnect()


HANDLER_TYPES = [
    "chat.message",
    "chat_message",
    "presence.join",
    "presence.here",
    "presence.leave",
    "websocket.connect",
    "websocket.disconnect",
    "websocket.close",
    "history",
    "error",
]


@pytest.mark.parametrize("frame_type", HANDLER_TYPES)
async def test_a_client_supplied_type_never_selects_a_handler(frame_type):
    """A frame whose `type` names a handler or an ASGI event is read as a plain message: the
    server decides the event type, and no forged message, member or close gets through."""
    sender = await open_socket("types", "mallory")
    observer = await open_socket("types", "observer")
    forged = {"type": "chat.message", "id": 1, "sequence": 1, "message": "forged"}
    frame = {
        "type": frame_type,
        "message": "plain text",
        "username": "mallory",
        "sequence": 99,
        "text": json.dumps(forged),
        "member": {"id": "ghost", "username": "ghost", "authenticated": True},
        "channel": "specific.ghost!channel",
        "code": 1000,
    }
    await sender.send_to(text_data=json.dumps(frame))
    for communicator in (sender, observer):
        message = await next_frame(communicator)
        assert message["type"] == "chat.message"
        assert (message["message"], message["username"]) == ("plain text", "mallory")
        assert message["sequence"] == 1 and message["authenticated"] is False
    # The same type alone is an invalid message, answered on a socket that stays open.
    await sender.send_to(text_data=json.dumps({"type": frame_type}))
    assert (await next_frame(sender, "error"))["code"] == "invalid_message"
    assert await hears_no_message(observer)
    await sender.send_to(text_data=chat_frame("still here", "mallory"))
    assert (await next_frame(observer))["message"] == "still here"
    assert await message_count() == 2
    await sender.disconnect()
    await observer.disconnect()


async def test_a_frame_over_1_mib_is_refused_and_harms_no_other_socket():
    """Daphne cuts off the socket that sends more than 1 MiB; the frame is not read, the room
    sees that socket leave, and everyone else chats on."""
    with daphne_server(connection.settings_dict["NAME"]) as server:
        alice = await join(server, "big", "alice")
        mallory = await join(server, "big", "mallory")
        # Just under the cap is an ordinary bad frame: an error, and the socket stays open.
        await mallory.send(chat_frame("x" * (2**20 - 100), "mallory"))
        assert (await next_frame(mallory, "error"))["code"] == "too_long"

        await mallory.send(chat_frame("x" * 2**20, "mallory"))
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await mallory.recv()
        # Daphne fails the connection by dropping it (autobahn's failByDrop): the client gets no
        # close frame, so it sees 1006; Daphne's own reason is 1009, "message too big".
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1009

        async with asyncio.timeout(TIMEOUT):
            while (await next_frame(alice, "user.left"))["user"]["username"] != "mallory":
                pass
        await alice.send(chat_frame("still here", "alice"))
        assert (await next_frame(alice, "chat.message"))["message"] == "still here"
        await alice.close()
    assert await message_count() == 1
