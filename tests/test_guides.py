"""The guides hold: every Python block of README.md and docs/*.md runs, and what they name exists.

A page's ``python`` blocks run in order as one module: a block may use what an earlier
block of the same page defined, never another page's. The module's folder is fresh, is
the working directory, holds its ``__file__`` (``app.py``) and the page's files (below),
written before any of its code runs. Blocks that show an app also exercise it
(``with TestClient(app) as client: assert ...``), so what a page says a request returns
is checked too. A comment on the line right above a fence changes how a block is used::

    <!-- docs: file templates/index.html -->  written to that path in the folder, not run
    <!-- docs: skip REASON -->                not run: it cannot run here (keep it rare)
    <!-- docs: xfail REASON -->               a known gap between the page and the code:
                                              the block must fail; REASON names the gap

A block whose lines are all ``--8<-- "PATH"`` (pymdownx.snippets; ``PATH:SECTION`` for
the lines between ``# --8<-- [start:SECTION]`` and ``[end:SECTION]``) shows a file of
``docs/examples/``: it is read as that file's text (so the names it cites are checked),
and not run here: the test that owns the file runs it (``tests/test_tutorial.py``).

Each block is a test named ``page:line`` (its first line of code), with the marker and
its reason in the name; a failure names the page's line. Shell blocks are not run, but
the ``carafe`` commands and flags and the ``bench/`` options they and the prose show must
exist, and so must the extras, the repository files and the ``carafe.*`` names cited.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import subprocess
import sys
import tomllib
import traceback
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import click
import pytest
from click.testing import CliRunner

from carafe import Carafe, ConfigurationError, Depends, Form, Request
from carafe.cli import main as cli
from carafe.testing import TestClient

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SNIPPETS = ROOT / "docs" / "examples"  # mkdocs.yml's pymdownx.snippets base_path

FENCE = re.compile(r"^```(\S*)")
MARKER = re.compile(r"^<!-- docs: (file|skip|xfail) (.+?) -->$")
SNIPPET = re.compile(r'^--8<-- "([^":]+)(?::([\w-]+))?"$')
SECTION = re.compile(r"--8<-- \[(?:start|end):[\w-]+\]")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: str  # relative to the repository, e.g. "docs/forms.md"
    line: int  # 1-based line of the block's first line of content
    lang: str
    code: str
    marker: str | None = None  # "file", "skip" or "xfail"
    argument: str = ""  # the path (file) or the reason (skip, xfail)
    included: str = ""  # the snippets the block shows instead of code of its own

    @property
    def id(self) -> str:
        where = f"{self.page}:{self.line}"
        return f"{where} [{self.marker}: {self.argument}]" if self.marker else where


def read_blocks(name: str, text: str) -> list[Block]:
    """Every fenced block of the page ``name``, with the marker comment just above it."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        above = lines[index - 1] if index else ""
        marked = MARKER.match(above)
        code = "\n".join(lines[index + 1 : end]) + "\n"
        snippets = [SNIPPET.match(line) for line in lines[index + 1 : end]]
        included = ""
        if snippets and all(snippets):
            included = " ".join(line for line in lines[index + 1 : end])
            code = "".join(read_snippet(*match.groups()) for match in snippets if match)
        blocks.append(
            Block(
                page=name,
                line=index + 2,
                lang=fence.group(1),
                code=code,
                marker=marked.group(1) if marked else None,
                argument=marked.group(2) if marked else "",
                included=included,
            )
        )
        index = end + 1
    return blocks


def read_snippet(path: str, section: str | None) -> str:
    """What pymdownx.snippets puts in the page for ``--8<-- "path:section"``."""
    lines = (SNIPPETS / path).read_text(encoding="utf-8").splitlines()
    if section is not None:
        start = lines.index(f"# --8<-- [start:{section}]")
        lines = lines[start + 1 : lines.index(f"# --8<-- [end:{section}]", start)]
    return "".join(f"{line}\n" for line in lines if not SECTION.search(line))


BLOCKS = {
    name: read_blocks(name, (ROOT / name).read_text(encoding="utf-8"))
    for name in (page.relative_to(ROOT).as_posix() for page in PAGES)
}
PYTHON = [
    block
    for blocks in BLOCKS.values()
    for block in blocks
    if block.lang == "python" and block.marker != "file" and not block.included
]


# --- Running the Python blocks --------------------------------------------------------


