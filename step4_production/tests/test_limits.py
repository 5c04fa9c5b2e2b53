"""What one client can make the server do: sockets per address, rooms, replays, frame sizes,
a rate that a reconnect does not refill, and the close that ends sustained abuse."""

import asyncio
import json
from types import SimpleNamespace

import pytest
import websockets
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import AsyncClient, override_settings

from chat import consumers, limits, protocol
from chat.limits import MAX_FRAME_LENGTH, FrameGate
from chat.models import Room
from chat.protocol import FrameError
from learning.asgi import application
from tests.reliability_clients import join
from tests.servers import daphne_server
from tests.sockets import (
    HOST,
    ORIGIN,
    TIMEOUT,
    close_all,
    login_cookie,
    next_frame,
    open_socket,
    save_messages,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def socket_from(address, room="lobby"):
    """A handshake from this client address, as the server puts it in scope["client"]."""
    communicator = WebsocketCommunicator(application, f"/ws/chat/{room}/", headers=[HOST, ORIGIN])
    # The scope is read when the application starts, at the first await.
    communicator.scope["client"] = (address, 50000)
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    return communicator if connected else None


async def guest_session_cookie():
    """The Cookie header of a guest's browser once it has opened a room page."""
    client = AsyncClient()
    assert (await client.get("/chat/lobby/")).status_code == 200
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def count_parsing(monkeypatch):
    """The frames the consumer parses from now on, in a list."""
    parsed = []

    def read_frame(text_data=None, bytes_data=None):
        parsed.append(text_data)
        return protocol.read_frame(text_data, bytes_data)

    monkeypatch.setattr(consumers, "read_frame", read_frame)
    return parsed


async def answers(communicator, count):
    """The next `count` chat messages and errors (presence skipped)."""
    return [await next_frame(communicator, None) for _ in range(count)]


# Sockets per address


@override_settings(CHAT_MAX_SOCKETS_PER_ADDRESS=3)
async def test_an_address_holds_at_most_the_limit_of_open_sockets():
    """The fourth socket from one address is refused; another address, or a freed place, is not."""
    first = [await socket_from("203.0.113.1") for _ in range(3)]
    assert all(first)
    assert await socket_from("203.0.113.1") is None
    other = await socket_from("203.0.113.2")
    assert other is not None
    await first[0].disconnect()
    again = await socket_from("203.0.113.1")
    assert again is not None
    await close_all(*first[1:], other, again)


@override_settings(CHAT_MAX_SOCKETS_PER_ADDRESS=0)
async def test_a_limit_of_0_lets_an_address_open_any_number():
    sockets = [await socket_from("203.0.113.1") for _ in range(5)]
    assert all(sockets)
    await close_all(*sockets)


async def test_behind_a_proxy_the_forwarded_address_is_counted():
    """A real Daphne with --proxy-headers, as behind nginx: each client's X-Forwarded-For is its
    address, so two clients of one proxy have a limit each."""
    database = connection.settings_dict["NAME"]
    env = {"CHAT_MAX_SOCKETS_PER_ADDRESS": "2"}
    with daphne_server(database, env=env, args=["--proxy-headers"]) as server:

        class Forwarded:
            url = server.url
            ws_url = server.ws_url

            def __init__(self, address):
                self.origin = {**server.origin, "X-Forwarded-For": address}

        first = [await join(Forwarded("203.0.113.1"), "proxied", "a") for _ in range(2)]
        with pytest.raises(websockets.InvalidStatus) as refused:
            await join(Forwarded("203.0.113.1"), "proxied", "a")
        assert refused.value.response.status_code == 403
        other = await join(Forwarded("203.0.113.2"), "proxied", "b")
        for socket in [*first, other]:
            await socket.close()
        assert "Refused a socket from 203.0.113.1" in server.output()


# Rooms, replays and frames


async def test_a_room_is_saved_with_its_first_message_not_when_joined():
    """Five rooms joined and left: no rows. The first message saves its room."""
    for n in range(5):
        socket = await open_socket(room=f"empty-{n}")
        await socket.disconnect()
    assert await Room.objects.acount() == 0
    alice = await open_socket(room="talk")
    await alice.send_json_to({"message": "hello", "username": "alice"})
    assert (await next_frame(alice))["sequence"] == 1
    assert [room.url async for room in Room.objects.all()] == ["talk"]
    await alice.disconnect()


@override_settings(CHAT_MAX_REPLAY_BYTES=10_000)
async def test_a_replay_is_capped_in_bytes_and_keeps_the_newest():
    """30 messages of 1,000 characters missed: a 10,000-byte replay holds the newest 9, in order,
    and the socket goes on from there."""
    await save_messages("busy", [f"{n:02d}" + "x" * 998 for n in range(30)])
    socket = await open_socket(room="busy", after=0)
    assert [message["sequence"] for message in socket.history] == list(range(22, 31))
    await socket.send_json_to({"message": "still here", "username": "alice"})
    assert (await next_frame(socket))["sequence"] == 31
    await socket.disconnect()


async def test_a_frame_over_the_limit_is_refused_without_being_parsed(monkeypatch):
    """A frame longer than MAX_FRAME_LENGTH gets too_long and is never parsed; one at the limit
    is read as usual."""
    parsed = count_parsing(monkeypatch)
    alice = await open_socket()
    too_long = json.dumps({"message": "x" * MAX_FRAME_LENGTH, "client_id": "big"})
    await alice.send_to(text_data=too_long)
    error = await next_frame(alice, "error")
    assert (error["code"], "client_id" in error, parsed) == ("too_long", False, [])
    at_limit = json.dumps({"message": " " * (MAX_FRAME_LENGTH - 20)})
    await alice.send_to(text_data=at_limit[:MAX_FRAME_LENGTH])
    assert (await next_frame(alice, "error"))["code"] == "invalid_message"
    assert len(parsed) == 1
    await alice.disconnect()


async def test_daphne_as_the_guide_runs_it_drops_a_frame_over_64_kib():
    """daphne --websocket-max-message-size 65536: a bigger frame is never read whole."""
    database = connection.settings_dict["NAME"]
    with daphne_server(database, args=["--websocket-max-message-size", "65536"]) as server:
        mallory = await join(server, "big", "mallory")
        await mallory.send(json.dumps({"message": "x" * 65_536, "username": "mallory"}))
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await mallory.recv()


# The rate limit


@override_settings(CHAT_RATE_LIMIT=1)
async def test_a_rate_limited_frame_is_not_parsed(monkeypatch, clock):
    """Frames past the bucket get rate_limited without being read: only the admitted are."""
    parsed = count_parsing(monkeypatch)
    alice = await open_socket()
    for n in range(6):
        await alice.send_json_to({"message": f"m{n}", "username": "alice", "client_id": f"c{n}"})
    frames = await answers(alice, 6)
    refused = [frame for frame in frames if frame["type"] == "error"]
    assert {frame["code"] for frame in refused} == {"rate_limited"}
    assert not any("client_id" in frame for frame in refused)
    assert len(refused) == 4 and len(parsed) == 2  # A burst of 2, then nothing is read.
    await alice.disconnect()


@pytest.mark.parametrize("who", ["signed-in user", "guest's browser session"])
async def test_a_reconnect_does_not_refill_the_rate_bucket(who, clock):
    """The bucket (a burst of 10 at the default rate; the clock stands still) belongs to the
    user or the browser session, not to the socket: the same cookie on a new socket finds it
    empty."""
    if who == "signed-in user":
        user = await get_user_model().objects.acreate_user("alice", password="unused-password")
        cookie = await login_cookie(user)
    else:
        cookie = await guest_session_cookie()
    first = await open_socket(username="guest", headers=[cookie])
    for n in range(10):
        await first.send_json_to({"message": f"one {n}", "username": "guest"})
    assert {frame["type"] for frame in await answers(first, 10)} == {"chat.message"}
    await first.disconnect()

    second = await open_socket(username="guest", headers=[cookie])
    await second.send_json_to({"message": "two", "username": "guest"})
    assert (await next_frame(second, None))["code"] == "rate_limited"
    # Another browser from the same address has a bucket of its own.
    neighbour = await open_socket(username="neighbour", headers=[await guest_session_cookie()])
    await neighbour.send_json_to({"message": "three", "username": "neighbour"})
    assert (await next_frame(neighbour, None))["type"] == "chat.message"
    await close_all(second, neighbour)


async def test_a_burst_of_40_only_earns_rate_limited_and_the_socket_stays_usable(clock):
    """40 frames at once at the default rate: 10 go through, 30 are refused, nothing closes,
    and a second later a message goes through."""
    alice = await open_socket()
    for n in range(40):
        await alice.send_json_to({"message": f"burst {n}", "username": "alice"})
    frames = await answers(alice, 40)
    assert [frame["type"] for frame in frames].count("chat.message") == 10
    assert [frame.get("code") for frame in frames].count("rate_limited") == 30
    clock.now += 1
    await alice.send_json_to({"message": "after the burst", "username": "alice"})
    assert (await next_frame(alice))["message"] == "after the burst"
    await alice.disconnect()


async def test_a_socket_that_keeps_sending_after_rate_limited_is_closed_with_1008(clock):
    """150 frames at once: past 100 refusals within 10 s, the server closes the socket (1008)."""
    flooder = await open_socket(username="flooder")
    bob = await open_socket(username="bob")
    for n in range(150):
        await flooder.send_json_to({"message": f"flood {n}", "username": "flooder"})
    refused = 0
    while (output := await flooder.receive_output(timeout=TIMEOUT))["type"] == "websocket.send":
        refused += json.loads(output["text"]).get("code") == "rate_limited"
    assert output == {"type": "websocket.close", "code": 1008}
    # 100 refusals were answered; the 101st within 10 s closed the socket, and nothing after.
    assert refused == 100
    assert await flooder.receive_nothing()
    # Nobody else is harmed: bob hears the flooder's few accepted messages, then his own.
    await bob.send_json_to({"message": "still here", "username": "bob"})
    while (frame := await next_frame(bob))["message"] != "still here":
        assert frame["username"] == "flooder"
    await bob.disconnect()


@override_settings(CHAT_RATE_LIMIT=0)
async def test_invalid_frames_get_their_error_and_are_never_closed_for():
    """150 invalid frames, with no rate limit: 150 invalid_json errors, and the socket lives."""
    alice = await open_socket()
    for _ in range(150):
        await alice.send_to(text_data="not JSON")
    assert {frame["code"] for frame in await answers(alice, 150)} == {"invalid_json"}
    await alice.send_json_to({"message": "fine", "username": "alice"})
    assert (await next_frame(alice))["message"] == "fine"
    await alice.disconnect()


@override_settings(CHAT_RATE_LIMIT=5)
def test_only_buckets_that_have_refilled_are_forgotten(monkeypatch):
    """Past MAX_KEPT buckets, a full one is dropped (a new one would be the same); one still
    being emptied is kept, so its owner finds it as they left it."""
    buckets = limits.RateBuckets()
    monkeypatch.setattr(buckets, "MAX_KEPT", 2)
    scope_of = {key: {"session": SimpleNamespace(session_key=key)} for key in "abc"}
    full = buckets.bucket_for(scope_of["a"])
    emptied = buckets.bucket_for(scope_of["b"])
    while emptied.allow():
        pass
    buckets.bucket_for(scope_of["c"])
    assert set(buckets.buckets) == {("session", "b"), ("session", "c")}
    assert buckets.bucket_for(scope_of["b"]) is emptied and full.tokens == full.capacity


class EmptyBucket:
    def allow(self):
        return False


@override_settings(CHAT_MAX_REFUSALS=100)
def test_refusals_older_than_the_window_are_forgotten():
    """100 refusals, 10 s of quiet, 100 more: never abuse. 101 within 10 s: abuse."""
    now = [0.0]
    gate = FrameGate({}, clock=lambda: now[0])
    gate.bucket = EmptyBucket()

    def refuse(times):
        for _ in range(times):
            with pytest.raises(FrameError):
                gate.admit("{}")

    refuse(100)
    now[0] = limits.REFUSAL_WINDOW + 0.1
    refuse(100)
    with pytest.raises(limits.SustainedAbuse):
        gate.admit("{}")


# Failed logins


def test_wrong_passwords_at_the_admin_login_are_locked_out_after_five(client):
    """The fifth wrong password for anna from one address locks her out (429), and the right
    password is refused too for a while. Another user behind the same address still signs in."""
    users = get_user_model().objects
    users.create_user("anna", password="anna-password", is_staff=True)
    users.create_user("bob", password="bob-password", is_staff=True)

    def log_in(username, password):
        return client.post("/admin/login/", {"username": username, "password": password})

    for _ in range(4):
        assert log_in("anna", "wrong").status_code == 200  # The form again, with its error.
    assert log_in("anna", "wrong").status_code == 429
    assert log_in("anna", "anna-password").status_code == 429
    assert log_in("bob", "bob-password").status_code == 302  # Signed in.
