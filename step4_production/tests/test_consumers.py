"""The room's socket protocol, spoken to the real routing (learning.asgi.application) without a
server: history, one group per room, saving before sending, identity, errors.
The origin check is in test_origin.py.

https://channels.readthedocs.io/en/stable/topics/testing.html#websocketcommunicator
"""

import asyncio
import json
import time

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.test import override_settings

from chat import consumers, store
from chat.consumers import message_event
from chat.models import Message, Room
from learning.asgi import application
from tests.sockets import (
    HOST,
    ORIGIN,
    TIMEOUT,
    close_all,
    frames_left,
    hears_no_message,
    login_cookie,
    next_frame,
    open_socket,
    save_messages,
    saved_bodies,
    send_raw,
)

# Consumers save through their own database connections: tests must commit, not roll back.
pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE_KEYS = {
    "type",
    "id",
    "sequence",
    "message",
    "username",
    "authenticated",
    "announcement",
    "client_id",
    "created_at",
}
ONE_MIB = 1024 * 1024


# History


async def test_a_new_socket_first_receives_the_history_then_the_user_list():
    """The first frame is the history (empty in a new room); then the room's members, itself
    included, in one user.list frame; then nothing until something happens."""
    communicator = WebsocketCommunicator(
        application, "/ws/chat/lobby/?username=alice", [HOST, ORIGIN]
    )
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    assert await communicator.receive_json_from(timeout=TIMEOUT) == {
        "type": "history",
        "messages": [],
    }
    users = await communicator.receive_json_from(timeout=TIMEOUT)
    assert users["type"] == "user.list"
    assert [(user["username"], user["authenticated"]) for user in users["users"]] == [
        ("alice", False)
    ]
    assert await communicator.receive_nothing()
    await communicator.disconnect()


async def test_the_history_is_the_last_50_messages_oldest_first():
    """55 saved messages: a new socket is shown the newest 50, in the order they were sent."""
    await save_messages("lobby", [f"message {n}" for n in range(1, 56)])
    alice = await open_socket()
    assert [message["message"] for message in alice.history] == [
        f"message {n}" for n in range(6, 56)
    ]
    assert [message["sequence"] for message in alice.history] == list(range(6, 56))
    assert all(message.keys() == MESSAGE_KEYS for message in alice.history)
    await alice.disconnect()


async def test_history_after_a_reconnect_has_the_message():
    """A message sent, the socket closed: the socket that comes back finds it in its history."""
    alice = await open_socket()
    await alice.send_json_to({"message": "remember me", "username": "alice"})
    live = await next_frame(alice)
    await alice.disconnect()

    again = await open_socket()
    # The same frame as the one that arrived live, id and time included.
    assert again.history == [live]
    await again.disconnect()


async def test_a_reconnect_with_after_gets_only_what_it_missed():
    """?after=N (room.js sends the last sequence it showed) replays only the messages after N."""
    await save_messages("lobby", ["one", "two", "three"])
    alice = await open_socket(after=1)
    assert [message["message"] for message in alice.history] == ["two", "three"]
    # A number this room never reached (the database was reset): the ordinary history instead.
    bob = await open_socket(after=99)
    assert [message["message"] for message in bob.history] == ["one", "two", "three"]
    await close_all(alice, bob)


@pytest.mark.parametrize("after", ["²", "٣", "-1", "1.5", "abc", "9" * 20, ""])
async def test_an_after_that_is_not_a_plain_number_gets_the_ordinary_history(after):
    """?after= is only understood as ASCII digits; anything else is ignored, never a crash."""
    await save_messages("lobby", ["one", "two"])
    alice = await open_socket(after=after)
    assert [message["message"] for message in alice.history] == ["one", "two"]
    await alice.disconnect()


async def test_a_reconnect_after_more_than_one_frame_of_messages_gets_them_all_in_frames():
    """120 missed messages: replayed in history frames of at most 50, in order, each once."""
    await save_messages("lobby", [f"message {n}" for n in range(1, 122)])
    alice = await open_socket(after=1)
    assert [len(messages) for messages in alice.history_frames] == [50, 50, 20]
    replayed = [message["sequence"] for message in alice.history]
    assert replayed == list(range(2, 122))
    assert await hears_no_message(alice)
    await alice.disconnect()


