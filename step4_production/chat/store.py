"""Reading and writing the chat's rooms and messages: plain, synchronous Django ORM code.

Consumers call these through database_sync_to_async; views call them directly.
"""

import functools

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .limits import newest_within
from .models import Message, Room

HISTORY_LENGTH = 50
# A socket that reconnects is sent at most this many of the messages it missed.
MAX_REPLAY = 1000


def room_for(room_name):
    """The room of a name.

    A room that has no message yet is not in the database: its row is made with its first
    message, so a socket that joins a room and says nothing leaves nothing behind. Sockets read
    this on connecting, so it is a plain SELECT, like history().
    """
    room = next(iter(Room.objects.raw(room_sql(), [room_name])), None)
    return Room(url=room_name) if room is None else room


def join_room(room, user):
    """A staff user who joins a room that has no agent becomes its agent."""
    if user.is_staff and room.pk is not None and room.agent_id is None:
        Room.objects.filter(pk=room.pk, agent=None).update(agent=user)


def history(room, after=None):
    """What a socket is shown on connecting, oldest first: one query on the message table.

    The room's last HISTORY_LENGTH messages; or, for a socket that reconnects having seen
    messages up to sequence `after`, every message since then: at most MAX_REPLAY, the newest
    that fit in CHAT_MAX_REPLAY_BYTES. Sockets read this on connecting (the sockets of a room
    that arrive together, once: arrivals.py), so it is one plain SELECT rather than a query the
    ORM builds anew each time (a third of the cost). A room without a row yet has no messages.
    """
    limit = HISTORY_LENGTH if after is None else MAX_REPLAY
    newest_first = Message.objects.raw(history_sql(), [room.pk, after or 0, limit])
    if after is not None:
        newest_first = within_replay_bytes(newest_first)
    return list(reversed(newest_first))


def within_replay_bytes(newest_first):
    """The newest messages whose text fits in CHAT_MAX_REPLAY_BYTES (0: all of them)."""
    if not settings.CHAT_MAX_REPLAY_BYTES:
        return list(newest_first)
    return newest_within(newest_first, settings.CHAT_MAX_REPLAY_BYTES)


def messages_between(room, after, before):
    """The room's messages numbered after `after` and before `before`, oldest first."""
    room = saved_room(room)
    if room is None:
        return []
    return list(
        Message.objects.filter(room=room, sequence__gt=after, sequence__lt=before).order_by(
            "sequence"
        )
    )


def saved_room(room):
    """The room's row: `room` itself, or, for a room joined before its first message, the row
    saved since then (None if there is none yet)."""
    if room.pk is not None:
        return room
    return Room.objects.filter(url=room.url).first()


def save_message(room, body, username, user=None, client_id=None, announcement=False):
    """Save a message in its room (a Room, or a room's name) with the room's next sequence number.

    Returns (message, created). A client_id that was saved before in this room returns that
    first message and False, so a browser that sends the same message twice does not save it
    twice. The database refuses a second (room, sequence) or (room, client_id) outright.
    """
    return save_messages(room, [(body, client_id)], username, user, announcement)[0]


