"""The settings before.py runs with: Channels' InMemoryChannelLayer, and arrivals not gathered
(CHAT_PRESENCE_GATHER = 0)."""

from bench.variants.channels_memory_layer import *  # noqa: F403

CHAT_PRESENCE_GATHER = 0