async def test_a_reconnect_is_replayed_at_most_max_replay_messages(monkeypatch):
    """Missed more than MAX_REPLAY: the newest MAX_REPLAY are replayed, ending at the newest."""
    monkeypatch.setattr(store, "MAX_REPLAY", 60)
    await save_messages("lobby", [f"message {n}" for n in range(1, 81)])
    alice = await open_socket(after=0)
    replayed = [message["sequence"] for message in alice.history]
    assert replayed == list(range(21, 81))
    assert await hears_no_message(alice)
    await alice.disconnect()


@pytest.mark.parametrize(
    "character",
    ["😀", "\x01", '"'],
    ids=["emoji, 4 bytes in UTF-8", "control character, escaped to 6 bytes", "quote, escaped"],
)
async def test_history_of_50_longest_messages_stays_under_1_mib(character):
    """50 messages of 2,000 of the costliest characters still make a history frame under 1 MiB."""
    await save_messages("lobby", [character * 2000] * 50)
    communicator = WebsocketCommunicator(application, "/ws/chat/lobby/", headers=[HOST, ORIGIN])
    assert (await communicator.connect(timeout=TIMEOUT))[0]

    text = await communicator.receive_from(timeout=TIMEOUT)
    # Daphne's limit is on the frame's bytes, so measure the UTF-8 encoding, not the characters.
    assert len(text.encode("utf-8")) < ONE_MIB
    history = json.loads(text)
    assert len(history["messages"]) == 50
    assert all(message["message"] == character * 2000 for message in history["messages"])
    if character == "😀":
        # Escaped as \ud83d\ude00 (Python's default), the same frame would be over the limit.
        assert len(json.dumps(history).encode("utf-8")) > ONE_MIB
    await communicator.disconnect()


# One group per room


async def test_three_sockets_in_a_room_receive_a_message_exactly_once():
    """One message, three sockets: each receives it once, the sender included."""
    alice, bob, carol = [await open_socket(username=name) for name in ("alice", "bob", "carol")]
    await alice.send_json_to({"message": "hello, room", "username": "alice"})

    frames = [await next_frame(socket) for socket in (alice, bob, carol)]
    assert frames[0] == frames[1] == frames[2]
    assert frames[0].keys() == MESSAGE_KEYS
    assert (frames[0]["message"], frames[0]["username"]) == ("hello, room", "alice")
    assert frames[0]["authenticated"] is False
    for socket in (alice, bob, carol):
        assert await hears_no_message(socket)
    await close_all(alice, bob, carol)


async def test_three_senders_at_once_every_socket_gets_every_message_once_in_order():
    """15 messages sent at the same time from 3 sockets: every socket gets all 15, in one order."""
    names = ("alice", "bob", "carol")
    sockets = [await open_socket(username=name) for name in names]
    for n in range(5):
        for name, socket in zip(names, sockets, strict=True):
            await socket.send_json_to({"message": f"{name} {n}", "username": name})

    received = [[await next_frame(socket) for _ in range(15)] for socket in sockets]
    # The same 15 frames, in the same order, on every socket: the order they were saved in.
    assert received[0] == received[1] == received[2]
    assert [frame["sequence"] for frame in received[0]] == list(range(1, 16))
    assert [frame["message"] for frame in received[0]] == await saved_bodies("lobby")
    # Each sender's messages keep the order they were sent in.
    for name in names:
        mine = [frame["message"] for frame in received[0] if frame["username"] == name]
        assert mine == [f"{name} {n}" for n in range(5)]
    for socket in sockets:
        assert await hears_no_message(socket)
    await close_all(*sockets)


async def test_a_socket_in_another_room_hears_nothing():
    """Each room is its own group: a socket in another room hears no message and no arrival."""
    eve = await open_socket("elsewhere", username="eve")
    alice = await open_socket("lobby", username="alice")
    await alice.send_json_to({"message": "only for the lobby", "username": "alice"})
    await next_frame(alice)

    assert await frames_left(eve) == []
    assert await saved_bodies("elsewhere") == []
    await close_all(alice, eve)


