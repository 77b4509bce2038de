"""The docs routes: ``/openapi.json``, Swagger UI, ReDoc, Scalar, and their scripts.

The viewers are JavaScript apps. FastAPI loads them from a CDN, so its docs are blank on
a closed network. Carafe looks for them in installed packages first (the ``docs`` extra,
also in ``all``, installs ``openapi-ui-bundles``: Swagger UI, ReDoc and RapiDoc's files,
no dependencies) and serves them itself under ``DocsConfig.assets_url``. Packages are
found with ``importlib.util.find_spec``, which reads no module code. Swagger UI's OAuth2
redirect page is Carafe's own, so it needs no file at all. The routes are added when the
app compiles, left out of the document (``include_in_schema=False``).
"""

from __future__ import annotations

import html
import importlib.util
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from carafe._concurrency import run_sync
from carafe.exceptions import ConfigurationError, HTTPError, elide
from carafe.openapi import DocsConfig
from carafe.requests import Request
from carafe.responses import HTMLResponse, Response
from carafe.routing.router import Router

if TYPE_CHECKING:
    from carafe.app import Carafe

__all__ = ["PROVIDERS", "find_assets", "install"]

# Which installed packages ship which viewer, and where their files are inside them.
# A provider is used only when it has every file its viewer needs.
PROVIDERS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "swagger": [
        (
            "openapi_ui_bundles",
            {
                "swagger-ui-bundle.js": "swagger_ui/vendor/swagger-ui-bundle.js",
                "swagger-ui.css": "swagger_ui/vendor/swagger-ui.css",
            },
        ),
        (
            "swagger_ui",  # swagger-ui-py
            {
                "swagger-ui-bundle.js": "static/swagger-ui-bundle.js",
                "swagger-ui.css": "static/swagger-ui.css",
            },
        ),
    ],
    "redoc": [
        (
            "openapi_ui_bundles",
            {
                "redoc.standalone.js": "redoc/vendor/redoc.standalone.js",
                "logo-mini.svg": "redoc/vendor/logo-mini.svg",
            },
        ),
        ("flask_openapi3_redoc", {"redoc.standalone.js": "templates/redoc/js/redoc.standalone.js"}),
    ],
    "scalar": [
        (
            "flask_openapi3_scalar",
            {"scalar.standalone.js": "templates/scalar/js/scalar.standalone.js"},
        ),
    ],
}

# The same files on an npm CDN, relative to DocsConfig.cdn_base.
CDN_FILES = {
    "swagger-ui-bundle.js": "swagger-ui-dist@5/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist@5/swagger-ui.css",
    "redoc.standalone.js": "redoc@2/bundles/redoc.standalone.js",
    "scalar.standalone.js": "@scalar/api-reference@1/dist/browser/standalone.js",
}
# NOTE: ReDoc 2 draws Redocly's logo (under "API docs by Redocly") from Redocly's CDN,
# and no option turns that off. openapi-ui-bundles ships the same image, so the script
# is served with that URL swapped for a global the ReDoc page sets to the local copy.
_REDOC_LOGO = b'"https://cdn.redoc.ly/redoc/logo-mini.svg"'
_REDOC_LOGO_GLOBAL = "carafeRedocLogo"
_INSTALL_HINT = "pip install 'carafe[docs]'"


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_assets(viewer: str) -> dict[str, Path] | None:
    """The files of ``viewer`` ("swagger", "redoc", "scalar") from the first installed
    package that has them all, or None."""
    for package, files in PROVIDERS[viewer]:
        root = _package_dir(package)
        if root is None:
            continue
        paths = {name: root / relative for name, relative in files.items()}
        if all(path.is_file() for path in paths.values()):
            return paths
    return None


