"""The guide's "Build it from scratch" recipe for step 1 works, run the way a learner runs it.

The commands come from docs/01-http.md itself, and the files its table lists are copied from
step1_http/ (as a learner who types them in would end up with them), so the test fails when the
recipe in the page stops working: a wrong command, a file missing from the table.
"""

import http.cookiejar
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.markdown_checks import ROOT, MarkdownPage

PAGE = "docs/01-http.md"
SECTION = "Build it from scratch"
VENV_BIN = Path(sys.executable).parent  # django-admin and python, as an activated virtualenv has


def section(page, title):
    """(first line, last line) of the ## section with this title."""
    headings = [
        (number, line[3:].strip()) for number, line in page.prose if re.match(r"^## \S", line)
    ]
    for index, (number, text) in enumerate(headings):
        if text == title:
            end = headings[index + 1][0] if index + 1 < len(headings) else 10**9
            return number, end
    raise AssertionError(f"{PAGE} has no section '## {title}'")


def recipe():
    """The section's shell blocks and the step1_http/ files its table links to."""
    page = MarkdownPage.read(ROOT / PAGE)
    start, end = section(page, SECTION)
    blocks = [b for b in page.blocks if start < b.line < end and b.language in ("sh", "bash")]
    files = []
    for link in page.links():
        if start < link.line < end and link.target.startswith("../step1_http/"):
            files.append(link.target.removeprefix("../step1_http/"))
    return blocks, files


def commands_of(block):
    return [line for line in block.lines if line.strip() and not line.lstrip().startswith("#")]


def learner_environment():
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTEST_ADDOPTS")
    }
    environment["PATH"] = f"{VENV_BIN}{os.pathsep}{environment.get('PATH', '')}"
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    return environment


def run(command, cwd):
    """Run one line of the recipe in bash, as typed; fail with its output if it fails."""
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=learner_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"`{command}` failed:\n{done.stdout}\n{done.stderr}"
    return done


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def built_project(tmp_path_factory):
    """An empty folder, the section's project commands, then the files of its table."""
    blocks, files = recipe()
    [skeleton] = [b for b in blocks if any("startproject" in line for line in b.lines)]
    project = tmp_path_factory.mktemp("from-scratch") / "my-chat"
    project.mkdir()
    for command in commands_of(skeleton):
        run(command, project)
    for name in files:
        target = project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "step1_http" / name, target)
    return project


def test_the_recipe_names_the_commands_and_files_a_learner_needs():
    """The section has the venv, startproject and startapp commands and the step's own files."""
    blocks, files = recipe()
    commands = [command for block in blocks for command in commands_of(block)]
    assert "python3 -m venv .venv" in commands
    assert "pip install -r requirements.txt" in commands
    assert "django-admin startproject learning ." in commands
    assert "python manage.py startapp chat" in commands
    assert {"chat/views.py", "chat/urls.py", "learning/urls.py", "learning/settings.py"} <= set(
        files
    )
    assert "chat/templates/chat/index.html" in files


def test_the_built_project_passes_django_checks(built_project):
    """`python manage.py check` finds no problem in the project built from the recipe."""
    done = run("python manage.py check", built_project)
    assert "System check identified no issues" in done.stdout


def test_the_built_project_serves_the_lobby_and_answers_a_message(built_project):
    """The section's run commands start a server that serves the lobby and echoes a POST."""
    blocks, _ = recipe()
    [run_block] = [b for b in blocks if any("runserver" in line for line in b.lines)]
    port = free_port()
    server = None
    try:
        for command in commands_of(run_block):
            if "runserver" not in command:
                run(command, built_project)
                continue
            # The recipe's runserver, on a free port and without the reloader's second process.
            server = subprocess.Popen(
                ["bash", "-c", f"exec {command} 127.0.0.1:{port} --noreload"],
                cwd=built_project,
                env=learner_environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        assert server is not None, "the run block has no runserver command"
        base = f"http://127.0.0.1:{port}"
        opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        lobby = wait_for_page(opener, f"{base}/chat/", server)
        for element_id in ("username-input", "room-name-input", "room-name-submit"):
            assert f'id="{element_id}"' in lobby
        room = opener.open(f"{base}/chat/lobby/", timeout=10).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', room).group(1)
        form = urllib.parse.urlencode({"message": "from scratch", "csrfmiddlewaretoken": token})
        answer = opener.open(f"{base}/chat/lobby/", form.encode(), timeout=10).read().decode()
        assert '<p class="message">from scratch</p>' in answer
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def wait_for_page(opener, url, server, seconds=30):
    """The page's HTML once the server answers; fails if the server dies or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read().decode(errors="replace")
            pytest.fail(f"runserver exited with {server.returncode}:\n{output}")
        try:
            return opener.open(url, timeout=5).read().decode()
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"runserver did not answer {url} within {seconds} s")


def test_the_built_project_passes_the_step_1_tests(built_project):
    """`make check STEP=1` passes on the project built from the recipe: it is step 1."""
    done = subprocess.run(
        ["make", "--no-print-directory", "check", "STEP=1", f"DIR={built_project}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b\d+ passed\b", done.stdout)
