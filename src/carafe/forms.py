"""Forms and uploads: the ``Form`` and ``File`` markers, ``FormData``, and the body parsers.

::

    @app.post("/signup")
    async def signup(
        email: Annotated[str, Form()],
        tags: Annotated[list[str], Form()] = [],
        avatar: UploadFile | None = None,         # a file part; File() is implied
    ) -> dict: ...

    @app.post("/items")
    async def create(item: Annotated[Item, Form()]) -> Item:   # a model read from fields
        return item

``application/x-www-form-urlencoded`` bodies are read whole, within ``max_body_size``
and ``max_form_fields``. ``multipart/form-data`` bodies are parsed as they arrive from
``request.stream()``: text parts are kept in memory, file parts go to an ``UploadFile``
that spools to disk past 1 MiB. Every ``Limits`` bound is checked on the bytes received,
before more are read: the whole body (``max_multipart_size``), each part's headers
(``max_part_header_size``), the number of fields and files, the size of each text part
(``max_part_size``) and of each file (``max_file_size``). Going over a bound is a 413; a
malformed body (no boundary, a truncated stream) a 400; a body that is no form a 415.

A body is parsed once per request (the result, or the error, is kept in the scope);
``Form``/``File`` parameters, dependencies and ``await request.form()`` share it. The
uploads are closed when the request ends, whichever way it ends.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
)
from typing import TYPE_CHECKING, Any, TypeAlias, cast, get_args, get_origin
from urllib.parse import unquote_plus

from carafe._core import codecs
from carafe._core.plan import ParamInfo
from carafe.context import Slot, context_of
from carafe.datastructures import Headers
from carafe.exceptions import ConfigurationError, ErrorDetail, HTTPError, RequestValidationError
from carafe.limits import DEFAULT_LIMITS, Limits
from carafe.params import REQUIRED, Param
from carafe.requests import Request, declared_length
from carafe.uploads import UploadFile

if TYPE_CHECKING:
    from multipart import MultipartSegment  # type: ignore[import-untyped]

    from carafe.extensions import Registry

__all__ = [
    "File",
    "Form",
    "FormData",
    "FormsExtension",
    "parse_content_type",
    "parse_urlencoded",
    "read_form",
]

FormValue: TypeAlias = str | UploadFile
Reader = Callable[["FormData"], Any]

_FORM: Slot[FormData | Exception] = Slot("form")
_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_NOT_A_FORM = "The body must be a form (multipart/form-data or application/x-www-form-urlencoded)"
# RFC 2046 section 5.1.1: 1 to 70 of these characters, not ending in a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_MAX_PART_HEADERS = 16  # RFC 7578 needs three; more is someone probing
_PART_HEADERS = "The headers of a multipart part are"
# PERF: file data is written in batches of up to 1 MiB, one thread-pool hop per batch
# instead of one per chunk the server hands over: the 2 GiB upload of tests/test_forms.py
# (uvicorn, written and read back) took 5.9 s against 6.5 s writing chunk by chunk.
_WRITE_BATCH = 1024 * 1024
_SEQUENCES = (list, tuple, set, frozenset)
_CHECKBOX = {"on": "true", "off": "false", "yes": "true", "no": "false"}


# --- Markers ----------------------------------------------------------------------------


class Form(Param):
    """A field of a form body, urlencoded or multipart.

    A scalar or ``list[...]`` type reads one field (all its values for a list); a model
    type (msgspec Struct, dataclass, TypedDict, pydantic model) reads one field per
    attribute, with errors located at ``["form", attribute]``. An empty field counts as
    missing for any type but ``str``, as browsers send empty inputs that way; a ``bool``
    reads a checkbox's ``on``.
    """

    source = "form"
    media_type = _URLENCODED


class File(Param):
    """An uploaded file: a multipart part with a filename.

    Annotate it ``UploadFile`` (streamed, spooled to disk when large), ``bytes`` (read
    into memory), ``list[...]`` of either for several files under one name, or
    ``... | None`` with a default when it is optional. ``UploadFile`` parameters need no
    marker at all.
    """

    source = "file"
    media_type = _MULTIPART


# --- FormData ---------------------------------------------------------------------------


class FormData(Mapping[str, FormValue]):
    """The fields and files of a form, multi-valued; indexing gives the first value.

    >>> form = FormData([("tag", "a"), ("tag", "b"), ("name", "x")])
    >>> form["tag"], form.getlist("tag"), list(form)
    ('a', ['a', 'b'], ['tag', 'name'])
    """

    __slots__ = ("_data",)

    def __init__(self, items: Iterable[tuple[str, FormValue]] = ()) -> None:
        self._data: dict[str, list[FormValue]] = {}
        for key, value in items:
            self._add(key, value)

    def _add(self, key: str, value: FormValue) -> None:
        values = self._data.get(key)
        if values is None:
            self._data[key] = [value]
        else:
            values.append(value)

    def __getitem__(self, key: str) -> FormValue:
        return self._data[key][0]

    def get(self, key: str, default: Any = None) -> Any:
        values = self._data.get(key)
        return values[0] if values else default

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def getlist(self, key: str) -> list[FormValue]:
        """Every value of ``key`` in the order received, or an empty list."""
        return list(self._data.get(key, ()))

    def multi_items(self) -> list[tuple[str, FormValue]]:
        """Every ``(key, value)`` pair, repeated keys included."""
        return [(key, value) for key, values in self._data.items() for value in values]

    async def close(self) -> None:
        """Close every upload in the form (Carafe does this when the request ends)."""
        for values in self._data.values():
            for value in values:
                if isinstance(value, UploadFile):
                    await value.close()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FormData) and other._data == self._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FormData({self.multi_items()!r})"


# --- Reading a body ---------------------------------------------------------------------


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` header into its media type and parameters.

    >>> parse_content_type('multipart/form-data; boundary="a b"')
    ('multipart/form-data', {'boundary': 'a b'})
    """
    media, _, rest = value.partition(";")
    params: dict[str, str] = {}
    if rest:
        for item in rest.split(";"):
            key, sep, param = item.partition("=")
            if sep:
                param = param.strip()
                if len(param) >= 2 and param[0] == param[-1] == '"':
                    param = param[1:-1]
                params[key.strip().lower()] = param
    return media.strip().lower(), params


