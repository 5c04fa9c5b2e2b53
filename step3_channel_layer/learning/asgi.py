"""ASGI entry point: HTTP goes to Django's views, WebSockets to the chat's consumers.

https://channels.readthedocs.io/en/stable/topics/routing.html
"""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learning.settings")

# Set Django up (settings, app registry) before importing anything that uses models.
django_asgi_app = get_asgi_application()

from chat.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Refuse handshakes from pages on other sites, then put the logged-in user in
        # scope["user"] from the session cookie, then route by path.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
