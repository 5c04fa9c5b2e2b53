"""The consumer reaches the database only through database_sync_to_async.

That promise is what lets ChatConsumer.dispatch() leave out Channels' aclose_old_connections()
before every handler: database_sync_to_async closes stale connections itself, around each call.
A query run any other way (sync_to_async, or a thread of its own) would use a connection nobody
checks, and this test fails.
"""

import threading

import pytest
from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.exceptions import SynchronousOnlyOperation
from django.db.backends.utils import CursorWrapper
from django.test import AsyncClient

from chat.identity import SocketAuthMiddlewareStack
from tests.sockets import close_all, login_cookie, next_frame, open_socket, save_messages

pytestmark = pytest.mark.django_db(transaction=True)


def watch_queries(monkeypatch, trips=None):
    """From now on, every SQL statement run, sorted by whether database_sync_to_async ran it:
    (inside, outside), two lists of statements. `trips`, a list, gets the name of each function
    database_sync_to_async runs."""
    calls = threading.local()
    inside, outside = [], []
    thread_handler = DatabaseSyncToAsync.thread_handler
    execute = CursorWrapper._execute_with_wrappers

    def counted_thread_handler(self, *args, **kwargs):
        if trips is not None:
            trips.append(getattr(self.func, "__name__", repr(self.func)))
        calls.depth = getattr(calls, "depth", 0) + 1
        try:
            return thread_handler(self, *args, **kwargs)
        finally:
            calls.depth -= 1

    def sorted_execute(self, sql, *args, **kwargs):
        (inside if getattr(calls, "depth", 0) else outside).append(sql)
        return execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(DatabaseSyncToAsync, "thread_handler", counted_thread_handler)
    monkeypatch.setattr(CursorWrapper, "_execute_with_wrappers", sorted_execute)
    return inside, outside


async def test_every_query_of_a_chat_session_runs_in_database_sync_to_async(monkeypatch):
    """A signed-in user and a guest join, talk, resend, miss a message and reconnect: every
    statement the consumer and the middleware ran went through database_sync_to_async."""
    user = await get_user_model().objects.acreate(username="alice")
    cookie = await login_cookie(user)
    inside, outside = watch_queries(monkeypatch)

    alice = await open_socket(username="alice", headers=[cookie])
    bob = await open_socket(username="bob")
    await bob.send_json_to({"message": "hello", "username": "bob", "client_id": "bob-1"})
    await next_frame(alice), await next_frame(bob)
    await alice.send_json_to({"message": "hi bob", "client_id": "alice-1"})
    await next_frame(alice), await next_frame(bob)
    # A resend of a saved message, and a message saved by "another server" (no group event):
    # the next one shows the gap, which each socket fills from the database.
    await bob.send_json_to({"message": "hello", "username": "bob", "client_id": "bob-1"})
    await next_frame(bob)
    await save_messages("lobby", ["from elsewhere"])
    await bob.send_json_to({"message": "still here?", "username": "bob", "client_id": "bob-2"})
    assert [(await next_frame(alice))["message"] for _ in range(2)] == [
        "from elsewhere",
        "still here?",
    ]
    await close_all(alice)
    again = await open_socket(username="alice", headers=[cookie], after=2)
    assert [message["message"] for message in again.history] == ["from elsewhere", "still here?"]
    await close_all(again, bob)

    assert outside == []
    assert any(sql.startswith("INSERT") for sql in inside)


async def test_a_guest_reads_the_database_in_one_trip_when_it_connects(monkeypatch):
    """Joining is what a server does 1,000 times after a restart: one trip to the database
    thread (not one per question, and none of the middleware's own), and three plain reads:
    the name (WITH names ... SELECT), the room and the history."""
    await save_messages("lobby", ["before"])
    trips = []
    inside, outside = watch_queries(monkeypatch, trips)

    bob = await open_socket(username="bob")

    assert bob.history[0]["message"] == "before" and "bob" in bob.users
    assert trips == ["read_on_joining"]
    assert [sql.split()[0] for sql in inside] == ["WITH", "SELECT", "SELECT"] and outside == []
    await close_all(bob)


async def test_a_socket_with_a_session_reads_its_user_in_the_same_trip(monkeypatch):
    """A signed-in user, a page's guest (the room view gives it a session), a key that names
    no session, and cookies that cannot be a key: each socket still makes one trip, its user
    read from the session in it."""
    user = await get_user_model().objects.acreate(username="alice")
    signed_in = await login_cookie(user)
    page = AsyncClient()
    await page.get("/chat/lobby/")
    cookies = [f"sessionid={page.cookies['sessionid'].value}".encode()]
    cookies += [b"sessionid=nosuchkey", b"sessionid=", b"sessionid=short"]
    trips = []
    inside, outside = watch_queries(monkeypatch, trips)

    alice = await open_socket(username="alice", headers=[signed_in])
    names = ["bob", "carol", "dave", "erin"]
    sockets = [
        await open_socket(username=name, headers=[(b"cookie", cookie)])
        for name, cookie in zip(names, cookies, strict=True)
    ]

    assert trips == ["read_on_joining"] * 5
    assert all(sql.startswith(("SELECT", "WITH")) for sql in inside) and outside == []
    assert alice.users["alice"]["authenticated"] is True
    assert not any(sockets[-1].users[name]["authenticated"] for name in names)
    await close_all(alice, *sockets)


async def test_a_sockets_user_is_never_read_in_the_event_loop():
    """Read first anywhere but the database thread, scope["user"] raises instead of running a
    query in the event loop, and says where to read it; without a session too, so that a test
    without a cookie finds the mistake. In the database thread it is the session's user."""
    user = await get_user_model().objects.acreate(username="alice")
    users = []

    async def inner(scope, receive, send):
        users.append(scope["user"])

    stack = SocketAuthMiddlewareStack(inner)
    for cookie in (await login_cookie(user), (b"cookie", b"")):
        await stack({"type": "websocket", "headers": [cookie]}, None, None)
    for user in users:
        with pytest.raises(SynchronousOnlyOperation, match="read_on_joining"):
            user.is_authenticated  # noqa: B018 - reading it is the test
    assert await database_sync_to_async(lambda: users[0].username)() == "alice"
    assert await database_sync_to_async(lambda: users[1].is_authenticated)() is False


async def test_a_signed_in_message_is_checked_and_saved_in_one_trip(monkeypatch):
    """Each message of a signed-in user reads its session again before it is saved (the agent of
    a room of two sends half its messages): both in one trip to the database thread."""
    user = await get_user_model().objects.acreate(username="alice")
    alice = await open_socket(username="alice", headers=[await login_cookie(user)])
    trips = []
    inside, outside = watch_queries(monkeypatch, trips)

    await alice.send_json_to({"message": "hello", "client_id": "alice-1"})

    assert (await next_frame(alice))["authenticated"] is True
    assert trips == ["save_from_sender"]
    assert any(sql.startswith("INSERT") for sql in inside) and outside == []
    await close_all(alice)
