"""The chat's data. Field names are the original guide's (sentBy, createdAt, created_By...),
kept so the guide and the code read the same."""

from django.conf import settings
from django.db import models

from .protocol import MAX_MESSAGE_LENGTH, MAX_USERNAME_LENGTH


class Message(models.Model):
    # The room the message was sent in. The database itself keeps a room's numbering and its
    # browser ids unique (Meta.constraints), whichever server process saves the message.
    room = models.ForeignKey("Room", on_delete=models.CASCADE, related_name="messages")
    body = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    # The sender's display name: a logged-in user's username (up to 150 characters, as
    # Django's User allows), or the name an anonymous user typed (up to MAX_USERNAME_LENGTH).
    sentBy = models.CharField(max_length=150)
    createdAt = models.DateTimeField(auto_now_add=True)
    # The logged-in user who sent it; empty for anonymous senders.
    created_By = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="chat_messages",
    )
    # 1, 2, 3... within its room: a socket that receives 5 after 3 knows it missed 4.
    sequence = models.PositiveIntegerField()
    # Chosen by the browser, so that sending the same message again cannot save it twice.
    client_id = models.CharField(max_length=64, null=True, blank=True)
    # Posted by staff from the room page's announcement form.
    announcement = models.BooleanField(default=False)

    class Meta:
        ordering = ["sequence"]
        constraints = [
            models.UniqueConstraint(fields=["room", "sequence"], name="unique_sequence_per_room"),
            # A client_id is the browser's name for a message in one room; NULLs never collide.
            models.UniqueConstraint(fields=["room", "client_id"], name="unique_client_id_per_room"),
        ]

    def __str__(self):
        return f"{self.sentBy}: {self.body[:50]}"

    def to_frame(self):
        """The message as every socket in its room receives it."""
        return {
            "type": "chat.message",
            "id": self.id,
            "sequence": self.sequence,
            "message": self.body,
            "username": self.sentBy,
            "authenticated": self.created_By_id is not None,
            "announcement": self.announcement,
            "client_id": self.client_id,
            "created_at": self.createdAt.isoformat(timespec="microseconds"),
        }


class Room(models.Model):
    # Its messages are Message.room's reverse side: room.messages.all().
    # The first anonymous display name seen in the room.
    client = models.CharField(max_length=MAX_USERNAME_LENGTH, blank=True)
    # The first staff user who joined the room.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agent_rooms",
    )
    # The room's name, as in /chat/<url>/.
    url = models.CharField(max_length=64, unique=True)
    createdAt = models.DateTimeField(auto_now_add=True)
    # The sequence number of the room's newest message.
    last_sequence = models.PositiveIntegerField(default=0)

    def __str__(self):
        return self.url
