"""The servers under test, each started as its own process on a free port, and stopped after.

A Server knows how to start itself (and its own redis-server when its layer needs one), how
much CPU time it has used so far and how much memory it holds, both read with psutil.
"""

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
STEP4 = ROOT / "step4_production"
PYTHON = sys.executable


@dataclass(frozen=True)
class ServerSpec:
    """What to run: the app (floor, tutorial, step4), the ASGI server and the channel layer."""

    app: str  # "floor", "tutorial" or "step4"
    server: str  # "websockets", "daphne" or "uvicorn"
    layer: str = "none"  # "none", "memory", "redis" or "redis-pubsub"
    # Another copy of step 4 to run instead of step4_production/ (bench/ablation.py), and
    # the name it goes by in the tables.
    source: str = ""
    label: str = ""

    @property
    def name(self):
        if self.label:
            return self.label
        if self.app == "floor":
            return "floor (websockets)"
        return f"{self.app} {self.server} {self.layer}"

    @property
    def directory(self):
        return Path(self.source) if self.source else STEP4

    @property
    def needs_redis(self):
        return self.layer.startswith("redis")


def safe_name(name):
    """A server's name as a file name."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-")


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
    """Let a server hold the idle-memory workload's 1,000 sockets (and its files)."""
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


def migrated_database(directory, step4=STEP4):
    """A fresh step 4 database in `directory`, migrated once; each server gets a copy."""
    path = Path(directory) / "template.sqlite3"
    environment = step4_environment(path, step4=step4)
    subprocess.run(
        [PYTHON, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=step4,
        env=environment,
        check=True,
        timeout=120,
    )
    return path


def step4_environment(database, extra=None, step4=STEP4):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.step4_settings",
        "PYTHONPATH": os.pathsep.join([str(step4), str(ROOT)]),
        "BENCH_DATABASE": str(database),
        "CHAT_RATE_LIMIT": "0",
        # Every client of the benchmark comes from 127.0.0.1.
        "CHAT_MAX_SOCKETS_PER_ADDRESS": "0",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "benchmark-only-not-secret",
        **(extra or {}),
    }


class Server:
    """One running server under test (and its redis-server), with CPU and memory readings."""

    def __init__(self, spec, workdir, template_database=None):
        self.spec = spec
        self.workdir = Path(workdir)
        self.template_database = template_database
        self.port = free_port()
        self.process = None
        self.redis = None
        self.log_path = self.workdir / f"{safe_name(spec.name)}.log"
        self.details = {}

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port}"

    def command_and_environment(self):
        spec = self.spec
        environment = {**os.environ, "PYTHONPATH": str(ROOT)}
        cwd = ROOT
        if spec.app == "floor":
            command = [PYTHON, str(ROOT / "bench" / "floor_server.py"), "--port", str(self.port)]
            return command, environment, cwd
        extra = {}
        if spec.needs_redis:
            extra["REDIS_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"
        if spec.layer == "redis-pubsub":
            extra["CHANNEL_LAYER"] = "redis-pubsub"
        if not spec.needs_redis:
            extra["CHANNEL_LAYER"] = "memory"  # One process: DEBUG off asks for it by name.
        if spec.app == "tutorial":
            environment.update(extra, DJANGO_SETTINGS_MODULE="bench.tutorial_baseline.settings")
            application = "bench.tutorial_baseline.asgi:application"
        else:
            database = self.workdir / f"{safe_name(spec.name)}.sqlite3"
            shutil.copyfile(self.template_database, database)
            environment = step4_environment(database, extra, step4=spec.directory)
            application = "learning.asgi:application"
            cwd = spec.directory
        host_port = ["127.0.0.1", str(self.port)]
        if spec.server == "daphne":
            command = [PYTHON, "-m", "daphne", "-b", host_port[0], "-p", host_port[1]]
        else:
            command = [PYTHON, "-m", "uvicorn", "--host", host_port[0], "--port", host_port[1]]
            command += ["--lifespan", "off", "--no-access-log", "--log-level", "warning"]
        return [*command, application], environment, cwd

    def layer_backend(self, environment, cwd):
        """The channel layer class the server's settings really pick (checked, not assumed)."""
        script = (
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
        )
        result = subprocess.run(
            [PYTHON, "-c", script],
            cwd=cwd,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
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
        self.psutil_process = psutil.Process(self.process.pid)
        self.psutil_redis = psutil.Process(self.redis.pid) if self.redis else None
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
        """Seconds of CPU used so far by the server, and by its redis-server (0 without)."""
        times = self.psutil_process.cpu_times()
        redis = 0.0
        if self.psutil_redis is not None:
            redis_times = self.psutil_redis.cpu_times()
            redis = redis_times.user + redis_times.system
        return times.user + times.system, redis

    def memory(self):
        """The server's resident memory in bytes (its redis-server not included)."""
        return self.psutil_process.memory_info().rss

    def wait_idle(self, timeout=30, below=0.05, interval=0.25):
        """Wait until the server uses under `below` of a core (it has finished earlier work)."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            before = sum(self.cpu())
            time.sleep(interval)
            if (sum(self.cpu()) - before) / interval < below:
                return time.monotonic() - start
        return time.monotonic() - start

    def log_summary(self, most=3):
        """The exceptions in the server's log, most frequent first: "3x ChannelFull"..."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "no log"
        found = re.findall(
            r"^([a-zA-Z_][\w.]*(?:Error|Exception|Full|Closed)\b[^\n]{0,80})", text, re.M
        )
        counts = {}
        for line in found:
            counts[line] = counts.get(line, 0) + 1
        ranked = sorted(counts.items(), key=lambda item: -item[1])[:most]
        return "; ".join(f"{count}x {line}" for line, count in ranked) or "no exception"

    def output_tail(self, lines=20):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def temporary_workdir():
    return tempfile.TemporaryDirectory(prefix="chat-bench-")
