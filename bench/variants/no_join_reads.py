"""Step 4 without presence and without reading the database on joining: no history, a room
that looks empty. Not a change to ship: what is left is what step 4's join shares with the
tutorial's (the handshake, the session, group_add), for the reconnect storm's rows."""

from bench.variants import (
    no_presence,  # noqa: F401 - and no presence
    replace,
)
from chat import arrivals
from chat.models import Room
from learning.asgi import application  # noqa: F401 - what the server runs


def read_nothing(sockets):
    answers = []
    for room_name, user, _ in sockets:
        user.is_authenticated  # noqa: B018 - the user is read here, as read_on_joining() reads it
        answers.append(((None, Room(url=room_name), None, []), None))
    return answers


replace(arrivals, "read_on_joining", read_nothing)  # What ChatConsumer.connect()'s trips run.
