"""Faults: the server dies mid-chat, the database refuses a write, a client stops answering."""

import asyncio
from contextlib import contextmanager, suppress

import pytest
from autobahn.exception import Disconnected
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection

from chat import store
from chat.consumers import ChatConsumer
from chat.models import Message, Room
from chat.presence import presence_for
from learning.asgi import application
from tests.reliability_clients import Listener, chat_frame, join
from tests.servers import DaphneServer, daphne_server
from tests.sockets import (
    HOST,
    ORIGIN,
    TIMEOUT,
    chat_frames_left,
    close_all,
    frames_left,
    next_frame,
    open_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def refusing_new_messages():
    """SQLite refuses to insert a message, as a full disk or a broken file would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER refuse_messages BEFORE INSERT ON chat_message "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_messages")


async def check_failed_write_then_recovery(sender, other, recover):
    """The sender gets not_saved, nobody gets the message, and the socket works on afterwards."""
    await sender.send_to(text_data=chat_frame("lost?", "alice", client_id="first-try"))
    error = await next_frame(sender, "error")
    assert (error["code"], error["client_id"]) == ("not_saved", "first-try")
    assert await chat_frames_left(other) == []
    assert await database_sync_to_async(Message.objects.count)() == 0
    # The failed transaction took no sequence number (and made no room: it had no message).
    assert not await Room.objects.filter(url="faults", last_sequence__gt=0).aexists()

    await recover()
    # The same socket sends again, and everyone gets the message, numbered 1.
    await sender.send_to(text_data=chat_frame("lost?", "alice", client_id="first-try"))
    for communicator in (sender, other):
        frame = await next_frame(communicator, "chat.message")
        assert (frame["message"], frame["sequence"]) == ("lost?", 1)
    assert await database_sync_to_async(Message.objects.count)() == 1


async def test_a_database_that_refuses_the_write_gets_not_saved_and_broadcasts_nothing():
    """A real SQLite failure (a trigger aborts the insert): not_saved, nothing sent, no gap."""
    refusal = refusing_new_messages()
    await database_sync_to_async(refusal.__enter__)()
    try:
        sender = await open_socket("faults", "alice")
        other = await open_socket("faults", "bob")

        async def recover():
            await database_sync_to_async(refusal.__exit__)(None, None, None)

        await check_failed_write_then_recovery(sender, other, recover)
    finally:
        await database_sync_to_async(refusal.__exit__)(None, None, None)
    await sender.disconnect()
    await other.disconnect()


async def test_a_locked_database_gets_not_saved_and_the_socket_stays_usable(monkeypatch):
    """save_messages raising OperationalError ("database is locked"): the same, then recovery."""
    save_messages = store.save_messages

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(store, "save_messages", locked)
    sender = await open_socket("faults", "alice")
    other = await open_socket("faults", "bob")

    async def recover():
        monkeypatch.setattr(store, "save_messages", save_messages)

    await check_failed_write_then_recovery(sender, other, recover)
    await sender.disconnect()
    await other.disconnect()


async def test_a_server_restart_mid_chat_loses_nothing_and_saves_nothing_twice():
    """Killed with a burst on the way, then restarted: clients reconnect with ?after=, resend
    what was not confirmed, and every message is saved once and seen once, in order."""
    room = "restart"
    client_ids = [f"bob-{n}" for n in range(5)]
    server = DaphneServer(connection.settings_dict["NAME"]).start()
    try:
        alice = Listener(await join(server, room, "alice"))
        bob = Listener(await join(server, room, "bob"))
        for n, client_id in enumerate(client_ids):
            await bob.socket.send(chat_frame(f"message {n}", "bob", client_id))
        # The process dies once the first message is out: the others may or may not be saved.
        await alice.wait_until(lambda: alice.messages)
        server.process.kill()
        server.process.wait()
        await asyncio.gather(alice.task, bob.task)
        # Make sure of the worst case too: the last one saved, but its broadcast never sent.
        await database_sync_to_async(store.save_message)(room, "message 4", "bob", None, "bob-4")
        server.start()

        # Each reconnects as room.js does, with the last sequence number it has seen...
        alice_again = Listener(await join(server, room, "alice", after=last_seen(alice)))
        bob_again = Listener(await join(server, room, "bob", after=last_seen(bob)))
        # ...and bob sends again every message the server did not confirm.
        confirmed = {message["client_id"] for message in bob.messages}
        for n, client_id in enumerate(client_ids):
            if client_id not in confirmed:
                await bob_again.socket.send(chat_frame(f"message {n}", "bob", client_id))

        def confirmed_all():
            return {m["client_id"] for m in bob.messages + bob_again.messages} == set(client_ids)

        await bob_again.wait_until(confirmed_all)
        await alice_again.wait_until(lambda: len(alice.messages + alice_again.messages) >= 5)
        # One more message shows that nothing else is still on its way to alice.
        await bob_again.socket.send(chat_frame("after the restart", "bob", "bob-last"))
        await alice_again.wait_until(
            lambda: [m["client_id"] for m in alice_again.messages[-1:]] == ["bob-last"]
        )

        seen = alice.messages + alice_again.messages
        assert [message["sequence"] for message in seen] == [1, 2, 3, 4, 5, 6]
        assert sorted(message["client_id"] for message in seen) == sorted([*client_ids, "bob-last"])
        await alice_again.close()
        await bob_again.close()
    finally:
        server.stop()
    saved = await database_sync_to_async(list)(Message.objects.values_list("client_id", "body"))
    expected = [(client_id, f"message {n}") for n, client_id in enumerate(client_ids)]
    assert sorted(saved) == sorted([*expected, ("bob-last", "after the restart")])


def last_seen(listener):
    """What room.js puts in ?after=: the highest sequence shown, or nothing."""
    return max(listener.sequences, default=None)


async def open_silent_client(server, room, username):
    """A client that completes the handshake and then never reads again: no pong, ever."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        (
            f"GET /ws/chat/{room}/?username={username} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.url}\r\n\r\n"
        ).encode()
    )
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    assert response.startswith(b"HTTP/1.1 101"), response
    return reader, writer