# Swagger UI's side of an OAuth2 login (authorization code or implicit flow): the page
# that opened this popup left ``swaggerUIRedirectOauth2`` = {auth, state, redirectUrl,
# callback, errCb}; this hands back the code (or the token) when the state matches.
_OAUTH2_REDIRECT = """\
(() => {
  const login = window.opener && window.opener.swaggerUIRedirectOauth2;
  if (!login) {
    document.body.textContent = "No Swagger UI login is waiting for this answer.";
    return;
  }
  delete window.opener.swaggerUIRedirectOauth2;
  const raw = location.hash.length > 1 ? location.hash.slice(1) : location.search.slice(1);
  const answer = Object.fromEntries(new URLSearchParams(raw));
  const fail = (message) =>
    login.errCb({authId: login.auth.name, source: "auth", level: "error", message});
  const done = {auth: login.auth, redirectUrl: login.redirectUrl};
  if (answer.state !== login.state) {
    fail("The authorization server answered with another state; the login was refused.");
  } else if (login.auth.schema.get("flow") === "implicit") {
    login.callback({...done, token: answer, isValid: true});
  } else if (answer.code) {
    login.auth.code = answer.code;
    login.callback(done);
  } else {
    fail([answer.error || "The authorization server sent no code", answer.error_description]
      .filter(Boolean).join(": "));
  }
  window.close();
})();
"""


def _script_json(value: Any) -> str:
    """JSON safe to put inside a ``<script>`` element."""
    return msgspec.json.encode(value).decode().replace("<", "\\u003c")


class _Assets:
    """Where each viewer file comes from for one app: a local path or a CDN URL."""

    def __init__(self, config: DocsConfig, viewers: list[str]) -> None:
        self.config = config
        self.local: dict[str, Path] = {}
        for viewer in viewers:
            found = None if config.assets == "cdn" else find_assets(viewer)
            if found is None and config.assets == "local":
                raise ConfigurationError(
                    f"DocsConfig(assets='local'): no installed package has the {viewer} "
                    f"files; {_INSTALL_HINT}, or use assets='auto' to fall back to a CDN"
                )
            self.local.update(found or {})
        self.cache: dict[str, tuple[bytes, str]] = {}

    def url(self, request: Request, name: str) -> str:
        if name in self.local:
            return f"{request.scope.get('root_path', '')}{self.config.assets_url}/{name}"
        return f"{self.config.cdn_base.rstrip('/')}/{CDN_FILES[name]}"

    def _read(self, name: str) -> tuple[bytes, str]:
        path = self.local[name]
        content = path.read_bytes()
        if name == "redoc.standalone.js" and "logo-mini.svg" in self.local:
            content = content.replace(_REDOC_LOGO, f"window.{_REDOC_LOGO_GLOBAL}".encode())
        etag = f'"{len(content):x}-{path.stat().st_mtime_ns:x}"'
        self.cache[name] = (content, etag)
        return content, etag

    async def get(self, name: str) -> tuple[bytes, str]:
        """The content of a local file and its ETag."""
        # NOTE: read once (in the thread pool) and kept: about 2.5 MB for Swagger UI and
        # ReDoc together.
        cached = self.cache.get(name)
        if cached is None:
            cached = await run_sync(self._read, name)
        return cached


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


