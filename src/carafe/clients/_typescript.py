"""A typed TypeScript client over ``fetch``, written from an app's OpenAPI document. Sans I/O.

    >>> source = typescript_client(read_document(build_openapi(app)))
    >>> "export class Client" in source
    True

One ``.ts`` file, no dependency: an ``interface`` for every object schema in
``components`` and a ``type`` for every other one, an ``APIError``, and a ``Client``
with one ``async`` method per operation. A method takes one object holding its
parameters under their names on the wire (``{ item_id: 1, "x-editor": "ann" }``) and
the request body as ``body``; it resolves to the 2xx body and rejects with ``APIError``
otherwise. Answers are typed, not validated at run time: the server already checked
them against the same schemas.

An operation answering ``text/event-stream`` gets an ``async *`` method instead: an
async generator of ``ServerSentEvent``s read from the response's ``ReadableStream`` as
they come (``for await (const event of api.commentEvents({ slug }))``). The request is
sent when the loop starts, an error status throws ``APIError`` from it, and leaving
the loop (``break``, ``return``, a throw) cancels the stream, which ends the request.
The file then holds the parser (``EventParser``, the rules of the Python client's).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from carafe.clients._operations import API, Operation, Param, Schema, SchemaTypes
from carafe.clients._pytypes import unique

__all__ = ["typescript_client"]

_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
# TypeScript's reserved words and the globals the file uses: no type takes one.
_RESERVED = frozenset(
    """break case catch class const continue debugger default delete do else enum export
    extends false finally for function if import in instanceof new null return super switch
    this throw true try typeof var void while with as implements interface let package
    private protected public static yield any boolean number string symbol unknown never
    object undefined type APIError Client ClientOptions Call Record Array Promise Response
    Request Blob FormData URLSearchParams Error Date String Object JSON Headers BodyInit
    encodeURIComponent fetch""".split()  # noqa: SIM905 - a list of 80 words reads better so
)
_SIMPLE = {"integer": "number", "number": "number", "boolean": "boolean", "null": "null"}
_METHOD_TAKEN = {"send", "constructor", "headers", "baseUrl", "fetchImpl"}
# The types a client with event streams declares or uses besides: no schema's type takes one.
_STREAM_NAMES = frozenset({"ServerSentEvent", "EventParser", "TextDecoder", "AsyncGenerator"})

_RUNTIME = """\
/** The server answered with a status outside 2xx. */
export class APIError extends Error {
  /** The HTTP status code. */
  readonly status: number;
  /** The decoded body: the JSON problem document (see the API's error models), else the text. */
  readonly problem: unknown;
  readonly response: Response;

  constructor(response: Response, problem: unknown) {
    const found = problem as { detail?: unknown; title?: unknown } | null;
    const title = typeof problem === "object" && found !== null ? (found.detail ?? found.title) : 0;
    super(`${response.status} ${typeof title === "string" ? title : response.statusText}`);
    this.name = "APIError";
    this.status = response.status;
    this.problem = problem;
    this.response = response;
  }
}

export interface ClientOptions {
  /** Where the API is served, e.g. "http://127.0.0.1:8000". */
  baseUrl?: string;
  /** Sent with every request, e.g. { Authorization: "Bearer ..." }. */
  headers?: Record<string, string>;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
}

interface Call {
  method: string;
  path: string;
  kind: "json" | "text" | "none"{events_kind};
  query: Array<[string, string]>;
  headers: Record<string, string>;
  body?: BodyInit;
}

function text(value: unknown): string {
  if (value instanceof Date) {
    return value.toISOString();
  }
  return String(value);
}

function add(pairs: Array<[string, string]>, name: string, value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) {
      add(pairs, name, item);
    }
  } else if (value !== undefined && value !== null) {
    pairs.push([name, text(value)]);
  }
}

function header(headers: Record<string, string>, name: string, value: unknown): void {
  if (Array.isArray(value)) {
    headers[name] = value.map(text).join(", ");
  } else if (value !== undefined && value !== null) {
    headers[name] = text(value);
  }
}

