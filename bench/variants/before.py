"""Step 4 with its save, join, presence, layer and auth changes undone together: the ORM saves
each message and reads what a joining socket needs, in a trip of its own, presence events are
nested and arrivals not gathered, the sockets go through Channels' AuthMiddlewareStack, on
Channels' InMemoryChannelLayer (run with before_settings). Its dispatch(), CONN_MAX_AGE, the
frame built once and gc.freeze() stay as shipped."""

# orm_join joins with the ORM, trip_per_socket in a trip per socket, channels_auth puts
# Channels' AuthMiddlewareStack back.
from bench.variants import application_with, channels_auth, orm_join, trip_per_socket  # noqa: F401
from bench.variants.nested_presence import NestedPresenceConsumer
from bench.variants.orm_save import OrmSaveConsumer


class BeforeConsumer(OrmSaveConsumer, NestedPresenceConsumer):
    """Saves with the ORM; nested presence events."""


application = application_with(BeforeConsumer)