async def test_a_message_is_saved_in_its_room_before_anyone_receives_it(monkeypatch):
    """At the moment the message goes to the group, it is already a row in its room."""
    layer = get_channel_layer()
    group_send = layer.group_send
    saved_when_sent = []

    async def group_send_checking_the_database(group, event):
        if event["type"] == "chat.message":
            room = await Room.objects.aget(url="lobby")
            saved_when_sent.append(await room.messages.filter(sequence=event["sequence"]).aexists())
        await group_send(group, event)

    monkeypatch.setattr(layer, "group_send", group_send_checking_the_database)
    alice = await open_socket()
    bob = await open_socket(username="bob")
    await alice.send_json_to({"message": "saved first", "username": "alice"})
    frame = await next_frame(bob)

    assert saved_when_sent == [True]
    message = await Message.objects.aget(id=frame["id"])
    assert (message.body, message.sentBy, message.sequence) == ("saved first", "alice", 1)
    assert (await Room.objects.aget(pk=message.room_id)).url == "lobby"
    await close_all(alice, bob)


async def test_a_client_cannot_choose_the_event_type_sent_to_the_group():
    """A frame that names a group event type is still just a chat message."""
    alice = await open_socket()
    bob = await open_socket(username="bob")
    frame = {
        "type": "presence.leave",
        "member": {"id": "x", "username": "bob", "authenticated": False},
        "message": "hi",
        "username": "alice",
    }
    await alice.send_json_to(frame)

    # Bob hears the message, and nobody leaving.
    received = [frame for frame in await frames_left(bob) if frame["type"] != "user.joined"]
    assert [(frame["type"], frame.get("message")) for frame in received] == [("chat.message", "hi")]
    await close_all(alice, bob)


async def test_messages_sent_faster_than_they_are_saved_are_saved_together_in_order(monkeypatch):
    """Ten frames at once from one socket: saved in fewer transactions than ten, each once, and
    every socket gets all ten in the order they were sent."""
    save_messages, batches = store.save_messages, []

    def counting(room, texts, *args, **kwargs):
        batches.append(len(texts))
        return save_messages(room, texts, *args, **kwargs)

    monkeypatch.setattr(store, "save_messages", counting)
    alice = await open_socket()
    bob = await open_socket(username="bob")
    bodies = [f"message {n}" for n in range(10)]
    for n, body in enumerate(bodies):
        await alice.send_json_to({"message": body, "username": "alice", "client_id": f"a-{n}"})

    for socket in (alice, bob):
        frames = [await next_frame(socket) for _ in bodies]
        assert [(frame["sequence"], frame["message"]) for frame in frames] == list(
            enumerate(bodies, start=1)
        )
        assert await hears_no_message(socket)
    assert sum(batches) == 10 and len(batches) < 10
    assert await saved_bodies() == bodies
    await close_all(alice, bob)


async def test_a_resend_among_messages_saved_together_is_saved_once():
    """A, B, then A again, sent at once: A and B are saved and broadcast once each."""
    alice = await open_socket()
    bob = await open_socket(username="bob")
    for body, client_id in (("A", "id-a"), ("B", "id-b"), ("A", "id-a")):
        await alice.send_json_to({"message": body, "username": "alice", "client_id": client_id})

    assert [(await next_frame(bob))["message"] for _ in range(2)] == ["A", "B"]
    assert await hears_no_message(bob)
    # Alice has both, in order, and may have A twice: the resend is answered as one would be
    # on its own, with A again, unless A has not reached her yet.
    heard = [(await next_frame(alice))["message"] for _ in range(2)]
    heard += [frame["message"] for frame in await frames_left(alice)]
    assert heard in (["A", "B"], ["A", "A", "B"], ["A", "B", "A"])
    assert await saved_bodies() == ["A", "B"]
    await close_all(alice, bob)


async def test_what_a_socket_sent_before_it_closed_is_saved_before_its_consumer_ends(monkeypatch):
    """Frames still waiting to be saved when the socket closes are saved, and reach the room,
    before its consumer ends: a server that stops once its consumers have ended loses none."""
    save_messages, saved = store.save_messages, []

    def slow(*args, **kwargs):
        time.sleep(0.1)
        results = save_messages(*args, **kwargs)
        saved.extend(message.body for message, _ in results)
        return results

    monkeypatch.setattr(store, "save_messages", slow)
    alice = await open_socket()
    bob = await open_socket(username="bob")
    bodies = [f"last words {n}" for n in range(5)]
    for body in bodies:
        await alice.send_json_to({"message": body, "username": "alice"})
    await alice.disconnect()

    assert saved == bodies
    assert [(await next_frame(bob))["message"] for _ in bodies] == bodies
    await bob.disconnect()