async def read_form(request: Request) -> FormData:
    """The request's body as a form, parsed once per request (``await request.form()``).

    Raises:
        HTTPError: 415 when the body is not a form, 413 past a ``Limits`` bound, 400 when
            it is malformed.
        ClientDisconnect: the client went away while the body was being read.
    """
    context = context_of(request.scope)
    cached = context.get(_FORM)
    if cached is not None:
        if isinstance(cached, Exception):
            raise cached
        return cached
    try:
        form = await _read(request)
    except Exception as exc:
        context.set(_FORM, exc)  # the body is spent: a second reader gets the same answer
        raise
    context.set(_FORM, form)
    return form


async def _read(request: Request) -> FormData:
    content_type = request.headers.get("content-type")
    if content_type is None:
        if await request.body():
            raise HTTPError(415, f"{_NOT_A_FORM}; send a Content-Type header.")
        return FormData()
    media, params = parse_content_type(content_type)
    if media == _MULTIPART:
        return await _read_multipart(request, params.get("boundary"))
    if media == _URLENCODED:
        return await _read_urlencoded(request)
    raise HTTPError(415, f"{_NOT_A_FORM}, not {_shown(media or content_type)}.")


def _shown(text: str, limit: int = 60) -> str:
    """A client-given string, cut short, for an error message."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _bound(limits: Limits, name: str) -> int:
    value = getattr(limits, name)
    return int(value if value is not None else getattr(DEFAULT_LIMITS, name))


def _too_large(what: str, limit: int, unit: str = " bytes") -> HTTPError:
    """413: ``what`` ("The multipart body is") is over the limit."""
    return HTTPError(413, f"{what} over the limit of {limit}{unit}.")


async def _read_urlencoded(request: Request) -> FormData:
    body = await request.body()  # at most max_body_size bytes, counted as they arrive
    max_fields = _bound(request.limits, "max_form_fields")
    text = body.decode("utf-8", "replace")
    # PERF: one C-level count rejects a flood before any pair is split or decoded.
    if body.count(b"&") >= max_fields and sum(1 for p in text.split("&") if p) > max_fields:
        raise _too_large("The number of form fields is", max_fields, "")
    return FormData(parse_urlencoded(text))


def parse_urlencoded(text: str) -> list[tuple[str, str]]:
    """Decode an ``application/x-www-form-urlencoded`` body, blank values kept.

    >>> parse_urlencoded("a=1&b=x+y&b=%C3%A9&c")
    [('a', '1'), ('b', 'x y'), ('b', 'é'), ('c', '')]
    """
    pairs: list[tuple[str, str]] = []
    for pair in text.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        # PERF: most names and values need no decoding; unquote_plus costs ~0.5 µs a call.
        if "%" in name or "+" in name:
            name = unquote_plus(name, errors="replace")
        if "%" in value or "+" in value:
            value = unquote_plus(value, errors="replace")
        pairs.append((name, value))
    return pairs


def _check_boundary(boundary: str | None) -> str:
    if not boundary:
        raise HTTPError(400, "A multipart/form-data body needs a boundary= in its Content-Type.")
    if len(boundary) > 70:
        raise HTTPError(
            400,
            f"The multipart boundary is {len(boundary)} characters long; at most 70 are allowed.",
        )
    if _BOUNDARY.fullmatch(boundary) is None:
        raise HTTPError(400, "The multipart boundary has characters RFC 2046 does not allow.")
    return boundary


def _parser() -> Any:
    """The multipart parser module; a ConfigurationError (at startup) when it is missing."""
    # PERF: defnull's ``multipart`` (PushMultipartParser) over python-multipart: it finds
    # boundaries with bytes.find in C where python-multipart walks headers byte by byte
    # in Python; parsing the 2-field form of bench/cases.py ("multipart") takes 10.7 µs
    # against 32.2 µs (python-multipart with the callbacks Starlette uses).
    try:
        import multipart  # NOTE: lazy; ``import carafe`` must not import the parser
    except ImportError:
        multipart = None
    if not hasattr(multipart, "PushMultipartParser"):
        raise ConfigurationError(
            "Forms need the 'multipart' package (>= 1.2): pip install 'carafe[forms]'"
        )
    return multipart


async def _read_multipart(request: Request, boundary: str | None) -> FormData:
    multipart = _parser()
    boundary = _check_boundary(boundary)
    limits = request.limits
    max_size = _bound(limits, "max_multipart_size")
    length = declared_length(request.scope)
    if length is not None and length > max_size:
        raise _too_large("The multipart body is", max_size)
    # NOTE: the parser bounds each header line by max_part_header_size and counts lines,
    # so it never buffers more than 16 such lines; _Parts checks their sum as a part opens.
    parser = multipart.PushMultipartParser(
        boundary,
        max_header_size=_bound(limits, "max_part_header_size"),
        max_header_count=_MAX_PART_HEADERS,
    )
    form = FormData()
    parts = _Parts(form, limits, request.scope, multipart.MultipartSegment)
    received = 0
    try:
        async with contextlib.aclosing(cast("AsyncGenerator[bytes]", request.stream())) as stream:
            async for chunk in stream:
                received += len(chunk)
                if received > max_size:
                    raise _too_large("The multipart body is", max_size)
                await parts.feed(parser.parse(chunk))
        parser.close()  # raises when the closing boundary never came
    except multipart.ParserLimitReached:  # only the header bounds are given to the parser
        lines = f" bytes ({_MAX_PART_HEADERS} lines)"
        raise _too_large(_PART_HEADERS, _bound(limits, "max_part_header_size"), lines) from None
    except multipart.MultipartError as exc:
        raise HTTPError(400, f"The multipart body is malformed: {exc}.") from None
    return form


class _Parts:
    """Turns the parser's events into ``FormData`` entries, checking each part's bounds."""

    __slots__ = (
        "charset",
        "chunks",
        "fields",
        "files",
        "form",
        "max_fields",
        "max_file",
        "max_files",
        "max_header",
        "max_part",
        "name",
        "pending",
        "scope",
        "segment_type",
        "size",
        "upload",
    )

    def __init__(
        self,
        form: FormData,
        limits: Limits,
        scope: MutableMapping[str, Any],
        segment_type: type[Any],
    ) -> None:
        self.form = form
        self.scope = scope
        self.segment_type = segment_type
        self.max_fields = _bound(limits, "max_form_fields")
        self.max_files = _bound(limits, "max_files")
        self.max_part = _bound(limits, "max_part_size")
        self.max_file = _bound(limits, "max_file_size")
        self.max_header = _bound(limits, "max_part_header_size")
        self.fields = self.files = self.size = 0
        self.name = ""
        self.charset = "utf-8"
        self.chunks: list[bytes] = []
        self.pending = 0  # bytes of file data in ``chunks``, not yet written
        self.upload: UploadFile | None = None

    async def feed(self, events: Iterator[Any]) -> None:
        for event in events:
            if event is None:
                await self._end()
            elif event.__class__ is self.segment_type:
                self._begin(event)
            elif self.upload is None:
                self.size += len(event)
                if self.size > self.max_part:
                    raise _too_large(f"Form field {_shown(self.name)} is", self.max_part)
                self.chunks.append(event)
            else:
                await self._file_data(event)

    def _begin(self, segment: MultipartSegment) -> None:
        headers = segment.headerlist
        if sum(len(k) + len(v) + 4 for k, v in headers) > self.max_header:
            raise _too_large(_PART_HEADERS, self.max_header)
        self.name = segment.name or ""
        self.size = 0
        self.chunks = []
        if segment.filename is None:
            self.fields += 1
            if self.fields > self.max_fields:
                raise _too_large("The number of form fields is", self.max_fields, "")
            self.charset = segment.charset or "utf-8"
            return
        self.files += 1
        if self.files > self.max_files:
            raise _too_large("The number of uploaded files is", self.max_files, "")
        raw = [(k.lower().encode("latin-1"), v.encode("utf-8")) for k, v in headers]
        upload = UploadFile(segment.filename, segment.content_type, Headers(raw))
        if self.files == 1:  # from now on, the request closes the form's files as it ends
            context_of(self.scope).on_cleanup(self.form.close)
        self.form._add(self.name, upload)  # added at once, so cleanup sees it
        self.upload = upload

    async def _file_data(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_file:
            raise _too_large(f"The uploaded file {_shown(self.name)} is", self.max_file)
        self.chunks.append(data)
        self.pending += len(data)
        if self.pending >= _WRITE_BATCH:
            await self._flush()

    async def _flush(self) -> None:
        assert self.upload is not None
        chunks, self.chunks = self.chunks, []
        pending, self.pending = self.pending, 0
        await self.upload._append(chunks, pending)

    async def _end(self) -> None:
        upload = self.upload
        if upload is None:
            data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
            try:
                text = data.decode(self.charset)
            except (UnicodeDecodeError, LookupError):
                raise HTTPError(
                    400, f"Form field {_shown(self.name)} is not valid {_shown(self.charset)} text."
                ) from None
            self.form._add(self.name, text)
            return
        await self._flush()
        await upload.seek(0)
        self.upload = None
        if not upload.filename and not upload.size:  # a file input left empty by a browser
            self.form._data[self.name].pop()
            if not self.form._data[self.name]:
                del self.form._data[self.name]
            await upload.close()


# --- Parameters -------------------------------------------------------------------------


def _strip(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X``."""
    while hasattr(tp, "__metadata__"):
        tp = tp.__origin__
    return tp


