"""The guide cannot drift: its code, links, make targets and lesson diffs match the repository."""

import subprocess
import sys

import pytest

from scripts.lesson_diff import LESSONS
from tests.markdown_checks import (
    ROOT,
    CodeBlock,
    Link,
    MarkdownPage,
    check_code_block,
    check_link,
    check_make_target,
    known_test_names,
    make_mentions,
    makefile_targets,
    markdown_pages,
    named_tests,
    repository_files,
)

PAGES = markdown_pages()
PAGES_BY_NAME = {page.name: page for page in PAGES}
FILES = repository_files()
TARGETS = makefile_targets(ROOT / "Makefile")

SHOWN_BLOCKS = [block for page in PAGES for block in page.blocks if block.shown_file]
LINKS = [link for page in PAGES for link in page.links()]
MAKE_MENTIONS = [
    (page.name, line, target) for page in PAGES for line, target in make_mentions(page)
]
NAMED_TESTS = [(page.name, line, name) for page in PAGES for line, name in named_tests(page)]
TEST_NAMES = known_test_names()
LESSON_DIFFS = [(old, new, f"docs/diffs/{name}") for old, new, name in LESSONS]


@pytest.mark.parametrize(
    "block", SHOWN_BLOCKS, ids=[f"{b.source}:{b.line}:{b.shown_file}" for b in SHOWN_BLOCKS]
)
def test_code_block_is_in_the_file_it_names(block):
    """A block that names a file on its first line shows that file's real lines, in order."""
    problems = check_code_block(block)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "link", LINKS, ids=[f"{link.source}:{link.line}:{link.target}" for link in LINKS]
)
def test_relative_link_resolves(link):
    """A relative link names a file or folder of the repository, and its #anchor exists."""
    problems = check_link(link, PAGES_BY_NAME, FILES)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "target", [m[2] for m in MAKE_MENTIONS], ids=[f"{s}:{n}:make {t}" for s, n, t in MAKE_MENTIONS]
)
def test_make_target_mentioned_exists(target):
    """Every `make X` the README or the guide shows is a target of the Makefile."""
    problems = check_make_target(target, TARGETS)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "name", [m[2] for m in NAMED_TESTS], ids=[f"{s}:{n}:{t}" for s, n, t in NAMED_TESTS]
)
def test_named_test_exists(name):
    """A test the guide names as proof (`test_...`) is a test function of the repository."""
    assert name in TEST_NAMES, f"no test called {name} in step*/tests/ or tests/"


