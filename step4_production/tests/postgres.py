"""Step 4 on a throwaway PostgreSQL (deploy/postgres.py) or a SQLite file, migrated, for tests
that run the chat's code in processes of their own."""

import os
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

from deploy.postgres import PostgresServer, find_bindir
from tests.servers import STEP_DIR, missing


def postgres_bindir():
    """The folder holding initdb and pg_ctl; skips on a laptop without them, fails in CI."""
    bindir = find_bindir()
    if bindir is None:
        missing("PostgreSQL is needed for these tests: sudo apt-get install postgresql")
    return bindir


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
            postgres_bindir()
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
