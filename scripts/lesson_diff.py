"""Print the lesson of a step: a unified diff of two step folders.

Usage: python scripts/lesson_diff.py [--all] step1_http step2_websocket
   or: python scripts/lesson_diff.py --write docs/diffs   (every committed lesson diff)

By default only the code is compared: tests (tests/, conftest.py, pytest.ini) and generated
migrations are left out, so the diff is what the lesson asks a learner to write; --all shows
them too. Only files git tracks are compared, so a scratch file, a database or its -wal file
never shows up; in a copy without git (a ZIP download) the folders are walked instead, skipping
what .gitignore lists.
"""

import argparse
import difflib
import fnmatch
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The committed diffs: (old step, new step, file name in docs/diffs/).
LESSONS = [
    ("step1_http", "step2_websocket", "step1-to-step2.diff"),
    ("step2_websocket", "step3_channel_layer", "step2-to-step3.diff"),
    ("step3_channel_layer", "step4_production", "step3-to-step4.diff"),
]
TEST_FILES = {"conftest.py", "pytest.ini"}
# What git would not track, for a copy without git: the patterns of .gitignore.
IGNORED = [
    line.strip().rstrip("/")
    for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def tracked_files(folder):
    """Paths (relative to folder) of the files git tracks there, or None without git."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "--cached", "--", folder],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return None
    return {
        Path(name).relative_to(folder).as_posix() for name in listing if (ROOT / name).is_file()
    }


def walked_files(folder):
    """Every file under folder that .gitignore does not exclude."""
    found = set()
    for directory, folders, files in os.walk(ROOT / folder):
        folders[:] = [name for name in folders if not is_ignored(name)]
        for name in files:
            if not is_ignored(name):
                found.add((Path(directory) / name).relative_to(ROOT / folder).as_posix())
    return found


def is_ignored(name):
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED)


def is_lesson_code(name):
    """Code a learner writes: not a test, not a migration that makemigrations generated."""
    parts = name.split("/")
    if parts[0] == "tests" or name in TEST_FILES:
        return False
    return not ("migrations" in parts[:-1] and parts[-1] != "__init__.py")


def project_files(folder, everything=False):
    files = tracked_files(folder)
    if files is None or not (ROOT / ".git").exists():
        files = walked_files(folder)
    return {name for name in files if everything or is_lesson_code(name)}


def read_lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []


def lesson_diff(old, new, everything=False):
    """The unified diff from folder old to folder new, as one string."""
    chunks = []
    for name in sorted(project_files(old, everything) | project_files(new, everything)):
        old_path, new_path = ROOT / old / name, ROOT / new / name
        old_label = f"{old}/{name}" if old_path.is_file() else "/dev/null"
        new_label = f"{new}/{name}" if new_path.is_file() else "/dev/null"
        lines = list(
            difflib.unified_diff(
                read_lines(old_path), read_lines(new_path), old_label, new_label, n=3
            )
        )
        if lines:
            chunks.append(f"diff -ru {old}/{name} {new}/{name}\n")
            chunks.extend(line if line.endswith("\n") else line + "\n" for line in lines)
    return "".join(chunks)


def write_all(folder):
    """Write every committed lesson diff; each file is replaced whole or left as it was."""
    folder = Path(folder)
    texts = {name: lesson_diff(old, new) for old, new, name in LESSONS}
    for name, text in texts.items():
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=folder, prefix=f".{name}.", delete=False
        ) as scratch:
            scratch.write(text)
        os.chmod(scratch.name, 0o644)
        os.replace(scratch.name, folder / name)


def main(arguments):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="include tests and migrations")
    parser.add_argument("--write", metavar="FOLDER", help="write the committed diffs there")
    parser.add_argument("steps", nargs="*", metavar="STEP")
    options = parser.parse_args(arguments)
    if options.write:
        write_all(options.write)
        return 0
    if len(options.steps) != 2:
        parser.error("name two step folders, e.g. step1_http step2_websocket")
    sys.stdout.write(lesson_diff(*options.steps, everything=options.all))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