class _Pages:
    """The handlers, closed over one app's configuration."""

    def __init__(self, app: Carafe, config: DocsConfig, assets: _Assets) -> None:
        self.app = app
        self.config = config
        self.assets = assets
        self._documents: dict[str, tuple[object, bytes]] = {}

    def _openapi_url(self, request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{self.config.openapi_url}"

    def _cached(self, root_path: str) -> bytes | None:
        known = self._documents.get(root_path)
        if known is not None and known[0] is self.app.compile():
            return known[1]
        return None

    def document(self, request: Request) -> bytes:
        """The document as JSON bytes, built once per route table and root path."""
        from carafe.openapi.schema import build_openapi

        root_path = request.scope.get("root_path", "")
        compiled = self.app.compile()
        config = self.config
        servers = config.servers or ([{"url": root_path}] if root_path else [])
        document = build_openapi(self.app, servers=servers, tags=config.tags, info=config.info)
        encoded = msgspec.json.encode(document)
        self._documents[root_path] = (compiled, encoded)
        return encoded

    async def openapi(self, request: Request) -> Response:
        # PERF: built once per route table (in the thread pool, as it walks every type)
        # and then served as the same bytes: no per-request JSON encoding.
        body = self._cached(request.scope.get("root_path", ""))
        if body is None:
            body = await run_sync(self.document, request)
        return Response(body, media_type="application/json")

    async def swagger(self, request: Request) -> Response:
        assets, config = self.assets, self.config
        # validatorUrl: Swagger UI would send the document's URL to validator.swagger.io
        # for a badge; off, so nothing leaves the network.
        options: dict[str, Any] = {"deepLinking": True, "validatorUrl": None}
        options.update(config.swagger_ui_parameters)
        options["url"] = self._openapi_url(request)
        redirect = f"{request.scope.get('root_path', '')}{config.swagger_url}/oauth2-redirect"
        head = (
            f'<link rel="stylesheet" href="{html.escape(assets.url(request, "swagger-ui.css"))}">\n'
        )
        body = (
            '<div id="swagger-ui"></div>\n'
            f'<script src="{html.escape(assets.url(request, "swagger-ui-bundle.js"))}"></script>\n'
            "<script>\n"
            f"const options = {_script_json(options)};\n"
            'options.dom_id = "#swagger-ui";\n'
            f"options.oauth2RedirectUrl = new URL({_script_json(redirect)}, location.href).href;\n"
            "window.ui = SwaggerUIBundle(options);\n"
            "</script>\n"
        )
        return _page(f"{self.app.title} - Swagger UI", head, body)

    async def oauth2_redirect(self) -> Response:
        # Swagger UI's login popup lands here; the script hands the code or token back
        # to the page that opened it.
        return _page("Swagger UI: OAuth2 redirect", "", f"<script>\n{_OAUTH2_REDIRECT}</script>\n")

    async def redoc(self, request: Request) -> Response:
        options = _script_json(dict(self.config.redoc_options))
        script = html.escape(self.assets.url(request, "redoc.standalone.js"))
        logo = ""
        if "logo-mini.svg" in self.assets.local:
            logo_url = _script_json(self.assets.url(request, "logo-mini.svg"))
            logo = f"window.{_REDOC_LOGO_GLOBAL} = {logo_url};\n"
        body = (
            '<div id="redoc"></div>\n'
            f'<script src="{script}"></script>\n'
            f"<script>\n{logo}"
            f"Redoc.init({_script_json(self._openapi_url(request))}, {options}, "
            'document.getElementById("redoc"));\n'
            "</script>\n"
        )
        return _page(f"{self.app.title} - ReDoc", "", body)

    async def scalar(self, request: Request) -> Response:
        script = html.escape(self.assets.url(request, "scalar.standalone.js"))
        body = (
            f'<script id="api-reference" data-url="{html.escape(self._openapi_url(request))}">'
            "</script>\n"
            f'<script src="{script}"></script>\n'
        )
        return _page(f"{self.app.title} - API reference", "", body)

    async def asset(self, request: Request, name: str) -> Response:
        if name not in self.assets.local:
            raise HTTPError(404, f"There is no docs asset named {elide(name)!r}.")
        content, etag = await self.assets.get(name)
        headers = {"etag": etag, "cache-control": "public, max-age=86400"}
        if request.headers.get("if-none-match") == etag:
            return Response(b"", 304, headers)
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(content, headers=headers, media_type=media_type)


def install(app: Carafe, config: DocsConfig) -> Router:
    """The router with ``app``'s docs routes, for ``config``. Called at startup.

    Raises:
        ConfigurationError: ``assets="local"`` and a viewer's package is not installed,
            or a page is configured without the document it shows.
    """
    viewers = [
        viewer
        for viewer, url in (
            ("swagger", config.swagger_url),
            ("redoc", config.redoc_url),
            ("scalar", config.scalar_url),
        )
        if url is not None
    ]
    router = Router()
    if config.openapi_url is None:
        if viewers:
            raise ConfigurationError(
                "DocsConfig: the docs pages need openapi_url; set the page URLs to None too"
            )
        return router
    pages = _Pages(app, config, _Assets(config, viewers))
    router.add_route(
        config.openapi_url, pages.openapi, name="carafe.openapi", include_in_schema=False
    )
    if config.swagger_url is not None:
        router.add_route(
            config.swagger_url, pages.swagger, name="carafe.swagger", include_in_schema=False
        )
        router.add_route(
            config.swagger_url + "/oauth2-redirect",
            pages.oauth2_redirect,
            name="carafe.swagger_oauth2_redirect",
            include_in_schema=False,
        )
    if config.redoc_url is not None:
        router.add_route(
            config.redoc_url, pages.redoc, name="carafe.redoc", include_in_schema=False
        )
    if config.scalar_url is not None:
        router.add_route(
            config.scalar_url, pages.scalar, name="carafe.scalar", include_in_schema=False
        )
    if pages.assets.local:
        router.add_route(
            config.assets_url + "/{name}",
            pages.asset,
            name="carafe.docs_asset",
            include_in_schema=False,
        )
    return router
