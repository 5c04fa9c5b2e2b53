"""The chat's database code, plain and synchronous: the consumer runs it with
database_sync_to_async, and the announcement view calls it directly."""

from .models import Message, Room

HISTORY_LENGTH = 50


def history(room_name):
    """The room's last HISTORY_LENGTH messages, oldest first, as frames."""
    latest = Message.objects.filter(rooms__url=room_name).order_by("-id")
    return [message.to_frame() for message in reversed(latest[:HISTORY_LENGTH])]


def save_message(room_name, body, username, user):
    """Save a message in its room (created on first use) and return it as a frame."""
    room, _ = Room.objects.get_or_create(url=room_name)
    sender = user if user.is_authenticated else None
    message = Message.objects.create(body=body, sentBy=username, created_By=sender)
    room.messages.add(message)
    return message.to_frame()
