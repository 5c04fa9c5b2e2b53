"""A rolling restart behind nginx, on PostgreSQL: with messages flowing from several clients,
one server is stopped with SIGTERM and started again, then the other. Nothing is lost, nothing
is saved or shown twice, and every member sees every message in order."""

import asyncio
import json
import random
import time
from urllib.parse import urlencode

import psycopg
import pytest
import websockets

from tests.postgres import migrated_database
from tests.proxy import ProxiedChat

pytestmark = pytest.mark.django_db(transaction=True)

ROOM = "rolling"
CLIENTS = 4
# Seconds between two messages from one client: under the rate limit, with room for resends.
TYPING_INTERVAL = 0.3


class ReconnectingClient:
    """A client that behaves as room.js does: it reconnects by itself (after 0.5 to 1 s, then
    longer) with ?after=<last sequence shown>, sends again every message not yet confirmed, and
    shows each message once, in sequence order."""

    def __init__(self, chat, username):
        self.chat = chat
        self.username = username
        self.shown = []  # sequence numbers, in the order the page shows them
        self.shown_ids = set()
        self.pending = {}  # client_id -> frame, until the server sends the message back
        self.typed = []
        self.errors = []
        self.closes = []
        self.socket = None
        self.task = asyncio.create_task(self.run())

    def url(self):
        query = {"username": self.username}
        if self.shown:
            query["after"] = max(self.shown)
        return self.chat.ws_url(f"/ws/chat/{ROOM}/?{urlencode(query)}")

    async def run(self):
        attempts = 0
        while True:
            try:
                async with websockets.connect(
                    self.url(), additional_headers=self.chat.origin, ssl=self.chat.ssl_context()
                ) as socket:
                    attempts = 0
                    self.socket = socket
                    for frame in list(self.pending.values()):
                        await socket.send(frame)
                    async for text in socket:
                        self.receive(json.loads(text))
            except (OSError, websockets.InvalidStatus, websockets.InvalidHandshake):
                pass  # nginx answered 502, or the connection failed: try again
            except websockets.ConnectionClosed as closed:
                self.closes.append(closed.rcvd.code if closed.rcvd else 1006)
            else:
                self.closes.append(socket.close_code)
            self.socket = None
            delay = min(30, 2**attempts) * random.uniform(0.5, 1)
            attempts += 1
            await asyncio.sleep(delay)

    def receive(self, frame):
        if frame["type"] == "history":
            for message in frame["messages"]:
                self.show(message)
        elif frame["type"] == "chat.message":
            self.show(frame)
        elif frame["type"] == "error":
            self.errors.append(frame)

    def show(self, message):
        self.pending.pop(message["client_id"], None)
        if message["id"] in self.shown_ids:
            return
        self.shown_ids.add(message["id"])
        # As room.js does: a message older than the newest shown goes in its place.
        later = [n for n, sequence in enumerate(self.shown) if sequence > message["sequence"]]
        self.shown.insert(later[0] if later else len(self.shown), message["sequence"])

    async def type(self, text):
        client_id = f"{self.username}-{len(self.typed)}"
        frame = json.dumps({"message": text, "username": self.username, "client_id": client_id})
        self.typed.append(client_id)
        self.pending[client_id] = frame
        if self.socket is not None:
            try:
                await self.socket.send(frame)
            except websockets.ConnectionClosed:
                pass  # sent again after the reconnect

    async def close(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if self.socket is not None:
            await self.socket.close()


async def keep_typing(client, stop):
    while not stop.is_set():
        await client.type(f"{client.username} at {time.monotonic():.3f}")
        await asyncio.sleep(TYPING_INTERVAL)


async def wait_for(condition, timeout, what, clients=()):
    """Wait until condition() holds; fail saying what did not happen, and each client's state."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            states = [
                f"{c.username}: {len(c.shown)} shown, {len(c.pending)} pending, "
                f"open={c.socket is not None}, closes={c.closes}, errors={c.errors[:3]}"
                for c in clients
            ]
            pytest.fail(f"not {what} within {timeout} s: " + "; ".join(states))
        await asyncio.sleep(0.1)


def saved_messages(database_url):
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            "SELECT sequence, client_id FROM chat_message ORDER BY sequence"
        ).fetchall()


async def test_a_rolling_restart_behind_the_proxy_loses_nothing_and_repeats_nothing(tmp_path):
    """Four clients type through nginx while each server in turn gets SIGTERM and comes back:
    every client reconnects by itself; every message typed is saved once, with sequences
    1..N; every client shows all N, once each, in order."""
    with (
        migrated_database("postgresql", tmp_path) as database,
        ProxiedChat(
            database={**database, "DJANGO_SETTINGS_MODULE": "tests.reliability_settings"}
        ) as chat,
    ):
        clients = [ReconnectingClient(chat, f"user{n}") for n in range(CLIENTS)]
        await wait_for(
            lambda: all(c.socket for c in clients), 20, "every client connected", clients
        )
        stop_typing = asyncio.Event()
        typing = [asyncio.create_task(keep_typing(client, stop_typing)) for client in clients]
        try:
            for server in chat.servers:
                await asyncio.sleep(1.5)
                await asyncio.to_thread(server.stop)  # SIGTERM, as a deploy does
                await asyncio.sleep(0.5)
                await asyncio.to_thread(server.start)  # returns once it listens
            await asyncio.sleep(1.5)
        finally:
            stop_typing.set()
            await asyncio.gather(*typing)

        typed = {client_id for client in clients for client_id in client.typed}
        await wait_for(
            lambda: not any(client.pending for client in clients), 20, "confirmed", clients
        )
        await wait_for(
            lambda: all(len(c.shown) == len(typed) for c in clients), 20, "shown", clients
        )
        for client in clients:
            await client.close()
        saved = saved_messages(database["DATABASE_URL"])

    assert [sequence for sequence, _ in saved] == list(range(1, len(typed) + 1))
    assert sorted(client_id for _, client_id in saved) == sorted(typed)
    for client in clients:
        assert client.shown == list(range(1, len(typed) + 1)), client.username
        assert client.errors == []
    # Every client was on a server that stopped: each reconnected by itself at least once,
    # after a clean close (1012: the server is restarting), never a bare drop.
    assert all(client.closes for client in clients)
    assert {code for client in clients for code in client.closes} == {1012}
    # Typing went on through both restarts (at least 5.5 s of it, one message each 0.3 s).
    assert len(typed) >= CLIENTS * 15
