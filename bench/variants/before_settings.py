"""The settings before.py runs with: Channels' InMemoryChannelLayer (channels_memory_layer), and
arrivals not gathered (no_gathering)."""

from bench.variants.channels_memory_layer import *  # noqa: F403
from bench.variants.no_gathering import CHAT_PRESENCE_GATHER  # noqa: F401
