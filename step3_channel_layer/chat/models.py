"""The chat's data, with the original guide's field names (sentBy, createdAt, created_By...)
kept as they are, so that the guide and the code read the same."""

from django.conf import settings
from django.db import models

from .protocol import MAX_MESSAGE_LENGTH, MAX_USERNAME_LENGTH


class Message(models.Model):
    body = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    # A logged-in user's username (up to 150 characters), or the name a guest typed.
    sentBy = models.CharField(max_length=150)
    createdAt = models.DateTimeField(auto_now_add=True)
    # The logged-in user who sent it; empty for guests.
    created_By = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    def __str__(self):
        return f"{self.sentBy}: {self.body[:50]}"

    def to_frame(self):
        """The message as every socket in its room receives it."""
        return {
            "type": "chat.message",
            "id": self.id,
            "message": self.body,
            "username": self.sentBy,
            "authenticated": self.created_By_id is not None,
            "created_at": self.createdAt.isoformat(timespec="microseconds"),
        }


class Room(models.Model):
    # A support chat's two sides: the guest asking for help, the staff member answering.
    client = models.CharField(max_length=MAX_USERNAME_LENGTH, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    messages = models.ManyToManyField(Message, blank=True, related_name="rooms")
    # The room's name, as in /chat/<url>/.
    url = models.CharField(max_length=64, unique=True)
    createdAt = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.url
