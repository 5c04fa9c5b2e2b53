"""`make run-step4-proxy`: nginx with TLS in front of two servers, and SIGTERM stops them all.

The demo runs for real, on free ports and with a database and static folder of its own
(tests.reliability_settings), so a developer's servers and db.sqlite3 are left alone.
"""

import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import tempfile
import time
import urllib.request

import psutil
import psycopg
import pytest
import websockets

from deploy.proxy import find_nginx
from tests.postgres import postgres_bindir
from tests.proxy import require_nginx
from tests.servers import free_port, require_redis_server
from tests.test_proxy import fetch
from tests.test_redis_demo import (
    ROOT,
    demo_environment,
    kill_what_is_left,
    listening,
    make_command,
    read,
)

TIMEOUT = 90

if not (ROOT / "scripts" / "run_step4_proxy.py").is_file():
    pytest.skip("make run-step4-proxy belongs to the workshop repository", allow_module_level=True)


def wait_for_output(pattern, output, demo):
    deadline = time.monotonic() + TIMEOUT
    while not (found := re.search(pattern, read(output))):
        if demo.poll() is not None:
            pytest.fail(f"make run-step4-proxy exited with {demo.returncode}:\n{read(output)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {pattern!r} within {TIMEOUT} s:\n{read(output)}")
        time.sleep(0.2)
    return found


async def chat_through(url, context):
    """alice says hello through the proxy; bob, on the other server, hears it."""

    def connect(username):
        return websockets.connect(
            f"{url.replace('https', 'wss')}ws/chat/demo/?username={username}",
            additional_headers={"Origin": url.rstrip("/")},
            ssl=context,
        )

    async with connect("alice") as alice, connect("bob") as bob:
        async with asyncio.timeout(15):
            for client in (alice, bob):
                assert json.loads(await client.recv())["type"] == "history"
            await alice.send(json.dumps({"message": "hello through nginx", "username": "alice"}))
            while True:
                frame = json.loads(await bob.recv())
                if frame["type"] == "chat.message":
                    return frame


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_make_run_step4_proxy_serves_https_and_stops_everything_on_sigterm(database, tmp_path):
    """The lobby over https with the run's certificate, http redirected, a message over wss
    from a socket on one server to a socket on the other; SIGTERM stops nginx, both servers
    and Redis, and frees the ports."""
    require_nginx()
    require_redis_server()
    if database == "postgresql":
        postgres_bindir()
    proxy_port, http_port, port1, port2 = (free_port() for _ in range(4))
    env = demo_environment(
        DJANGO_SETTINGS_MODULE="tests.reliability_settings",
        CHAT_TEST_DATABASE=str(tmp_path / "demo.sqlite3"),
        CHAT_TEST_STATIC_ROOT=str(tmp_path / "static"),
    )
    command = make_command(
        "run-step4-proxy", f"PROXY_PORT={proxy_port}", f"HTTP_PORT={http_port}",
        f"PORT1={port1}", f"PORT2={port2}", *(["POSTGRES=1"] if database == "postgresql" else []),
    )  # fmt: skip
    with tempfile.TemporaryFile("w+") as output:
        demo = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        children = []
        try:
            authority = wait_for_output(r"Or trust (\S+)\.\n", output, demo).group(1)
            wait_for_output("Ctrl-C stops all", output, demo)
            context = ssl.create_default_context(cafile=authority)
            url = f"https://127.0.0.1:{proxy_port}/"
            with urllib.request.urlopen(f"{url}chat/", context=context, timeout=15) as response:
                assert 'id="room-name-input"' in response.read().decode()
            status, headers, _ = fetch(f"http://127.0.0.1:{http_port}/chat/", None)
            assert (status, headers["Location"]) == (301, f"{url}chat/")
            frame = asyncio.run(chat_through(url, context))
            assert (frame["message"], frame["username"]) == ("hello through nginx", "alice")
            # Saved once, in the database the banner names.
            assert saved_bodies(database, read(output), tmp_path) == ["hello through nginx"]
            # Each server prints the sockets it accepted: one went to each.
            accepted = re.findall(r'\[(\d+)\] .*"WebSocket /ws/chat/demo/', read(output))
            assert sorted(accepted) == sorted([str(port1), str(port2)])

            children = psutil.Process(demo.pid).children(recursive=True)
            names = {child.name() for child in children}
            assert "nginx" in names and "redis-server" in names
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=30)
            gone, alive = psutil.wait_procs(children, timeout=10)
            assert alive == []
            ports = (proxy_port, http_port, port1, port2)
            assert not any(listening(port) for port in ports)
            assert "Stopped." in read(output)
        finally:
            kill_what_is_left(demo, children)


def saved_bodies(database, output, folder):
    query = "SELECT body FROM chat_message"
    if database == "sqlite":
        with sqlite3.connect(folder / "demo.sqlite3") as connection:
            return [body for (body,) in connection.execute(query)]
    url = re.search(r"PostgreSQL at (\S+), made for this run", output).group(1)
    with psycopg.connect(url) as connection:
        return [body for (body,) in connection.execute(query)]


@pytest.mark.parametrize(
    ("missing", "package", "name"),
    [
        ("nginx", "nginx", "nginx"),
        ("redis-server", "redis-server", "redis-server"),
        ("pg_config", "postgresql", "PostgreSQL"),
    ],
)
def test_make_run_step4_proxy_without_what_it_needs_says_how_to_install_it(
    missing, package, name, tmp_path
):
    """Without nginx (NGINX names a program that is not there), without redis-server on the
    PATH, or asked for POSTGRES=1 without PostgreSQL: the install line, a non-zero exit."""
    arguments = [f"{var}={free_port()}" for var in ("PROXY_PORT", "HTTP_PORT", "PORT1", "PORT2")]
    if missing == "nginx":
        env = demo_environment(NGINX=str(tmp_path / "nginx"))
    else:
        if find_nginx() is None:
            pytest.skip("nginx is checked first")
        # A PATH holding only what is not missing.
        for program in ("redis-server", "pg_config"):
            if program != missing and (path := shutil.which(program)):
                (tmp_path / program).symlink_to(path)
        env = demo_environment(PATH=str(tmp_path))
        arguments.append("POSTGRES=1")
    result = subprocess.run(
        make_command("run-step4-proxy", *arguments),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode != 0
    assert f"sudo apt-get install {package}" in result.stdout
    assert f"{name} is not installed" in result.stdout