def save_messages(room, texts, username, user=None, announcement=False):
    """Save one sender's messages, [(body, client_id)], in one transaction: [(message, created)].

    A socket saves every message it sends into one room, so this is two SQL statements in one
    transaction for the first message and one more for each other, not the half a dozen each
    the ORM would run: the room's sequence numbers are taken and read back in one UPDATE ...
    RETURNING, and each row is written in one INSERT (the ORM's field conversions, without its
    query building). A socket that sends faster than its messages are saved has the ones that
    waited saved together (ChatConsumer.save_waiting).
    """
    if isinstance(room, str):
        room, _ = Room.objects.get_or_create(url=room)
    elif room.pk is None:
        # Joined before the room had a message: its row is made now, for this one.
        room.pk = Room.objects.get_or_create(url=room.url)[0].pk
    now = timezone.now()
    messages = [
        Message(
            room=room,
            body=body,
            sentBy=username,
            createdAt=now,
            created_By=user,
            client_id=client_id,
            announcement=announcement,
        )
        for body, client_id in texts
    ]
    # The connection itself rather than django.db.connection, which looks it up anew on each
    # use: the field conversions below use it eight times a message.
    database = transaction.get_connection()
    try:
        with transaction.atomic(), database.cursor() as cursor:
            # The UPDATE locks the room's row until the transaction ends, so two servers saving
            # into one room at once take numbers one after the other.
            cursor.execute(next_sequence_sql(), [len(messages), room.pk])
            row = cursor.fetchone()
            if row is None:
                # The room was deleted (in the admin) while a socket was in it: it starts again.
                room.pk = Room.objects.get_or_create(url=room.url)[0].pk
                cursor.execute(next_sequence_sql(), [len(messages), room.pk])
                row = cursor.fetchone()
            for sequence, message in enumerate(messages, start=row[0] - len(messages) + 1):
                message.room_id, message.sequence = room.pk, sequence
                values = [
                    field.get_db_prep_save(getattr(message, field.attname), database)
                    for field in message_fields()
                ]
                cursor.execute(insert_message_sql(), values)
                message.pk = cursor.fetchone()[0]
            if user is None and not room.client:
                Room.objects.filter(pk=room.pk, client="").update(client=username)
                room.client = username
            if user is not None and user.is_staff and room.agent_id is None:
                Room.objects.filter(pk=room.pk, agent=None).update(agent=user)
                room.agent_id = user.pk
    except IntegrityError:
        # This room saved one of the client_ids before (a resend), or another server just did.
        if len(texts) > 1:
            # Nothing of the batch was saved: each is saved, or found, on its own.
            return [
                save_message(room, body, username, user, client_id, announcement)
                for body, client_id in texts
            ]
        if texts[0][1] and (earlier := saved_before(room, texts[0][1])):
            return [(earlier, False)]
        raise
    room.last_sequence = messages[-1].sequence  # Only once it is committed.
    for message in messages:
        message._state.adding = False
        message._state.db = database.alias
    return [(message, True) for message in messages]


@functools.cache
def room_sql():
    """The room of a name (%s: its url)."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in Room._meta.concrete_fields)
    url = quote(Room._meta.get_field("url").column)
    return f"SELECT {columns} FROM {quote(Room._meta.db_table)} WHERE {url} = %s"


@functools.cache
def history_sql():
    """A room's messages numbered above a sequence, newest first (%s: room id, sequence, limit)."""
    quote = connection.ops.quote_name
    meta = Message._meta
    columns = ", ".join(quote(field.column) for field in meta.concrete_fields)
    room, sequence = (quote(meta.get_field(name).column) for name in ("room", "sequence"))
    return (
        f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {room} = %s AND {sequence} > %s "
        f"ORDER BY {sequence} DESC LIMIT %s"
    )


@functools.cache
def next_sequence_sql():
    """Add to a room's last_sequence and return the new value (%s: how many, the room's id)."""
    quote = connection.ops.quote_name
    table, pk = quote(Room._meta.db_table), quote(Room._meta.pk.column)
    column = quote(Room._meta.get_field("last_sequence").column)
    return f"UPDATE {table} SET {column} = {column} + %s WHERE {pk} = %s RETURNING {column}"


@functools.cache
def message_fields():
    """The columns an INSERT of a Message writes: every one but its id."""
    return [field for field in Message._meta.concrete_fields if not field.primary_key]


@functools.cache
def insert_message_sql():
    """Insert a Message's row and return its id (one %s per column of message_fields())."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in message_fields())
    values = ", ".join(["%s"] * len(message_fields()))
    return (
        f"INSERT INTO {quote(Message._meta.db_table)} ({columns}) VALUES ({values}) "
        f"RETURNING {quote(Message._meta.pk.column)}"
    )


def saved_before(room, client_id):
    """The message this room already saved under the browser's client_id, or None."""
    return Message.objects.filter(room=room, client_id=client_id).first()