def _file_kind(tp: Any) -> tuple[Any, bool]:
    """``(element, many)``: ``UploadFile``/``bytes``/None, and whether it is a list of them."""
    tp = _strip(tp)
    if get_origin(tp) in _SEQUENCES:
        args = get_args(tp)
        element = _strip(args[0]) if args else None
        return (element if element in (UploadFile, bytes) else None), True
    return (tp if tp in (UploadFile, bytes) else None), False


def _missing(info: ParamInfo) -> Callable[[], Any]:
    loc, default = info.loc, info.default

    def missing() -> Any:
        if default is REQUIRED:
            raise RequestValidationError([codecs.missing_detail(loc)])
        return default

    return missing


def _wrong_kind(loc: tuple[str | int, ...], expected: str) -> RequestValidationError:
    detail: ErrorDetail = {"loc": list(loc), "msg": f"Expected {expected}", "type": "type_error"}
    return RequestValidationError([detail])


def _file_reader(info: ParamInfo, many: bool) -> Reader:
    key, loc, missing = info.key, info.loc, _missing(info)

    def read(form: FormData) -> Any:
        values = form._data.get(key)
        if not values:
            return missing()
        files = [v for v in values if isinstance(v, UploadFile)]
        if len(files) != len(values):
            raise _wrong_kind(loc, "a file, got a text field")
        return files if many else files[0]

    return read