class PageRun:
    """One page's module, its folder, and how far its blocks have run."""

    def __init__(self, page: str, folder: Path) -> None:
        self.folder = folder
        stem = re.sub(r"\W", "_", Path(page).stem)
        self.module = types.ModuleType(f"guide_{stem}")
        self.module.__file__ = str(folder / "app.py")
        self.steps = iter(BLOCKS[page])
        self.write_files(page)
        self.done: dict[int, BaseException | None] = {}  # block line -> what it raised

    def write_files(self, page: str) -> None:
        """The page's ``file`` blocks, wherever they stand on the page."""
        for block in BLOCKS[page]:
            if block.marker == "file":
                path = self.folder / block.argument
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(block.code, encoding="utf-8")

    def run_until(self, target: Block) -> None:
        """Run this page's Python blocks up to ``target`` (included), each once."""
        while target.line not in self.done:
            step = next(self.steps)
            if step.lang == "python" and step.marker in (None, "xfail") and not step.included:
                self.done[step.line] = self.execute(step)

    def execute(self, block: Block) -> BaseException | None:
        # Padding keeps the page's line numbers in tracebacks; dont_inherit keeps this
        # file's ``from __future__ import annotations`` out of the page's code.
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, str(ROOT / block.page), "exec", dont_inherit=True)
        try:
            exec(code, self.module.__dict__)
        except Exception as exc:
            # exec'd code gets no assertion rewriting: name the page's failing line instead.
            lines = block.code.splitlines()
            for frame, number in traceback.walk_tb(exc.__traceback__):
                if frame.f_code.co_filename == code.co_filename:
                    where = number - block.line
                    if 0 <= where < len(lines):
                        exc.add_note(f"{block.page}:{number}: {lines[where].strip()}")
            return exc
        return None


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, PageRun]]:
    """The pages started so far in this test module, by page."""
    started: dict[str, PageRun] = {}
    yield started
    for run in started.values():
        sys.modules.pop(run.module.__name__, None)


def python_params() -> list[object]:
    params: list[object] = []
    for block in PYTHON:
        marks: list[pytest.MarkDecorator] = []
        if block.marker == "skip":
            marks.append(pytest.mark.skip(reason=block.argument))
        elif block.marker == "xfail":
            marks.append(pytest.mark.xfail(reason=block.argument, strict=True))
        params.append(pytest.param(block, marks=marks, id=block.id))
    return params


