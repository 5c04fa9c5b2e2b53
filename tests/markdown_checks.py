"""Read the guide's Markdown and report where it no longer matches the repository.

Each check returns a list of problems (sentences); an empty list means the docs are right. The
tests in test_docs.py run them per file, per code block and per link, so a failure names the
culprit. The conventions checked are the guide's:

- A fenced code block whose first line is a comment naming a file (``# step1_http/chat/views.py``,
  ``// path``, ``<!-- path -->``, ``/* path */``) shows that file: the rest of the block must
  appear in it verbatim. A line that is only ``# ...``, ``// ...``, ``<!-- ... -->`` or
  ``/* ... */`` is a snip: each run of lines between snips must appear in the file, in order.
- Relative links and #anchors resolve the way GitHub resolves them.
- Every ``make TARGET`` shown in code is a target of the Makefile.
"""

import re
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^(?P<indent> {0,3}|\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
PATH_COMMENT = re.compile(
    r"^\s*(?:#|//|<!--|/\*)\s*(?P<path>[\w.-]+(?:/[\w.-]+)*)\s*(?:-->|\*/)?\s*$"
)
SNIP = re.compile(r"^\s*(?:#\s*\.\.\.|//\s*\.\.\.|<!--\s*\.\.\.\s*-->|/\*\s*\.\.\.\s*\*/)\s*$")
INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(?P<code>.+?)(?<!`)\1(?!`)")
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?(?P<target>[^\s()<>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(?P<target>\S+?)>?(?:\s+.*)?$")
HTML_LINK = re.compile(r"""\b(?:href|src)=["'](?P<target>[^"']+)["']""")
HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)=["'](?P<anchor>[^"']+)["']""")
HEADING = re.compile(r"^ {0,3}(?P<level>#{1,6})\s+(?P<text>.*?)\s*#*\s*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")
LINE_ANCHOR = re.compile(r"^L(?P<start>\d+)(?:-L(?P<end>\d+))?$")
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console", "zsh"}
MAKE_COMMAND = re.compile(r"(?:^|[\s;&|(]|\$\s)make(?P<args>(?:[ \t]+[^\s;&|)#]+)*)")


@dataclass
class CodeBlock:
    """A fenced code block: where it starts, its language, and its lines (fence excluded)."""

    source: str
    line: int
    language: str
    lines: list = field(default_factory=list)

    @property
    def shown_file(self):
        """The repository path the block's first line names, or None."""
        if not self.lines:
            return None
        match = PATH_COMMENT.match(self.lines[0])
        if not match:
            return None
        path = match.group("path")
        if not re.search(r"[A-Za-z]", path):
            return None
        # "# step1_http/chat/views.py" and "# Makefile" name files; "# TODO" names nothing.
        if "/" in path or "." in path or (ROOT / path).is_file():
            return path
        return None


@dataclass
class Link:
    source: str
    line: int
    target: str


@dataclass
class MarkdownPage:
    """One Markdown file split into code blocks, prose lines (code spans kept) and links."""

    path: Path
    name: str
    blocks: list = field(default_factory=list)
    prose: list = field(default_factory=list)  # (line number, text)

    @classmethod
    def read(cls, path, root=ROOT):
        page = cls(path=path, name=path.relative_to(root).as_posix())
        page.parse(path.read_text(encoding="utf-8"))
        return page

    def parse(self, text):
        block, fence, indent = None, "", 0
        for number, line in enumerate(text.splitlines(), start=1):
            if block is None:
                match = FENCE.match(line)
                if match and not (match.group("fence")[0] == "`" and "`" in match.group("info")):
                    fence, indent = match.group("fence"), len(match.group("indent"))
                    language = match.group("info").strip().split(" ")[0].lower()
                    block = CodeBlock(self.name, number, language)
                    continue
                self.prose.append((number, line))
                continue
            stripped = line.strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                self.blocks.append(block)
                block = None
                continue
            # Inside a list item the fence is indented; so is every line of its block.
            block.lines.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
        if block is not None:
            self.blocks.append(block)

    def visible_prose(self):
        """The prose with HTML comments blanked, keeping line numbers."""
        text = "\n".join(line for _, line in self.prose)
        text = HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        return [
            (number, line) for (number, _), line in zip(self.prose, text.split("\n"), strict=True)
        ]

    def prose_text(self):
        """The visible prose with code spans blanked: what can hold a link."""
        return [(number, INLINE_CODE.sub("", line)) for number, line in self.visible_prose()]

    def links(self):
        found = []
        for number, line in self.prose_text():
            for pattern in (INLINE_LINK, REFERENCE_LINK, HTML_LINK):
                for match in pattern.finditer(line):
                    found.append(Link(self.name, number, match.group("target")))
        return found

    def anchors(self):
        """The #anchors GitHub gives this page: heading slugs (deduplicated) and HTML ids."""
        anchors, seen = set(), {}
        previous = ""
        for _, line in self.visible_prose():
            text = None
            heading = HEADING.match(line)
            if heading:
                text = heading.group("text")
            elif SETEXT_UNDERLINE.match(line) and previous.strip() and not HEADING.match(previous):
                text = previous.strip()
            if text is not None:
                slug = github_slug(text)
                count = seen.get(slug, 0)
                seen[slug] = count + 1
                anchors.add(slug if count == 0 else f"{slug}-{count}")
            previous = line
        raw = "\n".join(line for _, line in self.prose)
        anchors.update(match.group("anchor") for match in HTML_ANCHOR.finditer(raw))
        return anchors

    def inline_code(self):
        """(line number, code) for every code span in the prose."""
        return [
            (number, match.group("code").strip())
            for number, line in self.visible_prose()
            for match in INLINE_CODE.finditer(line)
        ]


def github_slug(heading):
    """The anchor GitHub gives a heading (github-slugger, on the heading's rendered text)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = text.lower()
    kept = "".join(
        char
        for char in text
        if char in " -_"
        or unicodedata.category(char)[0] in "LNM"
        or unicodedata.category(char) == "Pc"
    )
    return kept.replace(" ", "-")


def repository_files(root=ROOT):
    """Repository-relative paths of the files git tracks or would track: what GitHub will show."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {name for name in listing if (root / name).is_file()}


def markdown_pages(root=ROOT):
    """README.md and every page of the guide."""
    paths = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return [MarkdownPage.read(path, root) for path in paths if path.is_file()]


# Code blocks that show a file


def split_at_snips(lines):
    """The runs of lines between snip lines, blank lines at either end of a run dropped."""
    runs, current = [], []
    for line in [*lines, "# ..."]:
        if SNIP.match(line):
            while current and not current[0].strip():
                current.pop(0)
            while current and not current[-1].strip():
                current.pop()
            if current:
                runs.append(current)
            current = []
        else:
            current.append(line.rstrip())
    return runs


def find_run(run, file_lines, start):
    """Index where run appears as consecutive lines of file_lines at or after start, or -1."""
    for index in range(start, len(file_lines) - len(run) + 1):
        if file_lines[index : index + len(run)] == run:
            return index
    return -1


def longest_prefix(run, file_lines, start):
    """How many leading lines of run appear consecutively somewhere at or after start."""
    best = 0
    for index in range(start, len(file_lines)):
        length = 0
        while (
            length < len(run)
            and index + length < len(file_lines)
            and file_lines[index + length] == run[length]
        ):
            length += 1
        best = max(best, length)
    return best


def check_code_block(block, root=ROOT):
    """Problems with a block that shows a file: every run of its lines is in the file, in order."""
    path = block.shown_file
    where = f"{block.source}:{block.line}"
    target = root / path
    if not target.is_file():
        return [f"{where}: the block names {path}, which does not exist"]
    file_lines = [line.rstrip() for line in target.read_text(encoding="utf-8").splitlines()]
    runs = split_at_snips(block.lines[1:])
    if not runs:
        return [f"{where}: the block names {path} but shows none of it"]
    problems, start = [], 0
    for number, run in enumerate(runs, start=1):
        index = find_run(run, file_lines, start)
        if index < 0:
            matched = longest_prefix(run, file_lines, start)
            missing = run[matched]
            anywhere = find_run(run, file_lines, 0) >= 0
            detail = (
                "it is in the file, but before the previous part of the block (wrong order)"
                if anywhere
                else f"line {matched + 1} of that part is not where the block puts it: {missing!r}"
            )
            problems.append(f"{where}: part {number} of the block is not in {path}: {detail}")
            continue
        start = index + len(run)
    return problems


# Links and anchors


def check_link(link, pages_by_name, files, root=ROOT):
    """Problems with one link: a relative target must be in the repository, its #anchor too."""
    target = link.target
    where = f"{link.source}:{link.line}"
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return []  # http:, https:, mailto: ... are not checked (no network in tests)
    path_part, _, anchor = target.partition("#")
    source_dir = (root / link.source).parent
    if path_part:
        if path_part.startswith("/"):
            return [f"{where}: {target} is absolute; GitHub needs a path relative to the page"]
        resolved = (source_dir / path_part).resolve()
        try:
            relative = resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            return [f"{where}: {target} points outside the repository"]
        is_file = relative in files
        is_folder = any(name.startswith(relative.rstrip("/") + "/") for name in files) or (
            relative == "."
        )
        if not (is_file or is_folder):
            return [f"{where}: {target} is not a file or folder of the repository"]
    else:
        relative = link.source
        is_file = True
    if not anchor:
        return []
    if not is_file:
        return [f"{where}: {target} puts an #anchor on a folder"]
    if relative.endswith(".md"):
        page = pages_by_name.get(relative) or MarkdownPage.read(root / relative, root)
        if anchor not in page.anchors():
            return [f"{where}: {relative} has no heading or id for #{anchor}"]
        return []
    line_anchor = LINE_ANCHOR.match(anchor)
    if not line_anchor:
        return [f"{where}: #{anchor} on {relative} is not a line anchor like #L12 or #L12-L20"]
    length = len((root / relative).read_text(encoding="utf-8").splitlines())
    last = int(line_anchor.group("end") or line_anchor.group("start"))
    if last > length:
        return [f"{where}: {relative} has {length} lines, so #{anchor} points past its end"]
    return []


# make targets


def makefile_targets(makefile):
    """The targets a Makefile defines (explicit and static-pattern rules; not special ones)."""
    targets = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        if line.startswith(("\t", "#", " ")) or not line.strip():
            continue
        match = re.match(r"^([^:=#]+?)\s*::?(?!=)", line)
        if not match:
            continue
        for name in match.group(1).split():
            if not name.startswith((".", "$")) and "%" not in name:
                targets.add(name)
    return targets


def make_mentions(page):
    """(line number, target) for every `make TARGET` a page shows in code."""
    commands = list(page.inline_code())
    for block in page.blocks:
        if block.language in SHELL_LANGUAGES:
            commands.extend(
                (block.line + offset, line) for offset, line in enumerate(block.lines, 1)
            )
    mentions = []
    for number, command in commands:
        command = command.split(" #", 1)[0]
        for match in MAKE_COMMAND.finditer(command):
            words, skip_next = match.group("args").split(), False
            for word in words:
                if skip_next:
                    skip_next = False
                elif word in ("-C", "-f", "--directory", "--file"):
                    skip_next = True
                elif not word.startswith("-") and "=" not in word:
                    mentions.append((number, word))
    return mentions


def check_make_target(target, targets):
    """Problems with one mentioned target. `stepN` stands for every step: all three must exist."""
    if "stepN" in target:
        missing = [
            target.replace("stepN", f"step{n}")
            for n in (1, 2, 3)
            if target.replace("stepN", f"step{n}") not in targets
        ]
        return [f"make {name} is not a Makefile target" for name in missing]
    if target not in targets:
        return [f"make {target} is not a Makefile target"]
    return []


# Tests the guide names


def known_test_names(root=ROOT):
    """Names of the test functions in every step's tests and the repository's own."""
    names = set()
    for path in [*root.glob("step*/tests/*.py"), *root.glob("tests/*.py")]:
        names.update(
            re.findall(r"^\s*(?:async\s+)?def\s+(test_\w+)", path.read_text("utf-8"), re.M)
        )
    return names


def named_tests(page):
    """(line number, name) for every `test_name` (or `path::test_name`) a page shows."""
    mentions = []
    for number, code in page.inline_code():
        match = re.fullmatch(r"(?:[\w/.-]+::)?(test_\w+)(?:\[.*\])?", code)
        if match:
            mentions.append((number, match.group(1)))
    return mentions


# How long the workshop path is to read

WORKSHOP_PATH = (
    "README.md",
    "docs/README.md",
    "docs/01-http.md",
    "docs/02-websocket.md",
    "docs/03-channel-layer.md",
)
WORDS_PER_MINUTE = 200  # a careful reading of technical prose
DETAILS_OPEN = re.compile(r"<details\b", re.IGNORECASE)
DETAILS_CLOSE = re.compile(r"</details\s*>", re.IGNORECASE)
LINK_TARGET = re.compile(r"\]\([^)]*\)")
HTML_TAG = re.compile(r"<[^>]+>")
WORD = re.compile(r"\S*[A-Za-z0-9]\S*")
STATED_MINUTES = re.compile(r"\b(?P<minutes>\d+) minutes\b")


def count_prose_words(page):
    """(words on the path, words folded away) in a page's prose, code blocks left out.

    Prose is everything outside fenced code blocks and HTML comments: paragraphs, lists, tables,
    headings and code spans. A word is a run of non-space characters with a letter or digit in
    it (table rules and bullets are not words); a link counts its text, not its address. Words
    inside a collapsed ``<details>`` element are counted apart: a reader opens them on purpose.
    """
    on_path = folded = depth = 0
    for _, line in page.visible_prose():
        opened, closed = len(DETAILS_OPEN.findall(line)), len(DETAILS_CLOSE.findall(line))
        words = len(WORD.findall(HTML_TAG.sub(" ", LINK_TARGET.sub("]", line))))
        if depth or opened:
            folded += words
        else:
            on_path += words
        depth = max(0, depth + opened - closed)
    return on_path, folded


def stated_minutes(page):
    """The minutes a page says it takes, from the prose before its first ``##`` heading."""
    for _, line in page.visible_prose():
        if line.startswith("## "):
            break
        match = STATED_MINUTES.search(line)
        if match:
            return int(match.group("minutes"))
    return None
