"""Two step 4 servers sharing one Redis: the scaling demo.

Usage: python scripts/run_step4_redis.py [--ports 8001 8002]
   or: make run-step4-redis [PORT1=8001 PORT2=8002] [CHANNEL_LAYER=redis-pubsub]

Starts redis-server on a free port (or uses REDIS_URL when it is set), migrates step 4's
database, then serves step 4 on both ports (`manage.py runserver`, which is Daphne), each with
REDIS_URL pointing at that Redis and both using step4_production/db.sqlite3. Every line a
server prints is prefixed with its port. Ctrl-C (or SIGTERM) stops the servers, then Redis.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEP_DIR = ROOT / "step4_production"
INSTALL_HINT = """redis-server is not installed. Install it, then run this again:
  Debian, Ubuntu, WSL:  sudo apt-get install redis-server
  Fedora:               sudo dnf install redis
  macOS (Homebrew):     brew install redis
Or use a Redis you already have: REDIS_URL=redis://host:6379/0 make run-step4-redis"""
output_lock = threading.Lock()
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(Exception):
    """Ctrl-C, SIGTERM or SIGHUP: time to stop everything."""


def say(line, prefix="run-step4-redis"):
    with output_lock:
        print(f"[{prefix}] {line}", flush=True)


def fail(message):
    say(message)
    sys.exit(1)


def port_is_free(port):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(name, command, env=None, quiet=False):
    """Start a child in its own process group, so that Ctrl-C reaches this script alone and
    the children are stopped in order.

    Its output is printed line by line, prefixed by name; a quiet child's goes to a file that
    is printed only if the child fails.
    """
    log = tempfile.TemporaryFile("w+", errors="replace") if quiet else subprocess.PIPE
    process = subprocess.Popen(
        command,
        cwd=STEP_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    process.name = name
    process.log = log if quiet else None
    if not quiet:

        def copy_output():
            for line in process.stdout:
                say(line.rstrip(), prefix=name)

        threading.Thread(target=copy_output, daemon=True).start()
    return process


def print_log(process):
    """What a quiet child printed, once it has exited."""
    if process is not None and process.log is not None and process.poll() is not None:
        process.log.seek(0)
        for line in process.log:
            say(line.rstrip(), prefix=process.name)


def wait_until_listening(process, port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.name} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not listen on port {port} within {timeout} s")


def stop(process, first_signal, timeout=10):
    """Send first_signal to the child's process group; kill it if it is not gone in time."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, first_signal)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{process.name} did not stop within {timeout} s: killing it")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            process.wait()


def redis_reachable(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        return error
    return None


def stop_on_signals():
    """From now on Ctrl-C, SIGTERM or SIGHUP raises Stop in the main thread, once."""

    def on_signal(signum, frame):
        # The first signal stops everything, and no later one may interrupt that: make passes
        # SIGTERM on to its children, so one kill of the process group arrives here twice.
        ignore_signals()
        raise Stop(signal.Signals(signum).name)

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)


def ignore_signals():
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ports", nargs=2, type=int, default=[8001, 8002], metavar="PORT")
    ports = parser.parse_args().ports
    if ports[0] == ports[1]:
        fail("the two servers need two different ports")
    for port in ports:
        if not port_is_free(port):
            fail(
                f"port {port} is in use. Stop what uses it, or pick other ports: "
                "make run-step4-redis PORT1=9001 PORT2=9002"
            )

    stop_on_signals()

    children = []
    redis_process = None
    try:
        redis_url = os.environ.get("REDIS_URL", "")
        if redis_url:
            if error := redis_reachable(redis_url):
                fail(f"REDIS_URL={redis_url} does not answer: {error}")
            say(f"Using the Redis at REDIS_URL={redis_url}")
        else:
            redis_server = shutil.which("redis-server")
            if redis_server is None:
                fail(INSTALL_HINT)
            redis_port = free_port()
            # Nothing is written to disk: the demo's Redis is gone when it stops.
            command = [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1"]
            command += ["--save", "", "--appendonly", "no"]
            redis_process = start("redis", command, quiet=True)
            wait_until_listening(redis_process, redis_port)
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            say(f"Started redis-server at {redis_url}")

        env = {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        migrate = subprocess.run(
            [python, "manage.py", "migrate", "--noinput"], cwd=STEP_DIR, env=env
        )
        if migrate.returncode != 0:
            raise RuntimeError("manage.py migrate failed")
        for port in ports:
            command = [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
            children.append(start(str(port), command, env=env))
        for port, child in zip(ports, children, strict=True):
            wait_until_listening(child, port)

        layer = os.environ.get("CHANNEL_LAYER") or "redis"
        say(f"Two step 4 servers share the Redis at {redis_url} (CHANNEL_LAYER={layer}):")
        for port in ports:
            say(f"  http://127.0.0.1:{port}/chat/")
        say("Open one in each browser window, enter the same room and chat. Ctrl-C stops all.")

        while True:
            for process in [*children, redis_process]:
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{process.name} exited with code {process.returncode}")
            time.sleep(0.2)
    except Stop as stopped:
        say(f"{stopped}: stopping the servers, then Redis")
        code = 0
    except RuntimeError as error:
        say(f"{error}: stopping everything")
        print_log(redis_process)
        code = 1
    finally:
        # A second Ctrl-C must not leave children behind.
        ignore_signals()
        for child in children:
            stop(child, signal.SIGINT)
        if redis_process is not None:
            stop(redis_process, signal.SIGTERM)
    say("Stopped.")
    return code


if __name__ == "__main__":
    sys.exit(main())
