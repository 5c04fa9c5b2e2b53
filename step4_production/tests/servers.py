"""Real servers for tests: Daphne and redis-server as child processes on free ports.

Every server started here is stopped by the context manager that started it.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

STEP_DIR = Path(__file__).resolve().parent.parent
APPLICATION = "learning.asgi:application"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, timeout=30):
    """Wait until something listens on port; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def stop(process, timeout=10):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


class ChildServer:
    """A server in a child process: start() and stop() it, or use it in a `with` block."""

    process = None

    def stop(self):
        if self.process is not None:
            stop(self.process)
            self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


class DaphneServer(ChildServer):
    """`daphne learning.asgi:application` on a free port, using the given database file.

    The settings are learning.settings with the database name replaced (tests/live_settings.py),
    so the server sees the rows a test writes. `env` adds environment variables (REDIS_URL...).
    `application` is the ASGI application to serve, as "module:attribute"
    (tests.live_asgi:application adds the static files a browser needs).
    """

    def __init__(self, database, env=None, port=None, args=(), application=APPLICATION):
        self.database = str(database)
        self.env = env or {}
        self.port = port or free_port()
        self.args = list(args)
        self.application = application
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self):
        return {"Origin": self.url}

    def ws_url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def start(self):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.live_settings",
            "CHAT_TEST_DATABASE": self.database,
            "PYTHONPATH": str(STEP_DIR),
            **self.env,
        }
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            self.command(), cwd=STEP_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.process)
        return self

    def command(self):
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        return [*command, *self.args, self.application]

    def output(self):
        """What the server printed so far (its log), for assertions and failure messages."""
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")


class UvicornServer(DaphneServer):
    """The same, served by one uvicorn process (as the production command runs each worker)."""

    def command(self):
        command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port)]
        return [*command, "--lifespan", "off", *self.args, self.application]


def daphne_server(database, env=None, args=(), application=APPLICATION):
    """A DaphneServer for a `with` block: started on entry, stopped on exit."""
    return DaphneServer(database, env=env, args=args, application=application)


def missing(problem):
    """A tool a test needs is not installed: skipped on a laptop, failed in CI, whose .ci/run
    installs every one of them."""
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


def require_redis_server():
    """The path of redis-server; skips on a laptop without it, fails in CI."""
    path = shutil.which("redis-server")
    if path is None:
        missing("redis-server is needed for the Redis tests: sudo apt-get install redis-server")
    return path


class RedisServer(ChildServer):
    """A throwaway redis-server on a free port, keeping nothing on disk."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        command = [require_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port, self.process)
        return self


def redis_server():
    """A RedisServer for a `with` block: started on entry, stopped on exit."""
    return RedisServer()
