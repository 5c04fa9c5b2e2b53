"""Step 4 reading what a joining socket needs with queries the ORM builds, as before: the
guest-name check, the room and the history."""

import django

django.setup()  # The store's models need the app registry.

from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Q  # noqa: E402

from bench.variants import replace  # noqa: E402
from chat import arrivals, store  # noqa: E402
from chat.models import Message, Room  # noqa: E402
from learning.asgi import application  # noqa: E402, F401 - what the server runs


def orm_is_registered_name(name):
    same = Q(username__iexact=name) | Q(username__iexact=name.casefold())
    return get_user_model().objects.filter(same).exists()


def orm_registered_names(names):
    """A query for each name, as the check was before the names of a trip went together."""
    return {name for name in names if orm_is_registered_name(name)}


def orm_room_for(room_name):
    return Room.objects.filter(url=room_name).first() or Room(url=room_name)


def orm_history(room, after=None):
    if room.pk is None:
        return []  # No row yet: no messages.
    messages = Message.objects.filter(room=room).order_by("-sequence")
    if after is None:
        return list(reversed(messages[: store.HISTORY_LENGTH]))
    return list(reversed(messages.filter(sequence__gt=after)[: store.MAX_REPLAY]))


# arrivals.read_on_joining() calls these when a socket connects.
replace(arrivals, "registered_names", orm_registered_names)
replace(store, "room_for", orm_room_for)
replace(store, "history", orm_history)