async def test_a_bug_while_saving_closes_the_socket_with_1011_and_the_room_hears_it_left(
    monkeypatch, caplog
):
    """An unexpected exception in the task that saves: logged, the socket closed with 1011
    (server error) as a crashed handler's would be, and the others told it left."""

    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the save")

    victim = await open_socket(username="victim")
    witness = await open_socket(username="witness")
    await next_frame(victim, "user.joined")
    monkeypatch.setattr(store, "save_messages", bug)
    await victim.send_json_to({"message": "boom", "username": "victim"})

    closed = await victim.receive_output(TIMEOUT)
    assert closed == {"type": "websocket.close", "code": 1011}
    assert "a bug in the save" in caplog.text
    await victim.disconnect()  # As the server does once the socket is closed.
    left = await next_frame(witness, "user.left")
    assert left["user"]["username"] == "victim"
    assert await saved_bodies() == []
    await witness.disconnect()


# Missed and repeated messages


async def test_a_missed_group_event_is_filled_from_the_database_exactly_once():
    """Events 1 and 2 lost, 3 arrives: the socket sends 1, 2, 3 once; late 2 and 3 are dropped."""
    alice = await open_socket()
    layer = get_channel_layer()
    # Three messages saved without their group events, as if those had been lost on the way.
    one, two, three = await save_messages("lobby", ["one", "two", "three"])
    await layer.group_send("chat_lobby", message_event(three))

    frames = [await next_frame(alice) for _ in range(3)]
    assert [(frame["sequence"], frame["message"]) for frame in frames] == [
        (1, "one"),
        (2, "two"),
        (3, "three"),
    ]
    # The lost events turn up late after all: the socket has sent them, so it drops them.
    await layer.group_send("chat_lobby", message_event(two))
    await layer.group_send("chat_lobby", message_event(three))
    assert await hears_no_message(alice)
    await alice.disconnect()


async def test_a_resend_with_the_same_client_id_is_saved_once():
    """The same client_id twice (a browser resending after a reconnect): one row, one broadcast."""
    alice = await open_socket()
    bob = await open_socket(username="bob")
    frame = {"message": "only once", "username": "alice", "client_id": "a1b2-c3"}
    await alice.send_json_to(frame)
    first = await next_frame(alice)
    assert first["client_id"] == "a1b2-c3"
    assert await next_frame(bob) == first

    # Sent again, on the same socket and from a new one: only the sender hears it again.
    await alice.send_json_to(frame)
    assert await next_frame(alice) == first
    again = await open_socket()
    await again.send_json_to(frame)
    assert await next_frame(again) == first
    assert await hears_no_message(bob)
    assert await saved_bodies() == ["only once"]
    await close_all(alice, bob, again)


async def test_a_client_id_used_in_another_room_saves_a_new_message_here():
    """A client_id belongs to its room: the same id in room B is a new message in B, and room
    A's message (its text included) never reaches B."""
    alice = await open_socket("room-a")
    await alice.send_json_to({"message": "secret of A", "username": "alice", "client_id": "id-1"})
    in_a = await next_frame(alice)
    bob = await open_socket("room-b", username="bob")
    await bob.send_json_to({"message": "hello B", "username": "bob", "client_id": "id-1"})
    in_b = await next_frame(bob)
    assert (in_b["message"], in_b["sequence"], in_b["client_id"]) == ("hello B", 1, "id-1")
    assert in_b["id"] != in_a["id"]
    assert await saved_bodies("room-a") == ["secret of A"]
    assert await saved_bodies("room-b") == ["hello B"]
    assert await hears_no_message(alice)
    await close_all(alice, bob)


# Identity


async def test_a_logged_in_user_is_their_username_whatever_the_frame_claims():
    """With a session cookie, the frame's username is ignored: the message is the user's."""
    user = await get_user_model().objects.acreate_user("alice", password="unused-password")
    alice = await open_socket(username="mallory", headers=[await login_cookie(user)])
    bob = await open_socket(username="bob")
    await alice.send_json_to({"message": "it is me", "username": "mallory"})

    frame = await next_frame(bob)
    assert (frame["username"], frame["authenticated"]) == ("alice", True)
    message = await Message.objects.aget(id=frame["id"])
    assert (message.sentBy, message.created_By_id) == ("alice", user.id)
    # A logged-in user needs no username in the frame at all.
    await alice.send_json_to({"message": "no name needed"})
    assert (await next_frame(bob))["username"] == "alice"
    await close_all(alice, bob)