@pytest.mark.parametrize(
    ("old", "new", "committed"), LESSON_DIFFS, ids=[d[2].split("/")[-1] for d in LESSON_DIFFS]
)
def test_committed_lesson_diff_is_current(old, new, committed):
    """The lesson diffs in docs/diffs/ are what scripts/lesson_diff.py prints for the steps now."""
    path = ROOT / committed
    assert path.is_file(), f"{committed} is missing: run make diffs"
    current = subprocess.run(
        [sys.executable, "scripts/lesson_diff.py", old, new],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    committed_text = path.read_text(encoding="utf-8")
    if committed_text != current:
        committed_lines, current_lines = committed_text.splitlines(), current.splitlines()
        # Name the first line that differs instead of printing two diffs of a diff.
        first = next(
            (
                n
                for n, pair in enumerate(zip(committed_lines, current_lines, strict=False), 1)
                if len(set(pair)) > 1
            ),
            min(len(committed_lines), len(current_lines)) + 1,
        )
        pytest.fail(f"{committed} is stale from line {first} on: run make diffs", pytrace=False)


def test_the_guide_is_there_to_check():
    """The checks above have something to check: pages, file blocks, links, make commands."""
    names = set(PAGES_BY_NAME)
    assert {"README.md", "docs/README.md", "docs/01-http.md"} <= names
    assert any(block.source == "docs/01-http.md" for block in SHOWN_BLOCKS)
    assert len(LINKS) > 10
    assert {"run", "test", "check"} <= {target for _, _, target in MAKE_MENTIONS}
    assert "test_posted_message_comes_back_in_the_answer" in {name for _, _, name in NAMED_TESTS}


# The checker itself: it must report what it exists to catch.


def block_of(text):
    page = MarkdownPage(path=ROOT / "docs/example.md", name="docs/example.md")
    page.parse(text)
    assert len(page.blocks) == 1
    return page.blocks[0]


@pytest.fixture
def shown_file(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app/views.py").write_text(
        "import re\n\n\ndef room(request):\n    if request.method == 'POST':\n"
        "        return 'posted'\n    return 'page'\n"
    )
    return tmp_path


def test_checker_accepts_a_block_copied_from_the_file(shown_file):
    """Lines that are in the file, in order and across a snip, are accepted."""
    block = block_of(
        "```python\n# app/views.py\nimport re\n# ...\ndef room(request):\n"
        "    # ...\n    return 'page'\n```\n"
    )
    assert block.shown_file == "app/views.py"
    assert check_code_block(block, shown_file) == []


def test_checker_reports_a_line_the_file_no_longer_has(shown_file):
    """A changed line is reported with the block's place, the file and the missing line."""
    block = block_of(
        "```python\n# app/views.py\ndef room(request):\n    return 'old answer'\n```\n"
    )
    [problem] = check_code_block(block, shown_file)
    assert "docs/example.md:1" in problem and "app/views.py" in problem
    assert "return 'old answer'" in problem


def test_checker_reports_changed_indentation_and_wrong_order(shown_file):
    """Leading whitespace counts, and parts between snips must keep the file's order."""
    dedented = block_of("```python\n# app/views.py\nreturn 'page'\n```\n")
    assert len(check_code_block(dedented, shown_file)) == 1
    swapped = block_of("```python\n# app/views.py\ndef room(request):\n# ...\nimport re\n```\n")
    [problem] = check_code_block(swapped, shown_file)
    assert "wrong order" in problem


def test_checker_reports_a_block_naming_a_missing_file(shown_file):
    """A typo in the path line is an error, not a block that is silently skipped."""
    block = block_of("```html\n<!-- app/templates/room.html -->\n<p>hi</p>\n```\n")
    assert "does not exist" in check_code_block(block, shown_file)[0]


def test_blocks_without_a_path_line_are_not_checked():
    """Shell commands and output do not name a file, so there is nothing to compare."""
    assert block_of("```sh\n# run the tests\nmake test\n```\n").shown_file is None
    assert block_of("```python\n# ...\nx = 1\n```\n").shown_file is None


def test_indented_block_in_a_list_is_read_without_the_list_indent():
    """A fence inside a list item: its lines lose the item's indent, not their own."""
    block = block_of("1. Edit:\n\n   ```python\n   # app/views.py\n       return 1\n   ```\n")
    assert block.lines == ["# app/views.py", "    return 1"]


def test_link_checker_follows_github_anchor_rules(tmp_path):
    """Headings become GitHub slugs (code kept, punctuation dropped, duplicates numbered)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/page.md").write_text(
        "# Step 1: HTTP\n\n## Check yourself: `make check`\n\n## Notes\n\n## Notes\n"
    )
    page = MarkdownPage.read(tmp_path / "docs/page.md", tmp_path)
    assert page.anchors() == {"step-1-http", "check-yourself-make-check", "notes", "notes-1"}
    files = {"docs/page.md"}

    def problems(target):
        return check_link(Link("docs/page.md", 3, target), {}, files, tmp_path)

    assert problems("#notes-1") == []
    assert problems("page.md#check-yourself-make-check") == []
    assert "no heading or id for #notes-2" in problems("#notes-2")[0]
    assert "not a file or folder" in problems("../missing.md")[0]
    assert "outside the repository" in problems("../../elsewhere.md")[0]
    assert problems("https://example.com/#nothing-checked") == []


def test_link_checker_ignores_links_in_code():
    """A link written inside code is text, not a link."""
    page = MarkdownPage(path=ROOT / "x.md", name="x.md")
    page.parse("See `[a](missing.md)`.\n\n```md\n[b](missing.md)\n```\n\n[c](real.md)\n")
    assert [link.target for link in page.links()] == ["real.md"]


def test_make_checker_reports_an_unknown_target(tmp_path):
    """`make` commands in code are read (options and VAR=value skipped); unknown targets fail."""
    (tmp_path / "Makefile").write_text(
        "PORT ?= 8000\n.PHONY: run\nrun-step1 run-step2 run-step3: run-step%: setup\n"
        "\techo $*\ncheck: setup\n\t@echo\nsetup:\n"
    )
    targets = makefile_targets(tmp_path / "Makefile")
    assert targets == {"run-step1", "run-step2", "run-step3", "check", "setup"}
    page = MarkdownPage(path=ROOT / "x.md", name="x.md")
    page.parse(
        "Run `make check STEP=1 DIR=../mine` or `make run-stepN`, then `make -C . deploy`.\n"
        "```sh\ncd step1_http && make test  # comment make nothing\n```\n"
    )
    mentioned = [target for _, target in make_mentions(page)]
    assert mentioned == ["check", "run-stepN", "deploy", "test"]
    assert check_make_target("check", targets) == []
    assert check_make_target("run-stepN", targets) == []
    assert check_make_target("deploy", targets) == ["make deploy is not a Makefile target"]


def test_checked_block_ids_name_the_page_and_line():
    """A failing block is named by page and line, so the culprit is obvious."""
    block = CodeBlock("docs/01-http.md", 42, "python", ["# step1_http/chat/views.py"])
    assert block.shown_file == "step1_http/chat/views.py"
    assert "docs/01-http.md:42" in check_code_block(block)[0]