function cookie(headers: Record<string, string>, name: string, value: unknown): void {
  if (value !== undefined && value !== null) {
    const pair = `${name}=${encodeURIComponent(text(value))}`;
    headers["cookie"] = headers["cookie"] ? `${headers["cookie"]}; ${pair}` : pair;
  }
}

function field(form: URLSearchParams | FormData, name: string, value: unknown): void {
  const items: unknown[] = Array.isArray(value) ? value : [value];
  for (const item of items) {
    if (item instanceof Blob && form instanceof FormData) {
      form.append(name, item);
    } else if (item !== undefined && item !== null) {
      form.append(name, text(item));
    }
  }
}

/** The API's client: `new Client({ baseUrl: "http://127.0.0.1:8000" })`. */
export class Client {
  readonly baseUrl: string;
  /** Sent with every request; change them at any time (e.g. after logging in). */
  headers: Record<string, string>;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\\/+$/, "");
    this.headers = { ...(options.headers ?? {}) };
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  private async send(call: Call): Promise<unknown> {
    const query = new URLSearchParams(call.query).toString();
    const url = this.baseUrl + call.path + (query ? `?${query}` : "");
    const headers = { ...this.headers, ...call.headers };
    const init: RequestInit = { method: call.method, headers };
    if (call.body !== undefined) {
      init.body = call.body;
    }
    const response = await this.fetchImpl(url, init);
    if (!response.ok) {
      const raw = await response.text();
      let problem: unknown = raw;
      if ((response.headers.get("content-type") ?? "").includes("json")) {
        try {
          problem = JSON.parse(raw);
        } catch {
          // not JSON after all: keep the text
        }
      }
      throw new APIError(response, problem);
    }{events_send}
    if (call.kind === "none") {
      return undefined;
    }
    return call.kind === "text" ? await response.text() : await response.json();
  }
"""


_EVENTS_SEND = """
    if (call.kind === "events") {
      return response; // its body is read as it comes: readEvents
    }"""

_EVENTS = """
/** One server-sent event, read as the WHATWG HTML standard says. */
export interface ServerSentEvent {
  /** The event type: the `event:` field, else "message". */
  event: string;
  /** The `data:` lines, joined with newlines (`JSON.parse` it when the API sends JSON). */
  data: string;
  /** The last `id:` the stream has sent, with this event or before, else "". */
  id: string;
  /** The last reconnection time the stream asked for, in milliseconds. */
  retry?: number;
}

/**
 * The text of an event stream in, its events out. Lines end at CRLF, LF or CR; a line
 * starting with ":" is a comment; "name: value" sets a field (one space after the colon
 * is dropped), a line with no colon is a field with an empty value; a blank line
 * dispatches the event, if it has data. An event the stream ends in the middle of is dropped.
 */
class EventParser {
  private rest = ""; // the unfinished line
  private data: string[] = [];
  private type = "";
  private id = "";
  private retry: number | undefined;

  /** The events `text` completes. */
  feed(text: string): ServerSentEvent[] {
    const buffer = this.rest + text;
    const end = buffer.endsWith("\\r") ? buffer.length - 1 : buffer.length; // maybe a CRLF
    const lines = buffer.slice(0, end).split(/\\r\\n|\\r|\\n/);
    this.rest = (lines.pop() ?? "") + buffer.slice(end);
    const events: ServerSentEvent[] = [];
    for (const line of lines) {
      const event = this.line(line);
      if (event !== undefined) {
        events.push(event);
      }
    }
    return events;
  }

  /** The event a last CR completes, once the stream is over. */
  end(): ServerSentEvent[] {
    return this.rest.endsWith("\\r") ? this.feed("\\n") : [];
  }

  private line(line: string): ServerSentEvent | undefined {
    if (line === "") {
      return this.dispatch();
    }
    const colon = line.indexOf(":"); // at 0: a comment, whose name is ""
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) {
      value = value.slice(1);
    }
    if (name === "data") {
      this.data.push(value);
    } else if (name === "event") {
      this.type = value;
    } else if (name === "id" && !value.includes("\\0")) {
      this.id = value;
    } else if (name === "retry" && /^[0-9]+$/.test(value)) {
      this.retry = Number(value);
    }
    return undefined;
  }

  private dispatch(): ServerSentEvent | undefined {
    const { data, type, id, retry } = this;
    this.data = [];
    this.type = "";
    if (data.length === 0) {
      return undefined;
    }
    const event: ServerSentEvent = { event: type || "message", data: data.join("\\n"), id };
    if (retry !== undefined) {
      event.retry = retry;
    }
    return event;
  }
}

