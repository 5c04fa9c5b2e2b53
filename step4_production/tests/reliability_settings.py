"""tests/live_settings.py, tuned from the environment by the reliability tests.

CHAT_TEST_LAYER_CAPACITY: the channel layer's capacity (tiny, to make group_send drop events).
CHAT_TEST_STATIC_ROOT: where collectstatic puts the static files.
The chat app's INFO lines (a gap filled from the database) go to the server's output.
"""

import os

from tests.live_settings import *  # noqa: F403

if capacity := os.environ.get("CHAT_TEST_LAYER_CAPACITY"):
    CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = int(capacity)  # noqa: F405

if static_root := os.environ.get("CHAT_TEST_STATIC_ROOT"):
    STATIC_ROOT = static_root

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"chat": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
