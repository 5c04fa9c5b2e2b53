"""A throwaway PostgreSQL for tests: a cluster of its own in a temporary folder, on a free port.

initdb and pg_ctl come from the PostgreSQL that is installed (`pg_config --bindir`; Debian keeps
them off the PATH). PostgreSQL refuses to run as root, so as root (in CI) the cluster belongs to
the `postgres` user that Debian's package creates, and its commands run through runuser.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.servers import STEP_DIR, free_port

INSTALL_HINT = "PostgreSQL is needed for these tests: sudo apt-get install postgresql"


def postgres_bindir():
    """The folder holding initdb and pg_ctl; skips on a laptop without them, fails in CI."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(bindir) / "initdb").is_file():
            return Path(bindir)
    if os.environ.get("CI"):
        pytest.fail(INSTALL_HINT)
    pytest.skip(INSTALL_HINT)


class PostgresServer:
    """`initdb` then `pg_ctl start` in a temporary folder; `with` it, or start() and stop().

    Anyone on this machine may connect as the superuser `chat` without a password (trust), to
    the database `chat`: a cluster for one test run, never for data you keep.
    """

    user = "chat"

    def __init__(self):
        self.port = free_port()
        self.folder = None

    def url(self, database="chat"):
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def run(self, *command):
        """A PostgreSQL command, as the `postgres` user when this process is root."""
        if os.geteuid() == 0:
            command = ("runuser", "-u", "postgres", "--", *command)
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    def check(self, *command):
        result = self.run(*command)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed:\n{result.stdout}{result.stderr}")
        return result

    def start(self):
        bindir = postgres_bindir()
        self.folder = Path(tempfile.mkdtemp(prefix="chat-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"
        initdb = [str(bindir / "initdb"), "-D", str(self.data), "-U", self.user]
        self.check(*initdb, "--auth=trust", "--encoding=UTF8", "--no-sync")
        # The socket goes in the folder, not in /var/run/postgresql, which may not exist.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl = str(bindir / "pg_ctl")
        try:
            # -w: return once the server accepts connections.
            self.check(
                self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
            )
            address = ["-h", "127.0.0.1", "-p", str(self.port), "-U", self.user]
            self.check(str(bindir / "createdb"), *address, "chat")
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.folder is None:
            return
        if (self.data / "postmaster.pid").exists():
            # fast: roll back open transactions and close connections, rather than wait for them.
            self.run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


@contextmanager
def migrated_database(kind, folder):
    """The environment that points step 4 at a new, migrated database: "sqlite" (a file in
    folder) or "postgresql" (a throwaway cluster, stopped on exit)."""
    with ExitStack() as stack:
        if kind == "sqlite":
            environment = {
                "DJANGO_SETTINGS_MODULE": "tests.live_settings",
                "CHAT_TEST_DATABASE": str(Path(folder) / "chat.sqlite3"),
            }
        else:
            server = stack.enter_context(PostgresServer())
            environment = {
                "DJANGO_SETTINGS_MODULE": "learning.settings",
                "DATABASE_URL": server.url(),
            }
        migrate = run_django(["manage.py", "migrate", "--noinput"], environment)
        assert migrate.returncode == 0, migrate.stderr
        yield environment


def django_environment(variables):
    """This process's environment without the chat's settings, then `variables`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_", "CHAT_", "REDIS_", "DATABASE_"))
    }
    return {**environment, "PYTHONPATH": str(STEP_DIR), **variables}


def run_django(arguments, variables):
    """`python ARGUMENTS` in the step's folder, with these settings; its CompletedProcess."""
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=STEP_DIR,
        env=django_environment(variables),
        capture_output=True,
        text=True,
        timeout=120,
    )
