"""The documentation site (mkdocs.yml) builds, covers the public API, and works offline.

``mkdocs build --strict`` (also run by scripts/test) fails on a page missing from the
nav, a link to a page or an anchor that does not exist, a snippet whose file or section
is gone, or a docstring mkdocstrings cannot read (``test_the_strict_build_fails_on`` shows
each on a small site with this project's settings). These tests add what strict mode does
not check: every public name has a docstring and a place in the API reference, every link
and anchor of the built HTML resolves, nothing is loaded from another host, and search
answers from ``file://``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import griffe
import pytest
import yaml

import carafe
from tests.browser import Browser

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"

# Modules without an underscore in their path whose ``__all__`` is for Carafe's own
# modules: what users need of them is re-exported from ``carafe`` (or, for the
# middleware's modules, from ``carafe.middleware``), and is on the reference pages there.
# Every other such module is public: its whole ``__all__`` must be documented and shown.
INTERNAL = {
    "carafe.app": "Carafe is carafe.Carafe",
    "carafe.background": "BackgroundTasks is carafe.BackgroundTasks",
    "carafe.cli": "the carafe command; its commands are documented in docs/cli.md",
    "carafe.cli.commands": "the carafe command's click plumbing",
    "carafe.datastructures": "Headers, QueryParams, FormData are carafe.*",
    "carafe.debug": "the debug page, turned on by Carafe(debug=True)",
    "carafe.di": "Depends is carafe.Depends",
    "carafe.forms": "form parsing behind carafe.Form and Request.form()",
    "carafe.lifespan": "the lifespan protocol behind Carafe.on_startup and lifespan=",
    "carafe.middleware.bodytimeout": "re-exported from carafe.middleware",
    "carafe.middleware.cors": "re-exported from carafe.middleware",
    "carafe.middleware.etag": "re-exported from carafe.middleware",
    "carafe.middleware.gzip": "re-exported from carafe.middleware",
    "carafe.middleware.metrics": "re-exported from carafe.middleware",
    "carafe.middleware.proxy": "re-exported from carafe.middleware",
    "carafe.middleware.requestlog": "re-exported from carafe.middleware",
    "carafe.middleware.security_headers": "re-exported from carafe.middleware",
    "carafe.middleware.tracing": "re-exported from carafe.middleware",
    "carafe.middleware.trustedhost": "re-exported from carafe.middleware",
    "carafe.openapi.components": "the schema builder's parts",
    "carafe.openapi.docs": "the docs pages, configured by carafe.DocsConfig",
    "carafe.openapi.schema": "the document builder behind Carafe.openapi()",
    "carafe.params": "Path, Query, Header, Cookie, Body, Form, File are carafe.*",
    "carafe.requests": "Request and HTTPConnection are carafe.*",
    "carafe.responses": "the Response family is carafe.*",
    "carafe.routing": "Router is carafe.Router; the rest is the router's machinery",
    "carafe.routing.dispatch": "the router's machinery",
    "carafe.routing.paths": "the router's machinery",
    "carafe.routing.router": "the router's machinery",
    "carafe.routing.trie": "the router's machinery",
    "carafe.sse": "EventSourceResponse and ServerSentEvent are carafe.*",
    "carafe.views": "class-based views, through Carafe.add_view and Router.add_view",
    "carafe.websockets": "WebSocket is carafe.WebSocket",
}


def modules_with_all() -> list[str]:
    """Every module of carafe with no ``_`` in its dotted name that has an ``__all__``."""
    names = []
    for found in pkgutil.walk_packages(carafe.__path__, "carafe."):
        if any(part.startswith("_") for part in found.name.split(".")):
            continue
        if hasattr(importlib.import_module(found.name), "__all__"):
            names.append(found.name)
    return sorted(names)


PUBLIC_MODULES = ["carafe", *(name for name in modules_with_all() if name not in INTERNAL)]


def public_names() -> list[tuple[str, str]]:
    """(module, name) for every name in a public module's ``__all__``."""
    return [
        (module, name)
        for module in PUBLIC_MODULES
        for name in importlib.import_module(module).__all__
    ]


def test_every_module_is_public_or_named_internal() -> None:
    """A new module is public (documented, on a reference page) unless named above."""
    assert sorted(set(INTERNAL) - set(modules_with_all())) == []  # no stale entry
    assert {"carafe.caching", "carafe.clients", "carafe.pagination"} <= set(PUBLIC_MODULES)
    assert len(PUBLIC_MODULES) > 25


