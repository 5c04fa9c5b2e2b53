"""`make run-step4-redis`: two servers sharing one Redis, and Ctrl-C stops them all.

The demo runs for real, on free ports and with a database of its own (tests.live_settings), so
a developer's servers on 8001 and 8002 and their step4_production/db.sqlite3 are left alone.
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.request

import psutil
import pytest
import websockets

from tests.servers import STEP_DIR, free_port, require_redis_server

ROOT = STEP_DIR.parent
TIMEOUT = 60

if not (ROOT / "scripts" / "run_step4_redis.py").is_file():
    # `make check` runs these tests on a copy of a learner's project, outside the repository.
    pytest.skip("make run-step4-redis belongs to the workshop repository", allow_module_level=True)


def demo_environment(**changes):
    """This environment without what would change the demo: an outer make's flags, Redis."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "REDIS_URL", "CHANNEL_LAYER")
    }
    return {**env, **changes}


def make_command(*arguments):
    return [shutil.which("make"), "--no-print-directory", "-C", str(ROOT), *arguments]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(condition, timeout, what, process):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"make run-step4-redis exited with {process.returncode} before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.1)


def lobby(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/chat/", timeout=10) as response:
        return response.status, response.read().decode()


async def chat_across(first, second):
    """alice on the first server says hello; bob on the second hears it."""

    def connect(port, username):
        url = f"ws://127.0.0.1:{port}/ws/chat/demo/?username={username}"
        headers = {"Origin": f"http://127.0.0.1:{port}"}
        return websockets.connect(url, additional_headers=headers, open_timeout=10)

    async with connect(first, "alice") as alice, connect(second, "bob") as bob:
        async with asyncio.timeout(10):
            for client in (alice, bob):
                assert json.loads(await client.recv())["type"] == "history"
            await alice.send(json.dumps({"message": "hello across", "username": "alice"}))
            while True:
                frame = json.loads(await bob.recv())
                if frame["type"] == "chat.message":
                    return frame


def test_make_run_step4_redis_serves_two_servers_that_chat_and_stop_on_ctrl_c():
    """Both ports serve the lobby, a message crosses from one to the other, and SIGINT ends all."""
    require_redis_server()
    ports = free_port(), free_port()
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryFile("w+") as output:
        database = os.path.join(scratch, "demo.sqlite3")
        env = demo_environment(
            DJANGO_SETTINGS_MODULE="tests.live_settings", CHAT_TEST_DATABASE=database
        )
        command = make_command("run-step4-redis", f"PORT1={ports[0]}", f"PORT2={ports[1]}")
        # A session of its own: the signal below reaches make and the script, as Ctrl-C would.
        demo = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        children = []
        try:
            wait_until(lambda: "Ctrl-C stops all" in read(output), TIMEOUT, "the banner", demo)
            for port in ports:
                assert listening(port)
                status, page = lobby(port)
                assert status == 200 and 'id="room-name-input"' in page
                assert f"http://127.0.0.1:{port}/chat/" in read(output)
            frame = asyncio.run(chat_across(*ports))
            assert (frame["message"], frame["username"]) == ("hello across", "alice")
            # One database for both servers: the message is saved there once.
            with sqlite3.connect(database) as db:
                count = db.execute("SELECT count(*) FROM chat_message WHERE body = 'hello across'")
                assert count.fetchone()[0] == 1

            children = psutil.Process(demo.pid).children(recursive=True)
            assert len(children) >= 4  # the script, redis-server and two servers
            os.killpg(demo.pid, signal.SIGINT)
            demo.wait(timeout=30)
            gone, alive = psutil.wait_procs(children, timeout=5)
            assert alive == []
            assert not any(listening(port) for port in ports)
            assert "Stopped." in read(output)
        finally:
            kill_what_is_left(demo, children)


def test_make_run_step4_redis_without_redis_server_says_how_to_install_it(tmp_path):
    """No redis-server on the PATH and no REDIS_URL: an install hint and a non-zero exit."""
    env = demo_environment(PATH=str(tmp_path))
    result = subprocess.run(
        make_command("run-step4-redis", f"PORT1={free_port()}", f"PORT2={free_port()}"),
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode != 0
    assert "apt-get install redis-server" in result.stdout
    assert "brew install redis" in result.stdout


def kill_what_is_left(demo, children):
    """After a failed test: kill the demo and every child it had, whatever they are doing."""
    for process in [psutil.Process(demo.pid) if demo.poll() is None else None, *children]:
        try:
            if process is not None:
                process.kill()
        except psutil.NoSuchProcess:
            pass
    demo.wait(timeout=10)


def read(output):
    output.seek(0)
    return output.read()
