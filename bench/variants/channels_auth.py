"""Step 4 with Channels' AuthMiddlewareStack: a trip to the database thread at every handshake,
a guest's too, and the session looked at before every frame a socket sends."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter

from chat.limits import SocketsPerAddressLimit
from learning.asgi import application

limit = application.application_mapping["websocket"].application
assert isinstance(limit, SocketsPerAddressLimit)
router = limit.application.inner.inner.inner  # Cookies, then the session, then the user.
assert isinstance(router, URLRouter)
limit.application = AuthMiddlewareStack(router)