# --- Docstrings and the reference pages ------------------------------------------------


def undocumented(package: griffe.Module, modules: dict[str, list[str]]) -> list[str]:
    """The modules, and the names of their ``__all__``, that have no docstring.

    Read as mkdocstrings reads them (griffe, from the source), so constants count too, and
    a name re-exported from another module counts with the docstring of what it names.
    """
    missing = []
    for module, names in modules.items():
        found = package
        for part in module.split(".")[1:]:
            found = found[part]
        for name in [None, *names]:
            value = found if name is None else found[name]
            docstring = value.final_target.docstring if value.is_alias else value.docstring
            if docstring is None or not docstring.value.strip():
                missing.append(module if name is None else f"{module}.{name}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    package = griffe.load("carafe", search_paths=[str(ROOT / "src")], resolve_aliases=True)
    modules = {module: importlib.import_module(module).__all__ for module in PUBLIC_MODULES}
    assert len(public_names()) > 150  # carafe.__all__ alone has 53
    assert undocumented(package, modules) == []


def test_a_name_without_a_docstring_fails(tmp_path: Path) -> None:
    """The check above, on a package whose public names lack docstrings in every way."""
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "__init__.py").write_text(
        '"""A shop."""\n'
        "from shop._cart import Cart, Order\n"
        '__all__ = ["TAX", "Cart", "Order", "documented", "total"]\n'
        "TAX = 0.2\n"
        "def total(): ...\n"
        'def documented():\n    """Has one."""\n'
    )
    (shop / "_cart.py").write_text('class Cart:\n    """A cart."""\nclass Order:\n    pass\n')
    (shop / "tills.py").write_text('__all__ = ["Till"]\nclass Till:\n    """A till."""\n')
    package = griffe.load("shop", search_paths=[str(tmp_path)], resolve_aliases=True)
    names = ["TAX", "Cart", "Order", "documented", "total"]
    assert undocumented(package, {"shop": names}) == ["shop.TAX", "shop.Order", "shop.total"]
    assert undocumented(package, {"shop.tills": ["Till"]}) == ["shop.tills"]  # the module's


IDENTIFIER = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)


def reference_identifiers() -> dict[str, str]:
    """Every ``::: carafe.x`` of the reference pages, with its page."""
    return {
        identifier: page.name
        for page in sorted(REFERENCE.glob("*.md"))
        for identifier in IDENTIFIER.findall(page.read_text(encoding="utf-8"))
    }


def _resolve(dotted: str) -> object:
    """The object ``carafe.web.sessions.Session`` names (a module, or a module's member)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            value = getattr(value, attribute)
        return value
    raise LookupError(dotted)


# --- The built site --------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as scripts/test builds it."""
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", folder],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return folder


