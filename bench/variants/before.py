"""Step 4 with its save, join, presence, layer and auth changes undone together: the ORM saves
each message and reads what a joining socket needs, presence events are nested, the sockets go
through Channels' AuthMiddlewareStack, on Channels' InMemoryChannelLayer (run with
channels_memory_layer). The consumer's single trip on joining, its dispatch(), CONN_MAX_AGE, the
frame built once and gc.freeze() stay as shipped."""

# orm_join joins with the ORM, channels_auth puts Channels' AuthMiddlewareStack back.
from bench.variants import application_with, channels_auth, orm_join  # noqa: F401
from bench.variants.nested_presence import NestedPresenceConsumer
from bench.variants.orm_save import OrmSaveConsumer


class BeforeConsumer(OrmSaveConsumer, NestedPresenceConsumer):
    """Saves with the ORM; nested presence events."""


application = application_with(BeforeConsumer)