@pytest.mark.parametrize("block", python_params())
def test_python_block(
    block: Block,
    runs: dict[str, PageRun],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = runs.get(block.page)
    if run is None:
        run = runs[block.page] = PageRun(block.page, tmp_path_factory.mktemp("page"))
        sys.modules[run.module.__name__] = run.module  # dataclasses and pydantic look here
    monkeypatch.chdir(run.folder)
    monkeypatch.delenv("CARAFE_REDIS_URL", raising=False)
    run.run_until(block)
    failed_before = [
        line
        for line, error in run.done.items()
        if error is not None and line < block.line and not _expected_to_fail(block.page, line)
    ]
    if failed_before:
        pytest.fail(f"an earlier block of {block.page} failed (line {failed_before[0]})")
    error = run.done[block.line]
    if error is not None:
        raise error


def _expected_to_fail(page: str, line: int) -> bool:
    return any(b.line == line and b.marker == "xfail" for b in BLOCKS[page])


def test_blocks_and_markers_are_read() -> None:
    page = (
        "Text\n"
        "<!-- docs: file templates/a.html -->\n"
        "```html\n<p>{{ x }}</p>\n```\n"
        "\n<!-- docs: xfail Carafe has no X yet -->\n"
        "```python\nimport x\n\nx.y()\n```\n"
        "```sh\ncarafe run app:app\n```\n"
    )
    file, gap, shell = read_blocks("docs/p.md", page)
    assert (file.marker, file.argument, file.lang, file.code) == (
        "file",
        "templates/a.html",
        "html",
        "<p>{{ x }}</p>\n",
    )
    assert (gap.id, gap.line, gap.code) == (
        "docs/p.md:9 [xfail: Carafe has no X yet]",
        9,
        "import x\n\nx.y()\n",
    )
    assert (shell.lang, shell.marker) == ("sh", None)


def test_included_files_are_read_not_run() -> None:
    page = '```python\n--8<-- "tutorial/1-json-api/app.py"\n```\n'
    (block,) = read_blocks("docs/p.md", page)
    assert block.included == '--8<-- "tutorial/1-json-api/app.py"'
    assert block.code == (SNIPPETS / "tutorial/1-json-api/app.py").read_text(encoding="utf-8")
    included = [block for blocks in BLOCKS.values() for block in blocks if block.included]
    assert included, "the tutorial includes its files; none was found"
    assert all(block.code.strip() for block in included)


def test_every_page_is_read() -> None:
    assert len(PYTHON) >= 20  # a broken fence pattern would silently test nothing
    assert [block.id for block in PYTHON if not block.code.strip()] == []
    # A misspelt marker, or one that is not right above a fence, would be ignored.
    misplaced = [
        f"{page}:{number}"
        for page in BLOCKS
        for number, (line, below) in enumerate(_pairs(page), 1)
        if line.startswith("<!-- docs:") and (not MARKER.match(line) or not FENCE.match(below))
    ]
    assert misplaced == []


def _pairs(page: str) -> list[tuple[str, str]]:
    lines = (ROOT / page).read_text(encoding="utf-8").splitlines()
    return list(zip(lines, [*lines[1:], ""], strict=True))


# --- What the prose and the shell blocks name -----------------------------------------

COMMAND = re.compile(r"\bcarafe (run|routes|openapi|[a-z]+)\b([^`\n]*)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def shell_and_prose() -> Iterator[tuple[str, str]]:
    """(page:line, text) for every line of a shell block, and the code spans of each line
    of prose joined by spaces (so `carafe openapi app:app` (`--indent 0`) is one text)."""
    for page, blocks in BLOCKS.items():
        for block in blocks:
            if block.lang in ("sh", "bash", "console", ""):
                for offset, text in enumerate(block.code.splitlines()):
                    yield f"{page}:{block.line + offset}", text
        text = (ROOT / page).read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            spans = CODE_SPAN.findall(line)
            if spans:
                yield f"{page}:{number}", " ".join(spans)


FLAG = re.compile(r"(?<![\w-])--?[a-z][\w-]*")


def extension_commands() -> dict[str, str]:
    """The help of the commands Carafe's optional extensions offer an app (``carafe db``,
    ``carafe worker``), a group's with its subcommands'."""
    from carafe.db import Database
    from carafe.jobs import Jobs

    app = Carafe(extensions=[Database(), Jobs()])
    helps: dict[str, str] = {}
    for name, command in app.registry.commands.items():
        texts = [command.get_help(click.Context(command, info_name=name))]
        for sub_name, sub in getattr(command, "commands", {}).items():
            texts.append(sub.get_help(click.Context(sub, info_name=sub_name)))
        helps[name] = "\n".join(texts)
    return helps


def test_carafe_commands_and_flags_exist() -> None:
    helps = {name: CliRunner().invoke(cli, [name, "--help"]).output for name in cli.commands}
    helps.update(extension_commands())

    def unknown(command: str, rest: str) -> list[str]:
        if command not in helps:
            return [f"carafe {command}"]
        text = helps[command]
        return [
            f"carafe {command} {flag}"
            for flag in FLAG.findall(rest)
            if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is None
        ]

    found = [(where, match) for where, text in shell_and_prose() for match in COMMAND.findall(text)]
    assert len(found) > 10, "the docs show carafe commands; the pattern finds none"
    assert [f"{where}: {bad}" for where, match in found for bad in unknown(*match)] == []


BENCH = re.compile(r"\bbench/(\w+\.py)((?: +-[-\w]+(?: [\w,]+)?)+)")


def test_bench_options_exist() -> None:
    """``bench/inprocess.py --cases deps``: the script takes the option and knows the case."""
    found = [(where, match) for where, text in shell_and_prose() for match in BENCH.findall(text)]
    helps = {
        script: subprocess.run(
            [sys.executable, str(ROOT / "bench" / script), "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for script in {script for _, (script, _) in found}
    }

    def unknown(script: str, rest: str) -> list[str]:
        text = helps[script]
        # The help wraps its lists of names anywhere: join the lines, split on , : --
        listed = set(re.split(r"[,:]|--", re.sub(r"\s+", "", text)))
        return [
            f"bench/{script} {flag} {value}".rstrip()
            for flag, value in re.findall(r"(--?[a-z][\w-]*)(?: ([\w,]+))?", rest)
            if re.search(rf"(?<![\w-]){flag}(?![\w-])", text) is None
            or (flag in ("--cases", "--apps") and not set(value.split(",")) <= listed)
        ]

    assert "inprocess.py" in helps
    assert [f"{where}: {bad}" for where, match in found for bad in unknown(*match)] == []


def test_apps_the_commands_name_exist() -> None:
    """``carafe run examples.api:app`` and the like: the module has the attribute."""
    targets = [
        (where, module, attribute)
        for where, text in shell_and_prose()
        for module, attribute in re.findall(r"\b((?:examples|docs)\.[\w.]+):(\w+)", text)
    ]
    assert targets
    missing = [
        f"{where}: {module}:{attribute}"
        for where, module, attribute in targets
        if not hasattr(importlib.import_module(module), attribute)
    ]
    assert missing == []


def test_extras_the_pages_name_exist() -> None:
    """``pip install 'carafe[forms]'``: pyproject.toml declares that extra."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(declared["optional-dependencies"])
    named = [
        (page, extra)
        for page in BLOCKS
        for group in re.findall(r"carafe\[([\w,-]+)\]", (ROOT / page).read_text())
        for extra in group.split(",")
    ]
    assert named
    assert [f"{page}: carafe[{extra}]" for page, extra in named if extra not in extras] == []


REPO_PATH = re.compile(r"^\.?[\w-]+(?:/[\w.-]+)+/?$")
TOP_LEVEL = {entry.name for entry in ROOT.iterdir()} | {"carafe"}  # carafe/x.py is in src/


def cited_paths() -> Iterator[tuple[str, str]]:
    """Paths the pages cite: code spans that look like repository paths, and links."""
    for page in BLOCKS:
        text = (ROOT / page).read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), 1):
            for span in CODE_SPAN.findall(line):
                is_path = REPO_PATH.match(span) is not None and not span.endswith("...")
                if is_path and (span.split("/")[0] in TOP_LEVEL or span.endswith((".py", ".md"))):
                    yield f"{page}:{number}", span
            for link in re.findall(r"\]\(([^)#\s]+)", line):
                if not re.match(r"[a-z]+:", link):
                    yield f"{page}:{number}", str(Path(page).parent / link)


def test_files_the_pages_cite_exist() -> None:
    missing = [
        f"{where}: {path}"
        for where, path in cited_paths()
        if not (ROOT / path).exists() and not (ROOT / "src" / path).exists()
    ]
    assert missing == []


def test_carafe_names_the_pages_cite_exist() -> None:
    """``carafe.limits.Limits``, ``carafe.security``: importable where the page says."""
    names = [
        (where, dotted)
        for where, text in shell_and_prose()
        for dotted in re.findall(r"(?<![\w.])carafe(?:\.\w+)+(?!\w)", text)
    ]
    assert len(names) > 5
    assert [f"{where}: {dotted}" for where, dotted in names if not _resolves(dotted)] == []


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(value, attribute):
                return False
            value = getattr(value, attribute)
        return True
    return False


# --- Claims a block cannot show ---------------------------------------------------------


def test_forms_page_when_the_parser_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/forms.md: a Form() parameter needs the parser at startup; request.form() only
    for a multipart body."""
    monkeypatch.setitem(sys.modules, "multipart", None)  # as if it were not installed
    app = Carafe()

    def name(name: Annotated[str, Form()]) -> str:
        return name

    @app.post("/hello")
    async def hello(who: str = Depends(name)) -> str:
        return who

    with pytest.raises(ConfigurationError, match=r"pip install 'carafe\[forms\]'"):
        app.compile()

    plain = Carafe()

    @plain.post("/echo")
    async def echo(request: Request) -> dict[str, str]:
        return {key: str(value) for key, value in (await request.form()).multi_items()}

    with TestClient(plain, raise_server_exceptions=False) as client:
        assert client.post("/echo", data={"a": "1"}).json() == {"a": "1"}
        assert client.post("/echo", files={"f": ("a.txt", b"x")}).status_code == 500


def test_the_haproxy_configuration_the_deployment_page_shows_is_the_clusters() -> None:
    """docs/deployment.md shows "the parts that matter" of the HAProxy configuration the
    scale-out tests run (``tests/cluster.py``): each line is in it, in the same order."""
    from types import SimpleNamespace

    from tests.cluster import Cluster

    (block,) = [
        b for b in BLOCKS["docs/deployment.md"] if b.lang == "text" and "defaults" in b.code
    ]
    hosts = {
        name: SimpleNamespace(name=name, address=f"10.77.0.{n}") for n, name in ((1, "a"), (2, "b"))
    }
    cluster = SimpleNamespace(
        hosts=hosts, _stats_socket="/run/haproxy.sock", port=8080, health="/healthz",
        proxy_address="10.77.0.254",
    )  # fmt: skip
    config = [
        " ".join(line.split("#")[0].split())
        for line in Cluster.haproxy_config(cluster).splitlines()
    ]
    shown = [" ".join(line.split("#")[0].split()) for line in block.code.splitlines()]
    shown = [line for line in shown if line]
    assert len(shown) > 10
    positions = [config.index(line) if line in config else -1 for line in shown]
    assert [line for line, at in zip(shown, positions, strict=True) if at < 0] == []
    assert positions == sorted(positions)
