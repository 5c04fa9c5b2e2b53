"""Step 4 without gc.freeze(): the collector walks Django's long-lived objects again."""

import gc

from learning.asgi import application  # noqa: F401 - what the server runs

gc.unfreeze()
