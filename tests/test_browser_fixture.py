"""Every step's `browser` fixture finds Chromium or Chrome where it is, or says why it cannot."""

import ast
import importlib.util
import os
import stat

import pytest

from tests.markdown_checks import ROOT

STEPS = ("step1_http", "step2_websocket", "step3_channel_layer", "step4_production")
# The part of each conftest.py that finds and starts the browser: the same in every step.
BROWSER_PARTS = ("BROWSER_NAMES", "MACOS_BROWSERS", "find_chromium", "missing_chromium", "browser")


def load_conftest(step):
    spec = importlib.util.spec_from_file_location(f"conftest_{step}", ROOT / step / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def browser_parts(step):
    """The source of the browser-finding definitions of a step's conftest.py, by name."""
    source = (ROOT / step / "conftest.py").read_text(encoding="utf-8")
    parts = {}
    for node in ast.parse(source).body:
        names = (
            [node.name]
            if isinstance(node, ast.FunctionDef)
            else [target.id for target in getattr(node, "targets", []) if hasattr(target, "id")]
        )
        for name in names:
            if name in BROWSER_PARTS:
                parts[name] = ast.get_source_segment(source, node)
    return parts


def executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture(params=STEPS)
def conftest(request, tmp_path, monkeypatch):
    """A step's conftest, on a machine whose PATH is an empty folder and with no /Applications."""
    module = load_conftest(request.param)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("CHROME_BINARY", raising=False)
    monkeypatch.delenv("CHROMEDRIVER", raising=False)
    monkeypatch.setattr(module, "MACOS_BROWSERS", (str(tmp_path / "Google Chrome.app/Chrome"),))
    return module


def test_the_browser_part_is_the_same_in_every_step():
    """The four conftest.py files find and start the browser with the same code."""
    first = browser_parts(STEPS[0])
    assert set(first) == set(BROWSER_PARTS)
    for step in STEPS[1:]:
        assert browser_parts(step) == first, f"{step}/conftest.py differs from {STEPS[0]}'s"


def test_google_chrome_on_path_is_found(conftest, tmp_path):
    """Linux or WSL with Google Chrome instead of Chromium: google-chrome is enough."""
    browser = executable(tmp_path / "bin/google-chrome")
    driver = executable(tmp_path / "bin/chromedriver")
    assert conftest.find_chromium() == (browser, driver)
    assert conftest.missing_chromium(browser, driver) is None


def test_chrome_in_the_macos_applications_folder_is_found(conftest, tmp_path):
    """macOS: Chrome is an app bundle, not a command on PATH; Homebrew puts chromedriver there."""
    app = executable(tmp_path / "Google Chrome.app/Chrome")
    driver = executable(tmp_path / "bin/chromedriver")
    assert conftest.find_chromium() == (app, driver)


def test_the_chromium_snap_and_its_driver_are_found(conftest, tmp_path):
    """Ubuntu: the Chromium snap puts chromium and chromium.chromedriver in /snap/bin."""
    browser = executable(tmp_path / "bin/chromium")
    driver = executable(tmp_path / "bin/chromium.chromedriver")
    assert conftest.find_chromium() == (browser, driver)


def test_the_environment_names_the_browser_and_driver_outright(conftest, tmp_path, monkeypatch):
    """CHROME_BINARY and CHROMEDRIVER win over anything found."""
    executable(tmp_path / "bin/chromium")
    monkeypatch.setenv("CHROME_BINARY", "/opt/chrome/chrome")
    monkeypatch.setenv("CHROMEDRIVER", "/opt/chrome/chromedriver")
    assert conftest.find_chromium() == ("/opt/chrome/chrome", "/opt/chrome/chromedriver")


def test_a_missing_driver_is_named_with_the_browser_found(conftest, tmp_path):
    """Chrome without chromedriver: the skip says which browser was found and what is missing."""
    browser = executable(tmp_path / "bin/chromium")
    found = conftest.find_chromium()
    assert found == (browser, None)
    problem = conftest.missing_chromium(*found)
    assert browser in problem and "no chromedriver on PATH" in problem and "CHROMEDRIVER" in problem


def test_no_browser_says_where_it_looked_and_how_to_install(conftest, monkeypatch):
    """Nothing installed: the skip lists the names tried and the install command for the system."""
    assert conftest.find_chromium() == (None, None)
    monkeypatch.setattr(conftest.sys, "platform", "darwin")
    problem = conftest.missing_chromium(None, None)
    assert "google-chrome" in problem and "/Applications" in problem
    assert "brew install --cask google-chrome chromedriver" in problem
    monkeypatch.setattr(conftest.sys, "platform", "linux")
    linux = conftest.missing_chromium(None, None)
    assert "sudo apt-get install chromium chromium-driver" in linux
    assert "sudo snap install chromium" in linux


def test_this_machine_finds_the_browser_the_ci_installs():
    """Where CI runs, the browser tests never skip: the browser and its driver are found."""
    if not os.environ.get("CI"):
        pytest.skip("only checked in CI, where Chromium is installed")
    module = load_conftest(STEPS[0])
    assert module.missing_chromium(*module.find_chromium()) is None
