"""Fixtures shared by this step's tests."""

import os
import shutil
import time
from dataclasses import dataclass
from functools import partial

import pytest


def find_chromium():
    """Return (browser, driver) paths, or None when this machine has no Chromium."""
    browser = next(
        (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
    )
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture
def browser():
    """A headless Chromium driven by Selenium; closed after the test."""
    found = find_chromium()
    if found is None:
        message = (
            "Chromium and chromedriver are needed for browser tests: "
            "sudo apt-get install chromium chromium-driver"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
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
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
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


# Started before the first test (autouse): the server process is a fork of this one, and a
# fork made after async tests have started asgiref's database thread inherits a dead thread.
@pytest.fixture(scope="session", autouse=True)
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


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets a new channel layer: no groups or queued events left by another test.

    channel_layers creates the layer again from settings.CHANNEL_LAYERS on next use.
    """
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
