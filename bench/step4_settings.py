"""step4_production's own settings, with the database moved to the benchmark's temp file.

Nothing else changes: the benchmark runs step 4 as shipped. The runner sets BENCH_DATABASE
(a fresh file per run) and CHAT_RATE_LIMIT=0, DJANGO_DEBUG=0 in the environment.
"""

import os

from learning.settings import *  # noqa: F403

DATABASES["default"]["NAME"] = os.environ["BENCH_DATABASE"]  # noqa: F405
