"""The servers under test, each started as its own process on a free port, and stopped after.

A Server starts itself (and its own redis-server when its layer needs one) and reads, with
psutil, the CPU time and memory of all its processes: the server, its workers, its Redis.
"""

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
STEP4 = ROOT / "step4_production"
PYTHON = sys.executable


@dataclass(frozen=True)
class ServerSpec:
    """What to run: the app, the ASGI server, the channel layer, and how."""

    app: str  # "floor", "tutorial" or "step4"
    server: str  # "websockets", "daphne" or "uvicorn"
    layer: str = "none"  # "none", "memory", "redis" or "redis-pubsub"
    workers: int = 1  # uvicorn --workers: processes sharing one port (and one Redis)
    fast: bool = False  # uvicorn with uvloop and httptools instead of asyncio and h11
    # A variant of step 4 (bench/variants/): its settings module and its ASGI application.
    settings: str = "bench.step4_settings"
    application: str = "learning.asgi:application"
    label: str = ""
    # Only these measurements (runner.step_key names, e.g. "saturation_2"); empty: all of them.
    only: tuple = ()

    @property
    def name(self):
        if self.label:
            return self.label
        if self.app == "floor":
            return "floor (websockets)"
        server = self.server + (" uvloop" if self.fast else "")
        workers = f" x{self.workers}" if self.workers > 1 else ""
        return f"{self.app} {server}{workers} {self.layer}"

    @property
    def needs_redis(self):
        return self.layer.startswith("redis")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def raise_file_limit():
    """Let a server hold the storm's 1,000 sockets (and its files)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def stop_process(process, timeout=10):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def step4_environment(database, settings="bench.step4_settings", extra=None):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "PYTHONPATH": os.pathsep.join([str(STEP4), str(ROOT)]),
        "BENCH_DATABASE": str(database),
        "CHAT_RATE_LIMIT": "0",
        # Every client of the benchmark comes from 127.0.0.1.
        "CHAT_MAX_SOCKETS_PER_ADDRESS": "0",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "benchmark-only-not-secret",
        # One process unless extra names a Redis layer: DEBUG off asks for it by name.
        "CHANNEL_LAYER": "memory",
        **(extra or {}),
    }


def migrated_database(directory):
    """A fresh step 4 database in `directory`, migrated once, with a signed-in user whose
    Cookie header is written next to it; each server gets a copy."""
    path = Path(directory) / "template.sqlite3"
    result = subprocess.run(
        [PYTHON, "-c", MIGRATE_AND_SIGN_IN],
        cwd=STEP4,
        env=step4_environment(path),
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    path.with_suffix(".cookie").write_text(result.stdout.strip())
    return path


# The tables, then a staff user signed in, as a support agent is: prints its Cookie header.
MIGRATE_AND_SIGN_IN = """
import django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
call_command("migrate", interactive=False, verbosity=0)
user = get_user_model().objects.create_user("agent", password="unused", is_staff=True)
client = Client()
client.force_login(user)
print(f"{settings.SESSION_COOKIE_NAME}={client.session.session_key}")
"""


class Server:
    """One running server under test (and its redis-server), with CPU and memory readings."""

    def __init__(self, spec, workdir, template_database=None):
        self.spec = spec
        self.workdir = Path(workdir)
        self.template_database = template_database
        self.port = free_port()
        self.process = self.redis = None
        self.processes = []
        self.log_path = self.workdir / (re.sub(r"[^\w.-]+", "-", spec.name) + ".log")
        self.details = {}
        # The Cookie header of a signed-in user's session, for step 4 (every copy has it).
        cookie = template_database and Path(template_database).with_suffix(".cookie")
        self.cookie = cookie.read_text() if cookie and cookie.is_file() else None

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    def command_and_environment(self):
        spec = self.spec
        if spec.app == "floor":
            command = [PYTHON, str(ROOT / "bench" / "floor_server.py"), "--port", str(self.port)]
            return command, {**os.environ}, ROOT
        extra = {}
        if spec.needs_redis:
            extra["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
            extra["CHANNEL_LAYER"] = spec.layer
        if spec.app == "tutorial":
            environment = {
                **os.environ,
                **extra,
                "PYTHONPATH": str(ROOT),
                "DJANGO_SETTINGS_MODULE": "bench.tutorial_baseline.settings",
            }
            application, cwd = "bench.tutorial_baseline.asgi:application", ROOT
        else:
            database = self.workdir / (self.log_path.stem + ".sqlite3")
            shutil.copyfile(self.template_database, database)
            environment = step4_environment(database, spec.settings, extra)
            application, cwd = spec.application, STEP4
        host, port = "127.0.0.1", str(self.port)
        if spec.server == "daphne":
            command = [PYTHON, "-m", "daphne", "-b", host, "-p", port]
        else:
            command = [PYTHON, "-m", "uvicorn", "--host", host, "--port", port, "--lifespan", "off"]
            command += ["--no-access-log", "--log-level", "warning", "--workers", str(spec.workers)]
            # Named, not "auto": whether uvloop is installed must not change what is measured.
            command += ["--loop", "uvloop", "--http", "httptools"] if spec.fast else []
            command += [] if spec.fast else ["--loop", "asyncio", "--http", "h11"]
        return [*command, application], environment, cwd

    def layer_backend(self, environment, cwd):
        """The channel layer class the server's settings really pick (checked, not assumed)."""
        script = (
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
        )
        result = subprocess.run(
            [PYTHON, "-c", script], cwd=cwd, env=environment, capture_output=True, text=True
        )
        return result.stdout.strip() or result.stderr.strip().splitlines()[-1]

    def start(self):
        if self.spec.needs_redis:
            self.redis_port = free_port()
            redis_server = shutil.which("redis-server")
            if redis_server is None:
                raise RuntimeError("redis-server is not installed")
            self.redis = subprocess.Popen(
                [redis_server, "--port", str(self.redis_port), "--bind", "127.0.0.1"]
                + ["--save", "", "--appendonly", "no"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            wait_for_port(self.redis_port, self.redis)
        command, environment, cwd = self.command_and_environment()
        if self.spec.app != "floor":
            self.details["layer_backend"] = self.layer_backend(environment, cwd)
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_file_limit,  # noqa: PLW1509 - no threads in the runner yet
        )
        wait_for_port(self.port, self.process)
        root = psutil.Process(self.process.pid)
        # uvicorn --workers: the workers are up once every one of them has been spawned.
        deadline = time.monotonic() + 30
        wanted = self.spec.workers if self.spec.workers > 1 else 0
        while len(root.children(recursive=True)) < wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.spec.workers} workers did not start")
            time.sleep(0.1)
        self.processes = [root, *root.children(recursive=True)]
        if self.redis:
            self.processes.append(psutil.Process(self.redis.pid))
        return self

    def stop(self):
        stop_process(self.process)
        stop_process(self.redis)
        self.process = self.redis = None
        if getattr(self, "log", None):
            self.log.close()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def cpu(self):
        """Seconds of CPU used so far by every process of the server, its Redis included."""
        total = 0.0
        for process in self.processes:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def memory(self):
        """The resident memory in bytes of the server's own processes (not its Redis)."""
        total = 0
        for process in self.processes:
            if self.redis is None or process.pid != self.redis.pid:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
        return total

    def wait_idle(self, timeout=30, below=0.05, interval=0.25):
        """Wait until the server uses under `below` of a core (it has finished earlier work)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            before = self.cpu()
            time.sleep(interval)
            if (self.cpu() - before) / interval < below:
                break
        return time.monotonic() - start

    def output_tail(self, lines=15):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
