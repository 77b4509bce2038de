"""``carafe client``: typed clients written from an app's OpenAPI document.

The generated Python module passes ``ruff check`` and ``mypy --strict`` and imports no
carafe; imported, it round-trips every operation of ``examples/api.py``,
``docs/examples/inventory.py`` and the Conduit example (``examples/conduit``: its
envelopes and its ``Token`` auth scheme) on a real ``carafe run`` server, sync and async,
and its errors carry the problem document. The TypeScript file passes ``tsc --strict``
and, run with node, round-trips the same servers (slow; skipped locally without node and
npm, failed under CI).

Event streams: both clients read Conduit's comment stream while it is open (a comment
posted through the same client arrives on it), leave it early with the server serving
on, raise the typed 404 for a missing article, and parse ``TRICKY`` (below), sent one
byte a chunk, as the WHATWG rules say.
"""

from __future__ import annotations

import ast
import datetime
import importlib.util
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from carafe.cli import main
from carafe.clients import ClientError, generate
from carafe.clients._operations import Result, read_document
from carafe.openapi.schema import build_openapi
from carafe.testing import AsyncTestClient, TestClient
from tests.apps import clients_app
from tests.conftest import IN_CI, ROOT, LiveServer, need_binary

API = "examples.api:app"
INVENTORY = "docs.examples.inventory:app"
EDGES = "tests.apps.clients_app:app"
CONDUIT = "examples.conduit.app:app"
CONDUIT_SECRET = "client-round-trip-" + "k" * 32
TYPESCRIPT = "typescript@5.9"

# Schema shapes Carafe's own documents rarely hold, as other tools write them.
SHAPES: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": 'A """quoted""" API', "version": "2"},
    "paths": {
        "/shapes": {
            "get": {
                "operationId": "getShapes",
                "parameters": [
                    {"name": "class", "in": "query", "schema": {"type": ["string", "null"]}},
                    {"name": "call", "in": "cookie", "required": True,
                     "schema": {"type": "integer"}},
                ],
                "responses": {"200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Shapes"}}}}},
            },
        },
    },
    "components": {"schemas": {
        "Shapes": {"type": "array", "items": {"$ref": "#/components/schemas/list"}},
        "list": {
            "type": "object",
            "properties": {
                "const": {"const": "fixed"},
                "mixed": {"enum": [1, "one", None]},
                "ratio": {"enum": [0.5, 1.5]},
                "either": {"oneOf": [{"type": "integer"}, {"$ref": "#/components/schemas/Empty"}]},
                "only": {"allOf": [{"$ref": "#/components/schemas/Empty"}]},
                "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
                "loose": {"type": "object", "additionalProperties": True},
                "inline": {"properties": {"a": {"type": "integer"}}},
                "anything": {"description": "no type"},
                "when": {"type": "string", "format": "date-time", "default": "2020-01-01"},
                "counts": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
                "nothing": {"type": "integer", "default": None},
                "maybe": {"type": "integer"},
                "list": {"type": "string", "default": "x"},
                "2nd": {"type": "boolean", "default": False},
                "Shapes": {"type": "integer", "default": 1},
            },
            "required": ["const"],
        },
        "Empty": {"type": "object", "properties": {}, "description": 'Says """nothing""" \\o/'},
        "Alias-2": {"$ref": "#/components/schemas/Shapes"},
    }},
}  # fmt: skip


def run(command: list[Any], **options: Any) -> subprocess.CompletedProcess[str]:
    """Run ``command``; the caller asserts on its return code and shows its output."""
    return subprocess.run(command, check=False, capture_output=True, text=True, **options)


def source_for(target: str, lang: str = "python") -> str:
    result = CliRunner().invoke(main, ["client", target, "--lang", lang])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``load(target)``: the generated client of ``target``, imported as a module."""

    def load(target: str) -> ModuleType:
        name = "client_" + target.replace(".", "_").replace(":", "_")
        path = tmp_path / f"{name}.py"
        path.write_text(source_for(target), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)  # msgspec resolves names through it
        spec.loader.exec_module(module)
        return module

    return load


# --- The Python client as code --------------------------------------------------------


