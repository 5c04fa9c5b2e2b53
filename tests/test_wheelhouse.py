"""`make wheelhouse` and the offline install it allows, read with `make -n` (nothing downloads)."""

import subprocess

from tests.markdown_checks import ROOT, MarkdownPage

DOWNLOAD = "-m pip download --disable-pip-version-check -r requirements.txt -d wheelhouse"
OFFLINE_INSTALL = "pip install --no-index --find-links wheelhouse -r requirements.txt"


def make_dry_run(*arguments):
    """The commands make would run, without running them (-n), every target remade (-B)."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_wheelhouse_downloads_every_requirement_into_the_folder():
    """make wheelhouse runs pip download on requirements.txt into wheelhouse/."""
    assert DOWNLOAD in make_dry_run("wheelhouse")


def test_install_uses_the_wheelhouse_only_when_it_has_files(tmp_path):
    """With a wheelhouse the first make installs from it alone; without one, from the index."""
    empty = tmp_path / "empty"
    empty.mkdir()
    full = tmp_path / "full"
    full.mkdir()
    (full / "Django-5.2.19-py3-none-any.whl").write_bytes(b"")

    offline = make_dry_run(".venv/.installed", f"WHEELHOUSE={full}")
    assert f"--no-index --find-links {full} -r requirements.txt" in offline
    for folder in (empty, tmp_path / "missing"):
        online = make_dry_run(".venv/.installed", f"WHEELHOUSE={folder}")
        assert "-r requirements.txt" in online and "--no-index" not in online


def test_the_instructor_page_shows_the_offline_install():
    """The instructor's page says how to make the wheelhouse and how to install from it."""
    page = MarkdownPage.read(ROOT / "docs/instructor.md")
    shown = [line.strip() for block in page.blocks for line in block.lines]
    assert "make wheelhouse" in shown
    assert any(line.endswith(OFFLINE_INSTALL) for line in shown)
    assert (ROOT / ".gitignore").read_text().splitlines().count("wheelhouse/") == 1
