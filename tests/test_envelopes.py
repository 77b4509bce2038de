"""Response envelopes: what the client receives and what the OpenAPI document says."""

from typing import Annotated, Any

import msgspec
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from carafe import Body, Carafe
from carafe.envelopes import Envelope, EnvelopeCodec
from carafe.exceptions import ConfigurationError
from carafe.pagination import LimitOffset, Page
from carafe.testing import TestClient


class Article(msgspec.Struct):
    slug: str
    title: str


class Profile(BaseModel):
    username: str


ARTICLES = [Article(f"a{i}", f"Article {i}") for i in range(5)]


def make_app() -> Carafe:
    app = Carafe()

    @app.get("/articles/{slug}")
    def article(slug: str) -> Annotated[Article, Envelope("article")]:
        return next(a for a in ARTICLES if a.slug == slug)

    @app.get("/raw/{slug}")
    def raw(slug: str) -> Annotated[Article, Envelope("article")]:
        # A dict (an ORM row...) is converted to the declared type: extra keys dropped.
        return {"slug": slug, "title": "T", "secret": "x"}  # type: ignore[return-value]

    @app.get("/profiles/{name}")
    def profile(name: str) -> Annotated[Profile, Envelope("profile")]:
        return Profile(username=name)

    @app.get("/profiles")
    def profiles() -> Annotated[list[Profile], Envelope("profiles", count="count")]:
        return [Profile(username="ann")]

    @app.get("/tags")
    def tags() -> Annotated[list[str], Envelope("tags")]:
        return ["python", "web"]

    @app.get("/feed")
    def feed() -> Annotated[list[Article], Envelope("articles", count="articlesCount")]:
        return ARTICLES[:2]

    @app.get("/articles")
    def articles(
        page: LimitOffset,
    ) -> Annotated[Page[Article], Envelope("articles", count="articlesCount")]:
        return Page(page.slice(ARTICLES), total=len(ARTICLES))

    @app.get("/broken")
    def broken() -> Annotated[Page[Article], Envelope("articles", count="n")]:
        return ARTICLES  # type: ignore[return-value]

    @app.post("/articles", status_code=201)
    def create(
        article: Annotated[Article, Body(embed=True)],
    ) -> Annotated[Article, Envelope("article")]:
        return article

    return app


@pytest.fixture
def client() -> Any:
    with TestClient(make_app()) as client:
        yield client


def test_a_value_in_an_envelope(client: TestClient) -> None:
    assert client.get("/articles/a1").json() == {"article": {"slug": "a1", "title": "Article 1"}}
    assert client.get("/raw/z").json() == {"article": {"slug": "z", "title": "T"}}
    assert client.get("/profiles/ann").json() == {"profile": {"username": "ann"}}
    assert client.get("/tags").json() == {"tags": ["python", "web"]}
    assert client.get("/profiles").json() == {"profiles": [{"username": "ann"}], "count": 1}


def test_lists_with_a_count(client: TestClient) -> None:
    feed = client.get("/feed").json()
    assert feed["articlesCount"] == 2 and len(feed["articles"]) == 2
    page = client.get("/articles?limit=2&offset=1").json()
    assert [a["slug"] for a in page["articles"]] == ["a1", "a2"]
    assert page["articlesCount"] == 5  # the Page's total, not the page's length


def test_a_value_that_is_not_a_page_is_a_server_error() -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert "Article" not in response.text


def test_an_enveloped_body_round_trips(client: TestClient) -> None:
    sent = {"article": {"slug": "new", "title": "New"}}
    response = client.post("/articles", json=sent)
    assert response.status_code == 201
    assert response.json() == sent


def test_envelopes_in_openapi(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    validate(document)

    def schema(path: str, method: str = "get", status: str = "200") -> Any:
        operation = document["paths"][path][method]
        return operation["responses"][status]["content"]["application/json"]["schema"]

    ref = {"$ref": "#/components/schemas/Article"}
    assert schema("/articles/{slug}") == {
        "type": "object",
        "properties": {"article": ref},
        "required": ["article"],
    }
    assert schema("/profiles/{name}")["properties"]["profile"] == {
        "$ref": "#/components/schemas/Profile"
    }
    listed = schema("/profiles")["properties"]["profiles"]
    assert listed == {"type": "array", "items": {"$ref": "#/components/schemas/Profile"}}
    counted = schema("/articles")
    assert counted["properties"]["articles"] == {"type": "array", "items": ref}
    assert counted["properties"]["articlesCount"] == {"type": "integer", "minimum": 0}
    assert counted["required"] == ["articles", "articlesCount"]
    assert schema("/feed") == counted
    body = document["paths"]["/articles"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["article"] == ref
    assert schema("/articles", "post", "201") == schema("/articles/{slug}")
    assert set(document["components"]["schemas"]) >= {"Article", "Profile"}


def test_envelope_mistakes() -> None:
    with pytest.raises(ConfigurationError, match="two names"):
        Envelope("")
    with pytest.raises(ConfigurationError, match="two names"):
        Envelope("n", count="n")
    assert repr(Envelope("articles", count="articlesCount")) == (
        "Envelope('articles', count='articlesCount')"
    )
    codec = EnvelopeCodec([])
    tp = Annotated[Article, Envelope("article")]
    with pytest.raises(ConfigurationError, match="Body\\(embed=True\\)"):
        codec.body_decoder(tp, ("body",))
    with pytest.raises(ConfigurationError):
        codec.converter(tp, ("query", "x"))
    with pytest.raises(NotImplementedError):
        codec.enc_hook(object())
    assert codec.model_fields(tp) is None
    assert not codec.claims(Annotated[Article, "other"])
    assert not codec.claims(Article)
    noted = Annotated[Article, "a note", Envelope("article")]
    assert codec.claims(noted)
    assert (
        codec.response_encoder(noted)(ARTICLES[0])
        == b'{"article":{"slug":"a0","title":"Article 0"}}'
    )
