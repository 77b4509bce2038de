"""Typed clients for a Carafe app, written from its OpenAPI document: ``carafe client``.

    >>> source = generate(build_openapi(app), "python")    # one module: httpx + msgspec
    >>> source = generate(build_openapi(app), "typescript")  # one .ts file over fetch

Why the document and not the app's Python objects: the client then matches, name for
name, what ``/openapi.json`` and the docs pages show (operation ids, wire names,
required fields, error models), it works for any app whose document Carafe builds
(msgspec, pydantic, dataclasses alike), and a third language is a third writer over
the same reader (``carafe.clients._operations``). Everything here is sans I/O: a
document in, source text out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from carafe.clients._operations import ClientError, read_document

__all__ = ["LANGUAGES", "ClientError", "generate"]

LANGUAGES = ("python", "typescript")
"""The values ``generate(..., lang)`` and ``carafe client --lang`` take."""


def generate(document: Mapping[str, Any], lang: Literal["python", "typescript"]) -> str:
    """The source of a typed client for the API ``document`` describes.

    Args:
        document: An OpenAPI 3 document, as ``carafe.openapi.schema.build_openapi`` builds.
        lang: ``"python"`` (one module: msgspec models, ``Client`` and ``AsyncClient``
            over httpx) or ``"typescript"`` (one ``.ts`` file: types and a ``Client``
            over ``fetch``).

    Raises:
        ClientError: The document holds something no client can be written for.
    """
    api = read_document(document)
    if lang == "python":
        from carafe.clients._python import python_client

        return python_client(api)
    if lang == "typescript":
        from carafe.clients._typescript import typescript_client

        return typescript_client(api)
    raise ClientError(f"no client generator for {lang!r}; choose one of {', '.join(LANGUAGES)}")