class Page(HTMLParser):
    """The ids of one HTML page, and the addresses it links to or loads."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []  # <a href>: may go anywhere
        self.loads: list[str] = []  # <script src>, <link href>, <img src>: must be local
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value for key, value in attrs if value is not None}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        for key in ("src", "href"):
            if tag in ("script", "link", "img", "source", "iframe") and key in values:
                self.loads.append(values[key])


@pytest.fixture(scope="module")
def pages(site: Path) -> dict[Path, Page]:
    return {path: Page(path.read_text(encoding="utf-8")) for path in site.rglob("*.html")}


def test_the_site_has_every_page(site: Path) -> None:
    built = {path.relative_to(site).as_posix() for path in site.rglob("*.html")}
    sources = {
        path.relative_to(ROOT / "docs").with_suffix(".html").as_posix()
        for path in (ROOT / "docs").rglob("*.md")
    }
    assert sources <= built
    assert {
        "index.html",
        "tutorial/index.html",
        "tutorial/6-deploy.html",
        "coming-from-flask.html",
        "reference/index.html",
    } <= built


# What ``mkdocs build --strict`` refuses, shown on a small site with this project's
# settings (mkdocs.yml's validation and snippets; only the search plugin, to be quick).
BROKEN = {
    "nothing": ("[the other page](other.md#a-heading)", None),
    "a link to a missing page": ("[gone](missing.md)", "missing.md"),
    "a link to a missing anchor": ("[gone](other.md#nowhere)", "#nowhere"),
    "a page missing from the nav": ("", "orphan.md"),
    "a snippet whose file is gone": ('```python\n--8<-- "gone.py"\n```', "gone.py"),
    "a snippet whose section is gone": ('```python\n--8<-- "kept.py:gone"\n```', "gone"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_the_strict_build_fails_on(case: str, tmp_path: Path) -> None:
    text, named = BROKEN[case]
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text(f"# Home\n\n{text}\n", encoding="utf-8")
    (docs / "other.md").write_text("# Other\n\n## A heading\n", encoding="utf-8")
    if case == "a page missing from the nav":
        (docs / "orphan.md").write_text("# Orphan\n", encoding="utf-8")
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "kept.py").write_text(
        "# --8<-- [start:kept]\nx = 1\n# --8<-- [end:kept]\n"
    )
    for extension in config["markdown_extensions"]:
        if isinstance(extension, dict) and "pymdownx.snippets" in extension:
            extension["pymdownx.snippets"]["base_path"] = [str(tmp_path / "snippets")]
    for key in ("not_in_nav", "exclude_docs", "extra"):
        config.pop(key, None)
    config.update(docs_dir=str(docs), nav=["index.md", "other.md"], plugins=["search"])
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", tmp_path / "site"],
        cwd=tmp_path,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    output = built.stdout + built.stderr
    if named is None:
        assert built.returncode == 0, output
    else:
        assert built.returncode != 0, output
        assert named in output


def test_every_link_and_anchor_resolves(site: Path, pages: dict[Path, Page]) -> None:
    assert len(pages) > 20
    broken = []
    for path, page in pages.items():
        if path.name == "404.html":
            continue  # served by a web server at any address: its links are absolute
        for address in [*page.links, *page.loads]:
            parts = urlsplit(address)
            if parts.scheme or parts.netloc or address.startswith("mailto:"):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            where = f"{path.relative_to(site)}: {address}"
            if not target.is_file():
                broken.append(where)
            elif parts.fragment and target.suffix == ".html":
                anchors = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in anchors:
                    broken.append(where)
    assert broken == []


def test_nothing_is_loaded_from_another_host(pages: dict[Path, Page]) -> None:
    """No font CDN, no script CDN: the folder works on a closed network and from file://."""
    foreign = sorted(
        {address for page in pages.values() for address in page.loads if urlsplit(address).netloc}
    )
    assert foreign == []


def test_no_stylesheet_or_script_fetches_from_another_host(site: Path) -> None:
    """The stylesheets load no font or image by URL (``data:`` URIs and SVG namespaces
    only). Material's script names two CDN files that it loads only when needed: mermaid
    for a ``mermaid`` diagram (the site has none) and a ResizeObserver polyfill for
    browsers without one (every current browser has it)."""
    fetched = sorted(
        {
            f"{path.relative_to(site)}: {address}"
            for path in site.rglob("*.css")
            for address in re.findall(
                r"""(?:url\(\s*["']?|@import\s+["'])((?:https?:)?//[^"')\s]+)""",
                path.read_text(encoding="utf-8", errors="replace"),
            )
        }
    )
    assert fetched == []
    pages = [path.read_text(encoding="utf-8") for path in site.rglob("*.html")]
    assert not any('class="mermaid"' in page for page in pages)


def test_the_reference_renders_every_identifier(site: Path, pages: dict[Path, Page]) -> None:
    """A name mkdocstrings could not find would leave its page without the anchor."""
    missing = [
        f"{page}: {identifier}"
        for identifier, page in reference_identifiers().items()
        if identifier not in pages[site / "reference" / page.replace(".md", ".html")].ids
    ]
    assert missing == []
    app = pages[site / "reference" / "app.html"]
    assert {"carafe.Carafe", "carafe.Carafe.get", "carafe.Router"} <= app.ids


def test_the_reference_shows_every_public_name(site: Path, pages: dict[Path, Page]) -> None:
    """Every public module, and every name of its ``__all__``, has an anchor on a reference
    page: its own (``carafe.caching.cache``) or one of the same object's
    (``carafe.limits.Limits`` is shown as ``carafe.Limits``)."""
    anchors = set().union(*(pages[path].ids for path in (site / "reference").glob("*.html")))
    shown = set()
    for anchor in anchors:
        if re.fullmatch(r"carafe(?:\.\w+)+", anchor):
            try:
                shown.add(id(_resolve(anchor)))
            except (AttributeError, LookupError):
                continue  # a parameter's or an attribute's anchor, not an importable name
    assert [module for module in PUBLIC_MODULES[1:] if module not in anchors] == []
    assert [
        f"{module}.{name}"
        for module, name in public_names()
        if f"{module}.{name}" not in anchors
        and id(getattr(importlib.import_module(module), name)) not in shown
    ] == []


