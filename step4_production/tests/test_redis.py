"""The chat on several servers: real Daphne processes sharing a real Redis.

Each test starts its own redis-server on a free port and stops it (tests/servers.py); on a
machine without redis-server the tests skip with an install hint, and in CI they fail.
"""

import asyncio
import json
import urllib.request
from contextlib import ExitStack, contextmanager
from urllib.parse import urlencode

import pytest
import websockets
from django.db import connection

from tests.servers import RedisServer, daphne_server, redis_server

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_LAYERS = ["redis", "redis-pubsub"]
# Generous: the machine running the tests may be busy.
TIMEOUT = 10


@contextmanager
def servers(count, layer, redis=None):
    """`count` Daphne servers on free ports, sharing the test database and, if given, Redis."""
    env = {"CHANNEL_LAYER": layer, "CHAT_RATE_LIMIT": "5", "REDIS_URL": redis.url if redis else ""}
    with ExitStack() as stack:
        database = connection.settings_dict["NAME"]
        yield [stack.enter_context(daphne_server(database, env=env)) for _ in range(count)]


class Client:
    """A real WebSocket client in a room that records every frame it receives, in order."""

    def __init__(self, server, room, username, after=None, member=None):
        query = {"username": username, "after": after, "member": member}
        query = {key: value for key, value in query.items() if value is not None}
        self.url = server.ws_url(f"/ws/chat/{room}/?{urlencode(query)}")
        self.origin = server.origin
        self.server = server
        self.username = username
        self.frames = []

    async def __aenter__(self):
        self.socket = await websockets.connect(
            self.url, additional_headers=self.origin, open_timeout=TIMEOUT
        )
        self.reader = asyncio.create_task(self.read())
        # The history, then the user list (its server may gather it with other arrivals').
        await self.wait_for(lambda: self.of_type("user.list"))
        return self

    async def __aexit__(self, *exc_info):
        await self.socket.close()
        await self.reader

    async def read(self):
        try:
            async for text in self.socket:
                self.frames.append(json.loads(text))
        except websockets.ConnectionClosed:
            pass

    async def send(self, message, **fields):
        await self.socket.send(
            json.dumps({"message": message, "username": self.username, **fields})
        )

    def of_type(self, frame_type):
        return [frame for frame in self.frames if frame["type"] == frame_type]

    def messages(self):
        """Every message shown so far, from the history and live, in the order received."""
        shown = [message for history in self.of_type("history") for message in history["messages"]]
        return shown + self.of_type("chat.message")

    def texts(self):
        return [message["message"] for message in self.messages()]

    def error_codes(self):
        return [frame["code"] for frame in self.of_type("error")]

    def users(self):
        """The names in this socket's user list, as room.js keeps it."""
        members = {}
        for frame in self.frames:
            if frame["type"] == "user.list":
                members = {user["id"]: user["username"] for user in frame["users"]}
            elif frame["type"] == "user.joined":
                members[frame["user"]["id"]] = frame["user"]["username"]
            elif frame["type"] == "user.left":
                members.pop(frame["user"]["id"], None)
        return set(members.values())

    async def wait_for(self, condition, timeout=TIMEOUT):
        """Wait until condition() is true, or fail with what this client has received."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    await asyncio.sleep(0.02)
        except TimeoutError:
            pytest.fail(
                f"{self.username} waited {timeout} s in vain; received {self.frames}\n"
                f"server log:\n{self.server.output()[-3000:]}"
            )

    async def wait_for_text(self, text):
        await self.wait_for(lambda: text in self.texts())

    async def wait_closed(self):
        async with asyncio.timeout(TIMEOUT):
            await self.reader
        return self.socket.close_code


async def saved(body):
    """How many times a message with this text was saved."""
    from chat.models import Message

    return await Message.objects.filter(body=body).acount()


def page_status(server):
    """The lobby's HTTP status, or an exception if the server does not answer in time."""
    with urllib.request.urlopen(f"{server.url}/chat/", timeout=TIMEOUT) as response:
        return response.status


@pytest.mark.parametrize("layer", REDIS_LAYERS)
async def test_a_message_through_either_server_reaches_both_clients_once(layer):
    """Two servers, one Redis: presence and messages cross over; each arrives once, saved once."""
    with redis_server() as redis, servers(2, layer, redis) as (first, second):
        async with Client(first, "lobby", "alice") as alice, Client(second, "lobby", "bob") as bob:
            # Each server's user list shows the person on the other server too.
            for client in (alice, bob):
                await client.wait_for(lambda client=client: client.users() == {"alice", "bob"})

            await alice.send("hello through the first server")
            for client in (alice, bob):
                await client.wait_for_text("hello through the first server")
            await bob.send("hello through the second server")
            for client in (alice, bob):
                await client.wait_for_text("hello through the second server")
            # A last message: once it is in, anything sent twice would have arrived before it.
            await alice.send("the end")
            for client in (alice, bob):
                await client.wait_for_text("the end")
                assert client.texts() == [
                    "hello through the first server",
                    "hello through the second server",
                    "the end",
                ]
                assert client.error_codes() == []
            assert [m["id"] for m in alice.messages()] == [m["id"] for m in bob.messages()]
    for body in ("hello through the first server", "hello through the second server", "the end"):
        assert await saved(body) == 1


