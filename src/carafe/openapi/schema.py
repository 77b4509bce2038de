"""The OpenAPI 3.1 document of an app, built from its compiled routes. Sans I/O.

Everything comes from what the app already knows at startup: each route's options
(tags, summary, responses...), the handler's docstring (first line the summary, the rest
the description), the plan's parameters (path, query, header, cookie, JSON body, form
and file fields) and dependencies (security schemes), and the return annotation
(the response model). Errors are documented as RFC 9457 problems: every operation that
reads input can answer 422 with ``ValidationProblem``.

    >>> document = build_openapi(app)
    >>> document["paths"]["/items/{item_id}"]["get"]["parameters"][0]["in"]
    'path'
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import msgspec

from carafe._core import codecs
from carafe._core.render import declared_return, response_annotation
from carafe.openapi.components import REF_PREFIX, Components, is_upload
from carafe.params import Body
from carafe.responses import JSONResponse, Response
from carafe.routing.router import Route

if TYPE_CHECKING:
    from carafe._core.plan import ParamInfo
    from carafe.app import Carafe
    from carafe.routing.dispatch import CompiledRoute
    from carafe.security import SecurityBase

__all__ = ["OPENAPI_VERSION", "build_openapi"]

OPENAPI_VERSION = "3.1.0"
_SIMPLE_SOURCES = ("path", "query", "header", "cookie")
_FORM_SOURCES = ("form", "file")
_NO_CONTENT = frozenset({204, 205, 304})
# Errors Carafe documents itself where a route can answer them; an app's or router's
# entry for one of them replaces Carafe's there and is not added anywhere else.
_AUTOMATIC = frozenset({"400", "401", "422"})

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document.",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
    "required": ["loc", "msg", "type"],
}


def _validation_problem_schema() -> dict[str, Any]:
    schema = typing.cast(dict[str, Any], msgspec.json.decode(msgspec.json.encode(PROBLEM_SCHEMA)))
    schema["title"] = "ValidationProblem"
    schema["description"] = "A problem document listing what was wrong with the request."
    schema["properties"]["errors"] = {
        "type": "array",
        "items": {"$ref": REF_PREFIX + "ValidationError"},
    }
    schema["required"].append("errors")
    return schema


def _problem_content(name: str) -> dict[str, Any]:
    return {"application/problem+json": {"schema": {"$ref": REF_PREFIX + name}}}


def _phrase(status: int | str) -> str:
    try:
        return HTTPStatus(int(status)).phrase
    except ValueError:
        return "Response"


def _jsonable(value: Any) -> tuple[bool, Any]:
    try:
        return True, msgspec.to_builtins(value, enc_hook=codecs._enc_hook)
    except (TypeError, NotImplementedError):
        return False, None


def build_openapi(
    app: Carafe,
    *,
    servers: Sequence[Mapping[str, Any]] = (),
    tags: Sequence[Mapping[str, Any]] = (),
    info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``app``, as a JSON-ready dict.

    Args:
        app: The application; it is compiled if it was not yet.
        servers: The document's ``servers`` list.
        tags: Tag objects (``{"name": ..., "description": ...}``) in display order.
        info: More fields for the ``info`` object: ``summary``, ``contact``, ``license``,
            ``termsOfService``.

    Raises:
        ConfigurationError: The app's routes are set up wrongly (as at startup).
    """
    components = Components(app.registry.codecs)
    operations = [
        _Operation(compiled, method)
        for compiled in app.compile()
        if isinstance(compiled.route, Route) and compiled.route.include_in_schema
        for method in compiled.route.methods
    ]
    for operation in operations:
        operation.collect(components)
    # The problem schemas go in first: a user's model named "Problem" is renamed, not ours.
    components.add_component("Problem", PROBLEM_SCHEMA)
    components.add_component("ValidationError", VALIDATION_ERROR_SCHEMA)
    components.add_component("ValidationProblem", _validation_problem_schema())
    components.generate()
    schemes = _SecuritySchemes()
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for operation in operations:
        rendered = operation.render(components, schemes, used_ids)
        paths.setdefault(operation.path, {})[operation.method.lower()] = rendered
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": app.title, "version": app.version, **(info or {})},
    }
    if app.description:
        document["info"]["description"] = app.description
    if servers:
        document["servers"] = [dict(server) for server in servers]
    document["paths"] = paths
    document["components"] = {"schemas": dict(sorted(components.schemas.items()))}
    if schemes.schemes:
        document["components"]["securitySchemes"] = schemes.schemes
    if tags:
        named: dict[str, dict[str, Any]] = {}
        for tag in tags:  # a tag named twice is listed once, as first given
            named.setdefault(str(tag.get("name")), dict(tag))
        document["tags"] = list(named.values())
    contributors = app.registry.openapi_contributors
    for operation in operations if contributors else ():
        rendered = paths[operation.path][operation.method.lower()]
        for contribute in contributors:  # what extensions add (carafe.extensions)
            contribute(rendered, operation.compiled, document)
    return document


