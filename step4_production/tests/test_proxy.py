"""The chat behind nginx (deploy/nginx.conf) with TLS, on two servers sharing Redis: pages,
static files and sockets over https and wss, in a plain client and in Chromium."""

import asyncio
import re
import urllib.error
import urllib.request
from http.cookies import SimpleCookie

import pytest
import websockets
from django.contrib.auth import get_user_model
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from chat.models import Message
from deploy.proxy import SERVER_COMMAND
from tests.proxy import ProxiedChat, replace_once
from tests.reliability_clients import Listener, chat_frame, join
from tests.test_browser import enter_room, messages, new_window, send, socket_state, wait_for
from tests.test_production import PRODUCTION_COMMAND

pytestmark = pytest.mark.django_db(transaction=True)

# Short, so that a test can wait longer than it: the servers ping every half second.
READ_TIMEOUT = 2


def short_read_timeout(config):
    return replace_once(config, "proxy_read_timeout 60s;", f"proxy_read_timeout {READ_TIMEOUT}s;")


@pytest.fixture(scope="module")
def proxied_chat(django_db_setup, django_db_blocker):
    """nginx, two servers and Redis for the whole module, with HSTS on for a minute."""
    with django_db_blocker.unblock():
        chat = ProxiedChat(
            settings={"DJANGO_HSTS_SECONDS": "60"},
            edit_config=short_read_timeout,
            ping_interval=0.5,
        )
        with chat:
            yield chat


def test_the_servers_behind_the_proxy_run_the_production_command():
    """deploy/proxy.py's server command is the production command of tests/test_production.py
    with one worker each, trusting the proxy's address: change one, change the other."""

    def options(command):
        """{option: its value, or None for a flag}, without --workers."""
        found, words = {}, command[2:]
        for n, word in enumerate(words):
            if word.startswith("--"):
                value = words[n + 1] if n + 1 < len(words) else None
                found[word] = None if value is None or value.startswith("--") else value
        found.pop("--workers", None)
        return found

    assert SERVER_COMMAND[:2] == PRODUCTION_COMMAND[:2]
    expected = {**options(PRODUCTION_COMMAND), "--forwarded-allow-ips": "127.0.0.1"}
    assert options(SERVER_COMMAND) == expected


