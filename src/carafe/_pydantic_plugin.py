"""pydantic as a codec plugin that costs nothing until pydantic is imported.

``PYDANTIC`` answers no type while ``pydantic`` is not in ``sys.modules`` (an app
without pydantic models never imports it); from the first type it is asked about after
that, it hands every call to ``carafe._pydantic.PydanticPlugin``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carafe._core.codecs import Converter, Decoder, Encoder, ModelField
    from carafe._pydantic import PydanticPlugin
    from carafe.extensions import Registry

__all__ = ["PYDANTIC", "PydanticExtension"]


class _LazyPydantic:
    """A ``CodecPlugin`` that loads the real one on first need."""

    __slots__ = ("_plugin",)

    def __init__(self) -> None:
        self._plugin: PydanticPlugin | None = None

    def _real(self) -> PydanticPlugin | None:
        if self._plugin is None and "pydantic" in sys.modules:
            try:
                from carafe._pydantic import PydanticPlugin
            except ImportError:  # pragma: no cover - a broken pydantic install
                return None
            self._plugin = PydanticPlugin()
        return self._plugin

    def claims(self, tp: Any) -> bool:
        plugin = self._real()
        return plugin is not None and plugin.claims(tp)

    def body_decoder(self, tp: Any, loc: tuple[str | int, ...]) -> Decoder:
        return self._loaded().body_decoder(tp, loc)

    def converter(self, tp: Any, loc: tuple[str | int, ...]) -> Converter:
        return self._loaded().converter(tp, loc)

    def response_encoder(self, tp: Any) -> Encoder:
        return self._loaded().response_encoder(tp)

    def enc_hook(self, value: Any) -> Any:
        plugin = self._real()
        if plugin is None:
            raise NotImplementedError
        return plugin.enc_hook(value)

    def json_schema(self, tp: Any, ref_template: str, mode: Any = "serialization") -> Any:
        return self._loaded().json_schema(tp, ref_template=ref_template, mode=mode)

    def model_fields(self, tp: Any) -> list[ModelField] | None:
        plugin = self._real()
        return None if plugin is None else plugin.model_fields(tp)

    def is_scalar_type(self, tp: Any) -> bool:
        """A pydantic single-value type (``HttpUrl``): read from the query, not a body."""
        if self._real() is None:
            return False
        from carafe._pydantic import is_scalar_type

        return is_scalar_type(tp)

    def _loaded(self) -> PydanticPlugin:
        plugin = self._real()
        assert plugin is not None, "asked about a type it did not claim"
        return plugin


PYDANTIC = _LazyPydantic()


class PydanticExtension:
    """Installs pydantic's codec plugin: models as bodies, parameter groups, responses."""

    def install(self, registry: Registry) -> None:
        registry.codec(PYDANTIC)
