"""Run a throwaway PostgreSQL from a folder of its own: a cluster made with initdb, started with
pg_ctl on a free port, removed when it stops. make run-step4-proxy POSTGRES=1 and the tests use it.

initdb and pg_ctl come from the PostgreSQL that is installed (`pg_config --bindir`; Debian keeps
them off the PATH). PostgreSQL refuses to run as root, so as root the cluster belongs to the
`postgres` user that Debian's package creates, and its commands run through runuser.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL_HINT = """PostgreSQL is not installed. Install it, then run this again:
  Debian, Ubuntu, WSL:  sudo apt-get install postgresql
  Fedora:               sudo dnf install postgresql-server
  macOS (Homebrew):     brew install postgresql"""


def find_bindir():
    """The folder holding initdb and pg_ctl, or None."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
    bindir = Path(found.stdout.strip())
    return bindir if found.returncode == 0 and (bindir / "initdb").is_file() else None


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        bindir = find_bindir()
        if bindir is None:
            raise FileNotFoundError(INSTALL_HINT)
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
