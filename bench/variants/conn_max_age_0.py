"""Step 4's settings with Django's default CONN_MAX_AGE = 0: a new connection for every call."""

from bench.step4_settings import *  # noqa: F403

DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