@pytest.mark.slow
def test_python_clients_pass_ruff_and_mypy_strict(tmp_path: Path) -> None:
    (tmp_path / "shapes.py").write_text(generate(SHAPES, "python"), encoding="utf-8")
    # docs/clients.md's event-stream example, over the Conduit client it imports.
    (tmp_path / "conduit_client.py").write_text(source_for(CONDUIT), encoding="utf-8")
    example = (ROOT / "docs" / "examples" / "clients_events.py").read_text()
    (tmp_path / "clients_events.py").write_text(example, encoding="utf-8")
    names = ("shapes", "conduit_client", "clients_events")
    files = [str(tmp_path / f"{name}.py") for name in names]
    for target in (API, INVENTORY, EDGES, CONDUIT):
        path = tmp_path / (target.split(":")[0].replace(".", "_") + ".py")
        path.write_text(source_for(target), encoding="utf-8")
        files.append(str(path))
        tree = ast.parse(path.read_text())
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        modules += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert sorted({m.split(".")[0] for m in modules}) == [
            "__future__", "collections", *(["contextlib"] if target in (EDGES, CONDUIT) else []),
            "dataclasses", "datetime", "httpx", "msgspec", "typing", "urllib",
            *(["uuid"] if target == EDGES else []),
        ]  # fmt: skip
    bin_dir = Path(sys.executable).parent
    for config in (["--isolated"], ["--config", str(ROOT / "pyproject.toml")]):
        ruff = run([bin_dir / "ruff", "check", "--no-cache", *config, *files])
        assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    cache = str(tmp_path / ".mypy")
    mypy = run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache, *files])
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


def test_the_module_names_models_and_methods_from_the_document() -> None:
    source = source_for(API)
    assert "class ItemIn(msgspec.Struct, kw_only=True):" in source
    assert "class Page_Item_(msgspec.Struct, kw_only=True):" in source  # Page[Item]
    assert "    def list_items(\n" in source
    assert "    async def create_item(self, body: ItemIn) -> Item:" in source
    assert '"""Find items by exact name. Deprecated: use ``GET /items?q=``.' in source


# --- Round trips on a real server -----------------------------------------------------


@pytest.mark.slow
def test_python_client_round_trips_every_operation_of_the_example_api(
    live_server: type[LiveServer], load: Any
) -> None:
    server = live_server(API)
    api = load(API)
    operations = {name for name in vars(api.Client) if not name.startswith("_")} - {"close"}
    assert operations == {
        "create_review", "contact", "login", "me", "list_items", "create_item",
        "read_item", "replace_item", "delete_item", "legacy_search",
    }  # fmt: skip
    with api.Client(server.url) as client:
        page = client.list_items(limit=5, q="KETT")
        assert isinstance(page, api.Page_Item_) and isinstance(page.items[0], api.Item)
        assert (page.total, page.limit, page.items[0].name) == (1, 5, "kettle")
        created = client.create_item(api.ItemIn(name="cup", price=3.5, tags=["kitchen"]))
        assert isinstance(created, api.Item)
        assert (created.name, created.price, created.tags) == ("cup", 3.5, ["kitchen"])
        assert client.read_item(created.id) == created
        assert client.legacy_search(name="cup") == [created]

        token = client.login(username="alice", password="wonderland")
        assert isinstance(token, api.Token) and token.token_type == "bearer"
        client.headers["Authorization"] = f"Bearer {token.access_token}"
        assert client.me() == api.User(username="alice", scopes=["items:write", "me"])
        replaced = client.replace_item(created.id, api.ItemIn(name="mug", price=4))
        assert replaced == api.Item(id=created.id, name="mug", price=4.0, tags=[])
        assert client.delete_item(created.id) is None

        review = client.create_review(api.Review(item_id=1, rating=5, comment="hot"))
        assert isinstance(review, api.ReviewOut) and (review.rating, review.comment) == (5, "hot")
        receipt = client.contact(email="ann@example.com", message="hello")
        assert receipt == api.ContactReceipt(received=True, reply_to="ann@example.com")

        with pytest.raises(api.APIError) as missing:
            client.read_item(created.id)
        assert missing.value.status == 404
        detail = f"No item has the id {created.id}."
        assert missing.value.problem == api.Problem(
            type="about:blank", title="Not Found", status=404, detail=detail
        )
        assert str(missing.value) == f"404 No item has the id {created.id}."
        with pytest.raises(api.APIError) as invalid:
            client.list_items(limit=1000)
        problem = invalid.value.problem
        assert isinstance(problem, api.ValidationProblem) and invalid.value.status == 422
        assert problem.errors[0].loc == ["query", "limit"]
        client.headers.clear()
        with pytest.raises(api.APIError) as anonymous:
            client.me()
        assert anonymous.value.status == 401 and isinstance(anonymous.value.problem, api.Problem)


