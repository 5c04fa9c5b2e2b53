"""Step 4's settings with CHAT_PRESENCE_GATHER = 0: a server lists the arrivals that reach it in
the same moment together, and waits for no others, so the sockets of a room that come back
together are announced to each other in several events."""

from bench.step4_settings import *  # noqa: F403

CHAT_PRESENCE_GATHER = 0
