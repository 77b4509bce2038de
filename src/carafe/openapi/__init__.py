"""OpenAPI for Carafe apps: the document (``schema``) and the pages that show it (``docs``).

By default every app serves ``/openapi.json``, Swagger UI at ``/docs`` and ReDoc at
``/redoc``; ``Carafe(docs=DocsConfig(...))`` changes that, ``Carafe(docs=None)`` turns it
off. The page scripts come from an installed package when there is one
(``pip install 'carafe[docs]'``), so the docs work on a closed network, and from a CDN
otherwise. This module is small on purpose: the builder and the pages are imported when
the app starts, not when ``carafe`` is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

__all__ = ["DEFAULT_CDN", "DocsConfig"]

DEFAULT_CDN = "https://cdn.jsdelivr.net/npm"
"""Where the docs pages load Swagger UI, ReDoc and Scalar from when no installed package
has their files (``DocsConfig(cdn_base=...)`` names another)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DocsConfig:
    """Where the OpenAPI document and the docs pages are served, and how.

    Every URL may be ``None`` to leave that page out.

    Attributes:
        openapi_url: The JSON document. Without it there are no pages either.
        swagger_url: Swagger UI (its OAuth2 login lands on ``<swagger_url>/oauth2-redirect``).
        redoc_url: ReDoc.
        scalar_url: Scalar, a third viewer; off unless given (e.g. ``"/scalar"``).
        assets: ``"auto"`` serves the page scripts from an installed package when one is
            found and from ``cdn_base`` otherwise; ``"local"`` insists on the package
            (a ``ConfigurationError`` at startup names what to install); ``"cdn"``
            always uses ``cdn_base``.
        assets_url: Where the app serves the packaged scripts and styles.
        cdn_base: An npm CDN (or a mirror inside your network) laid out like jsDelivr:
            ``<cdn_base>/swagger-ui-dist@5/swagger-ui-bundle.js``.
        swagger_ui_parameters: Swagger UI options, e.g. ``{"docExpansion": "none"}``.
        redoc_options: ReDoc options, e.g. ``{"hideDownloadButton": True}``.
        servers: The document's ``servers`` (default: the app's ``root_path``, if any).
        tags: Tag objects, ``{"name": ..., "description": ...}``, in display order.
        info: More ``info`` fields: ``summary``, ``contact``, ``license``, ``termsOfService``.
    """

    openapi_url: str | None = "/openapi.json"
    swagger_url: str | None = "/docs"
    redoc_url: str | None = "/redoc"
    scalar_url: str | None = None
    assets: Literal["auto", "local", "cdn"] = "auto"
    assets_url: str = "/docs-assets"
    cdn_base: str = DEFAULT_CDN
    swagger_ui_parameters: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    redoc_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    servers: Sequence[Mapping[str, Any]] = ()
    tags: Sequence[Mapping[str, Any]] = ()
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)
