"""What a socket reads from the database when it connects, read for the sockets that connect
together in one trip to the database thread.

After a server restart every socket is back within a second or two, and each one needs the same
things: its user, a guest's name, its room, and the room's history, which is the same for every
socket of the room. The sockets that arrive while a trip is under way wait for the next one and
go together: one trip for all of them, one read of each room and its history for all of its
sockets, and one check of the guests' names. A socket that arrives alone goes at once.
"""

import asyncio
import copy
import weakref

from channels.db import database_sync_to_async

from . import store
from .identity import registered_names
from .protocol import FrameError, read_username

# Each event loop's sockets waiting for the database thread (asyncio's futures belong to one),
# and the tasks that take them there (asyncio keeps only weak references to a task).
waiting = weakref.WeakKeyDictionary()
trips = set()


async def read_on_arriving(room_name, user, query):
    """(guest name, room, after, messages) for a socket that has joined its room's group.

    The socket joined the group first: a message saved after the read began then arrives
    through the group, as it does for a socket that reads alone.
    """
    loop = asyncio.get_running_loop()
    answer = loop.create_future()
    if loop not in waiting:
        waiting[loop] = []
        trip = asyncio.create_task(make_trips(waiting[loop]))
        trips.add(trip)
        trip.add_done_callback(trips.discard)
    waiting[loop].append((room_name, user, query, answer))
    return await answer


async def make_trips(arrivals):
    """Take every waiting socket to the database thread, then those that came meanwhile."""
    loop = asyncio.get_running_loop()
    taken = []
    try:
        while arrivals:
            taken = arrivals[:]
            del arrivals[:]
            try:
                answers = await database_sync_to_async(read_on_joining)(
                    [arrival[:3] for arrival in taken]
                )
            except Exception as error:  # The database thread itself failed: every socket's.
                answers = [(None, error)] * len(taken)
            for (*_, answer), (result, error) in zip(taken, answers, strict=True):
                if answer.done():  # Its socket stopped waiting (its server is stopping).
                    continue
                if error is None:
                    answer.set_result(result)
                else:
                    answer.set_exception(error)
    finally:
        del waiting[loop]
        for *_, answer in taken + arrivals:  # Left unanswered if this task was cancelled.
            answer.cancel()


def read_on_joining(arrivals):
    """In one trip to the database thread, for each arriving (room name, user, query): the user
    (from the session), a guest's name, the room, and its history or what it missed since
    ?after=. Each room and its history are read once. Returns a (result, None) or (None, exception)
    for each, in order: one socket's error is its own."""
    rooms = {}
    answers = []
    for (room_name, user, query), name in zip(arrivals, guest_names(arrivals), strict=True):
        try:
            if isinstance(name, Exception):
                raise name
            if room_name not in rooms:
                room = store.room_for(room_name)
                rooms[room_name] = room, store.history(room)
            shared, history = rooms[room_name]
            room = copy.copy(shared)  # Each socket's own: saving a message changes it.
            store.join_room(room, user)
            after = last_seen(query)
            if after is not None and after > room.last_sequence:
                after = None  # The browser remembers messages this database never had.
            messages = missed_since(room, after, history)
            answers.append(((name, room, after, messages), None))
        except Exception as error:  # noqa: BLE001 - raised in the socket's own connect()
            answers.append((None, error))
    return answers


def missed_since(room, after, history):
    """What a socket is sent on joining: the room's history, or the messages after `after`,
    taken from the history when it reaches back that far (store.history() reads them else)."""
    if after is None:
        return history
    if len(history) == store.HISTORY_LENGTH and history[0].sequence > after + 1:
        return store.history(room, after)
    missed = [message for message in history if message.sequence > after]
    return list(reversed(store.within_replay_bytes(reversed(missed))))


def guest_names(arrivals):
    """The name each arriving guest gives in its URL (?username=...), or None, also for a
    signed-in user; or the exception that reading its user raised. One SELECT for all of them:
    a registered user's name is not a guest's."""
    names = []
    for _, user, query in arrivals:
        try:
            names.append(None if user.is_authenticated else given_name(query))
        except Exception as error:  # noqa: BLE001 - raised in the socket's own connect()
            names.append(error)
    registered = registered_names({name for name in names if isinstance(name, str)})
    return [None if name in registered else name for name in names]


def given_name(query):
    """The name in a socket's URL (?username=...), normalised, or None."""
    try:
        return read_username({"username": query.get("username", [""])[-1]})
    except FrameError:
        return None


def last_seen(query):
    """The sequence number a reconnecting socket has seen up to (?after=...), or None."""
    value = query.get("after", [""])[-1]
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else None
