"""Run one step's own tests against a project you built yourself.

Usage: python scripts/check_project.py STEP DIR [pytest arguments...]
   or: make check STEP=1 DIR=../my-chat

DIR is a Django project made the way the guide says (`django-admin startproject learning .`,
`python manage.py startapp chat`), so it has the same names as the step folders. Its code is
copied into a temporary folder (virtualenvs, databases and caches left out), the step's tests,
conftest.py and pytest.ini are put beside it, and pytest runs there: the tests then meet your
learning.settings and your chat app exactly where they would meet the step's own, servers they
start included, and nothing is written into DIR.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = {
    "1": "step1_http",
    "2": "step2_websocket",
    "3": "step3_channel_layer",
    "4": "step4_production",
}
NEEDED = ("manage.py", "learning/settings.py", "chat/apps.py")


def fail(message):
    print(f"make check: {message}", file=sys.stderr)
    sys.exit(2)


def step_folder(step):
    if step not in STEPS:
        fail(f"STEP must be 1, 2, 3 or 4, not {step!r}: make check STEP=1 DIR=path/to/your/project")
    folder = ROOT / STEPS[step]
    if not (folder / "tests").is_dir():
        fail(f"{STEPS[step]}/tests does not exist in this repository")
    return folder


def project_folder(directory):
    if not directory:
        fail("say where your project is: make check STEP=1 DIR=path/to/your/project")
    project = Path(directory).expanduser().resolve()
    if not project.is_dir():
        fail(f"{directory} is not a folder")
    missing = [name for name in NEEDED if not (project / name).is_file()]
    if missing:
        fail(
            f"{project} has no {', '.join(missing)}. Build it in an empty folder with "
            "`django-admin startproject learning .` and `python manage.py startapp chat` "
            "(see docs/01-http.md#build-it-from-scratch)."
        )
    return project


def is_virtualenv(path):
    return (path / "pyvenv.cfg").is_file()


def copy_project(project, destination):
    """The learner's code, without what is not code: virtualenvs, databases, caches, git."""
    skipped = {".git", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules", "staticfiles"}

    def ignore(folder, names):
        folder = Path(folder)
        ignored = {
            name
            for name in names
            if name in skipped
            or ".sqlite3" in name
            or name.endswith(".pyc")
            or ((folder / name).is_dir() and is_virtualenv(folder / name))
        }
        if folder == project:
            # The step brings its own tests and test configuration.
            ignored |= {"tests", "conftest.py", "pytest.ini"} & set(names)
        return ignored

    shutil.copytree(project, destination, ignore=ignore, symlinks=True)


def run_step_tests(step, directory, pytest_args=()):
    """Run step STEP's tests against the project in directory; return pytest's exit code."""
    folder = step_folder(step)
    project = project_folder(directory)
    with tempfile.TemporaryDirectory(prefix=f"check-step{step}-") as scratch:
        workdir = Path(scratch) / "project"
        copy_project(project, workdir)
        shutil.copytree(
            folder / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__")
        )
        for name in ("conftest.py", "pytest.ini"):
            if (folder / name).is_file():
                shutil.copy2(folder / name, workdir / name)
        environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        environment.pop("DJANGO_SETTINGS_MODULE", None)
        print(f"Running {STEPS[step]}'s tests against {project}", flush=True)
        print(f"(on a copy in {workdir}: tracebacks name the copy's files)", flush=True)
        return subprocess.call(
            [sys.executable, "-m", "pytest", *pytest_args], cwd=workdir, env=environment
        )


if __name__ == "__main__":
    if len(sys.argv) < 3:
        fail("usage: python scripts/check_project.py STEP DIR [pytest arguments...]")
    sys.exit(run_step_tests(sys.argv[1], sys.argv[2], sys.argv[3:]))
