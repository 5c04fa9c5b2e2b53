"""Step 4's settings with Channels' own InMemoryChannelLayer: a task and a deep copy per member."""

from bench.step4_settings import *  # noqa: F403

CHANNEL_LAYERS["default"]["BACKEND"] = "channels.layers.InMemoryChannelLayer"  # noqa: F405