@pytest.mark.slow
@pytest.mark.anyio
async def test_async_client_round_trips(live_server: type[LiveServer], load: Any) -> None:
    server = live_server(API)
    api = load(API)
    async with api.AsyncClient(server.url) as client:
        created = await client.create_item(api.ItemIn(name="pot", price=12))
        assert isinstance(created, api.Item) and created.name == "pot"
        assert (await client.read_item(created.id)).price == 12.0
        token = await client.login(username="alice", password="wonderland", scope="me")
        client.headers["Authorization"] = f"Bearer {token.access_token}"
        assert (await client.me()).scopes == ["me"]
        with pytest.raises(api.APIError) as forbidden:
            await client.delete_item(created.id)
        assert forbidden.value.status == 403


@pytest.mark.slow
def test_python_client_round_trips_the_inventory_guide(
    live_server: type[LiveServer], load: Any
) -> None:
    server = live_server(INVENTORY)
    inventory = load(INVENTORY)
    with inventory.Client(server.url) as client:
        saved = client.item_view_put(7, inventory.ItemIn(name="lamp", price=30), x_editor="ann")
        assert saved == inventory.ItemOut(id=7, name="lamp", price=30.0)
        assert client.item_view_get(7) == saved
        assert client.list_items(limit=10) == [saved]
        assert client.health() == {"pool_open": True, "transactions": 0}
        with pytest.raises(inventory.APIError) as anonymous:
            client.item_view_delete(7)
        assert anonymous.value.status == 401  # not in the document: the plain JSON
        detail = anonymous.value.problem["detail"]
        assert detail == "Send an X-Editor header to change the inventory."
        assert client.item_view_delete(7, x_editor="ann") is None
        with pytest.raises(inventory.APIError) as gone:
            client.item_view_get(7)
        assert gone.value.status == 404 and gone.value.problem["title"] == "Not Found"


