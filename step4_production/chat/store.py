"""Reading and writing the chat's rooms and messages: plain, synchronous Django ORM code.

Consumers call these through database_sync_to_async; views call them directly.
"""

from django.db import IntegrityError, transaction
from django.db.models import F

from .models import Message, Room

HISTORY_LENGTH = 50
# A socket that reconnects is sent at most this many of the messages it missed.
MAX_REPLAY = 1000


def join_room(room_name, user):
    """The room (created on first use); a staff user becomes its agent if it has none."""
    room, _ = Room.objects.get_or_create(url=room_name)
    if user.is_staff and room.agent_id is None:
        Room.objects.filter(pk=room.pk, agent=None).update(agent=user)
    return room


def history(room, after=None):
    """What a socket is shown on connecting, oldest first: one query on the message table.

    The room's last HISTORY_LENGTH messages; or, for a socket that reconnects having seen
    messages up to sequence `after`, every message since then (at most MAX_REPLAY).
    """
    messages = Message.objects.filter(room=room).order_by("-sequence")
    if after is None:
        return list(reversed(messages[:HISTORY_LENGTH]))
    return list(reversed(messages.filter(sequence__gt=after)[:MAX_REPLAY]))


def messages_between(room, after, before):
    """The room's messages numbered after `after` and before `before`, oldest first."""
    return list(
        Message.objects.filter(room=room, sequence__gt=after, sequence__lt=before).order_by(
            "sequence"
        )
    )


def save_message(room_name, body, username, user=None, client_id=None, announcement=False):
    """Save a message in its room with the room's next sequence number.

    Returns (message, created). A client_id that was saved before in this room returns that
    first message and False, so a browser that sends the same message twice does not save it
    twice. The database refuses a second (room, sequence) or (room, client_id) outright.
    """
    room, _ = Room.objects.get_or_create(url=room_name)
    if client_id and (earlier := saved_before(room, client_id)):
        return earlier, False
    try:
        with transaction.atomic():
            # The UPDATE locks the room's row until the transaction ends, so two servers saving
            # into one room at once take numbers one after the other.
            Room.objects.filter(pk=room.pk).update(last_sequence=F("last_sequence") + 1)
            room.refresh_from_db(fields=["last_sequence"])
            message = Message.objects.create(
                room=room,
                body=body,
                sentBy=username,
                created_By=user,
                sequence=room.last_sequence,
                client_id=client_id,
                announcement=announcement,
            )
            if user is None and not room.client:
                Room.objects.filter(pk=room.pk, client="").update(client=username)
    except IntegrityError:
        # Another server saved the same client_id between our check and our insert.
        if client_id and (earlier := saved_before(room, client_id)):
            return earlier, False
        raise
    return message, True


def saved_before(room, client_id):
    """The message this room already saved under the browser's client_id, or None."""
    return Message.objects.filter(room=room, client_id=client_id).first()
