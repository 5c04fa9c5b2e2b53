"""`make superusers` creates the workshop users in every step, and prints a password only when
that password belongs to someone."""

import shutil
import subprocess

from tests.markdown_checks import ROOT


def test_make_superusers_prints_the_password_only_for_users_it_created(tmp_path):
    """A second run creates nobody, so it prints no password, and says how to set one."""
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*.sqlite3*", "__pycache__", "bench", "docs", "step[234]_*"
        ),
    )
    # The repository's own virtualenv, already installed.
    (copy / ".venv").symlink_to(ROOT / ".venv")

    def superusers():
        done = subprocess.run(
            # One step is enough: every step runs the same command on its own database.
            ["make", "--no-print-directory", "superusers", "STEPS=step1_http"],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    first = superusers()
    assert first.count("Created admin, alice, bob") == 1
    assert "Password for the new users: " in first
    second = superusers()
    assert "Password" not in second.replace("changepassword", "")
    assert second.count("alice already exists: left as it is") == 1
    assert "manage.py changepassword alice" in second
