"""Sockets that connect together read the database together (chat/arrivals.py): one trip to the
database thread, one read of each room and its history, and for each socket exactly what it
would have read alone."""

import asyncio

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from chat import store
from chat.arrivals import guest_names, last_seen, read_on_arriving, read_on_joining
from tests.sockets import close_all, open_socket, save_messages
from tests.test_database_access import watch_queries


def query(username="", after=None):
    """A socket's query string, parsed, as ChatConsumer.connect() passes it on."""
    parsed = {"username": [username]}
    if after is not None:
        parsed["after"] = [str(after)]
    return parsed


def sequences(answer):
    (name, room, after, messages), error = answer
    assert error is None, error
    return name, room.url, after, [message.sequence for message in messages]


def read_alone(room_name, user, query):
    """What a socket reads in a trip of its own: its room, and store.history() of it."""
    room = store.room_for(room_name)
    after = last_seen(query)
    if after is not None and after > room.last_sequence:
        after = None
    messages = store.history(room, after)
    name = guest_names([(room_name, user, query)])[0]
    return name, room.url, after, [message.sequence for message in messages]


@pytest.mark.django_db
def test_each_socket_gets_what_it_would_read_alone(settings):
    """A history, replays that the room's history holds, one that reaches back further, one
    the replay byte limit cuts, an ?after= beyond the room's last message, a room with no row:
    read together, each answer is the one a trip of its own would give, and each room and its
    history are read once (plus the replay the history cannot give)."""
    settings.CHAT_MAX_REPLAY_BYTES = 300
    for room, bodies in [
        ("big", [f"message {number}" for number in range(1, 61)]),
        ("small", ["one", "two", "three"]),
        ("long", ["x" * 100] * 5),
    ]:
        for body in bodies:
            store.save_message(room, body, "bob")
    arrivals = [
        ("big", AnonymousUser(), query("ann")),
        ("big", AnonymousUser(), query("bob", after=55)),
        # The history starts at 11: 6 to 10 are not in it, so this one is read on its own (as
        # many as fit in 300 bytes); after=10 would not be.
        ("big", AnonymousUser(), query("cat", after=5)),
        ("big", AnonymousUser(), query("dan", after=60)),
        ("big", AnonymousUser(), query("eve", after=999)),
        ("small", AnonymousUser(), query("fay", after=1)),
        ("small", AnonymousUser(), query("gus")),
        ("long", AnonymousUser(), query("hal", after=0)),  # Two fit in 300 bytes.
        ("empty", AnonymousUser(), query("ivy", after=3)),
    ]
    alone = [read_alone(*arrival) for arrival in arrivals]

    with CaptureQueriesContext(connection) as queries:
        together = [sequences(answer) for answer in read_on_joining(arrivals)]

    assert together == alone
    assert together[1][3] == [56, 57, 58, 59, 60] and together[2][3] == list(range(38, 61))
    assert together[4][2] is None and together[7][3] == [4, 5] and together[8][3] == []
    history_reads = [q for q in queries.captured_queries if "chat_message" in q["sql"]]
    room_reads = [q for q in queries.captured_queries if 'FROM "chat_room"' in q["sql"]]
    assert (len(room_reads), len(history_reads)) == (4, 4 + 1)
    # The nine guests' names are checked against the registered users' in one SELECT.
    name_reads = [q for q in queries.captured_queries if "auth_user" in q["sql"]]
    assert len(name_reads) == 1


@pytest.mark.django_db
def test_a_sockets_error_is_its_own():
    """One socket's user cannot be read: that socket gets the error, the others their rooms."""

    class Unreadable:
        @property
        def is_authenticated(self):
            raise DatabaseError("the session table is gone")

    store.save_message("lobby", "hello", "bob")
    answers = read_on_joining(
        [
            ("lobby", AnonymousUser(), query("ann")),
            ("lobby", Unreadable(), query("bob")),
            ("lobby", AnonymousUser(), query("cat")),
        ]
    )
    assert [sequences(answers[number])[3] for number in (0, 2)] == [[1], [1]]
    assert answers[1][0] is None and isinstance(answers[1][1], DatabaseError)


@pytest.mark.django_db(transaction=True)
async def test_sockets_that_arrive_together_make_one_trip(monkeypatch):
    """Five sockets arrive at once in two rooms: one trip to the database thread for all of
    them; a socket that arrives while it runs waits for the next."""
    await save_messages("lobby", ["hello"])
    trips = []
    watch_queries(monkeypatch, trips)
    together = [("lobby", "ann"), ("lobby", "bob"), ("lobby", "cat"), ("garden", "dan")]
    reads = [
        asyncio.ensure_future(read_on_arriving(room, AnonymousUser(), query(name)))
        for room, name in together
    ]
    await asyncio.sleep(0)  # The four wait: the trip takes them all.
    late = asyncio.ensure_future(read_on_arriving("garden", AnonymousUser(), query("eve")))
    answers = await asyncio.gather(*reads, late)
    assert trips == ["read_on_joining"] * 2
    assert [name for name, *_ in answers] == ["ann", "bob", "cat", "dan", "eve"]
    assert [len(messages) for *_, messages in answers] == [1, 1, 1, 0, 0]
    # Each socket has its own room: saving a message changes it.
    assert len({id(room) for _, room, _, _ in answers}) == 5


@pytest.mark.django_db(transaction=True)
async def test_sockets_that_connect_at_once_all_get_their_history():
    """Through the consumer: six sockets connect at once, each gets the room's history."""
    await save_messages("lobby", ["one", "two"])
    sockets = await asyncio.gather(*(open_socket(username=f"u{number}") for number in range(6)))
    assert all([m["message"] for m in s.history] == ["one", "two"] for s in sockets)
    await close_all(*sockets)