def fetch(url, context, data=None, headers=None):
    """(status, headers, body) of a request that follows no redirect."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=15) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def upstream_of_sockets(nginx, room):
    """{username: the server's address} for each socket of the room in nginx's access log
    (where a socket is written once it has closed)."""
    found = re.findall(
        rf'"GET /ws/chat/{room}/\?username=(\w+)[^"]*" 101 .* upstream=(\S+)', nginx.access_log()
    )
    return dict(found)


async def test_pages_and_static_files_come_over_https_and_http_is_redirected(proxied_chat):
    """The lobby, a room and room.js over https; HSTS and secure cookies; plain http answers
    with a redirect to the same path over https."""
    chat, context = proxied_chat, proxied_chat.ssl_context()
    status, headers, body = await asyncio.to_thread(fetch, f"{chat.url}/chat/", context)
    assert status == 200 and 'id="room-name-input"' in body
    assert headers["Strict-Transport-Security"] == "max-age=60"
    status, headers, body = await asyncio.to_thread(fetch, f"{chat.url}/chat/proxied/", context)
    assert status == 200 and "chat/room.js" in body
    # nginx sends the static files itself: no server is asked.
    status, headers, body = await asyncio.to_thread(
        fetch, f"{chat.url}/static/chat/room.js", context
    )
    assert (status, headers["Content-Type"]) == (200, "text/javascript")
    assert headers["Cache-Control"] == "no-cache"
    logged = 'GET /static/chat/room.js HTTP/1.1" 200'
    assert logged in chat.nginx.access_log(containing=logged)
    assert "upstream=- " in chat.nginx.access_log()
    # The admin's login form sets the CSRF cookie, over HTTPS only.
    status, headers, _ = await asyncio.to_thread(fetch, f"{chat.url}/admin/login/", context)
    assert status == 200
    cookie = SimpleCookie(headers["Set-Cookie"])["csrftoken"]
    assert cookie["secure"] is True

    plain = f"http://127.0.0.1:{chat.http_port}/chat/proxied/?a=1"
    status, headers, _ = await asyncio.to_thread(fetch, plain, None)
    assert status == 301
    assert headers["Location"] == f"{chat.url}/chat/proxied/?a=1"


async def test_sockets_over_wss_on_both_servers_hear_each_other_once(proxied_chat):
    """Two clients through the proxy land on different servers (nginx's log says which) and
    each receives every message once."""
    alice = Listener(await join(proxied_chat, "across", "alice"))
    bob = Listener(await join(proxied_chat, "across", "bob"))
    await alice.socket.send(chat_frame("over wss", "alice", "alice-1"))
    await bob.socket.send(chat_frame("and back", "bob", "bob-1"))
    for client in (alice, bob):
        await client.wait_until(lambda client=client: len(client.messages) == 2)
        assert sorted(m["message"] for m in client.messages) == ["and back", "over wss"]
    await alice.close()
    await bob.close()
    await asyncio.sleep(0.5)  # nginx logs a socket once it has closed
    upstreams = upstream_of_sockets(proxied_chat.nginx, "across")
    ports = {f"127.0.0.1:{server.port}" for server in proxied_chat.servers}
    assert {upstreams["alice"], upstreams["bob"]} == ports
    assert await Message.objects.filter(room__url="across").acount() == 2


async def test_a_quiet_socket_outlives_the_proxys_read_timeout_thanks_to_pings(proxied_chat):
    """A client that never pings (as browsers do not) stays open through three read timeouts
    of nginx: the server's pings are traffic; and then it still receives."""

    def connect(username, **options):
        return websockets.connect(
            proxied_chat.ws_url(f"/ws/chat/quiet/?username={username}"),
            additional_headers=proxied_chat.origin,
            ssl=proxied_chat.ssl_context(),
            **options,
        )

    async with connect("quiet", ping_interval=None) as quiet:
        await asyncio.sleep(3 * READ_TIMEOUT)
        async with connect("talker") as talker:
            await talker.send(chat_frame("still there?", "talker"))
            async with asyncio.timeout(10):
                while '"still there?"' not in await quiet.recv():
                    pass


async def test_a_page_of_another_site_is_refused_at_the_proxys_address(proxied_chat):
    """The origin check works behind the proxy: another site's origin gets 403 at the
    handshake, the proxy's own https origin is let in."""
    url = proxied_chat.ws_url("/ws/chat/lobby/?username=eve")
    for origin in ("https://evil.example", "https://127.0.0.2:8443"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(
                url, additional_headers={"Origin": origin}, ssl=proxied_chat.ssl_context()
            )
        assert refused.value.response.status_code == 403
    allowed = await join(proxied_chat, "lobby", "alice")
    await allowed.close()


def trust_this_run(browser):
    """This window accepts the run's certificate, for pages and for wss:// (each window is a
    target of its own for Chromium's DevTools)."""
    browser.execute_cdp_cmd("Security.setIgnoreCertificateErrors", {"ignore": True})


def new_trusting_window(browser):
    new_window(browser)
    trust_this_run(browser)


def test_two_windows_chat_over_wss_one_on_each_server(browser, proxied_chat):
    """The lobby and a room over https in Chromium; two windows, whose sockets nginx sent to
    the two servers, see each other's messages."""
    trust_this_run(browser)
    alice = enter_room(browser, proxied_chat.url, "windows", "alice")
    new_trusting_window(browser)
    enter_room(browser, proxied_chat.url, "windows", "bob")
    send(browser, "hello from bob")
    browser.switch_to.window(alice)
    wait_for(browser, lambda driver: messages(driver) == ["hello from bob"])
    send(browser, "hi bob")
    browser.switch_to.window(browser.window_handles[-1])
    wait_for(browser, lambda driver: messages(driver) == ["hello from bob", "hi bob"])
    # Closing both windows closes their sockets, and nginx logs a socket once it has closed.
    chat_windows = browser.window_handles
    new_window(browser)
    for handle in chat_windows:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(browser.window_handles[0])
    wait_for(browser, lambda driver: len(upstream_of_sockets(proxied_chat.nginx, "windows")) == 2)
    upstreams = upstream_of_sockets(proxied_chat.nginx, "windows")
    assert upstreams["alice"] != upstreams["bob"]


def test_staff_log_in_through_the_admin_over_https_and_announce(browser, proxied_chat):
    """CSRF and secure cookies behind the proxy: the admin login works and the announcement
    reaches a visitor's window (on localhost: another host, another session)."""
    trust_this_run(browser)
    get_user_model().objects.create_superuser("anna", "anna@example.com", "workshop-password")
    visitor = enter_room(browser, proxied_chat.url.replace("127.0.0.1", "localhost"), "help", "v")
    new_trusting_window(browser)
    browser.get(f"{proxied_chat.url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("anna")
    browser.find_element(By.ID, "id_password").send_keys("workshop-password" + Keys.ENTER)
    wait_for(browser, lambda driver: driver.current_url == f"{proxied_chat.url}/admin/")
    enter_room(browser, proxied_chat.url, "help", "not-anna")
    assert browser.find_element(By.ID, "identity").text == "Signed in as anna."
    browser.find_element(By.ID, "announcement-input").send_keys("Closing in 5 minutes.")
    browser.find_element(By.ID, "announcement-submit").click()
    browser.switch_to.window(visitor)
    wait_for(browser, lambda driver: messages(driver) == ["Closing in 5 minutes."])
    assert socket_state(browser) == "open"


def test_ws_from_an_https_page_is_blocked_as_mixed_content(browser, proxied_chat):
    """A page served over https may not open a ws:// socket: Chromium refuses it before any
    request, and says so. The site's Content-Security-Policy (connect-src 'self', which means
    wss:// from an https page) refuses it first, so the constructor does not throw."""
    trust_this_run(browser)
    enter_room(browser, proxied_chat.url, "mixed", "alice")
    # A host name, not 127.0.0.1: Chromium lets pages reach ws:// on a loopback address.
    url = "ws://chat.example.com/ws/chat/mixed/"
    error = browser.execute_script(
        "try { new WebSocket(arguments[0]); return null; }"
        " catch (error) { return `${error.name}: ${error.message}`; }",
        url,
    )
    assert error is None
    blocked = (
        f"Connecting to '{url}' violates the following Content Security Policy directive: "
        "\"connect-src 'self'\". The action has been blocked."
    )
    wait_for(
        browser,
        lambda driver: any(blocked in entry["message"] for entry in driver.get_log("browser")),
    )