@pytest.fixture
def conduit_server(live_server: type[LiveServer], tmp_path: Path) -> LiveServer:
    """``carafe run examples.conduit.app:app`` on a SQLite file its migrations made."""
    url = f"sqlite:///{tmp_path / 'conduit.db'}"
    target = f"examples.conduit.app:create_app({{'DATABASE_URL': {url!r}}})"
    upgraded = CliRunner().invoke(main, ["--app", target, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    env = {"CARAFE_DATABASE_URL": url, "CARAFE_JWT_SECRET": CONDUIT_SECRET}
    return live_server(CONDUIT, env=env)


@pytest.mark.slow
def test_python_client_round_trips_the_conduit_example(
    conduit_server: LiveServer, load: Any
) -> None:
    """Every operation of the RealWorld API, its ``{"user": ...}`` envelopes as models,
    and its ``Authorization: Token ...`` scheme set by hand, as the page says."""
    conduit = load(CONDUIT)
    sent: list[httpx.Request] = []
    http = httpx.Client(base_url=conduit_server.url, event_hooks={"request": [sent.append]})
    with http, conduit.Client(http=http) as client:
        new = conduit.NewUser(username="ann", email="ann@example.org", password="ann-password")
        registered = client.register(conduit.RegisterBody(user=new)).user
        assert isinstance(registered, conduit.UserOut)
        assert (registered.username, registered.email, registered.bio) == (
            "ann",
            "ann@example.org",
            None,
        )
        login = conduit.Login(email="ann@example.org", password="ann-password")
        token = client.login(conduit.LoginBody(user=login)).user.token
        client.headers["Authorization"] = f"Token {token}"
        assert client.me().user.username == "ann"
        changes = conduit.UserChanges(bio="Tea drinker")
        assert client.update_me(conduit.UpdateMeBody(user=changes)).user.bio == "Tea drinker"

        draft = conduit.NewArticle(title="Green tea", description="d", body="b", tagList=["tea"])
        article = client.create_article(conduit.CreateArticleBody(article=draft)).article
        assert isinstance(article, conduit.ArticleView) and article.author.username == "ann"
        assert client.get_article(article.slug).article == article
        listed = client.list_articles(tag="tea", limit=5)
        assert listed.articlesCount == 1 and listed.articles[0].slug == article.slug
        edit = conduit.UpdateArticleBody(article=conduit.ArticleChanges(body="steeped"))
        assert client.update_article(article.slug, edit).article.body == "steeped"
        assert client.favorite(article.slug).article.favoritesCount == 1
        assert client.unfavorite(article.slug).article.favoritesCount == 0
        said = conduit.AddCommentBody(comment=conduit.NewComment(body="Nice"))
        comment = client.add_comment(article.slug, said).comment
        assert [c.body for c in client.comments(article.slug).comments] == ["Nice"]
        assert client.delete_comment(article.slug, comment.id) is None
        assert client.tags().tags == ["tea"]

        bob = conduit.NewUser(username="bob", email="bob@example.org", password="bob-password")
        client.register(conduit.RegisterBody(user=bob))
        assert client.follow("bob").profile.following is True
        assert client.get_profile("bob").profile.following is True
        assert client.feed().articlesCount == 0  # bob has written nothing
        assert client.unfollow("bob").profile.following is False
        assert client.delete_article(article.slug) is None

        with pytest.raises(conduit.APIError) as gone:
            client.get_article(article.slug)
        assert gone.value.status == 404
        assert isinstance(gone.value.problem, conduit.ConduitErrors)
        with pytest.raises(conduit.APIError) as taken:
            client.register(conduit.RegisterBody(user=bob))
        assert taken.value.status == 422
        expected = conduit.ConduitErrors(errors={"username": ["has already been taken"]})
        assert taken.value.problem == expected
        client.headers["Authorization"] = "Token forged"
        with pytest.raises(conduit.APIError) as forged:
            client.me()
        assert forged.value.status == 401
        assert forged.value.response.headers["www-authenticate"].startswith("Token ")
    # A path parameter goes in the URL only: no GET or DELETE carries a body.
    assert len(sent) > 20
    reads = [request for request in sent if request.method in ("GET", "DELETE")]
    assert [f"{r.method} {r.url.path}" for r in reads if r.read()] == []


@pytest.mark.slow
@pytest.mark.anyio
async def test_async_client_round_trips_the_conduit_example(
    conduit_server: LiveServer, load: Any
) -> None:
    conduit = load(CONDUIT)
    async with conduit.AsyncClient(conduit_server.url) as client:
        new = conduit.NewUser(username="cy", email="cy@example.org", password="cy-password")
        token = (await client.register(conduit.RegisterBody(user=new))).user.token
        client.headers["Authorization"] = f"Token {token}"
        draft = conduit.NewArticle(title="Oolong", description="d", body="b")
        slug = (await client.create_article(conduit.CreateArticleBody(article=draft))).article.slug
        assert (await client.get_article(slug)).article.tagList == []
        assert (await client.list_articles(author="cy")).articles[0].slug == slug
        wrong = conduit.Login(email="cy@example.org", password="not-the-password")
        with pytest.raises(conduit.APIError) as refused:
            await client.login(conduit.LoginBody(user=wrong))
        assert refused.value.status == 422
        expected = conduit.ConduitErrors(errors={"email or password": ["is invalid"]})
        assert refused.value.problem == expected


# --- Event streams --------------------------------------------------------------------

# An event stream with every rule of WHATWG HTML's "Server-sent events" parser in it.
TRICKY = (
    "\ufeff: a byte order mark, then a comment: both ignored\r\n"
    "event: note\r\n"
    "data: first\r\n"
    "data:  indented\r\n"  # one space after the colon is dropped, not two
    "data\r\n"  # no colon: a field with an empty value, so an empty data line
    "id: 7\r\n"
    "retry: 1500\r\n"
    "\r\n"  # dispatches the event
    "data: é \u2028 中\r"  # CR ends lines too; U+2028 does not
    "retry: soon\r"  # not digits: ignored
    "id: 8\0\r"  # a NUL: ignored
    "colour: blue\r"  # an unknown field: ignored
    "\r"
    "event: empty\n"
    "id\n"  # the id is reset to ""
    "\n"  # no data: nothing is dispatched, and the event type is forgotten
    "data:\n"
    "\n"
    "data: the stream ends before a blank line: never dispatched\n"
)


def tricky_events(api: ModuleType) -> list[Any]:
    event = api.ServerSentEvent
    return [
        event(event="note", data="first\n indented\n", id="7", retry=1500),
        event(event="message", data="é \u2028 中", id="7", retry=1500),
        event(data="", id="", retry=1500),
    ]


def test_the_reader_marks_event_streams() -> None:
    document = {"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {"200": {
        "description": "OK", "content": {"text/event-stream; charset=utf-8": {
            "schema": {"type": "string"}}}}}}}}}  # fmt: skip
    api = read_document(document)
    assert api.operations[0].result == Result(200, "events") and api.streams
    assert not read_document(SHAPES).streams
    edges = read_document(build_openapi(clients_app.app))
    kinds = {op.name: op.result.kind for op in edges.operations}
    assert (kinds["replay"], kinds["list"], kinds["pair"]) == ("events", "text", "json")
    assert "ServerSentEvent" not in generate(SHAPES, "python")  # no stream, no reader
    assert "EventParser" not in generate(SHAPES, "typescript")
    source = source_for(CONDUIT)
    assert "    def comment_events(self, slug: str) -> EventStream:" in source
    assert "    def comment_events(self, slug: str) -> AsyncEventStream:" in source
    typescript = source_for(CONDUIT, "typescript")
    assert (
        "  async *commentEvents(args: { slug: string; }):"
        " AsyncGenerator<ServerSentEvent, void, undefined> {"
    ) in typescript


