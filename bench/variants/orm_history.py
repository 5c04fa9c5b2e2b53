"""Step 4 reading a joining socket's history with a query the ORM builds, as before."""

import django

django.setup()  # The store's models need the app registry.

from chat import store  # noqa: E402
from chat.models import Message  # noqa: E402
from learning.asgi import application  # noqa: E402, F401 - what the server runs


def orm_history(room, after=None):
    messages = Message.objects.filter(room=room).order_by("-sequence")
    if after is None:
        return list(reversed(messages[: store.HISTORY_LENGTH]))
    return list(reversed(messages.filter(sequence__gt=after)[: store.MAX_REPLAY]))


store.history = orm_history  # The consumer calls store.history() when a socket connects.
