"""ASGI entry point: HTTP goes to Django's views, WebSockets to the chat's consumers.

https://channels.readthedocs.io/en/stable/topics/routing.html
"""

import gc
import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learning.settings")

# Set Django up (settings, app registry) before importing anything that uses models.
django_asgi_app = get_asgi_application()

from chat.identity import SocketAuthMiddlewareStack  # noqa: E402
from chat.limits import SocketsPerAddressLimit  # noqa: E402
from chat.origin import SameOriginValidator  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Refuse handshakes from pages of any other origin, and past the sockets one address
        # may hold; then put the logged-in user in scope["user"] from the session cookie,
        # then route by path.
        "websocket": SameOriginValidator(
            SocketsPerAddressLimit(SocketAuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Everything loaded so far (Django, the apps, the routes) lives as long as the server. Freezing
# it keeps the garbage collector's full passes from walking all of it again and again: those
# passes made the slowest messages slow (docs/performance.md).
# https://docs.python.org/3/library/gc.html#gc.freeze
gc.collect()
gc.freeze()
# The collector also runs after every 700 new objects by default, and a thousand sockets coming
# back make millions of them, almost none of them garbage that only it can free (a reference
# cycle): a third of the server's time went to looking. After every 100,000 it costs little,
# and the cycles are still found, a little later.
gc.set_threshold(100_000, 10, 10)
