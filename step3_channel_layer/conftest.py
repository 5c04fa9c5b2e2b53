"""Fixtures shared by this step's tests."""

import os
import shutil

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
