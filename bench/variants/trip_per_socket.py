"""Step 4 with a trip to the database thread for each joining socket, as before: each one reads
its room and the room's history itself, whoever arrived with it."""

import django

django.setup()  # The consumer's models need the app registry.

from channels.db import database_sync_to_async  # noqa: E402

from bench.variants import replace  # noqa: E402
from chat import arrivals, consumers  # noqa: E402
from learning.asgi import application  # noqa: E402, F401 - what the server runs


async def read_alone(room_name, user, query):
    [(result, error)] = await database_sync_to_async(arrivals.read_on_joining)(
        [(room_name, user, query)]
    )
    if error is not None:
        raise error
    return result


replace(consumers, "read_on_arriving", read_alone)  # What ChatConsumer.connect() calls.