class _SecuritySchemes:
    """The document's security schemes, each scheme object under one unique name."""

    def __init__(self) -> None:
        self.schemes: dict[str, dict[str, Any]] = {}
        self.names: dict[int, str] = {}

    def name_for(self, scheme: SecurityBase) -> str:
        known = self.names.get(id(scheme))
        if known is not None:
            return known
        spec = scheme.openapi()
        name, number = scheme.scheme_name, 2
        while name in self.schemes and self.schemes[name] != spec:
            name, number = f"{scheme.scheme_name}{number}", number + 1
        self.schemes[name] = spec
        self.names[id(scheme)] = name
        return name


class _Operation:
    """One (route, method) pair on its way into the document."""

    def __init__(self, compiled: CompiledRoute, method: str) -> None:
        assert isinstance(compiled.route, Route)  # websocket routes are not operations
        self.compiled = compiled
        self.route: Route = compiled.route
        self.plan = compiled.plan
        self.method = method
        self.path = _openapi_path(compiled.template.path)
        self.simple: list[ParamInfo] = []
        self.body: list[ParamInfo] = []
        self.form: list[ParamInfo] = []
        seen: set[tuple[str, str]] = set()
        for info in self.plan.params:
            marker = info.marker
            if (info.source, info.key) in seen or (
                marker is not None and not marker.include_in_schema
            ):
                continue
            seen.add((info.source, info.key))
            if info.source in _SIMPLE_SOURCES:
                self.simple.append(info)
            elif info.source in _FORM_SOURCES:
                self.form.append(info)
            elif info.source == "body":
                self.body.append(info)
            # NOTE: a source some extension registered is not ours to describe.
        self.annotation = response_annotation(self.route)

    def collect(self, components: Components) -> None:
        """Tell ``components`` every type this operation needs a schema for."""
        for info in (*self.simple, *self.body, *self.form):
            components.add(info.annotation, "validation")
        if self.annotation is not None:
            components.add(self.annotation)
        for spec in (*self.route.shared_responses.values(), *self.route.responses.values()):
            if spec.get("model") is not None:
                components.add(spec["model"])

    def render(
        self, components: Components, schemes: _SecuritySchemes, used_ids: set[str]
    ) -> dict[str, Any]:
        """The Operation Object."""
        route = self.route
        summary, description = _doc_parts(route.handler)
        operation: dict[str, Any] = {}
        if route.tags:
            operation["tags"] = list(route.tags)
        operation["summary"] = route.summary or summary or _title(route.name)
        if route.description or description:
            operation["description"] = route.description or description
        operation["operationId"] = self._operation_id(used_ids)
        if self.simple:
            operation["parameters"] = [self._parameter(i, components) for i in self.simple]
        body = self._request_body(components)
        if body is not None:
            operation["requestBody"] = body
        security = self._security(schemes)
        operation["responses"] = self._responses(components, security)
        if route.deprecated:
            operation["deprecated"] = True
        if security:
            operation["security"] = security
        return operation

    def _operation_id(self, used: set[str]) -> str:
        route = self.route
        base = route.operation_id or route.name.replace(".", "_")
        if len(route.methods) > 1:
            base = f"{base}_{self.method.lower()}"
        candidate, number = base, 2
        while candidate in used:
            candidate, number = f"{base}_{number}", number + 1
        used.add(candidate)
        return candidate

    # --- Parameters and bodies -------------------------------------------------------

    def _parameter(self, info: ParamInfo, components: Components) -> dict[str, Any]:
        schema = components.schema(info.annotation, "validation")
        marker = info.marker
        if not info.required:
            ok, default = _jsonable(info.default)
            if ok and default is not None:
                schema["default"] = default
        if marker is not None and marker.examples:
            schema["examples"] = list(marker.examples)
        parameter: dict[str, Any] = {
            "name": info.key,
            "in": info.source,
            "required": info.source == "path" or info.required,
            "schema": schema,
        }
        if marker is not None and marker.description:
            parameter["description"] = marker.description
        if marker is not None and marker.deprecated:
            parameter["deprecated"] = True
        return parameter

    def _request_body(self, components: Components) -> dict[str, Any] | None:
        if self.body:
            media_type = next(
                (p.marker.media_type for p in self.body if isinstance(p.marker, Body)),
                "application/json",
            )
            embed = len(self.body) > 1 or any(
                isinstance(p.marker, Body) and p.marker.embed for p in self.body
            )
            group = self.body
        elif self.form:
            multipart = any(
                p.source == "file" or is_upload(codecs.unwrap_optional(p.annotation)[0])
                for p in self.form
            )
            media_type = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
            group = self.form
            embed = not (len(group) == 1 and _is_form_model(group[0].annotation))
        else:
            return None
        schema = (
            _object_schema(group, components)
            if embed
            else components.schema(group[0].annotation, "validation")
        )
        content: dict[str, Any] = {"schema": schema}
        examples = [e for p in group if p.marker is not None for e in (p.marker.examples or ())]
        if examples:
            content["examples"] = {f"example{i}": {"value": v} for i, v in enumerate(examples, 1)}
        return {
            "required": any(p.required for p in group),
            "content": {media_type: content},
        }

    # --- Responses and security ------------------------------------------------------

    def _success_content(self, components: Components) -> dict[str, Any] | None:
        route = self.route
        declared = route.response_class or _returned_response_class(route)
        annotation = self.annotation
        if declared is not None and not issubclass(declared, JSONResponse):
            media_type = declared.media_type or "application/octet-stream"
            text = media_type.startswith("text/")
            return {media_type: {"schema": {"type": "string"} if text else {}}}
        if annotation is None:
            if declared is None and declared_return(route) is type(None):
                # ``-> None`` answers ``null`` unless the status has no body (204, 304).
                return {"application/json": {"schema": {"type": "null"}}}
            return None if declared is None else {"application/json": {"schema": {}}}
        if annotation is str:
            return {"text/plain": {"schema": {"type": "string"}}}
        if annotation is bytes:
            return {"application/octet-stream": {"schema": {}}}
        return {"application/json": {"schema": components.schema(annotation)}}

    def _responses(
        self, components: Components, security: list[dict[str, list[str]]]
    ) -> dict[str, Any]:
        status = self.route.status_code or 200
        success: dict[str, Any] = {"description": _phrase(status)}
        content = self._success_content(components)
        if content is not None and status not in _NO_CONTENT:
            success["content"] = content
        responses: dict[str, Any] = {str(status): success}
        automatic = self._automatic_responses(security)
        for key, spec in self.route.shared_responses.items():
            if str(key) in _AUTOMATIC and str(key) not in automatic:
                continue  # e.g. the app's 422 shape on a route that reads no input
            responses[str(key)] = _merge_response(
                responses.get(str(key)), key, dict(spec), components
            )
        for key, spec in self.route.responses.items():
            responses[str(key)] = _merge_response(
                responses.get(str(key)), key, dict(spec), components
            )
        for key, response in automatic.items():
            responses.setdefault(key, response)
        return dict(sorted(responses.items()))

    def _automatic_responses(self, security: list[dict[str, list[str]]]) -> dict[str, Any]:
        """The errors this operation can answer whatever its handler does."""
        automatic: dict[str, Any] = {}
        if self.body or self.form:
            automatic["400"] = {
                "description": "The body could not be read (malformed JSON or form data)",
                "content": _problem_content("Problem"),
            }
        if self.plan.params:
            automatic["422"] = {
                "description": "The request's parameters or body were not valid",
                "content": _problem_content("ValidationProblem"),
            }
        if security and {} not in security:
            automatic["401"] = {
                "description": "Not authenticated",
                "content": _problem_content("Problem"),
            }
        return automatic

    def _security(self, schemes: _SecuritySchemes) -> list[dict[str, list[str]]]:
        from carafe.security import security_of

        required: dict[str, list[str]] = {}
        optional = True
        for call in self.plan.calls:
            found = security_of(call)
            if found is None:
                continue
            scheme, scopes = found
            optional = optional and not scheme.auto_error
            listed = required.setdefault(schemes.name_for(scheme), [])
            listed.extend(scope for scope in scopes if scope not in listed)
        if not required:
            return []
        return [required, {}] if optional else [required]