def test_python_client_parses_event_streams_by_the_rules(load: Any) -> None:
    edges = load(EDGES)
    with TestClient(clients_app.app) as http:
        client = edges.Client(http=http)
        with client.replay(edges.ReplayBody(text=TRICKY)) as events:
            assert list(events) == tricky_events(edges)
        # A CR as the stream's last byte still ends the line: a blank one, so a dispatch.
        with client.replay(edges.ReplayBody(text="data: last\n\r")) as events:
            assert list(events) == [edges.ServerSentEvent(data="last")]
        with pytest.raises(edges.APIError) as invalid, client.replay({"text": 1}):
            raise AssertionError("not reached")
        assert invalid.value.status == 422
        assert isinstance(invalid.value.problem, edges.ValidationProblem)


@pytest.mark.anyio
async def test_async_client_parses_event_streams_by_the_rules(load: Any) -> None:
    edges = load(EDGES)
    async with AsyncTestClient(clients_app.app) as http:
        client = edges.AsyncClient(http=http)
        async with client.replay(edges.ReplayBody(text=TRICKY)) as events:
            assert [event async for event in events] == tricky_events(edges)


def _write_article(conduit: ModuleType, client: Any, name: str) -> str:
    """Register ``name`` (the client then sends its token) and write an article: its slug."""
    new = conduit.NewUser(username=name, email=f"{name}@example.org", password=f"{name}-pass")
    token = client.register(conduit.RegisterBody(user=new)).user.token
    client.headers["Authorization"] = f"Token {token}"
    draft = conduit.NewArticle(title=f"{name}'s tea", description="d", body="b")
    return str(client.create_article(conduit.CreateArticleBody(article=draft)).article.slug)


def _events_example(monkeypatch: pytest.MonkeyPatch, conduit: ModuleType) -> ModuleType:
    """docs/examples/clients_events.py, importing ``conduit`` as ``conduit_client``."""
    monkeypatch.setitem(sys.modules, "conduit_client", conduit)
    monkeypatch.setitem(sys.modules, "docs.examples.clients_events", None)
    monkeypatch.delitem(sys.modules, "docs.examples.clients_events")
    return importlib.import_module("docs.examples.clients_events")


