"""Production settings: Django's deployment check, and the production command serving the chat
and its static files with DEBUG off, on several workers that share Redis."""

import asyncio
import os
import re
import secrets
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import pytest
import websockets
from django.db import connection

from tests.reliability_clients import Listener, chat_frame, join, next_frame
from tests.servers import STEP_DIR, free_port, redis_server, stop, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)

# What needs HTTPS: HSTS (W004), redirecting HTTP (W008), secure session and CSRF cookies
# (W012, W016). DJANGO_HTTPS=1 turns on all but HSTS, which browsers remember: see
# docs/reliability.md.
NEEDS_HTTPS = {"security.W004", "security.W008", "security.W012", "security.W016"}

# The production command of docs/reliability.md: uvicorn workers (one process per core) that
# share the channel layer through Redis (its pub/sub layer). Frames of at most 64 KiB (a valid one
# is under 16 KiB; uvicorn's default is 16 MiB), and a ping every 20 s that the browser must
# answer within 20 s.
PRODUCTION_COMMAND = [
    "uvicorn",
    "learning.asgi:application",
    "--workers",
    "2",
    "--lifespan",
    "off",
    "--proxy-headers",
    "--ws-max-size",
    "65536",
    "--ws-ping-interval",
    "20",
    "--ws-ping-timeout",
    "20",
]


def production_environment(**variables):
    """This process's environment without the chat's settings, then DEBUG off, a real secret
    key, and `variables`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "CHAT_", "REDIS_"))
    }
    environment.update(DJANGO_DEBUG="0", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    environment.update(variables)
    return environment


def manage(*arguments, environment):
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=STEP_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_ids(output):
    return set(re.findall(r"\((\w+\.[EW]\d{3})\)", output))


@pytest.mark.parametrize(
    ("https", "remaining"),
    [("0", NEEDS_HTTPS), ("1", {"security.W004"})],
    ids=["http", "https"],
)
def test_check_deploy_leaves_only_what_needs_https(https, remaining):
    """`manage.py check --deploy` with DEBUG off and a real key: only the HTTPS settings are
    left, and with DJANGO_HTTPS=1 only HSTS."""
    environment = production_environment(DJANGO_HTTPS=https, CHANNEL_LAYER="memory")
    result = manage("check", "--deploy", environment=environment)
    assert result.returncode == 0, result.stderr
    assert check_ids(result.stdout + result.stderr) == remaining


def test_without_a_secret_key_the_server_refuses_to_start():
    """Without DJANGO_SECRET_KEY, DEBUG off: not even `check` runs on the development key."""
    environment = production_environment()
    del environment["DJANGO_SECRET_KEY"]
    result = manage("check", "--deploy", environment=environment)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


class ProductionServer:
    """PRODUCTION_COMMAND on a free port, on the test database, with collected static files."""

    def __init__(self, redis_url, static_root):
        self.port = free_port()
        self.environment = production_environment(
            DJANGO_SETTINGS_MODULE="tests.reliability_settings",
            CHAT_TEST_DATABASE=str(connection.settings_dict["NAME"]),
            CHAT_TEST_STATIC_ROOT=static_root,
            REDIS_URL=redis_url,
            CHANNEL_LAYER="redis-pubsub",  # As the production command sets it.
            PYTHONPATH=str(STEP_DIR),
        )

    url = property(lambda self: f"http://127.0.0.1:{self.port}")
    origin = property(lambda self: {"Origin": self.url})

    def ws_url(self, path):
        return f"ws://127.0.0.1:{self.port}{path}"

    def __enter__(self):
        collected = manage("collectstatic", "--noinput", environment=self.environment)
        assert collected.returncode == 0, collected.stderr
        command = [sys.executable, "-m", *PRODUCTION_COMMAND, "--port", str(self.port)]
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [*command, "--host", "127.0.0.1"],
            cwd=STEP_DIR,
            env=self.environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, self.process)
        return self

    def __exit__(self, *exc_info):
        stop(self.process)

    def output(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")


def get(url):
    """(status, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def test_the_production_command_serves_the_chat_and_its_static_files(tmp_path):
    """DEBUG off, collectstatic, uvicorn workers sharing Redis: pages and static files are
    served, four clients each get a message once, and a frame over 64 KiB is refused (1009)."""
    with redis_server() as redis, ProductionServer(redis.url, str(tmp_path)) as server:
        status, body = await asyncio.to_thread(get, f"{server.url}/static/chat/room.js")
        assert status == 200
        assert body == (STEP_DIR / "chat/static/chat/room.js").read_bytes()
        status, body = await asyncio.to_thread(get, f"{server.url}/chat/production/")
        assert (status, b"chat/room.js" in body) == (200, True)
        status, body = await asyncio.to_thread(get, f"{server.url}/chat/no%20room/")
        assert status == 404 and b"Traceback" not in body  # DEBUG is off: no debug page

        clients = [Listener(await join(server, "production", f"user-{n}")) for n in range(4)]
        await clients[0].socket.send(chat_frame("hello from production", "user-0"))
        for client in clients:
            await client.wait_until(lambda client=client: client.messages)
            assert [m["message"] for m in client.messages] == ["hello from production"]

        big = await join(server, "production", "big")
        # Under the server's cap, over the chat's: refused unread, and the socket stays.
        await big.send(chat_frame("x" * 60_000, "big"))
        assert (await next_frame(big, "error"))["code"] == "too_long"
        await big.send(chat_frame("x" * 65_536, "big"))
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            async with asyncio.timeout(10):
                while True:
                    await big.recv()
        assert closed.value.rcvd.code == 1009
        for client in clients:
            await client.close()
        assert "Traceback" not in server.output()
