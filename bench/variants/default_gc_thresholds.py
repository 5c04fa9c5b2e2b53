"""Step 4 with the garbage collector's thresholds as Python sets them: a pass after every 700
new objects, not 100,000."""

import gc

from learning.asgi import application  # noqa: F401 - what the server runs

gc.set_threshold(700, 10, 10)