async def test_an_anonymous_name_is_trimmed_and_used():
    """Without a login, the frame's username names the sender, trimmed; 32 characters is fine."""
    for name in ("bob", "b" * 32):
        guest = await open_socket(username=name)
        await guest.send_json_to({"message": "hi", "username": f"  {name} \n"})
        frame = await next_frame(guest)
        assert (frame["username"], frame["authenticated"]) == (name, False)
        message = await Message.objects.aget(id=frame["id"])
        assert (message.sentBy, message.created_By_id) == (name, None)
        await guest.disconnect()


async def test_a_guests_name_is_fixed_for_the_socket_by_its_url():
    """A guest who connected as alice cannot post as anyone else: invalid_username, nothing
    saved, nothing broadcast; as alice it still works."""
    alice = await open_socket(username="alice")
    bob = await open_socket(username="bob")
    await alice.send_json_to({"message": "I am bob", "username": "bob", "client_id": "c-1"})
    error = await next_frame(alice, "error")
    assert (error["code"], error["client_id"]) == ("invalid_username", "c-1")
    assert "alice" in error["detail"]
    assert await hears_no_message(bob)
    await alice.send_json_to({"message": "I am alice", "username": "alice"})
    assert (await next_frame(bob))["username"] == "alice"
    assert await saved_bodies() == ["I am alice"]
    await close_all(alice, bob)


async def test_a_guest_without_a_name_in_its_url_is_named_by_its_first_good_message():
    """No ?username=: the first message that is saved names the socket; a bad frame does not."""
    guest = await open_socket(username=None)
    await guest.send_json_to({"message": "  ", "username": "mallory"})
    assert (await next_frame(guest, "error"))["code"] == "invalid_message"
    await guest.send_json_to({"message": "hi", "username": "dora"})
    assert (await next_frame(guest))["username"] == "dora"
    await guest.send_json_to({"message": "hi again", "username": "eve"})
    assert (await next_frame(guest, "error"))["code"] == "invalid_username"
    assert await saved_bodies() == ["hi"]
    await guest.disconnect()


async def test_a_guests_name_is_fixed_by_its_first_good_frame_before_that_is_saved():
    """Two names sent at once, the second before the first is saved: the first names the
    socket, the second is refused with invalid_username, and only the first is saved."""
    guest = await open_socket(username=None)
    await guest.send_json_to({"message": "hi", "username": "dora", "client_id": "d-1"})
    await guest.send_json_to({"message": "hi too", "username": "eve", "client_id": "e-1"})

    answers = [await next_frame(guest, None) for _ in range(2)]
    assert sorted((frame["type"], frame["client_id"]) for frame in answers) == [
        ("chat.message", "d-1"),
        ("error", "e-1"),
    ]
    assert next(frame for frame in answers if frame["type"] == "error")["code"] == (
        "invalid_username"
    )
    assert await saved_bodies() == ["hi"]
    await guest.disconnect()


# Bad frames

# Each bad frame as it travels (text or bytes), and the error code it must get.
BAD_FRAMES = {
    "not JSON": ("text", "hello", "invalid_json"),
    "empty text frame": ("text", "", "invalid_json"),
    "JSON array": ("text", "[1]", "invalid_json"),
    "JSON string": ("text", '"x"', "invalid_json"),
    "JSON null": ("text", "null", "invalid_json"),
    "JSON nested too deep": ("text", "[" * 10_000, "invalid_json"),
    "no message": ("text", '{"username": "alice"}', "invalid_message"),
    "message is a number": ("text", '{"message": 42, "username": "alice"}', "invalid_message"),
    "message is null": ("text", '{"message": null, "username": "alice"}', "invalid_message"),
    "message is a list": ("text", '{"message": ["hi"], "username": "alice"}', "invalid_message"),
    "message is blank": ("text", '{"message": " \\n\\t ", "username": "alice"}', "invalid_message"),
    "message is a lone surrogate": ("text", '{"message": "\\ud800"}', "invalid_message"),
    "message of 2001 characters": ("text", json.dumps({"message": "x" * 2001}), "too_long"),
    "binary frame": ("bytes", b'{"message": "hi", "username": "alice"}', "unsupported_frame"),
    "binary garbage": ("bytes", b"\x00\xff", "unsupported_frame"),
    "no username": ("text", '{"message": "hi"}', "invalid_username"),
    "username is a number": ("text", '{"message": "hi", "username": 42}', "invalid_username"),
    "username is null": ("text", '{"message": "hi", "username": null}', "invalid_username"),
    "username is a list": ("text", '{"message": "hi", "username": ["a"]}', "invalid_username"),
    "username is empty": ("text", '{"message": "hi", "username": ""}', "invalid_username"),
    "username is blank": ("text", '{"message": "hi", "username": "  \\t"}', "invalid_username"),
    "username of 33 characters": (
        "text",
        json.dumps({"message": "hi", "username": "b" * 33}),
        "invalid_username",
    ),
    "client_id with a space": (
        "text",
        '{"message": "hi", "username": "alice", "client_id": "a b"}',
        "invalid_message",
    ),
    "client_id is a number": (
        "text",
        '{"message": "hi", "username": "alice", "client_id": 7}',
        "invalid_message",
    ),
}


