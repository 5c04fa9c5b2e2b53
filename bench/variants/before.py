"""Step 4 as it was before its save, history and layer changes: the ORM saves each message and
reads each history, on Channels' InMemoryChannelLayer (run with channels_memory_layer)."""

from bench.variants import orm_history  # noqa: F401 - reads histories with the ORM
from bench.variants.orm_save import application  # noqa: F401 - what the server runs
