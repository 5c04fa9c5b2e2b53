"""The classic proxy mistakes, reproduced: nginx.conf without the upgrade headers and without
X-Forwarded-Proto, as it is often first written. What the browser, nginx and Django say."""

import asyncio
import http.cookiejar
import re
import urllib.parse
import urllib.request

import pytest
import websockets
from django.contrib.auth import get_user_model

from tests.proxy import ProxiedChat, replace_once
from tests.test_proxy import trust_this_run

pytestmark = pytest.mark.django_db(transaction=True)

LEFT_OUT = (
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Connection $connection_upgrade;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
)


def without_upgrade_and_proto(config):
    for line in LEFT_OUT:
        config = replace_once(config, line, "")
    return config


@pytest.fixture
def naive_proxy():
    """One server behind the naive config, with DEBUG on so that its pages give the reason,
    and no DJANGO_HTTPS: nothing tells Django that the browser used https."""
    with ProxiedChat(
        settings={"DJANGO_HTTPS": "0", "DJANGO_DEBUG": "1"},
        edit_config=without_upgrade_and_proto,
        one_server=True,
    ) as chat:
        yield chat


def log_in(chat, username, password):
    """The admin's login form, as a browser posts it: (status, final URL, page)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar),
        urllib.request.HTTPSHandler(context=chat.ssl_context()),
    )
    login = f"{chat.url}/admin/login/"
    with opener.open(login, timeout=15) as response:
        form = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    headers = {"Origin": chat.url, "Referer": login}
    try:
        with opener.open(urllib.request.Request(login, data, headers), timeout=15) as response:
            return response.status, response.url, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, login, error.read().decode()


async def test_without_the_upgrade_headers_the_handshake_gets_djangos_404(naive_proxy, browser):
    """nginx passes the handshake on as a plain GET: Django answers 404, nginx logs the 404,
    the client sees the handshake fail, and Chromium's console says so."""
    with pytest.raises(websockets.InvalidStatus) as failed:
        await websockets.connect(
            naive_proxy.ws_url("/ws/chat/lobby/?username=alice"),
            additional_headers=naive_proxy.origin,
            ssl=naive_proxy.ssl_context(),
        )
    assert failed.value.response.status_code == 404
    logged = 'GET /ws/chat/lobby/?username=alice HTTP/1.1" 404'
    assert logged in naive_proxy.nginx.access_log(containing=logged)

    def console_after_opening_a_room():
        trust_this_run(browser)
        browser.get(f"{naive_proxy.url}/chat/lobby/")
        return [entry["message"] for entry in browser.get_log("browser")]

    for _ in range(50):
        console = await asyncio.to_thread(console_after_opening_a_room)
        if any("WebSocket" in line for line in console):
            break
        await asyncio.sleep(0.2)
    assert any(
        re.search(
            rf"WebSocket connection to 'wss://127\.0\.0\.1:{naive_proxy.port}/ws/chat/lobby/"
            r"\?username=[^']+' failed: Error during WebSocket handshake: "
            r"Unexpected response code: 404",
            line,
        )
        for line in console
    ), console


async def test_without_x_forwarded_proto_the_admin_login_is_refused_until_the_origin_is_trusted(
    naive_proxy,
):
    """Django believes it is served over http, so the https Origin of the login form does not
    match: 403. DJANGO_CSRF_TRUSTED_ORIGINS naming the proxy's address lets the login in."""
    await get_user_model().objects.acreate_superuser("anna", "anna@example.com", "pw-for-anna")
    status, _, page = await asyncio.to_thread(log_in, naive_proxy, "anna", "pw-for-anna")
    assert status == 403
    assert "CSRF verification failed. Request aborted." in page
    reason = f"Origin checking failed - {naive_proxy.url} does not match any trusted origins."
    assert reason in page

    server = naive_proxy.servers[0]
    server.stop()
    server.environment = {**server.environment, "DJANGO_CSRF_TRUSTED_ORIGINS": naive_proxy.url}
    server.start()
    status, url, page = await asyncio.to_thread(log_in, naive_proxy, "anna", "pw-for-anna")
    assert (status, url) == (200, f"{naive_proxy.url}/admin/")
    assert "Log out" in page
