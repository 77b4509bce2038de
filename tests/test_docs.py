"""The docs pages: Swagger UI, ReDoc and Scalar, with their scripts served locally or from a CDN."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from carafe import Carafe, ConfigurationError
from carafe.openapi import DEFAULT_CDN, DocsConfig
from carafe.openapi import docs as docs_module
from carafe.openapi.docs import find_assets
from carafe.testing import TestClient

# The docs extra (openapi-ui-bundles) is a dev dependency, so the scripts are local.
BUNDLES = find_assets("swagger") is not None and find_assets("redoc") is not None


def make_app(docs: DocsConfig | bool | None = True, title: str = "Shop") -> Carafe:
    app = Carafe(title=title, docs=docs)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def urls_in(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', page)


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An importable package laid out like swagger-ui-py (swagger_ui/static/...)."""
    root = tmp_path / "site"
    static = root / "fake_swagger_pkg" / "static"
    static.mkdir(parents=True)
    (root / "fake_swagger_pkg" / "__init__.py").write_text("raise ImportError('never imported')\n")
    (static / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = function () {};\n")
    (static / "swagger-ui.css").write_text("body { margin: 0 }\n")
    monkeypatch.syspath_prepend(str(root))
    files = {
        "swagger-ui-bundle.js": "static/swagger-ui-bundle.js",
        "swagger-ui.css": "static/swagger-ui.css",
    }
    monkeypatch.setitem(docs_module.PROVIDERS, "swagger", [("fake_swagger_pkg", files)])
    yield static
    sys.modules.pop("fake_swagger_pkg", None)


# --- Served locally -------------------------------------------------------------------


@pytest.mark.skipif(not BUNDLES, reason="pip install 'carafe[docs]' for local assets")
def test_swagger_ui_page_uses_local_assets() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/docs")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        page = response.text
        assert "<title>Shop - Swagger UI</title>" in page
        assert urls_in(page) == ["/docs-assets/swagger-ui.css", "/docs-assets/swagger-ui-bundle.js"]
        assert '"url":"/openapi.json"' in page
        assert '"validatorUrl":null' in page  # no badge fetched from validator.swagger.io
        assert 'new URL("/docs/oauth2-redirect", location.href)' in page
        # Nothing leaves the machine: every URL on the page is on this server.
        assert "http" not in " ".join(urls_in(page))


@pytest.mark.skipif(not BUNDLES, reason="pip install 'carafe[docs]' for local assets")
def test_local_assets_are_served_with_caching_headers() -> None:
    with TestClient(make_app()) as client:
        script = client.get("/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert b"SwaggerUIBundle" in script.content
        assert script.headers["cache-control"] == "public, max-age=86400"
        etag = script.headers["etag"]
        again = client.get("/docs-assets/swagger-ui-bundle.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        css = client.get("/docs-assets/swagger-ui.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        redoc = client.get("/docs-assets/redoc.standalone.js")
        assert redoc.status_code == 200 and b"Redoc" in redoc.content
        # ReDoc's bundle links Redocly's logo from Redocly's CDN: served, it takes the
        # page's local copy instead.
        assert b"cdn.redoc.ly" not in redoc.content
        assert b"src:window.carafeRedocLogo" in redoc.content
        logo = client.get("/docs-assets/logo-mini.svg")
        assert logo.headers["content-type"] == "image/svg+xml" and b"<svg" in logo.content
        missing = client.get("/docs-assets/..%2Fsecret.py")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        assert client.get("/docs-assets/nothing.js").json()["detail"] == (
            "There is no docs asset named 'nothing.js'."
        )


@pytest.mark.skipif(not BUNDLES, reason="pip install 'carafe[docs]' for local assets")
def test_redoc_page_and_oauth2_redirect() -> None:
    with TestClient(make_app(DocsConfig(redoc_options={"hideDownloadButton": True}))) as client:
        page = client.get("/redoc").text
        assert "<title>Shop - ReDoc</title>" in page
        assert urls_in(page) == ["/docs-assets/redoc.standalone.js"]
        assert 'Redoc.init("/openapi.json", {"hideDownloadButton":true}' in page
        assert 'window.carafeRedocLogo = "/docs-assets/logo-mini.svg";' in page
        # Carafe's own redirect script: no file to fetch (tests/test_docs_browser.py runs it).
        redirect = client.get("/docs/oauth2-redirect")
        assert redirect.headers["content-type"] == "text/html; charset=utf-8"
        assert urls_in(redirect.text) == []
        assert "window.opener.swaggerUIRedirectOauth2" in redirect.text


@pytest.mark.skipif(not BUNDLES, reason="pip install 'carafe[docs]' for local assets")
def test_pages_follow_the_root_path_and_custom_urls() -> None:
    config = DocsConfig(
        openapi_url="/api/schema.json",
        swagger_url="/api/docs",
        redoc_url=None,
        assets_url="/static/docs",
        swagger_ui_parameters={"docExpansion": "none"},
    )
    with TestClient(make_app(config), root_path="/shop") as client:
        page = client.get("/api/docs").text
        assert urls_in(page) == [
            "/shop/static/docs/swagger-ui.css",
            "/shop/static/docs/swagger-ui-bundle.js",
        ]
        assert '"docExpansion":"none"' in page and '"url":"/shop/api/schema.json"' in page
        assert 'new URL("/shop/api/docs/oauth2-redirect", location.href)' in page
        assert client.get("/api/schema.json").status_code == 200
        assert client.get("/static/docs/swagger-ui.css").status_code == 200
        assert client.get("/redoc").status_code == 404
        assert client.get("/docs").status_code == 404


def test_assets_from_another_package(fake_package: Path) -> None:
    config = DocsConfig(assets="local", redoc_url=None)
    with TestClient(make_app(config)) as client:
        assert urls_in(client.get("/docs").text) == [
            "/docs-assets/swagger-ui.css",
            "/docs-assets/swagger-ui-bundle.js",
        ]
        assert client.get("/docs-assets/swagger-ui.css").text == "body { margin: 0 }\n"
    assert "fake_swagger_pkg" not in sys.modules  # found, never imported


def test_a_package_missing_a_file_is_not_used(fake_package: Path) -> None:
    (fake_package / "swagger-ui.css").unlink()
    assert find_assets("swagger") is None
    with TestClient(make_app(DocsConfig(redoc_url=None))) as client:
        assert urls_in(client.get("/docs").text)[0].startswith(DEFAULT_CDN)


# --- From a CDN -----------------------------------------------------------------------


def test_cdn_assets() -> None:
    config = DocsConfig(assets="cdn", scalar_url="/scalar", cdn_base="https://mirror.example/npm/")
    with TestClient(make_app(config)) as client:
        assert urls_in(client.get("/docs").text) == [
            "https://mirror.example/npm/swagger-ui-dist@5/swagger-ui.css",
            "https://mirror.example/npm/swagger-ui-dist@5/swagger-ui-bundle.js",
        ]
        redoc = client.get("/redoc").text
        assert urls_in(redoc) == ["https://mirror.example/npm/redoc@2/bundles/redoc.standalone.js"]
        assert "carafeRedocLogo" not in redoc  # the CDN's script keeps its own logo
        scalar = client.get("/scalar").text
        assert '<script id="api-reference" data-url="/openapi.json"></script>' in scalar
        assert urls_in(scalar) == [
            "https://mirror.example/npm/@scalar/api-reference@1/dist/browser/standalone.js"
        ]
        assert urls_in(client.get("/docs/oauth2-redirect").text) == []  # the same own page
        assert client.get("/docs-assets/swagger-ui.css").status_code == 404


def test_auto_falls_back_to_the_cdn_per_viewer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(docs_module.PROVIDERS, "scalar", [("no_such_package_here", {})])
    with TestClient(make_app(DocsConfig(scalar_url="/scalar"))) as client:
        assert urls_in(client.get("/scalar").text)[0].startswith(DEFAULT_CDN + "/@scalar/")
        swagger = urls_in(client.get("/docs").text)
        assert swagger[0].startswith("/docs-assets/" if BUNDLES else DEFAULT_CDN)


def test_local_without_the_package_is_a_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(docs_module.PROVIDERS, "redoc", [("no_such_package_here", {})])
    app = make_app(DocsConfig(assets="local"))
    with pytest.raises(ConfigurationError, match=r"no installed package has the redoc files"):
        app.compile()


# --- Turning things off ---------------------------------------------------------------


def test_docs_none_serves_nothing() -> None:
    with TestClient(make_app(docs=None)) as client:
        for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
            assert client.get(path).status_code == 404
        assert client.get("/items/3").json() == {"item_id": 3}


def test_document_without_pages() -> None:
    config = DocsConfig(swagger_url=None, redoc_url=None)
    with TestClient(make_app(config)) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 404


def test_no_document_means_no_pages() -> None:
    nothing = DocsConfig(openapi_url=None, swagger_url=None, redoc_url=None)
    with TestClient(make_app(nothing)) as client:
        assert client.get("/openapi.json").status_code == 404
    with pytest.raises(ConfigurationError, match="the docs pages need openapi_url"):
        make_app(DocsConfig(openapi_url=None)).compile()


def test_page_titles_are_escaped() -> None:
    with TestClient(
        make_app(DocsConfig(assets="cdn"), title="</title><script>x</script>")
    ) as client:
        page = client.get("/docs").text
        assert "<title>&lt;/title&gt;&lt;script&gt;x&lt;/script&gt; - Swagger UI</title>" in page
    config = DocsConfig(assets="cdn", swagger_ui_parameters={"x": "</script><b>"})
    with TestClient(make_app(config)) as client:
        assert "</script><b>" not in client.get("/docs").text
