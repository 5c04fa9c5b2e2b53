"""A real browser on a real ASGI server: the page opens a socket, sends, and shows the echo."""

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

# Generous: Chromium and Daphne share a busy machine with the tests.
TIMEOUT = 15


def messages(driver):
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, "#chat-log .message")]


def socket_state(driver):
    return driver.find_element(By.ID, "connection-status").get_attribute("data-socket")


def frames(driver, direction):
    """The JSON frames the frames panel lists for one direction ("sent" or "received")."""
    entries = driver.find_elements(By.CSS_SELECTOR, f"#frames-log .frame-{direction}")
    # Each entry reads "<time> <direction> <frame as it travelled>".
    texts = [entry.get_attribute("textContent") for entry in entries]
    return [json.loads(text.split(f" {direction} ", 1)[1]) for text in texts]


@pytest.fixture
def room(browser, daphne_server):
    """The browser in room "lobby-test", entered from the lobby, with its socket open."""
    wait = WebDriverWait(browser, TIMEOUT)
    browser.get(f"{daphne_server.url}/chat/")
    browser.find_element(By.ID, "username-input").send_keys("alice")
    browser.find_element(By.ID, "room-name-input").send_keys("lobby-test" + Keys.ENTER)
    wait.until(lambda driver: driver.current_url.endswith("/chat/lobby-test/"))
    # The page marks itself when the socket is open: only then can it send.
    wait.until(lambda driver: socket_state(driver) == "open")
    return browser


def test_a_message_sent_with_enter_comes_back_as_an_echo(room):
    """Lobby -> room, wait for the socket, send with Enter, see the echo in the chat log."""
    wait = WebDriverWait(room, TIMEOUT)
    assert room.find_element(By.ID, "connection-status").text == "Connected"
    # The welcome the server pushed is shown as a notice, not as a message.
    wait.until(lambda driver: "Connected to room lobby-test." in driver.page_source)
    assert messages(room) == []

    message_input = room.find_element(By.ID, "chat-message-input")
    message_input.send_keys("hello, socket" + Keys.ENTER)
    wait.until(lambda driver: messages(driver) == ["hello, socket"])
    # The page did not reload: the answer came over the socket, and the input is ready again.
    assert socket_state(room) == "open"
    assert message_input.get_attribute("value") == ""


def test_html_in_a_message_is_shown_as_text(room):
    """A message that looks like HTML is shown as text and creates no element."""
    wait = WebDriverWait(room, TIMEOUT)
    room.find_element(By.ID, "chat-message-input").send_keys(
        "<img src=x onerror=alert(1)>" + Keys.ENTER
    )
    wait.until(lambda driver: messages(driver) == ["<img src=x onerror=alert(1)>"])
    assert room.find_elements(By.CSS_SELECTOR, "#chat-log img") == []


def test_the_frames_panel_lists_the_frames_once_opened(room):
    """The frames panel is closed at first; opened, it lists every frame sent and received."""
    wait = WebDriverWait(room, TIMEOUT)
    # This time with the button.
    room.find_element(By.ID, "chat-message-input").send_keys("frame me")
    room.find_element(By.ID, "chat-message-submit").click()
    wait.until(lambda driver: messages(driver) == ["frame me"])

    frames_log = room.find_element(By.ID, "frames-log")
    assert not frames_log.is_displayed()
    room.find_element(By.CSS_SELECTOR, "#frames-panel summary").click()
    wait.until(lambda driver: frames_log.is_displayed())

    assert frames(room, "sent") == [{"message": "frame me"}]
    assert frames(room, "received") == [
        {"type": "welcome", "room": "lobby-test"},
        {"type": "echo", "message": "frame me"},
    ]
    events = [entry.text for entry in room.find_elements(By.CSS_SELECTOR, "#frames-log .frame")]
    assert events[0].endswith(" event open")


def test_a_bad_frame_from_the_console_gets_an_error_and_the_socket_stays_open(room):
    """What the guide suggests trying in the console: the error is shown, the socket stays."""
    wait = WebDriverWait(room, TIMEOUT)
    # room.js declares `socket` at the top level of the page, so the console can reach it.
    room.execute_script("socket.send('not JSON')")
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#chat-log .error"))
    assert frames(room, "received")[-1]["code"] == "invalid_json"
    assert socket_state(room) == "open"

    room.find_element(By.ID, "chat-message-input").send_keys("after the error" + Keys.ENTER)
    wait.until(lambda driver: messages(driver) == ["after the error"])