def _text_reader(info: ParamInfo, inner: Any) -> Reader:
    key, loc, missing = info.key, info.loc, _missing(info)
    many = codecs.is_sequence(inner)
    convert = codecs.param_converter(inner, loc)
    blank_is_missing = _strip(inner) not in (str, Any)
    is_bool = _strip(inner) is bool

    def read(form: FormData) -> Any:
        values = form._data.get(key)
        if values is None:
            return missing()
        if many:
            if not all(type(v) is str for v in values):
                raise _wrong_kind(loc, "text, got a file")
            return convert(values)
        value = values[0]
        if type(value) is not str:
            raise _wrong_kind(loc, "text, got a file")
        if blank_is_missing and not value:
            return missing()
        return convert(_checkbox(value) if is_bool else value)

    return read


def _kind(tp: Any) -> str:
    """How a form value of type ``tp`` is read: "many", "str", "bool" or "one"."""
    if codecs.is_sequence(tp):
        return "many"
    inner = _strip(codecs.unwrap_optional(tp)[0])
    return "str" if inner is str else "bool" if inner is bool else "one"


def _model_fields(tp: Any) -> list[tuple[str, str]] | None:
    """``(key, kind)`` for each field of model ``tp``, or None if it is no model."""
    fields = codecs.model_fields(tp)
    return None if fields is None else [(f.key, _kind(f.type)) for f in fields]


