"""Step 4 as it was before its performance work: the ORM saves each message and reads what a
joining socket needs, presence events are nested, the sockets go through Channels'
AuthMiddlewareStack, on Channels' InMemoryChannelLayer (run with channels_memory_layer). Of the
performance work, only the consumer's single trip to the database thread on joining stays."""

# orm_join joins with the ORM, channels_auth puts Channels' AuthMiddlewareStack back.
from bench.variants import application_with, channels_auth, orm_join  # noqa: F401
from bench.variants.nested_presence import NestedPresenceConsumer
from bench.variants.orm_save import OrmSaveConsumer


class BeforeConsumer(OrmSaveConsumer, NestedPresenceConsumer):
    """Saves with the ORM; nested presence events."""


application = application_with(BeforeConsumer)