# --- Helpers ----------------------------------------------------------------------------


def _openapi_path(path: str) -> str:
    """``/files/{rest:path}`` -> ``/files/{rest}``."""
    return path.replace(":path}", "}")


def _title(name: str) -> str:
    words = name.rsplit(".", 1)[-1].replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _doc_parts(handler: Any) -> tuple[str | None, str | None]:
    doc = inspect.getdoc(handler)
    if not doc:
        return None, None
    first, _, rest = doc.partition("\n")
    return first.strip() or None, rest.strip() or None


def _returned_response_class(route: Route) -> type[Response] | None:
    # The plan has read these hints already; they resolve.
    returned = declared_return(route)
    if isinstance(returned, type) and issubclass(returned, Response):
        return returned
    return None


def _is_form_model(tp: Any) -> bool:
    inner, _ = codecs.unwrap_optional(tp)
    return not is_upload(inner) and not codecs.is_sequence(inner) and codecs.is_model(inner)


def _object_schema(group: Sequence[ParamInfo], components: Components) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for info in group:
        schema = components.schema(info.annotation, "validation")
        if info.marker is not None and info.marker.description:
            schema["description"] = info.marker.description
        if info.required:
            required.append(info.key)
        else:
            ok, default = _jsonable(info.default)
            if ok and default is not None:
                schema["default"] = default
        properties[info.key] = schema
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _merge_response(
    known: dict[str, Any] | None, key: int | str, spec: dict[str, Any], components: Components
) -> dict[str, Any]:
    """A route's ``responses={status: {...}}`` entry as a Response Object.

    ``model`` (a type) becomes a JSON schema; ``example`` an example of it; an error
    status with no content is documented as a problem document; ``content={}`` says
    the response has no body (a ``200`` that a handler answers with an empty
    ``Response``).
    """
    model = spec.pop("model", None)
    example = spec.pop("example", None)
    response = dict(known or {})
    response.update(spec)
    response.setdefault("description", _phrase(key))
    if model is not None:
        response["content"] = {"application/json": {"schema": components.schema(model)}}
    elif "content" not in response and str(key)[:1] in ("4", "5"):
        response["content"] = _problem_content("Problem")
    if example is not None and "content" in response:
        for media in response["content"].values():
            media["example"] = example
    if response.get("content") == {}:
        del response["content"]
    return response