# NOTE: posting right after the stream opened does not race the server's subscription:
# the example's comment feed (no REDIS_URL, so the in-memory broker) subscribes in the
# event loop's step right after the one that sent the stream's head, before the server
# can have read the POST, which the client sends only once it has that head.


@pytest.mark.slow
def test_python_client_reads_a_live_event_stream(
    conduit_server: LiveServer, load: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conduit = load(CONDUIT)
    example = _events_example(monkeypatch, conduit)
    # Two connections at most: a stream left holding one would starve what comes after.
    http = httpx.Client(base_url=conduit_server.url, limits=httpx.Limits(max_connections=2))
    with http, conduit.Client(http=http) as client:
        slug = _write_article(conduit, client, "dee")
        seen = example.comment_and_watch(client, slug, "First!")  # docs/clients.md's
        assert isinstance(seen, conduit.CommentView)
        assert (seen.body, seen.author.username) == ("First!", "dee")
        # It left the stream after one event: the server serves on, streams included.
        assert [comment.body for comment in client.comments(slug).comments] == ["First!"]
        with client.comment_events(slug) as events:
            said = conduit.AddCommentBody(comment=conduit.NewComment(body="Second"))
            comment = client.add_comment(slug, said).comment
            event = next(events)
        assert (event.event, event.id, event.retry) == ("comment", "", None)
        assert event.decode(conduit.CommentView) == comment
        with pytest.raises(conduit.APIError) as missing, client.comment_events("no-such-tea"):
            raise AssertionError("not reached")
        assert missing.value.status == 404
        assert isinstance(missing.value.problem, conduit.ConduitErrors)
        assert client.get_article(slug).article.slug == slug


@pytest.mark.slow
@pytest.mark.anyio
async def test_async_client_reads_a_live_event_stream(
    conduit_server: LiveServer, load: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conduit = load(CONDUIT)
    example = _events_example(monkeypatch, conduit)
    with conduit.Client(conduit_server.url) as setup:
        slug = _write_article(conduit, setup, "eve")
        token = setup.headers["Authorization"]
    limits = httpx.Limits(max_connections=2)  # as above: a stream left open would starve us
    http = httpx.AsyncClient(base_url=conduit_server.url, limits=limits)
    async with http, conduit.AsyncClient(http=http, headers={"Authorization": token}) as client:
        seen = await example.comment_and_watch_async(client, slug, "Async!")
        assert isinstance(seen, conduit.CommentView) and seen.body == "Async!"
        assert [c.body for c in (await client.comments(slug)).comments] == ["Async!"]
        async with client.comment_events(slug) as events:
            said = conduit.AddCommentBody(comment=conduit.NewComment(body="Again"))
            comment = (await client.add_comment(slug, said)).comment
            event = await anext(events)
        assert event.decode(conduit.CommentView) == comment
        with pytest.raises(conduit.APIError) as missing:
            async with client.comment_events("no-such-tea"):
                raise AssertionError("not reached")
        assert missing.value.status == 404
        assert isinstance(missing.value.problem, conduit.ConduitErrors)
        assert (await client.get_article(slug)).article.slug == slug


# --- What the generator must spell carefully -----------------------------------------


def test_awkward_names_types_and_bodies(load: Any) -> None:
    edges = load(EDGES)
    shape = edges.Shape(
        class_="square",
        x_y=2,
        str_="s",
        color="red",
        points=[edges.Point(x=1, y=2)],
        when="2026-01-02T03:04:05Z",
        ident=uuid.UUID(int=1),
    )
    with TestClient(clients_app.app) as http:
        client = edges.Client(http=http, headers={"x-other": "1"})
        http.cookies.clear()
        echo = client.put_shape(5, shape, x_trace="t-1", session="s 1", tags=["a", "b"])
        assert isinstance(echo, edges.Echo) and isinstance(echo.shape, edges.Shape)
        assert echo.shape == edges.Shape(**{**_fields(shape), "level": 5})
        assert (echo.trace, echo.session, echo.tags) == ("t-1", "s 1", ["a", "b"])
        assert client.list_() == "none"
        assert client.list_(edges.Point(x=3, y=4)) == "3,4"
        assert client.pair(edges.PairBody(point=edges.Point(x=1, y=2), weight=3)) == {
            "sum": 3,
            "weight": 3,
        }
        uploaded = client.upload(photo=("a.txt", b"abc", "text/plain"), caption="hi")
        assert uploaded == {"name": "a.txt", "size": "3", "caption": "hi"}
        stamp = client.read_stamp(uuid.UUID(int=2), day=datetime.date(2026, 5, 6), flag=True)
        assert isinstance(stamp, edges.Stamp) and stamp.ident == uuid.UUID(int=2)
        assert stamp.at == datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
        assert (stamp.day, stamp.labels) == (datetime.date(2026, 5, 6), {"flag": [1]})
        with pytest.raises(edges.APIError) as missing:
            client.put_shape(0, shape, x_trace="t")
        assert missing.value.problem["detail"] == "There is no shape 0."  # undocumented 404
        client.close()  # the given httpx client stays open
        assert client.list_() == "none"
    typescript = source_for(EDGES, "typescript")
    assert '  "x-y": number;' in typescript and "  class: string;" in typescript
    assert 'export type Color = "green" | "red";' in typescript
    assert "async list(args: { body?: Point | null; } = {}): Promise<string> {" in typescript
    assert "async pair(args: { body: PairBody; }): Promise<Record<string, number>> {" in typescript


def test_schema_shapes_other_tools_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = generate(SHAPES, "python")
    assert source.startswith('"""A typed client for A \'\'\'quoted\'\'\' API 2,')  # fmt: skip
    for line in (
        "class list_(msgspec.Struct, kw_only=True):",
        '    const: Literal["fixed"]',
        '    mixed: Literal[1, "one"] | None = None',
        "    ratio: float | msgspec.UnsetType = msgspec.UNSET",
        "    either: int | Empty | msgspec.UnsetType = msgspec.UNSET",
        "    pair: tuple[int, str] | msgspec.UnsetType = msgspec.UNSET",
        "    loose: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET",
        "    anything: Any = msgspec.UNSET",
        "    when: datetime.datetime | msgspec.UnsetType = msgspec.UNSET",
        "    counts: list[int] = msgspec.field(default_factory=lambda: [1, 2])",
        '    list_: str = msgspec.field(name="list", default="x")',
        '    n2nd: bool = msgspec.field(name="2nd", default=False)',
        '    Shapes_: int = msgspec.field(name="Shapes", default=1)',
        "Shapes = list[list_]",
        "Alias_2 = Shapes",
        "    def get_shapes(self, *, call_: int, class_: str | None = None) -> Shapes:",
    ):
        assert line in source.splitlines(), line
    path = tmp_path / "shapes_client.py"
    path.write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "shapes_client", None)
    monkeypatch.delitem(sys.modules, "shapes_client")
    shapes = importlib.import_module("shapes_client")
    assert shapes.Empty.__doc__ == 'Says """nothing""" \\o/'
    typescript = generate(SHAPES, "typescript")
    for line in (
        "export type Shapes = Array<list>;",
        '  mixed?: 1 | "one" | null;',
        "  pair?: [number, string];",
        "  inline?: { a?: number; };",
        '  "2nd"?: boolean;',
        "  async getShapes(args: { class?: string | null; call: number; }): Promise<Shapes> {",
    ):
        assert line in typescript.splitlines(), line
    shapes_only = {"Shapes": SHAPES["components"]["schemas"]["Shapes"]}
    broken = {**SHAPES, "components": {"schemas": shapes_only}}
    for lang in ("python", "typescript"):
        with pytest.raises(ClientError, match="the document has no component schema 'list'"):
            generate(broken, lang)  # type: ignore[arg-type]


def _fields(struct: Any) -> dict[str, Any]:
    return {name: getattr(struct, name) for name in struct.__struct_fields__}


def test_documents_the_generators_cannot_read() -> None:
    with pytest.raises(ClientError, match="an OpenAPI 3 document"):
        read_document({"swagger": "2.0"})
    external = {"openapi": "3.1.0", "paths": {"/a": {"get": {"responses": {"200": {
        "description": "OK", "content": {"application/json": {"schema": {
            "$ref": "other.json#/Thing"}}}}}}}}}  # fmt: skip
    with pytest.raises(ClientError, match="only references to #/components/schemas/"):
        read_document(external)
    text_body = {"openapi": "3.1.0", "paths": {"/a": {"post": {"requestBody": {
        "content": {"text/plain": {"schema": {"type": "string"}}}}}}}}  # fmt: skip
    with pytest.raises(ClientError, match=r"no supported media type in a request body"):
        read_document(text_body)
    with pytest.raises(ClientError, match="no client generator for 'ruby'"):
        generate({"openapi": "3.1.0"}, "ruby")  # type: ignore[arg-type]


def test_a_bare_document_still_makes_a_client() -> None:
    document = {
        "openapi": "3.0.3",
        "paths": {"/things/{id}": {"parameters": [{"name": "id", "in": "path"}], "get": {}}},
    }
    api = read_document(document)
    assert [(op.name, op.params[0].required) for op in api.operations] == [("get_things_id", True)]
    assert "def get_things_id(self, id: Any) -> Any:" in generate(document, "python")
    assert "async getThingsId(args: { id: unknown; }): Promise<unknown>" in generate(
        document, "typescript"
    )


# --- The command ----------------------------------------------------------------------


def test_client_command_writes_a_file(tmp_path: Path) -> None:
    output = tmp_path / "api.ts"
    result = CliRunner().invoke(main, ["client", API, "--lang", "typescript", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert "export class Client" in output.read_text()
    result = CliRunner().invoke(main, ["client", API, "--lang", "ruby"])
    assert result.exit_code == 2 and "'ruby' is not one of 'python', 'typescript'" in result.output


def test_client_command_reports_configuration_errors(broken_app: str) -> None:
    result = CliRunner().invoke(main, ["client", broken_app, "--lang", "python"])
    assert result.exit_code == 1 and "Two routes are named 'same'" in result.output


# --- TypeScript, type-checked and run with node --------------------------------------


@pytest.fixture(scope="session")
def tsc() -> Path:
    """tsc from the npm registry, installed once into .venv/typescript (a cache)."""
    need_binary("node")
    npm = need_binary("npm")
    prefix = ROOT / ".venv" / "typescript"
    binary = prefix / "node_modules" / ".bin" / "tsc"
    if not binary.exists():
        done = run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", TYPESCRIPT])
        if done.returncode != 0:
            message = f"npm could not install {TYPESCRIPT}: {done.stderr[-500:]}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
    return binary


@pytest.mark.slow
def test_typescript_client_type_checks_and_round_trips_with_node(
    tmp_path: Path, tsc: Path, live_server: type[LiveServer], conduit_server: LiveServer
) -> None:
    clients = {"api": API, "inventory": INVENTORY, "edges": EDGES, "conduit": CONDUIT}
    for name, target in clients.items():
        (tmp_path / f"{name}.ts").write_text(source_for(target, "typescript"), encoding="utf-8")
    script = ROOT / "tests" / "clients_round_trip.ts"
    (tmp_path / "round_trip.ts").write_text(script.read_text(), encoding="utf-8")
    examples = {"first_steps": "clients_first_steps.ts", "events": "clients_events.ts"}
    for name, example in examples.items():  # docs/clients.md shows them
        text = (ROOT / "docs" / "examples" / example).read_text()
        (tmp_path / f"{name}.ts").write_text(text, encoding="utf-8")
    options = ["--strict", "--target", "es2022", "--lib", "es2022,dom", "--module", "commonjs"]
    files = [str(tmp_path / f"{name}.ts") for name in [*clients, *examples, "round_trip"]]
    checked = run([tsc, *options, "--noEmit", *files])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    built = run([tsc, *options, "--outDir", str(tmp_path / "js"), *files])
    assert built.returncode == 0, built.stdout + built.stderr
    urls = [live_server(API).url, live_server(INVENTORY).url, conduit_server.url]
    urls.append(live_server(EDGES).url)
    node = run(
        [need_binary("node"), str(tmp_path / "js" / "round_trip.js"), *urls],
        timeout=60,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    assert node.returncode == 0, node.stdout + node.stderr
    said = node.stdout.split()
    assert said == [
        "api:", "ok", "inventory:", "ok", "conduit:", "ok", "events:", "ok", "parsed:", "ok",
        "docs:", "ok",
    ]  # fmt: skip
