"""Print the lesson of a step: a unified diff of two step folders.

Only files that git tracks (or would track) are compared, so databases, caches and virtualenvs
never show up. Usage: python scripts/lesson_diff.py step1_http step2_websocket
"""

import difflib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def project_files(folder):
    """Paths (relative to folder) of the files git tracks or would track there."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", folder],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {
        Path(name).relative_to(folder).as_posix() for name in listing if (ROOT / name).is_file()
    }


def read_lines(path):
    return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.is_file() else []


def lesson_diff(old, new):
    """The unified diff from folder old to folder new, as one string."""
    chunks = []
    for name in sorted(project_files(old) | project_files(new)):
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


if __name__ == "__main__":
    sys.stdout.write(lesson_diff(sys.argv[1], sys.argv[2]))
