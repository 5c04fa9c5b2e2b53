"""HTML and script in what users type is shown as text in a real browser and creates nothing:
message text, display names (your own and another's) and room names."""

import asyncio
from urllib.parse import quote, urlencode

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.reliability_clients import chat_frame, join
from tests.sockets import next_frame

# The server reads the test database from another process: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 15
# Each payload sets the global `pwned` if the browser ever runs it. Names are at most 32
# characters, so their payloads are short.
MY_NAME = "<img src=x onerror=pwned=1>"
OTHER_NAME = "<svg onload=pwned=2>"
MESSAGE = '<script>pwned=3</script><img src=x onerror="pwned=4"><b>bold</b>'
OTHER_MESSAGE = "<iframe src=javascript:pwned=5></iframe>"
ROOM_NAME = "<img src=x onerror=pwned=6>"
# The only elements the room's dynamic parts are built from.
SAFE_TAGS = {"ARTICLE", "HEADER", "SPAN", "TIME", "P", "LI"}


def wait_for(driver, condition):
    return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(condition)


def texts(driver, selector):
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, selector)]


def nothing_ran_or_was_created(driver):
    """No payload ran, and the log, the user list and the identity line hold only the page's
    own elements, none made from what users typed."""
    assert driver.execute_script("return typeof pwned") == "undefined"
    tags = driver.execute_script(
        "return [...document.querySelectorAll('#chat-log *, #user-list *, #identity *')]"
        ".map((element) => element.tagName)"
    )
    assert set(tags) <= SAFE_TAGS
    assert driver.find_elements(By.CSS_SELECTOR, "img, svg, iframe, b, script:not([src])") == [
        element
        for element in driver.find_elements(By.CSS_SELECTOR, "script:not([src])")
        if element.get_attribute("type") == "application/json"
    ]


def test_html_in_messages_and_names_is_shown_as_text(browser, chat_server):
    """Your own name, another's name and both messages appear literally, as text."""
    browser.get(f"{chat_server.url}/chat/")
    browser.find_element(By.ID, "username-input").send_keys(MY_NAME)
    browser.find_element(By.ID, "room-name-input").send_keys("xss" + Keys.ENTER)
    wait_for(browser, lambda driver: driver.current_url.endswith("/chat/xss/"))
    wait_for(browser, lambda driver: MY_NAME in texts(driver, "#user-list li"))
    assert MY_NAME in browser.find_element(By.ID, "identity").text

    browser.find_element(By.ID, "chat-message-input").send_keys(MESSAGE + Keys.ENTER)
    wait_for(browser, lambda driver: texts(driver, "#chat-log .message .text") == [MESSAGE])
    assert texts(browser, "#chat-log .message .sender") == [MY_NAME]

    async def someone_else_visits():
        other = await join(chat_server, "xss", OTHER_NAME)
        await other.send(chat_frame(OTHER_MESSAGE, OTHER_NAME))
        await next_frame(other, "chat.message")
        # Selenium blocks, which is fine here: nothing else needs to run meanwhile.
        wait_for(browser, lambda driver: OTHER_NAME in texts(driver, "#user-list li"))
        await other.close()

    asyncio.run(someone_else_visits())
    wait_for(browser, lambda driver: len(texts(driver, "#chat-log .message .text")) == 2)
    assert texts(browser, "#chat-log .message .text") == [MESSAGE, OTHER_MESSAGE]
    assert texts(browser, "#chat-log .message .sender") == [MY_NAME, OTHER_NAME]
    nothing_ran_or_was_created(browser)


def test_html_in_a_room_name_never_reaches_a_page(browser, chat_server):
    """A room name with HTML is a 404 as a URL, blocked by the lobby's form, and refused with
    a plain error by the lobby's fallback; no payload runs anywhere."""
    browser.get(f"{chat_server.url}/chat/{quote(ROOM_NAME, safe='')}/")
    # Django's 404 page (the debug one here) names the path, as text.
    assert "not found" in browser.title.lower()
    nothing_ran_or_was_created(browser)

    browser.get(f"{chat_server.url}/chat/")
    room_input = browser.find_element(By.ID, "room-name-input")
    room_input.send_keys(ROOM_NAME + Keys.ENTER)
    # The input's pattern keeps the form from being sent...
    assert browser.execute_script("return arguments[0].validity.patternMismatch", room_input)
    nothing_ran_or_was_created(browser)
    # ...so the same page is still there to take a good name, which does navigate: had the
    # bad one been sent, this page would be gone (or the 404 would come after it).
    room_input.clear()
    room_input.send_keys("good-room" + Keys.ENTER)
    wait_for(browser, lambda driver: driver.current_url == f"{chat_server.url}/chat/good-room/")
    assert "not found" not in browser.title.lower()

    browser.get(f"{chat_server.url}/chat/?{urlencode({'room_name': ROOM_NAME})}")
    assert "1 to 64 letters" in browser.find_element(By.CSS_SELECTOR, ".error").text
    nothing_ran_or_was_created(browser)
