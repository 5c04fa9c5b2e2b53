"""learning.settings for a test server in another process: the test's database file, or
the DATABASE_URL it was given."""

import os

from learning.settings import *  # noqa: F403

if not DATABASE_URL:  # noqa: F405 (a server on the test's PostgreSQL keeps its URL)
    DATABASES["default"]["NAME"] = os.environ["CHAT_TEST_DATABASE"]  # noqa: F405
