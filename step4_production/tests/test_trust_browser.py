"""What a browser trusts, in Chromium against a real Daphne: only the site's own scripts, only
the site's own pages opening its sockets, a session that ends closing them, guests named so."""

import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from chat.models import Message
from tests.servers import DaphneServer
from tests.test_browser import enter_room, messages, new_window, send, socket_state, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Run in every page before its own scripts (through the DevTools protocol, which the policy does
# not cover): it records each thing the Content-Security-Policy blocks.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


def violations(driver):
    return driver.execute_script("return window.cspViolations")


def log_in(driver, base_url, username="anna", password="workshop-password"):
    driver.get(f"{base_url}/admin/login/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password + Keys.ENTER)
    wait_for(driver, lambda driver: driver.current_url == f"{base_url}/admin/")


def test_the_pages_run_under_a_policy_that_allows_only_the_sites_own_scripts(browser, chat_server):
    """Lobby, room (its socket, django-browser-reload in DEBUG) and admin work with nothing
    blocked; a script slipped into the page as HTML is blocked and does not run."""
    with urllib.request.urlopen(f"{chat_server.url}/chat/", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    get_user_model().objects.create_superuser("anna", "anna@example.com", "workshop-password")

    enter_room(browser, chat_server.url, "policy", "visitor")
    send(browser, "works under the policy")
    wait_for(browser, lambda driver: messages(driver) == ["works under the policy"])
    # The server runs with DEBUG on: django-browser-reload's listener is on the page too.
    assert browser.find_elements(By.CSS_SELECTOR, "script[src*='reload-listener']")
    assert violations(browser) == []

    browser.execute_script(
        "document.body.insertAdjacentHTML('beforeend',"
        ' \'<img src="/static/none.png" onerror="window.pwned = 1">\')'
    )
    wait_for(browser, lambda driver: violations(driver))
    assert violations(browser)[0].startswith("script-src")
    assert browser.execute_script("return typeof window.pwned") == "undefined"

    log_in(browser, chat_server.url)
    browser.get(f"{chat_server.url}/admin/chat/message/")
    assert "works under the policy" in browser.page_source
    assert violations(browser) == []


class ForeignPage(BaseHTTPRequestHandler):
    """A page on another port of the same host, that opens a socket to the chat."""

    html = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args):
        pass


def test_a_page_on_another_port_cannot_open_a_socket_with_the_users_cookie(browser, chat_server):
    """anna is signed in; a page from 127.0.0.1 on another port opens the chat's socket (her
    cookie goes with it): the handshake is refused, and nothing is posted as anna."""
    get_user_model().objects.create_superuser("anna", "anna@example.com", "workshop-password")
    log_in(browser, chat_server.url)
    ForeignPage.html = f"""<!DOCTYPE html><title>waiting</title><script>
      const socket = new WebSocket("{chat_server.ws_url("/ws/chat/victim/")}");
      socket.onopen = () => {{
        socket.send(JSON.stringify({{message: "posted by another site"}}));
        document.title = "open";
      }};
      socket.onclose = (event) => {{ document.title = `closed ${{event.code}}`; }};
    </script>""".encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForeignPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait_for(browser, lambda driver: driver.title != "waiting")
        assert browser.title == "closed 1006"  # Refused at the handshake (403).
    finally:
        server.shutdown()
        server.server_close()
    assert not Message.objects.exists()


def test_logging_out_in_another_tab_closes_the_rooms_socket_for_good(browser, chat_server):
    """anna logs out in a second tab: the room's socket closes at once, the page says so and
    does not reconnect as someone else."""
    get_user_model().objects.create_superuser("anna", "anna@example.com", "workshop-password")
    log_in(browser, chat_server.url)
    room = enter_room(browser, chat_server.url, "signed", "ignored")
    assert browser.find_element(By.ID, "identity").text == "Signed in as anna."

    new_window(browser)
    browser.get(f"{chat_server.url}/admin/")
    browser.find_element(By.CSS_SELECTOR, "#logout-form button").click()
    wait_for(browser, lambda driver: "Logged out" in driver.page_source)

    browser.switch_to.window(room)
    wait_for(browser, lambda driver: "You were signed out" in driver.page_source)
    assert socket_state(browser) == "closed"
    frames = browser.find_element(By.ID, "frames-log").get_attribute("textContent")
    assert "close, code 4401" in frames and frames.count("open") == 1


def test_a_guest_is_marked_guest_in_words_whatever_their_name(browser, chat_server):
    """A guest who types a check mark into their name is still followed by the word "guest",
    in the log and in the list."""
    enter_room(browser, chat_server.url, "names", "anna ✓")
    send(browser, "trust me")
    wait_for(browser, lambda driver: messages(driver) == ["trust me"])
    header = browser.find_element(By.CSS_SELECTOR, "#chat-log .message header")
    assert header.text.startswith("anna ✓ guest")
    wait_for(browser, lambda driver: driver.find_elements(By.CSS_SELECTOR, "#user-list li"))
    assert browser.find_element(By.CSS_SELECTOR, "#user-list li").text == "anna ✓ guest"


def test_two_tabs_share_their_browsers_rate_and_every_message_still_arrives(browser):
    """Two tabs of one browser share its bucket (here 2 frames a second): typed at once, their
    messages go over it. Refused frames are not read, so the error names none of them; the
    pages send again whatever is unconfirmed, and each message is saved once, none "Not sent"."""
    database = connection.settings_dict["NAME"]
    env = {"CHAT_RATE_LIMIT": "2"}
    with DaphneServer(database, env=env, application="tests.live_asgi:application") as server:
        tabs = [enter_room(browser, server.url, "shared", "pat")]
        new_window(browser)
        tabs.append(enter_room(browser, server.url, "shared", "pat"))
        typed = []
        for n in range(6):
            for index, tab in enumerate(tabs):
                browser.switch_to.window(tab)
                typed.append(f"tab {index} message {n}")
                send(browser, typed[-1])
        wait_for(browser, lambda driver: sorted(messages(driver)) == sorted(typed))
        for tab in tabs:
            browser.switch_to.window(tab)
            wait_for(browser, lambda driver: not driver.find_elements(By.CSS_SELECTOR, ".pending"))
        assert '"code": "rate_limited"' in browser.find_element(By.ID, "frames-log").get_attribute(
            "textContent"
        )
    assert sorted(Message.objects.values_list("body", flat=True)) == sorted(typed)