/** The events of a `text/event-stream` response as they come; leaving early cancels it. */
async function* readEvents(response: Response): AsyncGenerator<ServerSentEvent, void, undefined> {
  if (response.body === null) {
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder(); // UTF-8, and it drops a byte order mark
  const parser = new EventParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        yield* parser.feed(decoder.decode());
        yield* parser.end();
        return;
      }
      yield* parser.feed(decoder.decode(value, { stream: true }));
    }
  } finally {
    await reader.cancel(); // the loop was left early, or the stream is over: let go of it
  }
}
"""


def typescript_client(api: API) -> str:
    """The source of one ``.ts`` file holding the types and the client for ``api``."""
    taken: set[str] = set(_STREAM_NAMES) if api.streams else set()
    names = {name: unique(_type_name(name), taken) for name in api.schemas}
    types = _Types(names)
    declarations = [_declaration(names[n], s, types) for n, s in api.schemas.items()]
    used = set(_METHOD_TAKEN)
    methods = [_method(op, unique(_camel(op.name), used), types) for op in api.operations]
    title = _comment(f"A typed client for {api.title} {api.version}".strip())
    head = (
        f"// {title}, written by `carafe client`.\n"
        "// Generated from the API's OpenAPI document: generate it again when the API"
        " changes,\n// rather than editing it.\n\n"
    )
    runtime = _RUNTIME.replace("{events_kind}", ' | "events"' if api.streams else "")
    runtime = runtime.replace("{events_send}", _EVENTS_SEND if api.streams else "")
    events = _EVENTS if api.streams else ""
    return head + "\n".join(declarations) + events + "\n" + runtime + "".join(methods) + "}\n"


def _comment(text: str) -> str:
    return " ".join(text.replace("*/", "*\\/").split())


def _type_name(name: str) -> str:
    text = name if _IDENT.match(name) else re.sub(r"[^A-Za-z0-9_$]+", "_", name) or "_"
    if text[0].isdigit():
        text = "T" + text
    return text + "_" if text in _RESERVED else text


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    text = head + "".join(part[:1].upper() + part[1:] for part in rest)
    return "op" + text if not text or text[0].isdigit() else text


def _key(name: str) -> str:
    return name if _IDENT.match(name) else json.dumps(name)


def _member(name: str) -> str:
    return f".{name}" if _IDENT.match(name) else f"[{json.dumps(name)}]"


def _access(name: str) -> str:
    return "args" + _member(name)


def _doc(text: str | None, indent: str) -> list[str]:
    if not text:
        return []
    lines = text.replace("*/", "*\\/").strip().splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *[f"{indent} * {line}".rstrip() for line in lines], f"{indent} */"]


class _Types(SchemaTypes):
    def literal(self, values: list[Any]) -> str:
        return _union(json.dumps(value) for value in values)

    def union(self, parts: Iterable[str]) -> str:
        return _union(parts)

    def typed(self, kind: Any, schema: Schema) -> str:
        return self._typed(kind, schema)

    def _typed(self, kind: Any, schema: Schema) -> str:
        if kind == "string":
            return "Blob" if schema.get("format") == "binary" else "string"
        if kind in _SIMPLE:
            return _SIMPLE[kind]
        if kind == "array":
            if "prefixItems" in schema:
                return "[" + ", ".join(self.of(item) for item in schema["prefixItems"]) + "]"
            return f"Array<{self.of(schema.get('items', {}))}>"
        if "properties" in schema:
            return "{ " + " ".join(self.members(schema)) + " }"
        if kind == "object" or "additionalProperties" in schema:
            extra = schema.get("additionalProperties")
            return f"Record<string, {self.of(extra) if isinstance(extra, Mapping) else 'unknown'}>"
        return "unknown"

    def members(self, schema: Schema) -> list[str]:
        required = set(schema.get("required", ()))
        return [
            f"{_key(name)}{'' if name in required else '?'}: {self.of(sub)};"
            for name, sub in schema.get("properties", {}).items()
        ]


def _union(members: Any) -> str:
    seen: list[str] = []
    for member in members:
        if member not in seen:
            seen.append(member)
    return "unknown" if "unknown" in seen else " | ".join(seen) or "unknown"


def _declaration(name: str, schema: Schema, types: _Types) -> str:
    lines = _doc(schema.get("description"), "")
    if "properties" in schema and schema.get("type", "object") == "object":
        required = set(schema.get("required", ()))
        lines.append(f"export interface {name} {{")
        for prop, sub in schema["properties"].items():
            lines.extend(_doc(sub.get("description"), "  "))
            optional = "" if prop in required else "?"
            lines.append(f"  {_key(prop)}{optional}: {types.of(sub)};")
        lines.append("}")
    else:
        lines.append(f"export type {name} = {types.of(schema)};")
    return "\n".join(lines) + "\n"


def _method(op: Operation, name: str, types: _Types) -> str:
    params: list[Param] = list(op.params)
    members = [f"{_key(p.name)}{'' if p.required else '?'}: {types.of(p.schema)};" for p in params]
    body = op.body
    if body is not None:
        shape = types.of(body.schema) if body.kind == "json" else None
        if shape is None:
            shape = "{ " + " ".join(types.members(body.schema)) + " }"
        members.append(f"body{'' if body.required else '?'}: {shape};")
    optional = all(not p.required for p in params) and (body is None or not body.required)
    if not members:
        signature = ""
    else:
        signature = "args: { " + " ".join(members) + " }" + (" = {}" if optional else "")
    kind = op.result.kind
    result = {"none": "void", "text": "string"}.get(kind) or types.of(op.result.schema)
    doc = "\n\n".join(t for t in (op.summary, op.description) if t) or f"{op.method} {op.path}"
    if kind == "events":
        doc += "\n\nServer-sent events as they come, until the loop reading them is left."
    lines = ["", *_doc(doc + ("\n\n@deprecated" if op.deprecated else ""), "  ")]
    if kind == "events":
        returns = "AsyncGenerator<ServerSentEvent, void, undefined>"
        lines.append(f"  async *{name}({signature}): {returns} {{")
    else:
        lines.append(f"  async {name}({signature}): Promise<{result}> {{")
    path = re.sub(
        r"\{([^}]+)\}", lambda m: f"${{encodeURIComponent(text({_access(m[1])}))}}", op.path
    )
    headers = '{ accept: "text/event-stream" }' if kind == "events" else "{}"
    lines.append(
        f"    const call: Call = {{ method: {json.dumps(op.method)}, path: `{path}`,"
        f" kind: {json.dumps(kind)}, query: [], headers: {headers} }};"
    )
    for param in params:
        call = {"query": "add(call.query", "header": "header(call.headers"}.get(
            param.source, "cookie(call.headers"
        )
        if param.source != "path":
            lines.append(f"    {call}, {json.dumps(param.name)}, {_access(param.name)});")
    lines.extend(_body_lines(op))
    if kind == "events":
        lines.append("    yield* readEvents((await this.send(call)) as Response);")
    elif kind == "none":
        lines.append("    await this.send(call);")
    else:
        lines.append(f"    return (await this.send(call)) as {result};")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _body_lines(op: Operation) -> list[str]:
    body = op.body
    if body is None:
        return []
    lines = ["    if (args.body !== undefined) {"] if not body.required else []
    pad = "      " if not body.required else "    "
    if body.kind == "json":
        lines.append(f'{pad}call.headers["content-type"] = "application/json";')
        lines.append(f"{pad}call.body = JSON.stringify(args.body);")
    else:
        form = "URLSearchParams" if body.kind == "form" else "FormData"
        lines.append(f"{pad}const form = new {form}();")
        for field in body.fields:
            value = f"args.body{_member(field.name)}"
            lines.append(f"{pad}field(form, {json.dumps(field.name)}, {value});")
        lines.append(f"{pad}call.body = form;")
    if not body.required:
        lines.append("    }")
    return lines
