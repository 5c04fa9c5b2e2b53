"""Fixtures shared by this step's tests."""

import os
import shutil

import pytest
from channels.layers import channel_layers

from chat.limits import rate_buckets


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


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets a new channel layer: no groups or queued events left by another test.

    channel_layers creates the layer again from settings.CHANNEL_LAYERS on next use.
    """
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def fresh_rate_buckets():
    """Each test starts with full rate buckets: user ids and sessions repeat across tests."""
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