@pytest.mark.parametrize(("kind", "payload", "code"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
async def test_a_bad_frame_gets_its_error_and_a_good_message_still_works(kind, payload, code):
    """One error to the sender only, nothing saved or sent; then a good message goes through."""
    alice = await open_socket()
    bob = await open_socket(username="bob")

    await send_raw(alice, kind, payload)
    error = await next_frame(alice, None)
    assert error.keys() == {"type", "code", "detail"}
    assert (error["type"], error["code"]) == ("error", code)
    assert isinstance(error["detail"], str) and error["detail"].strip()
    assert all(await asyncio.gather(hears_no_message(alice), hears_no_message(bob)))
    assert await saved_bodies() == []

    # The same socket still works, for everyone in the room.
    await alice.send_json_to({"message": "still here", "username": "alice"})
    assert (await next_frame(alice))["message"] == "still here"
    assert (await next_frame(bob))["message"] == "still here"
    assert await saved_bodies() == ["still here"]
    await close_all(alice, bob)


async def test_an_error_names_the_client_id_of_the_frame_that_failed():
    """A failed frame with a client_id gets it back, so the page can mark that message."""
    alice = await open_socket()
    await alice.send_json_to({"message": " ", "username": "alice", "client_id": "draft-7"})
    error = await next_frame(alice, None)
    assert (error["code"], error["client_id"]) == ("invalid_message", "draft-7")
    await alice.disconnect()


async def test_a_message_that_cannot_be_saved_gets_not_saved_and_reaches_nobody(monkeypatch):
    """The database fails: the sender gets not_saved, nobody the message; sending again works."""

    def database_is_down(*args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(store, "save_messages", database_is_down)
    alice = await open_socket()
    bob = await open_socket(username="bob")
    frame = {"message": "try me", "username": "alice", "client_id": "m-1"}
    # Three at once, saved together: each gets its own not_saved.
    for client_id in ("m-1", "m-2", "m-3"):
        await alice.send_json_to({**frame, "client_id": client_id})
    errors = [await next_frame(alice, None) for _ in range(3)]
    assert [(error["type"], error["code"]) for error in errors] == [("error", "not_saved")] * 3
    assert [error["client_id"] for error in errors] == ["m-1", "m-2", "m-3"]
    assert await hears_no_message(bob)

    # The database is back: the same message, sent again, arrives once.
    monkeypatch.undo()
    await alice.send_json_to(frame)
    assert (await next_frame(bob))["message"] == "try me"
    assert await saved_bodies() == ["try me"]
    await close_all(alice, bob)


# Rate limit


async def test_a_socket_that_floods_is_rate_limited_and_the_others_lose_nothing(clock):
    """1 frame a second, bursts of 2: a flood gets rate_limited; every saved message reaches all."""
    with override_settings(CHAT_RATE_LIMIT=1):
        flooder = await open_socket(username="flooder")
        bob = await open_socket(username="bob")
        carol = await open_socket(username="carol")
    for n in range(10):
        await flooder.send_json_to({"message": f"flood {n}", "username": "flooder"})
    # Bob has a bucket of his own: the flood does not slow him down.
    await bob.send_json_to({"message": "bob is still heard", "username": "bob"})

    # The flooder hears one answer per frame sent (its message or an error), and bob's message.
    answers = [await next_frame(flooder, None) for _ in range(11)]
    errors = [frame for frame in answers if frame["type"] == "error"]
    delivered = [frame for frame in answers if frame["type"] == "chat.message"]
    assert [error["code"] for error in errors] == ["rate_limited"] * 8
    flooded = [frame["message"] for frame in delivered if frame["username"] == "flooder"]
    # The burst allowance lets the first two through; the clock stands still, so no more.
    assert flooded == ["flood 0", "flood 1"]

    # Bob and carol receive every saved message, once, in order, and no error.
    for socket in (bob, carol):
        assert [await next_frame(socket) for _ in delivered] == delivered
        assert await hears_no_message(socket)
    assert [frame["message"] for frame in delivered] == await saved_bodies()
    await close_all(flooder, bob, carol)


async def test_every_frame_counts_towards_the_rate_limit(clock):
    """Bad frames use up the allowance too: after two, good messages are refused until the
    bucket refills (one frame a second here)."""
    with override_settings(CHAT_RATE_LIMIT=1):
        alice = await open_socket()
    for _ in range(2):
        await alice.send_to(text_data="not JSON")
    for n in range(3):
        await alice.send_json_to({"message": f"message {n}", "username": "alice"})

    codes = [(await next_frame(alice, None)).get("code") for _ in range(5)]
    assert codes == ["invalid_json", "invalid_json"] + ["rate_limited"] * 3
    assert await saved_bodies() == []
    clock.now += 1
    await alice.send_json_to({"message": "a second later", "username": "alice"})
    assert (await next_frame(alice))["message"] == "a second later"
    await alice.disconnect()


async def test_a_rate_limit_of_0_allows_everything():
    """CHAT_RATE_LIMIT=0 turns the limit off: 30 frames at once are all saved."""
    with override_settings(CHAT_RATE_LIMIT=0):
        alice = await open_socket()
    for n in range(30):
        await alice.send_json_to({"message": f"message {n}", "username": "alice"})
    frames = [await next_frame(alice) for _ in range(30)]
    assert [frame["message"] for frame in frames] == [f"message {n}" for n in range(30)]
    await alice.disconnect()


# Leaving the group


async def test_a_socket_that_closes_leaves_its_group():
    """After the last socket of a room closes, the room's group has no members left."""
    layer = get_channel_layer()
    alice = await open_socket()
    bob = await open_socket(username="bob")
    assert len(layer.groups["chat_lobby"]) == 2
    await alice.disconnect()
    assert len(layer.groups["chat_lobby"]) == 1
    await bob.disconnect()
    assert "chat_lobby" not in layer.groups


async def test_a_consumer_whose_handler_raised_leaves_no_member_in_the_group(monkeypatch):
    """A bug crashes one consumer: its channel leaves the group, and the room is told it left."""

    def bug(*args, **kwargs):
        raise RuntimeError("a bug in the consumer")

    layer = get_channel_layer()
    victim = await open_socket(username="victim")
    witness = await open_socket(username="witness")
    await next_frame(victim, "user.joined")
    assert len(layer.groups["chat_lobby"]) == 2

    monkeypatch.setattr(consumers, "read_message", bug)
    await victim.send_json_to({"message": "boom", "username": "victim"})
    # The exception ends the victim's consumer (Daphne would close its socket).
    with pytest.raises(RuntimeError, match="a bug in the consumer"):
        await asyncio.wait_for(asyncio.shield(victim.future), TIMEOUT)

    # Only the witness is left in the group, and it saw the victim go.
    assert len(layer.groups["chat_lobby"]) == 1
    left = await next_frame(witness, "user.left")
    assert left["user"]["username"] == "victim"
    await witness.disconnect()
    assert "chat_lobby" not in layer.groups


# Paths


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
        "/",
    ],
)
async def test_a_bad_path_is_refused_at_the_handshake(path):
    """An invalid room name or an unknown path is refused (no exception, so no 500)."""
    communicator = WebsocketCommunicator(application, path, headers=[HOST, ORIGIN])
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected
    await communicator.disconnect()


async def test_the_longest_room_name_is_accepted():
    """64 characters is the limit, and it is allowed; its group name is valid too."""
    alice = await open_socket("a" * 64)
    await alice.send_json_to({"message": "long room", "username": "alice"})
    assert (await next_frame(alice))["message"] == "long room"
    await alice.disconnect()
