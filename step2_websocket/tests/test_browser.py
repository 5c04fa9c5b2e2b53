"""A real browser walks the request/response cycle: lobby, room, send, answer."""

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait


def test_lobby_to_room_to_answer(browser, live_server):
    """Enter a room from the lobby, send a message, see the server's answer."""
    wait = WebDriverWait(browser, 10)
    browser.get(f"{live_server.url}/chat/")
    browser.find_element(By.ID, "username-input").send_keys("alice")
    browser.find_element(By.ID, "room-name-input").send_keys("lobby-test" + Keys.ENTER)
    wait.until(lambda driver: driver.current_url.endswith("/chat/lobby-test/"))

    message_input = browser.find_element(By.ID, "chat-message-input")
    message_input.send_keys("<img src=x onerror=alert(1)>" + Keys.ENTER)

    message = wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#chat-log .message"))
    assert message[0].text == "<img src=x onerror=alert(1)>"
    assert browser.find_elements(By.CSS_SELECTOR, "#chat-log img") == []
