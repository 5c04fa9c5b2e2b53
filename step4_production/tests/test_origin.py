"""The origin check: a socket opens only from the site's own pages, decided as Django's CSRF
check decides for a form posted with the same Host, Origin and scheme."""

import json

import pytest
import websockets
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.middleware.csrf import CsrfViewMiddleware
from django.test import Client, RequestFactory, override_settings

from learning.asgi import application
from tests.servers import UvicornServer
from tests.sockets import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)

PROXY = {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}
PROXY_HOSTS = {**PROXY, "ALLOWED_HOSTS": ["chat.example.com"]}
TRUSTED = {"CSRF_TRUSTED_ORIGINS": ["https://*.example.com", "http://localhost:3000"]}

# (Host, Origin, the socket's scheme, other headers, settings, accepted?)
CASES = {
    "the page's own origin": ("localhost", "http://localhost", "ws", {}, {}, True),
    "own origin with its port": ("127.0.0.1:8100", "http://127.0.0.1:8100", "ws", {}, {}, True),
    "another port of the same host": (
        "127.0.0.1:8100",
        "http://127.0.0.1:9999",
        "ws",
        {},
        {},
        False,
    ),
    "another site": ("localhost", "http://evil.example", "ws", {}, {}, False),
    "a look-alike host": ("localhost", "http://localhost.evil.example", "ws", {}, {}, False),
    "an https page, a ws socket": ("localhost", "https://localhost", "ws", {}, {}, False),
    "an https page, a wss socket": ("localhost", "https://localhost", "wss", {}, {}, True),
    "an http page, a wss socket": ("localhost", "http://localhost", "wss", {}, {}, False),
    "the default port spelt out": ("localhost", "http://localhost:80", "ws", {}, {}, False),
    "null": ("localhost", "null", "ws", {}, {}, False),
    "a Host not in ALLOWED_HOSTS": ("evil.example", "http://evil.example", "ws", {}, {}, False),
    "our Origin, a Host not ours": ("evil.example", "http://localhost", "ws", {}, {}, False),
    "behind a TLS proxy": (
        "chat.example.com",
        "https://chat.example.com",
        "ws",
        {"X-Forwarded-Proto": "https"},
        PROXY_HOSTS,
        True,
    ),
    "behind a TLS proxy, an http page": (
        "chat.example.com",
        "http://chat.example.com",
        "ws",
        {"X-Forwarded-Proto": "https"},
        PROXY_HOSTS,
        False,
    ),
    "X-Forwarded-Proto not trusted": (
        "localhost",
        "https://localhost",
        "ws",
        {"X-Forwarded-Proto": "https"},
        {},
        False,
    ),
    "a trusted subdomain": ("localhost", "https://app.example.com", "ws", {}, TRUSTED, True),
    "a trusted origin": ("localhost", "http://localhost:3000", "ws", {}, TRUSTED, True),
    "trusted for https, not http": (
        "localhost",
        "http://app.example.com",
        "ws",
        {},
        TRUSTED,
        False,
    ),
    "not a URL": ("localhost", "http://[", "ws", {}, TRUSTED, False),
}


def handshake(host, origin, scheme="ws", headers=None):
    """A communicator for a handshake with these headers, as a server would pass it on."""
    headers = {"Host": host, **({"Origin": origin} if origin is not None else {}), **headers}
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/lobby/",
        headers=[(name.lower().encode(), value.encode()) for name, value in headers.items()],
    )
    # The scope is read when the application starts, at the first await below.
    communicator.scope["scheme"] = scheme
    return communicator


async def socket_accepted(host, origin, scheme="ws", headers=None):
    communicator = handshake(host, origin, scheme, headers or {})
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    await communicator.disconnect()
    return connected


def django_accepts_a_form(host, origin, scheme, headers):
    """Whether Django would take a form posted with this Host, Origin and scheme: a Host that
    get_host() refuses gets 400 before any view, then the CSRF check compares the Origin."""
    request = RequestFactory().post(
        "/chat/lobby/announce/",
        {"csrfmiddlewaretoken": "a" * 32},
        headers={"Host": host, "Origin": origin, **headers},
        secure=scheme == "wss",
    )
    request.COOKIES[settings.CSRF_COOKIE_NAME] = "a" * 32
    try:
        request.get_host()
    except DisallowedHost:
        return False
    csrf = CsrfViewMiddleware(lambda request: None)
    return csrf.process_view(request, lambda request: None, (), {}) is None


@pytest.mark.parametrize(
    ("host", "origin", "scheme", "headers", "overrides", "accepted"),
    list(CASES.values()),
    ids=list(CASES),
)
async def test_a_socket_opens_exactly_where_django_would_take_a_form(
    host, origin, scheme, headers, overrides, accepted
):
    """Same Host, Origin and scheme: the handshake and Django's CSRF check agree, every case."""
    with override_settings(**overrides):
        assert django_accepts_a_form(host, origin, scheme, headers) is accepted
        assert await socket_accepted(host, origin, scheme, headers) is accepted


@pytest.mark.parametrize("origin", [None, ""], ids=["no Origin", "an empty Origin"])
async def test_a_handshake_without_an_origin_is_refused(origin):
    """A form needs a CSRF token where it has no Origin; a socket has no token: it is refused."""
    assert await socket_accepted("localhost", origin) is False


async def test_a_handshake_without_a_host_is_refused():
    """HTTP/1.1 always sends Host; a handshake without one names no site of ours."""
    communicator = WebsocketCommunicator(
        application, "/ws/chat/lobby/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert not connected


def test_the_host_a_socket_is_refused_for_gets_400_over_http():
    """The same Host header over plain HTTP: Django's own answer, 400."""
    assert Client().get("/chat/", headers={"Host": "evil.example"}).status_code == 400
    assert Client().get("/chat/", headers={"Host": "localhost"}).status_code == 200


async def test_behind_a_tls_proxy_uvicorn_takes_the_scheme_from_the_proxy():
    """uvicorn --proxy-headers, as behind nginx: the proxy's X-Forwarded-Proto: https makes the
    socket wss, so the https page's socket opens and an http page's does not."""
    database = connection.settings_dict["NAME"]
    with UvicornServer(database, args=["--proxy-headers"]) as server:
        https_page = f"https://127.0.0.1:{server.port}"
        headers = {"Origin": https_page, "X-Forwarded-Proto": "https"}
        async with websockets.connect(
            server.ws_url("/ws/chat/lobby/"), additional_headers=headers
        ) as socket:
            assert json.loads(await socket.recv())["type"] == "history"
        for headers in (
            {"Origin": f"http://127.0.0.1:{server.port}", "X-Forwarded-Proto": "https"},
            {"Origin": https_page},  # Not through the proxy: plain ws.
        ):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await websockets.connect(
                    server.ws_url("/ws/chat/lobby/"), additional_headers=headers
                )
            assert refused.value.response.status_code == 403
