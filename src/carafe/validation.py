"""The shape of validation errors, declared once: on the wire and in the OpenAPI document.

By default a request that fails validation is answered with an RFC 9457 problem
document listing ``errors: [{loc, msg, type}]``, and every operation that reads input
documents that 422 as ``ValidationProblem``. An API with its own error shape declares
it with one function; its return annotation is the shape::

    class ConduitErrors(msgspec.Struct):
        errors: dict[str, list[str]]

    @validation_errors(app)
    def conduit_errors(exc: RequestValidationError) -> ConduitErrors:
        by_field: dict[str, list[str]] = {}
        for error in exc.errors:
            by_field.setdefault(str(error["loc"][-1]), []).append(error["msg"])
        return ConduitErrors(by_field)

Every validation error of the app is then ``render(exc)`` encoded as JSON, and the
422 of every operation that reads input is documented with that type. A router's or a
route's own ``responses={422: ...}`` still wins in the document.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from carafe._core import codecs
from carafe.exceptions import ConfigurationError, RequestValidationError
from carafe.responses import Response

if TYPE_CHECKING:
    from carafe.app import Carafe
    from carafe.requests import Request

__all__ = ["validation_errors"]

R = TypeVar("R", bound=Callable[[RequestValidationError], Any])


def validation_errors(
    app: Carafe,
    *,
    media_type: str = "application/json",
    description: str = "The request's parameters or body were not valid",
) -> Callable[[R], R]:
    """Answer the app's validation errors with the decorated ``render(exc)``.

    Args:
        app: The application.
        media_type: The responses' content type.
        description: The 422 response's description in the OpenAPI document.

    Raises:
        ConfigurationError: ``render`` has no return annotation to document.
    """

    def decorate(render: R) -> R:
        try:
            model = typing.get_type_hints(render, include_extras=True).get("return")
        except (NameError, TypeError) as exc:
            raise ConfigurationError(
                f"validation_errors: the return annotation of {render!r} does not resolve"
            ) from exc
        if model is None or model is type(None):
            raise ConfigurationError(
                f"validation_errors: annotate what {render!r} returns; it is the 422's schema"
            )
        encode = codecs.response_encoder(model, app.registry.codecs)
        header = media_type.encode("latin-1")
        is_async = inspect.iscoroutinefunction(render)

        async def handler(request: Request, exc: RequestValidationError) -> Response:
            shaped = render(exc)
            if is_async:
                shaped = await typing.cast(Awaitable[Any], shaped)
            response = Response(encode(shaped), exc.status_code)
            response.raw_headers.insert(0, (b"content-type", header))
            return response

        app.exception_handler(RequestValidationError)(handler)
        app.responses[422] = {"model": model, "description": description}
        app._changed()  # the routes' merged responses are taken at the next compile
        return render

    return decorate
