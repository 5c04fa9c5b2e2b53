"""Which pages may open a socket: the site's own, decided as Django's CSRF check decides for a
form that is posted.

A browser sends its cookies with a WebSocket handshake whatever page opens it, and the
handshake is not protected by CSRF tokens: the Origin header is the only sign of who asks.
https://docs.djangoproject.com/en/5.2/ref/csrf/#how-it-works
"""

import io
import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.utils.http import is_same_domain

logger = logging.getLogger(__name__)


class HandshakeRequest(ASGIRequest):
    """A handshake read the way Django reads an HTTP request from the same scope.

    So get_host() checks the Host header against ALLOWED_HOSTS, and is_secure() honours
    SECURE_PROXY_SSL_HEADER behind a TLS proxy, exactly as they do for the site's pages.
    """

    def __init__(self, scope):
        super().__init__({**scope, "method": "GET"}, io.BytesIO())

    def _get_scheme(self):
        # wss is to ws what https is to http.
        return "https" if self.scope.get("scheme") in ("wss", "https") else "http"


def refusal(scope):
    """Why this handshake must be refused, or None when a page of this site opened it."""
    request = HandshakeRequest(scope)
    origin = request.headers.get("Origin")
    if not origin:
        return "no Origin header"
    try:
        host = request.get_host()
    except DisallowedHost as error:
        return str(error)  # The same Host gets 400 over HTTP.
    if origin == f"{request.scheme}://{host}" or is_trusted(origin):
        return None
    return f"Origin {origin!r} is neither {request.scheme}://{host} nor in CSRF_TRUSTED_ORIGINS"


def is_trusted(origin):
    """Listed in CSRF_TRUSTED_ORIGINS, exactly or under an entry like https://*.example.com."""
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:  # Not a URL at all, e.g. "http://[".
        return False
    return any(
        is_same_domain(parsed.netloc, urlsplit(trusted).netloc.lstrip("*"))
        for trusted in settings.CSRF_TRUSTED_ORIGINS
        if "*" in trusted and urlsplit(trusted).scheme == parsed.scheme
    )


class SameOriginValidator:
    """ASGI middleware: a socket handshake from any other origin is refused (HTTP 403)."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and (reason := refusal(scope)):
            logger.warning("Refused a socket to %s: %s", scope["path"], reason)
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
