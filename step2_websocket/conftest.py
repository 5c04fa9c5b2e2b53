"""Fixtures shared by this step's tests."""

import os
import shutil
import sys
import time
from dataclasses import dataclass
from functools import partial

import pytest

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


@dataclass(frozen=True)
class LiveServer:
    """Where a running test server listens."""

    host: str
    port: int

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self):
        return f"ws://{self.host}:{self.port}"


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker):
    """Daphne serving learning.asgi.application and the static files on a free local port.

    It is the server ChannelsLiveServerTestCase starts (Daphne in a process of its own, using
    the test database), as a pytest fixture so that tests can use `browser` and async clients.
    https://channels.readthedocs.io/en/stable/topics/testing.html#channelsliveservertestcase
    """
    from channels.testing.live import make_application, set_database_connection
    from daphne.testing import DaphneProcess
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    host = "127.0.0.1"
    # Port 0: the system picks a free port, and the process reports which one it got.
    process = DaphneProcess(
        host,
        partial(make_application, static_wrapper=ASGIStaticFilesHandler),
        setup=set_database_connection,
    )
    # The server process inherits this process's state: let it use the test database.
    with django_db_blocker.unblock():
        process.start()
    try:
        deadline = time.monotonic() + 30
        while not process.ready.wait(timeout=0.2):
            if not process.is_alive() or time.monotonic() > deadline:
                error = "" if process.errors.empty() else process.errors.get(timeout=1)[1]
                raise RuntimeError(f"Daphne did not start.\n{error}")
        yield LiveServer(host, process.port.value)
    finally:
        process.terminate()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join(timeout=10)
