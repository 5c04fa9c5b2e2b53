"""Real browser windows on a real Daphne server: a room where everyone sees every message."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from chat import store
from chat.models import Message

# The server reads the test database from another process: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

# Generous: Chromium and Daphne share a busy machine with the tests.
TIMEOUT = 15


def messages(driver):
    """The text of each message in the chat log, in order."""
    return [
        element.text
        for element in driver.find_elements(By.CSS_SELECTOR, "#chat-log .message .text")
    ]


def socket_state(driver):
    return driver.find_element(By.ID, "connection-status").get_attribute("data-socket")


def wait_for(driver, condition):
    return WebDriverWait(driver, TIMEOUT).until(condition)


def enter_room(driver, base_url, room, username):
    """Lobby -> room as `username`, in the current window; returns once the socket is open."""
    driver.get(f"{base_url}/chat/")
    name_input = driver.find_element(By.ID, "username-input")
    name_input.clear()  # the lobby fills in the name used last time
    name_input.send_keys(username)
    driver.find_element(By.ID, "room-name-input").send_keys(room + Keys.ENTER)
    wait_for(driver, lambda driver: driver.current_url == f"{base_url}/chat/{room}/")
    # The page marks itself when the socket is open: only then can it send.
    wait_for(driver, lambda driver: socket_state(driver) == "open")
    return driver.current_window_handle


def new_window(driver):
    driver.switch_to.new_window("window")


def send(driver, text):
    driver.find_element(By.ID, "chat-message-input").send_keys(text + Keys.ENTER)


def test_two_windows_in_one_room_see_each_others_messages_and_another_room_does_not(
    browser, daphne_server
):
    """Alice and bob share a room and see each other's messages; eve, elsewhere, sees none."""
    alice = enter_room(browser, daphne_server.url, "together", "alice")
    new_window(browser)
    bob = enter_room(browser, daphne_server.url, "together", "bob")
    new_window(browser)
    eve = enter_room(browser, daphne_server.url, "elsewhere", "eve")

    browser.switch_to.window(alice)
    send(browser, "hello from alice")
    wait_for(browser, lambda driver: messages(driver) == ["hello from alice"])
    # The input is empty and keeps the focus, ready for the next message.
    message_input = browser.find_element(By.ID, "chat-message-input")
    assert message_input.get_attribute("value") == ""
    assert browser.switch_to.active_element == message_input

    browser.switch_to.window(bob)
    wait_for(browser, lambda driver: messages(driver) == ["hello from alice"])
    browser.find_element(By.ID, "chat-message-input").send_keys("hi alice")
    browser.find_element(By.ID, "chat-message-submit").click()
    wait_for(browser, lambda driver: messages(driver) == ["hello from alice", "hi alice"])

    browser.switch_to.window(alice)
    wait_for(browser, lambda driver: messages(driver) == ["hello from alice", "hi alice"])
    senders = browser.find_elements(By.CSS_SELECTOR, "#chat-log .message .sender")
    assert [element.text for element in senders] == ["alice", "bob"]

    # Eve's room has its own group: nothing of the other room reached her.
    browser.switch_to.window(eve)
    assert messages(browser) == []
    assert Message.objects.count() == 2


def test_html_in_a_message_or_a_name_is_shown_as_text_and_creates_no_element(
    browser, daphne_server
):
    """A message and a display name that look like HTML stay text, in every window."""
    attack = "<img src=x onerror=window.injected=1>"
    sender = enter_room(browser, daphne_server.url, "html", attack[:32])
    new_window(browser)
    receiver = enter_room(browser, daphne_server.url, "html", "bob")

    browser.switch_to.window(sender)
    send(browser, attack)
    for window in (sender, receiver):
        browser.switch_to.window(window)
        wait_for(browser, lambda driver: messages(driver) == [attack])
        sender_name = browser.find_element(By.CSS_SELECTOR, "#chat-log .message .sender")
        assert sender_name.text == attack[:32]
        assert browser.find_elements(By.CSS_SELECTOR, "#chat-log img") == []
        assert browser.execute_script("return window.injected") is None


def test_a_window_opens_with_the_rooms_history(browser, daphne_server):
    """Messages saved before the page opened are shown first, oldest first, each once."""
    for body in ("first", "second", "third"):
        store.save_message("history", body, "carol", AnonymousUser())
    enter_room(browser, daphne_server.url, "history", "alice")
    wait_for(browser, lambda driver: messages(driver) == ["first", "second", "third"])

    send(browser, "fourth")
    wait_for(browser, lambda driver: messages(driver) == ["first", "second", "third", "fourth"])
    browser.refresh()
    wait_for(browser, lambda driver: socket_state(driver) == "open")
    wait_for(browser, lambda driver: messages(driver) == ["first", "second", "third", "fourth"])


def test_a_staff_user_logged_in_through_the_admin_is_marked_and_can_announce(
    browser, daphne_server
):
    """Log in at /admin/login/: messages carry your username, marked; an announcement goes live.

    The staff window uses 127.0.0.1 and the anonymous one localhost: two hosts, so two sets of
    cookies (two sessions) in one browser.
    """
    get_user_model().objects.create_superuser("anna", "anna@example.com", "workshop-password")
    anonymous_url = daphne_server.url.replace("127.0.0.1", "localhost")
    visitor = enter_room(browser, anonymous_url, "help", "visitor")

    new_window(browser)
    browser.get(f"{daphne_server.url}/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys("anna")
    browser.find_element(By.ID, "id_password").send_keys("workshop-password" + Keys.ENTER)
    wait_for(browser, lambda driver: driver.current_url == f"{daphne_server.url}/admin/")
    staff = enter_room(browser, daphne_server.url, "help", "not-anna")
    assert browser.find_element(By.ID, "identity").text == "Signed in as anna."

    send(browser, "How can I help?")
    browser.switch_to.window(visitor)
    wait_for(browser, lambda driver: messages(driver) == ["How can I help?"])
    marked = browser.find_element(By.CSS_SELECTOR, "#chat-log .message.authenticated .sender")
    assert marked.text == "anna"

    browser.switch_to.window(staff)
    browser.find_element(By.ID, "announcement-input").send_keys("Closing in 5 minutes.")
    browser.find_element(By.ID, "announcement-submit").click()

    browser.switch_to.window(visitor)
    wait_for(browser, lambda driver: messages(driver)[-1:] == ["Closing in 5 minutes."])
    senders = browser.find_elements(By.CSS_SELECTOR, "#chat-log .message.authenticated .sender")
    assert [element.text for element in senders] == ["anna", "anna"]
    # The visitor's page has no announcement form: the view would refuse it anyway.
    assert browser.find_elements(By.ID, "announcement-form") == []


def test_a_bad_frame_from_the_console_gets_an_error_and_the_socket_stays_open(
    browser, daphne_server
):
    """What the guide suggests trying in the console: the error is shown, the socket stays."""
    enter_room(browser, daphne_server.url, "console", "alice")
    # room.js declares `socket` at the top level of the page, so the console can reach it.
    browser.execute_script("socket.send('not JSON')")
    wait_for(browser, lambda driver: driver.find_elements(By.CSS_SELECTOR, "#chat-log .error"))
    assert socket_state(browser) == "open"
    # The frames panel lists the error as it arrived.
    received = browser.find_elements(By.CSS_SELECTOR, "#frames-log .frame-received")
    assert '"code": "invalid_json"' in received[-1].get_attribute("textContent")

    send(browser, "after the error")
    wait_for(browser, lambda driver: messages(driver) == ["after the error"])
