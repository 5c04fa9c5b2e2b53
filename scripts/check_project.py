"""Run one step's own tests against a project you built yourself.

Usage: python scripts/check_project.py STEP DIR [pytest arguments...]
   or: make check STEP=1 DIR=../my-chat

DIR is a Django project made the way the guide says (`django-admin startproject learning .`,
`python manage.py startapp chat`), so it has the same names as the step folders. The step's
tests, conftest.py and pytest.ini are copied into a temporary folder, and pytest runs there with
DIR on the import path: the step's settings module (learning.settings) and app (chat) are then
the ones in DIR, and nothing is written into DIR except what its own code writes (a test
database next to its settings, if its settings say so).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = {"1": "step1_http", "2": "step2_websocket", "3": "step3_channel_layer"}
NEEDED = ("manage.py", "learning/settings.py", "chat/apps.py")


def fail(message):
    print(f"make check: {message}", file=sys.stderr)
    sys.exit(2)


def step_folder(step):
    if step not in STEPS:
        fail(f"STEP must be 1, 2 or 3, not {step!r}: make check STEP=1 DIR=path/to/your/project")
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


def run_step_tests(step, directory, pytest_args=()):
    """Run step STEP's tests against the project in directory; return pytest's exit code."""
    folder = step_folder(step)
    project = project_folder(directory)
    with tempfile.TemporaryDirectory(prefix=f"check-step{step}-") as scratch:
        scratch = Path(scratch)
        shutil.copytree(
            folder / "tests", scratch / "tests", ignore=shutil.ignore_patterns("__pycache__")
        )
        for name in ("conftest.py", "pytest.ini"):
            if (folder / name).is_file():
                shutil.copy2(folder / name, scratch / name)
        environment = dict(os.environ)
        # The scratch folder holds only tests; learning/ and chat/ come from the project.
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(project), environment.get("PYTHONPATH")])
        )
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        print(f"Running {STEPS[step]}'s tests against {project}", flush=True)
        return subprocess.call(
            [sys.executable, "-m", "pytest", *pytest_args],
            cwd=scratch,
            env=environment,
        )


if __name__ == "__main__":
    if len(sys.argv) < 3:
        fail("usage: python scripts/check_project.py STEP DIR [pytest arguments...]")
    sys.exit(run_step_tests(sys.argv[1], sys.argv[2], sys.argv[3:]))