async def test_idle_sockets_on_both_redis_layers_stay_open_and_receive():
    """A socket left idle for 12 s on either Redis layer is still open, and still receives."""
    with (
        redis_server() as redis,
        servers(1, "redis", redis) as (plain,),
        servers(1, "redis-pubsub", redis) as (pubsub,),
    ):
        async with (
            Client(plain, "quiet", "alice") as alice,
            Client(plain, "quiet", "bob") as bob,
            Client(pubsub, "calm", "carol") as carol,
            Client(pubsub, "calm", "dave") as dave,
        ):
            # Longer than redis-py 8's default 5 s socket timeout, more than twice over.
            await asyncio.sleep(12)
            for client in (alice, bob, carol, dave):
                assert client.socket.close_code is None, f"{client.username}'s socket closed"
            await bob.send("still there?")
            await alice.wait_for_text("still there?")
            await dave.send("still there?")
            await carol.wait_for_text("still there?")
            await alice.send("yes")
            await bob.wait_for_text("yes")
            await carol.send("yes")
            await dave.wait_for_text("yes")


@pytest.mark.parametrize("layer", REDIS_LAYERS)
async def test_redis_stopping_and_returning_loses_nothing_acknowledged(layer):
    """Redis stops under two servers: both stay up; once back, nothing acknowledged is lost."""
    redis = RedisServer().start()
    try:
        with servers(2, layer, redis) as (first, second):
            async with Client(first, "ops", "alice") as alice, Client(second, "ops", "bob") as bob:
                await alice.send("before the outage")
                await bob.wait_for_text("before the outage")

                redis.stop()
                if layer == "redis":
                    # Each server's wait for messages fails: it closes its sockets, and
                    # browsers reconnect.
                    assert await alice.wait_closed() == 1011
                    assert await bob.wait_closed() == 1011
                else:
                    # Pub/sub sockets wait on an in-process queue and stay open. A message
                    # sent now is saved and acknowledged to its sender, with a warning.
                    await alice.send("during the outage")
                    await alice.wait_for(lambda: "not_delivered" in alice.error_codes())
                    assert "during the outage" in alice.texts()
                    assert alice.socket.close_code is None

                # Neither server crashed or hangs: pages load, and a handshake gets an
                # answer (a refusal) rather than silence.
                for server in (first, second):
                    assert server.process.poll() is None
                    assert await asyncio.to_thread(page_status, server) == 200
                    with pytest.raises(websockets.InvalidStatus):
                        async with Client(server, "ops", "carol"):
                            pass

                redis.start()
                acknowledged = [m for m in alice.texts() if m != "before the outage"]
                last_seen = max(m["sequence"] for m in alice.messages())
                # Reconnect as room.js does: saying the last message seen.
                async with (
                    Client(first, "ops", "alice", after=last_seen) as alice_again,
                    Client(second, "ops", "bob", after=0) as bob_again,
                ):
                    assert bob_again.texts() == ["before the outage", *acknowledged]
                    await bob_again.send("after the outage")
                    for client in (alice_again, bob_again):
                        await client.wait_for_text("after the outage")
                    assert alice_again.texts() == ["after the outage"]
                    if layer == "redis-pubsub":
                        # Bob's old socket never closed: the new message's number shows it
                        # the gap, and the server fills it from the database.
                        await bob.wait_for_text("after the outage")
                        assert bob.texts() == [
                            "before the outage",
                            "during the outage",
                            "after the outage",
                        ]
    finally:
        redis.stop()
    for body in ("before the outage", *acknowledged, "after the outage"):
        assert await saved(body) == 1


BAD_FRAMES = [
    ("not json", "invalid_json"),
    ("[1, 2]", "invalid_json"),
    (json.dumps({"username": "alice"}), "invalid_message"),
    (json.dumps({"message": "x" * 2001, "username": "alice"}), "too_long"),
    (json.dumps({"message": "hi", "username": "   "}), "invalid_username"),
    (b"\x00binary", "unsupported_frame"),
]


@pytest.mark.parametrize("layer", ["memory", *REDIS_LAYERS])
async def test_bad_frames_and_the_rate_limit_behave_the_same_on_every_layer(layer):
    """Errors go to their sender alone and save nothing; a flood is cut at the same rate."""
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server()) if layer != "memory" else None
        (server,) = stack.enter_context(servers(1, layer, redis))
        async with Client(server, "rules", "alice") as alice, Client(server, "rules", "bob") as bob:
            for frame, _ in BAD_FRAMES:
                await alice.socket.send(frame)
            await alice.wait_for(lambda: len(alice.error_codes()) == len(BAD_FRAMES))
            assert alice.error_codes() == [code for _, code in BAD_FRAMES]
            # The first message bob hears is the good one sent after the bad frames.
            await alice.send("a good one")
            await bob.wait_for_text("a good one")
            assert bob.texts() == ["a good one"] and bob.error_codes() == []

            # A flood: every frame gets one answer, its message or rate_limited.
            flood = [f"flood {number}" for number in range(30)]
            for text in flood:
                await alice.send(text)
            frames_sent = len(BAD_FRAMES) + 1 + len(flood)
            await alice.wait_for(
                lambda: len(alice.error_codes()) + len(alice.texts()) == frames_sent
            )
            accepted = [text for text in alice.texts() if text.startswith("flood")]
            assert 0 < len(accepted) < len(flood)
            assert alice.error_codes().count("rate_limited") == len(flood) - len(accepted)
            # The bucket refills at 5 frames a second: after a pause, one more gets through.
            await asyncio.sleep(0.5)
            await alice.send("the end")
            # Bob hears exactly the accepted messages, in order, and nothing else.
            await bob.wait_for_text("the end")
            assert bob.texts() == ["a good one", *accepted, "the end"]
            assert bob.error_codes() == []
    for text in flood:
        assert await saved(text) == (1 if text in accepted else 0)
    assert await saved("hi") == await saved("x" * 2001) == 0