def _checkbox(value: str) -> str:
    """An HTML checkbox sends "on"; yes/no and on/off read as booleans."""
    return _CHECKBOX.get(value.lower(), value)


def _model_reader(info: ParamInfo, inner: Any, fields: list[tuple[str, str]]) -> Reader:
    convert = codecs.param_converter(inner, (info.source,))
    missing = _missing(info)

    def read(form: FormData) -> Any:
        data = form._data
        values: dict[str, Any] = {}
        for key, kind in fields:
            found = data.get(key)
            if found is None:
                continue
            value = found[0]
            if kind == "many":
                values[key] = found
            elif kind == "str":
                values[key] = value
            elif value != "":  # an empty input is a missing value
                values[key] = _checkbox(value) if kind == "bool" and type(value) is str else value
        if not values and not data:
            return missing()
        return convert(values)

    return read


def _reader(info: ParamInfo) -> tuple[Reader, bool]:
    """How to read ``info`` from a parsed form, and whether it wants file contents (bytes)."""
    inner, _ = codecs.unwrap_optional(info.annotation)
    element, many = _file_kind(inner)
    if info.source == "file" or element is UploadFile:
        if element is None:
            raise ConfigurationError(
                f"File parameter {info.name!r} must be UploadFile, bytes, or a list of "
                f"either, not {inner!r}"
            )
        return _file_reader(info, many), element is bytes
    fields = _model_fields(_strip(inner))
    if fields is not None:
        return _model_reader(info, inner, fields), False
    return _text_reader(info, inner), False


async def _contents(value: Any) -> Any:
    if isinstance(value, UploadFile):
        return await value.read()
    if isinstance(value, list):
        return [await upload.read() for upload in value]
    return value  # the default of an optional parameter


def build_form_extractor(group: list[ParamInfo]) -> Callable[[Request], Awaitable[Any]]:
    """The plan's extractor for the ``Form``/``File`` parameters of one function."""
    _parser()  # a missing parser is a startup error, not a 500 on the first upload
    readers: list[tuple[str, Reader]] = []
    wants_bytes: list[str] = []
    for info in group:
        read, as_bytes = _reader(info)
        readers.append((info.name, read))
        if as_bytes:
            wants_bytes.append(info.name)

    async def extract(request: Request) -> dict[str, Any]:
        form = await read_form(request)
        values: dict[str, Any] = {}
        errors: list[ErrorDetail] = []
        for name, read in readers:
            try:
                values[name] = read(form)
            except RequestValidationError as exc:
                errors.extend(exc.errors)
        if errors:
            raise RequestValidationError(errors)
        for name in wants_bytes:
            values[name] = await _contents(values[name])
        return values

    return extract


class FormsExtension:
    """Reads ``Form()`` and ``File()`` parameters (and bare ``UploadFile`` ones) from the
    body; the uploads are closed when the request ends."""

    def install(self, registry: Registry) -> None:
        registry.body_reader("form", build_form_extractor, cleans_up=True)
        registry.body_reader("file", build_form_extractor, cleans_up=True)
        registry.typed_source(UploadFile, "file")
