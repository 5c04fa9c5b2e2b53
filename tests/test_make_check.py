"""`make check STEP=N DIR=path` runs a step's own tests against a learner's project."""

import importlib.util
import shutil
import subprocess

import pytest

from tests.markdown_checks import ROOT

PROJECT_FILES = shutil.ignore_patterns(
    "tests", "conftest.py", "pytest.ini", "__pycache__", "*.sqlite3*", "staticfiles"
)


def make_check(*arguments):
    return subprocess.run(
        ["make", "--no-print-directory", "check", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def learner_copy(tmp_path):
    """step1_http/ as a learner's project: the code only, no tests, in a folder elsewhere."""
    project = tmp_path / "my-chat"
    shutil.copytree(ROOT / "step1_http", project, ignore=PROJECT_FILES)
    return project


def test_check_passes_on_a_correct_project(learner_copy):
    """A copy of the reference project passes step 1's tests, browser test included."""
    before = sorted(path.relative_to(learner_copy) for path in learner_copy.rglob("*"))
    done = make_check("STEP=1", f"DIR={learner_copy}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"against {learner_copy}" in done.stdout
    assert " passed" in done.stdout and " failed" not in done.stdout
    # The tests ran on a copy: no test database, no bytecode, nothing new in the project.
    assert sorted(path.relative_to(learner_copy) for path in learner_copy.rglob("*")) == before


def test_check_fails_on_a_project_whose_view_forgets_the_message(learner_copy):
    """A view that answers without the posted message fails, and the failing test is named."""
    views = learner_copy / "chat/views.py"
    source = views.read_text()
    assert "messages.append(message)" in source
    views.write_text(source.replace("messages.append(message)", "pass"))
    done = make_check("STEP=1", f"DIR={learner_copy}", "ARGS=-k 'not browser'")
    assert done.returncode != 0
    assert "FAILED tests/test_pages.py::test_posted_message_comes_back_in_the_answer" in done.stdout


def test_check_refuses_a_folder_without_the_chat_app(learner_copy):
    """A folder without the app the tests need is refused with the command that makes it."""
    shutil.rmtree(learner_copy / "chat")
    done = make_check("STEP=1", f"DIR={learner_copy}")
    assert done.returncode != 0
    assert "chat/apps.py" in done.stderr and "startapp chat" in done.stderr


def test_check_step_3_passes_on_the_channel_layer_lesson_and_names_a_missing_group_send(tmp_path):
    """Step 3's tests pass on a copy of the lesson's code, and fail where group_send is gone."""
    project = tmp_path / "my-chat"
    shutil.copytree(ROOT / "step3_channel_layer", project, ignore=PROJECT_FILES)
    done = make_check("STEP=3", f"DIR={project}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and " failed" not in done.stdout

    # A consumer that only answers its own socket, as in step 2, is what the lesson fixes.
    consumer = project / "chat/consumers.py"
    source = consumer.read_text()
    broadcast = "await self.channel_layer.group_send(self.room_group_name, saved)"
    assert broadcast in source
    consumer.write_text(source.replace(broadcast, "await self.send_json(saved)"))
    done = make_check("STEP=3", f"DIR={project}", "ARGS=-k 'not browser'")
    assert done.returncode != 0
    assert (
        "FAILED tests/test_consumers.py::"
        "test_three_sockets_in_a_room_each_receive_a_message_exactly_once" in done.stdout
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["STEP=1"], "say where your project is"),
        (["STEP=9", "DIR=."], "STEP must be 1, 2, 3 or 4"),
        (["STEP=1", "DIR=/nonexistent/my-chat"], "is not a folder"),
    ],
)
def test_check_explains_a_wrong_call(arguments, message):
    """Missing or wrong STEP and DIR give a sentence that says what to type."""
    done = make_check(*arguments)
    assert done.returncode != 0
    assert message in done.stderr


def test_the_copy_leaves_out_virtualenvs_databases_and_the_learners_own_tests(tmp_path):
    """What is not code stays behind; the step's tests replace the learner's."""
    spec = importlib.util.spec_from_file_location(
        "check_project", ROOT / "scripts/check_project.py"
    )
    check_project = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_project)
    project = tmp_path / "my-chat"
    for name in (
        "manage.py",
        "db.sqlite3",
        "conftest.py",
        "tests/test_mine.py",
        ".venv/pyvenv.cfg",
        ".venv/lib/big.py",
        "chat/views.py",
        "chat/tests/__init__.py",
        "chat/__pycache__/views.cpython-311.pyc",
    ):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("")
    check_project.copy_project(project, tmp_path / "copy")
    copied = {p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*")}
    assert copied == {"manage.py", "chat", "chat/views.py", "chat/tests", "chat/tests/__init__.py"}
