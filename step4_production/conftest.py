"""Fixtures shared by this step's tests."""

import functools
import os
import shutil
import sys

import pytest
from channels.layers import channel_layers

# Chromium or Google Chrome, and the chromedriver that drives it: CHROME_BINARY and CHROMEDRIVER
# name them outright; otherwise the names on PATH (Linux, WSL, Homebrew), then macOS's apps.
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MACOS_BROWSERS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    os.path.expanduser("~/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"),
)


def find_chromium():
    """(browser, driver): the paths found, None for what this machine does not have."""
    browser = (
        os.environ.get("CHROME_BINARY")
        or next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)
        or next((path for path in MACOS_BROWSERS if os.path.isfile(path)), None)
    )
    # Ubuntu's Chromium is a snap, whose driver is the command chromium.chromedriver.
    driver = (
        os.environ.get("CHROMEDRIVER")
        or shutil.which("chromedriver")
        or shutil.which("chromium.chromedriver")
    )
    return browser, driver


def missing_chromium(browser, driver):
    """Why the browser tests cannot run here, in one sentence; None when they can."""
    install = (
        "brew install --cask google-chrome chromedriver"
        if sys.platform == "darwin"
        else "Debian: sudo apt-get install chromium chromium-driver; "
        "Ubuntu: sudo snap install chromium"
    )
    if browser is None:
        return (
            f"Browser tests need Chromium or Google Chrome: none of {', '.join(BROWSER_NAMES)} "
            f"is on PATH and no Chrome is in /Applications. Install one ({install}) "
            "or set CHROME_BINARY to its path."
        )
    if driver is None:
        return (
            f"Browser tests found {browser} but no chromedriver on PATH. Install the driver of "
            f"the same version ({install}) or set CHROMEDRIVER to its path."
        )
    return None


@pytest.fixture
def browser():
    """A headless Chromium (or Chrome) driven by Selenium; closed after the test."""
    browser_path, driver_path = find_chromium()
    problem = missing_chromium(browser_path, driver_path)
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets a new channel layer: no groups or queued events left by another test.

    channel_layers creates the layer again from settings.CHANNEL_LAYERS on next use.
    """
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def clock(monkeypatch):
    """Every new rate bucket runs on a clock that only the test moves (clock.now += 1)."""
    from chat import limits
    from chat.protocol import TokenBucket
    from tests.sockets import ManualClock

    clock = ManualClock()
    monkeypatch.setattr(limits, "TokenBucket", functools.partial(TokenBucket, clock=clock))
    return clock


@pytest.fixture(autouse=True)
def fresh_rate_buckets():
    """Each test starts with full rate buckets: user ids and sessions repeat across tests."""
    from chat.limits import rate_buckets

    rate_buckets.buckets.clear()
    yield
    rate_buckets.buckets.clear()


@pytest.fixture(scope="session")
def chat_server(django_db_setup):
    """A real Daphne serving the chat and its static files on a free port, for every test.

    It runs in a process of its own (tests/servers.py) on the test database's file, so it sees
    what a test saves; learning.settings is used unchanged otherwise. Tests that use it need
    pytest.mark.django_db(transaction=True), so that their rows are committed where the server
    can read them.
    """
    from django.db import connection

    from tests.servers import DaphneServer

    server = DaphneServer(
        connection.settings_dict["NAME"], application="tests.live_asgi:application"
    ).start()
    try:
        yield server
    finally:
        server.stop()