async def next_presence(socket, frame_type, username, timeout=20):
    async with asyncio.timeout(timeout):
        while (frame := await next_frame(socket, frame_type))["user"]["username"] != username:
            pass
    return frame


async def test_a_client_that_never_answers_pings_is_dropped_and_leaves_the_room():
    """Daphne pings every second and gives up after one more: the silent client is cut off and
    the room sees it leave, while a client that answers pings stays and chats on."""
    ping_options = ["--ping-interval", "1", "--ping-timeout", "1"]
    with daphne_server(connection.settings_dict["NAME"], args=ping_options) as server:
        alice = await join(server, "pings", "alice")
        reader, writer = await open_silent_client(server, "pings", "silent")
        await next_presence(alice, "user.joined", "silent")
        await next_presence(alice, "user.left", "silent")

        # The server closed the silent client's connection...
        with suppress(ConnectionResetError):
            async with asyncio.timeout(TIMEOUT):
                while await reader.read(65536):
                    pass
        writer.close()
        # ...and alice, whose client answers pings, is still in the room.
        await alice.send(chat_frame("still here", "alice"))
        assert (await next_frame(alice, "chat.message"))["message"] == "still here"
        await alice.close()
        assert "Traceback" not in server.output()


@pytest.mark.parametrize("closed", [Disconnected("closed protocol"), OSError("closed")])
async def test_a_frame_for_a_socket_that_just_closed_is_dropped_not_raised(closed):
    """Daphne (Disconnected) or uvicorn (OSError) saying "already closed" does not crash the
    consumer: its websocket.disconnect is queued and cleans up; other errors still raise."""
    consumer = ChatConsumer()
    consumer.room_name = "faults"

    async def closed_socket(message):
        raise closed

    consumer.base_send = closed_socket
    await consumer.send(text_data='{"type": "user.left"}')

    async def broken_server(message):
        raise ValueError("a real bug")

    consumer.base_send = broken_server
    with pytest.raises(ValueError):
        await consumer.send(text_data='{"type": "user.left"}')


async def test_a_database_failing_during_connect_closes_with_1011_and_leaves_nothing_behind(
    monkeypatch,
):
    """The room cannot be read: the socket is closed with 1011 (server error, the page retries),
    leaves no channel in the group and no name in the list; the room hears nothing of it."""
    alice = await open_socket("faults", username="alice")

    def database_is_down(*args, **kwargs):
        raise OperationalError("unable to open database file")

    monkeypatch.setattr(store, "room_for", database_is_down)
    communicator = WebsocketCommunicator(
        application, "/ws/chat/faults/?username=bob", [HOST, ORIGIN]
    )
    assert (await communicator.connect(timeout=TIMEOUT))[0]
    assert await communicator.receive_output(timeout=TIMEOUT) == {
        "type": "websocket.close",
        "code": 1011,
    }
    # A frame already on its way is not read: the consumer has stopped (wait() would raise the
    # consumer's error if it had crashed instead).
    await communicator.send_json_to({"message": "hello", "username": "bob"})
    await communicator.wait(timeout=TIMEOUT)
    assert communicator.future.done() and not communicator.future.cancelled()
    layer = get_channel_layer()
    assert len(layer.groups["chat_faults"]) == 1  # alice's channel only
    assert await chat_frames_left(alice) == [] and await frames_left(alice) == []

    monkeypatch.undo()
    bob = await open_socket("faults", username="bob")
    assert set(bob.users) == {"alice", "bob"}
    await close_all(alice, bob)


@pytest.mark.parametrize("failing", ["roster", "layer"])
async def test_a_failure_while_announcing_a_join_leaves_the_socket_working(monkeypatch, failing):
    """Redis fails while the newcomer is listed (the roster) or announced (group_send): the
    newcomer still gets its history and a user list, and chats; the socket stays open."""
    alice = await open_socket("faults", username="alice")
    layer = get_channel_layer()
    group_send = layer.group_send

    async def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is unreachable")

    async def join_announcement_fails(group, event):
        if event["type"] == "presence.join":
            await unreachable()
        await group_send(group, event)

    if failing == "roster":
        monkeypatch.setattr(presence_for(layer).roster, "join", unreachable)
    else:
        monkeypatch.setattr(layer, "group_send", join_announcement_fails)
    bob = await open_socket("faults", username="bob")
    assert "bob" in bob.users
    await bob.send_to(text_data=chat_frame("still works", "bob"))
    for communicator in (alice, bob):
        assert (await next_frame(communicator))["message"] == "still works"
    await close_all(alice, bob)