def test_the_search_index_is_inlined_for_file_urls(site: Path) -> None:
    script = (site / "search" / "search_index.js").read_text(encoding="utf-8")
    assert script.startswith("var __index = {")
    assert '"location":"coming-from-fastapi.html' in script
    assert '"location":"reference/app.html#carafe.Carafe"' in script


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Browser]:
    with Browser(chromium, tmp_path / "profile") as opened:
        yield opened


@pytest.mark.slow
def test_search_answers_from_a_file_url(site: Path, browser: Browser) -> None:
    """Opened from the disk, no server: ``?q=`` opens the search, which finds the page."""
    browser.open((site / "reference" / "app.html").as_uri() + "?q=TestClient")
    expression = (
        "Array.from(document.querySelectorAll('.md-search-result__item a'))"
        ".map(a => a.getAttribute('href'))"
    )
    found: list[str] = []
    deadline = time.monotonic() + 20  # a bound on waiting, not an assertion on speed
    while not found and time.monotonic() < deadline:
        found = browser.evaluate(expression)
        time.sleep(0.1)
    assert any("testing.html" in href for href in found), found


def test_every_page_is_in_the_nav() -> None:
    """A page left out of the nav builds, but nobody finds it from the site's menu."""
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M))
    pages = {path.relative_to(ROOT / "docs").as_posix() for path in (ROOT / "docs").rglob("*.md")}
    assert pages - listed == set()


# --- Images and screenshots --------------------------------------------------------------

IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
SCREENSHOTS = ROOT / "docs" / "assets" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data.startswith(PNG)
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def referenced_images() -> dict[str, Path]:
    """``![alt](path)`` of README.md and every page, resolved from the page's folder."""
    pages = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    return {
        f"{page.relative_to(ROOT)}: {link}": (page.parent / link).resolve()
        for page in pages
        for link in IMAGE.findall(page.read_text(encoding="utf-8"))
        if not re.match(r"[a-z]+:", link)
    }


def test_every_image_a_page_shows_exists() -> None:
    images = referenced_images()
    assert len(images) >= 5  # the screenshots are shown; a broken pattern would find none
    missing = [where for where, path in images.items() if not path.is_file()]
    assert missing == []
    not_png = [
        where
        for where, path in images.items()
        if path.suffix == ".png" and not path.read_bytes().startswith(PNG)
    ]
    assert not_png == []


def test_every_screenshot_is_shown_somewhere() -> None:
    shown = {path for path in referenced_images().values()}
    shots = sorted(SCREENSHOTS.glob("*.png"))
    assert {path.stem for path in shots} >= {"debug-page", "swagger-ui", "redoc", "docs-home"}
    assert [path.name for path in shots if path.resolve() not in shown] == []
    assert {png_size(path.read_bytes()) for path in shots} == {(1280, 800)}


def test_the_built_pages_show_the_screenshots(site: Path, pages: dict[Path, Page]) -> None:
    """The images are in the HTML, and resolve (the link test checks every ``<img>``)."""
    shown = {
        (path.relative_to(site).as_posix(), Path(address).name)
        for path, page in pages.items()
        for address in page.loads
        if "screenshots/" in address
    }
    assert {
        ("index.html", "swagger-ui.png"),
        ("index.html", "debug-page.png"),
        ("openapi.html", "swagger-ui.png"),
        ("openapi.html", "redoc.png"),
        ("web-apps.html", "debug-page.png"),
    } <= shown
    # Every benchmark chart bench/ draws is on the benchmarks page.
    charts = {path.name for path in (ROOT / "docs" / "benchmarks").glob("*.png")}
    on_page = {Path(address).name for address in pages[site / "benchmarks.html"].loads}
    assert len(charts) >= 10 and charts <= on_page


@pytest.mark.slow
def test_the_screenshot_script_takes_a_shot(chromium: str, tmp_path: Path) -> None:
    """``scripts/screenshots --only debug-page``: a real server, a real browser, a PNG."""
    script = str(ROOT / "scripts" / "screenshots.py")
    options = ["--only", "debug-page", "--out", str(tmp_path), "--chromium", chromium]
    done = subprocess.run(
        [sys.executable, script, *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert png_size((tmp_path / "debug-page.png").read_bytes()) == (1280, 800)
    assert [path.name for path in tmp_path.iterdir()] == ["debug-page.png"]
