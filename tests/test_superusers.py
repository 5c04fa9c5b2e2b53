"""`make superusers` creates the workshop users in every step, and prints a password only when
that password belongs to someone."""

import shutil
import subprocess

from tests.markdown_checks import ROOT


def step1_copy(tmp_path):
    """The repository with step 1 only, in tmp_path/repo."""
    copy = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*.sqlite3*", "__pycache__", "bench", "docs", "step[234]_*"
        ),
    )
    return copy


def superusers(copy):
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


def test_make_superusers_prints_the_password_only_for_users_it_created(tmp_path):
    """A second run creates nobody, so it prints no password, and says how to set one."""
    copy = step1_copy(tmp_path)
    # The repository's own virtualenv, already installed.
    (copy / ".venv").symlink_to(ROOT / ".venv")

    first = superusers(copy)
    assert first.count("Created admin, alice, bob") == 1
    assert "Password for the new users: " in first
    second = superusers(copy)
    assert "Password" not in second.replace("changepassword", "")
    assert second.count("alice already exists: left as it is") == 1
    assert "manage.py changepassword alice" in second


def test_make_superusers_takes_a_password_that_starts_with_a_dash(tmp_path):
    """One random password in 64 starts with "-", which a command line can take for an option:
    here the virtualenv's python is a wrapper that makes the password "-dash-first"."""
    copy = step1_copy(tmp_path)
    bin_folder = copy / ".venv" / "bin"
    bin_folder.mkdir(parents=True)
    python = bin_folder / "python"
    python.write_text(
        '#!/bin/sh\ncase "$*" in *token_urlsafe*) printf "%s\\n" -dash-first; exit 0;; esac\n'
        f'exec "{ROOT / ".venv" / "bin" / "python"}" "$@"\n'
    )
    python.chmod(0o755)
    (copy / ".venv" / ".installed").touch()  # Installed: newer than requirements.txt.

    output = superusers(copy)

    assert "Created admin, alice, bob" in output
    assert "Password for the new users: -dash-first " in output
