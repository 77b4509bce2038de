"""Response envelopes: ``{"article": {...}}`` without a model for every wrapper.

Put an ``Envelope`` in the return annotation; the handler still returns (and type
checkers still see) the bare value::

    @app.get("/articles/{slug}")
    async def article(slug: str) -> Annotated[Article, Envelope("article")]:
        return await db.article(slug)                    # {"article": {...}}

    @app.get("/tags")
    async def tags() -> Annotated[list[str], Envelope("tags")]:
        return ["python"]                                # {"tags": ["python"]}

    @app.get("/articles")
    async def articles(page: LimitOffset) -> Annotated[
        Page[Article], Envelope("articles", count="articlesCount")
    ]:
        return Page(rows, total=n)                       # {"articles": [...], "articlesCount": n}

With ``count=``, a returned list is counted (its length); a ``carafe.pagination.Page``
gives its items and its ``total``. The value is encoded as its declared type, as any
response is (undeclared fields dropped), and the OpenAPI document shows the wrapper
object around the model's schema. For request bodies in an envelope, use
``Body(embed=True)``: ``article: Annotated[NewArticle, Body(embed=True)]`` reads
``{"article": {...}}``.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_args, get_origin

import msgspec

from carafe._core import codecs
from carafe.exceptions import ConfigurationError
from carafe.pagination import Page

if TYPE_CHECKING:
    from carafe._core.codecs import CodecPlugin, Converter, Decoder, Encoder, ModelField
    from carafe.extensions import Registry

__all__ = ["Envelope", "EnvelopeExtension"]


class Envelope:
    """Send a handler's value as ``{key: value}`` (and ``count: n`` when asked).

    Args:
        key: The member the value goes in, e.g. ``"article"``.
        count: A member for the number of items, e.g. ``"articlesCount"``: the length of
            a returned list, or a returned ``Page``'s ``total``.
    """

    __slots__ = ("count", "key")

    def __init__(self, key: str, *, count: str | None = None) -> None:
        if not key or key == count:
            raise ConfigurationError(f"Envelope({key!r}, count={count!r}) needs two names")
        self.key = key
        self.count = count

    def __repr__(self) -> str:
        count = f", count={self.count!r}" if self.count else ""
        return f"Envelope({self.key!r}{count})"

    def schema(self, inner: dict[str, Any]) -> dict[str, Any]:
        """The JSON Schema of the envelope around a value whose schema is ``inner``."""
        properties = {self.key: inner}
        if self.count is not None:
            properties[self.count] = {"type": "integer", "minimum": 0}
        return {"type": "object", "properties": properties, "required": list(properties)}


def envelope_of(tp: Any) -> tuple[Any, Envelope] | None:
    """``Annotated[T, Envelope(...)]`` -> ``(T, the envelope)``; anything else -> None."""
    if get_origin(tp) is not typing.Annotated:
        return None
    inner, *extras = get_args(tp)
    found = next((e for e in extras if isinstance(e, Envelope)), None)
    if found is None:
        return None
    rest = [e for e in extras if e is not found]
    return (typing.Annotated[(inner, *rest)] if rest else inner), found


def _is_page(tp: Any) -> bool:
    return tp is Page or get_origin(tp) is Page


def _items_type(tp: Any) -> Any:
    """The type of the items a counted envelope holds: ``list[X]`` for ``Page[X]``."""
    args = get_args(tp)
    return list[args[0]] if args else list[Any]  # type: ignore[valid-type]


class EnvelopeCodec:
    """A codec plugin for ``Annotated[T, Envelope(...)]`` return types (one per app)."""

    def __init__(self, plugins: Sequence[CodecPlugin]) -> None:
        self.plugins = plugins  # the app's codec plugins (this one among them)

    def claims(self, tp: Any) -> bool:
        return envelope_of(tp) is not None

    def response_encoder(self, tp: Any) -> Encoder:
        found = envelope_of(tp)
        assert found is not None, "asked about a type it did not claim"
        inner, envelope = found
        head = b"{" + msgspec.json.encode(envelope.key) + b":"
        if envelope.count is None:
            encode_value = codecs.response_encoder(inner, self.plugins)
            return lambda value: head + encode_value(value) + b"}"
        counted = b"," + msgspec.json.encode(envelope.count) + b":"
        if _is_page(inner):
            encode_items = codecs.response_encoder(_items_type(inner), self.plugins)

            def encode_page(value: Any) -> bytes:
                if not isinstance(value, Page):
                    raise TypeError(f"Expected a Page, got {type(value).__name__}")
                total = str(int(value.total)).encode()
                return head + encode_items(value.items) + counted + total + b"}"

            return encode_page
        encode_list = codecs.response_encoder(inner, self.plugins)
        return lambda value: head + encode_list(value) + counted + str(len(value)).encode() + b"}"

    def json_schema(self, tp: Any, ref_template: str, mode: Any = "serialization") -> Any:
        found = envelope_of(tp)
        assert found is not None, "asked about a type it did not claim"
        inner, envelope = found
        if envelope.count is not None and _is_page(inner):
            inner = _items_type(inner)
        plugin = codecs._plugin_for(inner, self.plugins)
        if plugin is not None and hasattr(plugin, "json_schema"):
            schema = dict(plugin.json_schema(inner, ref_template=ref_template, mode=mode))
            defs = schema.pop("$defs", {})
            if "$ref" not in schema and "title" in schema and isinstance(inner, type):
                # A top-level model comes back inline: make it a component.
                defs = {**defs, schema["title"]: schema}
                schema = {"$ref": ref_template.format(model=schema["title"])}
        else:
            template = ref_template.replace("{model}", "{name}")
            (schema,), defs = msgspec.json.schema_components([inner], ref_template=template)
        return {**envelope.schema(schema), "$defs": defs}

    def body_decoder(self, tp: Any, loc: tuple[str | int, ...]) -> Decoder:
        raise ConfigurationError(
            "Envelope(...) wraps responses; read an enveloped body with Body(embed=True)"
        )

    def converter(self, tp: Any, loc: tuple[str | int, ...]) -> Converter:
        return self.body_decoder(tp, loc)

    def enc_hook(self, value: Any) -> Any:
        raise NotImplementedError

    def model_fields(self, tp: Any) -> list[ModelField] | None:
        return None


class EnvelopeExtension:
    """Installs the envelope codec into an app's registry."""

    def install(self, registry: Registry) -> None:
        registry.codec(EnvelopeCodec(registry.codecs))
