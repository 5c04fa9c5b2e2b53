"""Step 4 with its save, join, presence, layer, auth and collector changes undone together: the
ORM saves each message before the next frame is read, and reads what a joining socket needs, in
a trip of its own (so that each arrival is listed and announced on its own), presence events are
nested, the sockets go through Channels' AuthMiddlewareStack, on Channels' InMemoryChannelLayer
(run with its settings), and the garbage collector runs as often as Python has it. Its
dispatch(), CONN_MAX_AGE, the frame built once and gc.freeze() stay as shipped."""

# orm_join joins with the ORM, trip_per_socket in a trip per socket, channels_auth puts
# Channels' AuthMiddlewareStack back, default_gc_thresholds Python's own.
from bench.variants import (  # noqa: F401
    application_with,
    channels_auth,
    default_gc_thresholds,
    orm_join,
    trip_per_socket,
)
from bench.variants.nested_presence import NestedPresenceConsumer
from bench.variants.one_at_a_time import OneAtATimeConsumer
from bench.variants.orm_save import OrmSaveConsumer


class BeforeConsumer(OneAtATimeConsumer, OrmSaveConsumer, NestedPresenceConsumer):
    """Saves each message with the ORM before reading the next; nested presence events."""


application = application_with(BeforeConsumer)
