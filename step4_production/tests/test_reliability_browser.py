"""The room page in Chromium when its connection breaks: it says so, reconnects by itself, shows
every message it missed once and in order, and sends what was typed meanwhile exactly once."""

import signal

import pytest
from django.db import connection
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from chat import store
from chat.models import Message
from tests.servers import DaphneServer, UvicornServer, daphne_server

# The server reads the test database from another process: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

# Generous: Chromium, Daphne and the tests share a busy machine. The page's first retries
# come after 0.5-1, 1-2 and 2-4 s.
TIMEOUT = 20
# Daphne with the static files, so that the page gets room.js.
APPLICATION = "tests.live_asgi:application"


def wait_for(driver, condition):
    return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(condition)


def socket_state(driver):
    return driver.find_element(By.ID, "connection-status").get_attribute("data-socket")


def messages(driver):
    """The text of each message in the chat log, in order."""
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#chat-log .message .text")]


def pending(driver):
    """The messages the page is still waiting to see confirmed: {client_id: shown text}."""
    return {
        element.get_attribute("data-client-id"): element.text
        for element in driver.find_elements(By.CSS_SELECTOR, "#chat-log .pending")
    }


def frames_log(driver):
    return driver.find_element(By.ID, "frames-log").get_attribute("textContent")


def open_room(driver, server, room):
    driver.get(f"{server.url}/chat/{room}/")
    wait_for(driver, lambda driver: socket_state(driver) == "open")


def send(driver, text):
    driver.find_element(By.ID, "chat-message-input").send_keys(text + Keys.ENTER)


def test_the_page_reconnects_after_a_crash_and_shows_what_it_missed_once_in_order(browser):
    """Daphne is killed (close 1006) and started again: the page shows it is disconnected,
    reconnects, replays what it missed, and sends the messages typed meanwhile once each."""
    room = "crash"
    server = DaphneServer(connection.settings_dict["NAME"], application=APPLICATION).start()
    try:
        open_room(browser, server, room)
        send(browser, "before the crash")
        wait_for(browser, lambda driver: messages(driver) == ["before the crash"])

        server.process.kill()
        server.process.wait()
        # The page says so (between its retries, which fail until the server is back).
        wait_for(
            browser,
            lambda driver: (
                socket_state(driver) == "closed"
                and "Disconnected" in driver.find_element(By.ID, "connection-status").text
            ),
        )
        assert "close, code 1006" in frames_log(browser)

        # Typed while the server is down: shown as waiting, not lost.
        send(browser, "typed while down")
        send(browser, "typed, saved, never confirmed")
        waiting = pending(browser)
        assert sorted(waiting.values()) == [
            "Sending: typed while down",
            "Sending: typed, saved, never confirmed",
        ]
        # Meanwhile the room went on without this page (another server, say)...
        store.save_message(room, "missed 1", "bob")
        store.save_message(room, "missed 2", "bob")
        # ...and the worst case: the server saved one of the page's messages, then died
        # before anyone heard of it. The page will send it again; it must not be saved twice.
        saved_client_id = next(
            client_id for client_id, text in waiting.items() if "never confirmed" in text
        )
        username = browser.execute_script("return username;")
        store.save_message(room, "typed, saved, never confirmed", username, None, saved_client_id)

        server.start()
        expected = [
            "before the crash",
            "missed 1",
            "missed 2",
            "typed, saved, never confirmed",
            "typed while down",
        ]
        wait_for(browser, lambda driver: messages(driver) == expected and not pending(driver))
        assert socket_state(browser) == "open"
        # One more message from the page: nothing else was on its way, no copy arrives late.
        send(browser, "after the restart")
        wait_for(browser, lambda driver: len(messages(driver)) > len(expected))
        assert messages(browser) == [*expected, "after the restart"]
        assert "Reconnected." in browser.find_element(By.ID, "chat-log").text
    finally:
        server.stop()
    saved = list(Message.objects.order_by("sequence").values_list("body", flat=True))
    assert saved == [*expected, "after the restart"]


def test_the_page_reconnects_after_the_server_closes_with_1000_and_sends_each_message_once(
    browser,
):
    """Daphne closes every socket after 2 s (code 1000, a close the page did not ask for): the
    page reconnects each time, and messages typed around the closes arrive once each."""
    database = connection.settings_dict["NAME"]
    with daphne_server(
        database, args=["--websocket_timeout", "2"], application=APPLICATION
    ) as server:
        open_room(browser, server, "closing")
        send(browser, "one")
        # Wait for the server to close the socket, then type while the page reconnects.
        wait_for(browser, lambda driver: socket_state(driver) != "open")
        send(browser, "two")
        wait_for(browser, lambda driver: socket_state(driver) == "open")
        send(browser, "three")
        wait_for(browser, lambda driver: messages(driver) == ["one", "two", "three"])
        wait_for(browser, lambda driver: not pending(driver))
        assert "close, code 1000" in frames_log(browser)
        # It keeps working across the next close as well.
        closes = frames_log(browser).count("close, code 1000")
        wait_for(browser, lambda driver: frames_log(driver).count("close, code 1000") > closes)
        wait_for(browser, lambda driver: socket_state(driver) == "open")
        send(browser, "four")
        wait_for(browser, lambda driver: messages(driver) == ["one", "two", "three", "four"])
    saved = list(Message.objects.order_by("sequence").values_list("body", flat=True))
    assert saved == ["one", "two", "three", "four"]


def test_a_server_stopping_with_1012_is_reconnected_at_once_and_a_backlog_is_sent_paced(browser):
    """uvicorn stops (SIGTERM: every socket closed with 1012): the page tries again at once,
    without its backoff. Fifteen messages typed meanwhile are sent after the restart at a pace
    under the rate limit (5 a second, bursts of 10): all are saved, none is "Not sent"."""
    database = connection.settings_dict["NAME"]
    # DEBUG off, as in production: django-browser-reload's endless event stream would keep
    # uvicorn waiting for that HTTP connection to end.
    env = {"CHAT_RATE_LIMIT": "5", "DJANGO_DEBUG": "0"}
    first = UvicornServer(database, env=env, application=APPLICATION).start()
    try:
        open_room(browser, first, "restart")
        first.process.send_signal(signal.SIGTERM)
        first.process.wait(TIMEOUT)
    finally:
        first.stop()
    wait_for(browser, lambda driver: "code 1012). Reconnecting in 0 s" in log_text(driver))
    typed = [f"backlog {n}" for n in range(15)]
    for text in typed:
        send(browser, text)
    with UvicornServer(database, env=env, port=first.port, application=APPLICATION):
        wait_for(browser, lambda driver: messages(driver) == typed and not pending(driver))
        assert "Not sent" not in log_text(browser)
        assert "rate_limited" not in frames_log(browser)
    saved = list(Message.objects.order_by("sequence").values_list("body", flat=True))
    assert saved == typed


def log_text(driver):
    return driver.find_element(By.ID, "chat-log").text
