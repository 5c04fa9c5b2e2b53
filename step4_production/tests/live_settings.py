"""learning.settings for a test server in another process: the test's database file."""

import os

from learning.settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["CHAT_TEST_DATABASE"]  # noqa: F405
