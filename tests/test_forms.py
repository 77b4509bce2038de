"""Forms and uploads: Form/File parameters, request.form(), limits, bad input, cleanup."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import msgspec
import pydantic
import pytest

from carafe import (
    Carafe,
    ConfigurationError,
    Depends,
    File,
    Form,
    FormData,
    Limits,
    Request,
    Router,
    UploadFile,
)
from carafe.datastructures import Headers
from carafe.forms import parse_content_type, parse_urlencoded
from carafe.testing import TestClient

MiB = 1024 * 1024
BOUNDARY = "testboundary"
MULTIPART = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def part(name: str, value: bytes | str, *, filename: str | None = None, extra: str = "") -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    data = value.encode() if isinstance(value, str) else value
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n{extra}\r\n".encode()
        + data
        + b"\r\n"
    )


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def open_files_in(directory: Path) -> list[str]:
    """Files of this process open under ``directory`` (deleted temp files included)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of uploads go here, so a test can see them come and go."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []
    note: str = ""


@dataclasses.dataclass
class DataItem:
    name: str
    count: int = 0


class DictItem(TypedDict):
    name: str
    count: int


class PydItem(pydantic.BaseModel):
    name: str
    price: float
    tags: list[str] = []


def form_app() -> Carafe:
    app = Carafe()

    @app.post("/fields")
    async def fields(
        name: Annotated[str, Form(min_length=2)],
        price: Annotated[float, Form()],
        tags: Annotated[list[str], Form(alias="tag")] = [],  # noqa: B006
        count: Annotated[int | None, Form()] = None,
    ) -> dict[str, Any]:
        return {"name": name, "price": price, "tags": tags, "count": count}

    @app.post("/item")
    async def item(item: Annotated[Item, Form()]) -> Item:
        return item

    @app.post("/data")
    async def data(item: Annotated[DataItem, Form()]) -> dict[str, Any]:
        return dataclasses.asdict(item)

    @app.post("/typed")
    async def typed(item: Annotated[DictItem, Form()]) -> dict[str, Any]:
        return dict(item)

    @app.post("/pyd")
    async def pyd(item: Annotated[PydItem, Form()]) -> PydItem:
        return item

    @app.post("/maybe")
    async def maybe(item: Annotated[DataItem | None, Form()] = None) -> dict[str, Any]:
        return {"item": None if item is None else dataclasses.asdict(item)}

    return app


def test_urlencoded_fields_are_typed_like_query_parameters() -> None:
    with TestClient(form_app()) as client:
        got = client.post("/fields", data={"name": "Widget", "price": "9.5", "tag": ["a", "b"]})
        assert got.status_code == 200
        assert got.json() == {"name": "Widget", "price": 9.5, "tags": ["a", "b"], "count": None}
        # Percent escapes and '+' decode as UTF-8; an empty numeric field counts as missing.
        got = client.post(
            "/fields",
            content=b"name=caf%C3%A9+au+lait&price=1&count=",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert got.json() == {"name": "café au lait", "price": 1.0, "tags": [], "count": None}


def test_multipart_fields_are_typed_the_same() -> None:
    with TestClient(form_app()) as client:
        got = client.post(
            "/fields", files={"x": ("x.txt", b"ignored")}, data={"name": "Wi", "price": "2"}
        )
        assert got.json() == {"name": "Wi", "price": 2.0, "tags": [], "count": None}
        payload = body(
            part("name", "Gadget"), part("price", "3"), part("tag", "t1"), part("tag", "t2")
        )
        got = client.post("/fields", content=payload, headers=MULTIPART)
        assert got.json() == {"name": "Gadget", "price": 3.0, "tags": ["t1", "t2"], "count": None}


def test_field_errors_are_collected_with_form_locations() -> None:
    with TestClient(form_app()) as client:
        got = client.post("/fields", data={"name": "W", "count": "many"})
        assert got.status_code == 422
        errors = {tuple(e["loc"]): e["type"] for e in got.json()["errors"]}
        assert errors == {
            ("form", "name"): "value_error",
            ("form", "price"): "missing",
            ("form", "count"): "type_error",
        }


def test_a_form_binds_to_a_model_like_a_json_body() -> None:
    with TestClient(form_app()) as client:
        sent = {"name": "W", "price": "9.5", "tags": ["a", "b"], "note": ""}
        assert client.post("/item", data=sent).json() == {
            "name": "W",
            "price": 9.5,
            "tags": ["a", "b"],
            "note": "",
        }
        assert client.post("/data", data={"name": "d", "count": ""}).json() == {
            "name": "d",
            "count": 0,
        }
        assert client.post("/typed", data={"name": "t", "count": "3"}).json() == {
            "name": "t",
            "count": 3,
        }
        got = client.post("/typed", data={"name": "t"})
        assert got.status_code == 422
        assert got.json()["errors"][0]["loc"] == ["form", "count"]
        assert client.post("/pyd", data={"name": "p", "price": "2", "tags": "x"}).json() == {
            "name": "p",
            "price": 2.0,
            "tags": ["x"],
        }
        got = client.post("/pyd", data={"name": "p", "price": "cheap"})
        assert got.status_code == 422
        assert got.json()["errors"][0]["loc"] == ["form", "price"]
        assert client.post("/maybe").json() == {"item": None}
        assert client.post("/maybe", data={"name": "m"}).json() == {
            "item": {"name": "m", "count": 0}
        }


def test_model_errors_point_at_the_field() -> None:
    with TestClient(form_app()) as client:
        got = client.post("/item", data={"name": "W", "price": "x"})
        assert got.status_code == 422
        assert got.json()["errors"] == [
            {"loc": ["form", "price"], "msg": "Expected `float`, got `str`", "type": "type_error"}
        ]
        got = client.post("/item", data={"price": "1"})
        assert got.json()["errors"] == [
            {"loc": ["form", "name"], "msg": "Field required", "type": "missing"}
        ]


def upload_app() -> Carafe:
    app = Carafe()

    @app.post("/one")
    async def one(doc: UploadFile, title: Annotated[str, Form()] = "") -> dict[str, Any]:
        content = await doc.read()
        await doc.seek(0)
        return {
            "title": title,
            "filename": doc.filename,
            "type": doc.content_type,
            "size": doc.size,
            "again": len(await doc.read()),
            "header": doc.headers.get("x-extra"),
            "text": content.decode() if doc.size < 100 else None,
        }

    @app.post("/many")
    async def many(docs: list[UploadFile]) -> list[dict[str, Any]]:
        return [{"filename": d.filename, "size": d.size} for d in docs]

    @app.post("/bytes")
    async def as_bytes(
        raw: Annotated[bytes, File()],
        more: Annotated[list[bytes], File()] = [],  # noqa: B006
        spare: Annotated[bytes | None, File()] = None,
    ) -> dict[str, Any]:
        return {"raw": raw.decode(), "more": [m.decode() for m in more], "spare": spare}

    @app.post("/optional")
    async def optional(doc: Annotated[UploadFile | None, File()] = None) -> dict[str, Any]:
        return {"doc": None if doc is None else doc.filename}

    return app


def test_upload_file_metadata_and_content() -> None:
    with TestClient(upload_app()) as client:
        payload = body(
            part("title", "Report"),
            part(
                "doc", "hello", filename="a.txt", extra="Content-Type: text/plain\r\nX-Extra: 1\r\n"
            ),
        )
        got = client.post("/one", content=payload, headers=MULTIPART)
        assert got.json() == {
            "title": "Report",
            "filename": "a.txt",
            "type": "text/plain",
            "size": 5,
            "again": 5,
            "header": "1",
            "text": "hello",
        }


def test_several_files_under_one_name_and_bytes_parameters() -> None:
    with TestClient(upload_app()) as client:
        files = [("docs", ("a.txt", b"aa")), ("docs", ("b.txt", b"bbb"))]
        assert client.post("/many", files=files).json() == [
            {"filename": "a.txt", "size": 2},
            {"filename": "b.txt", "size": 3},
        ]
        files = [("raw", ("r", b"R")), ("more", ("m1", b"1")), ("more", ("m2", b"2"))]
        assert client.post("/bytes", files=files).json() == {
            "raw": "R",
            "more": ["1", "2"],
            "spare": None,
        }


def test_missing_and_mistyped_files() -> None:
    with TestClient(upload_app()) as client:
        got = client.post("/one", data={"title": "x"})
        assert got.status_code == 422
        assert got.json()["errors"] == [
            {"loc": ["file", "doc"], "msg": "Field required", "type": "missing"}
        ]
        got = client.post("/one", files={"x": ("x", b"")}, data={"doc": "not a file"})
        assert got.json()["errors"] == [
            {
                "loc": ["file", "doc"],
                "msg": "Expected a file, got a text field",
                "type": "type_error",
            }
        ]
        got = client.post("/one", files={"doc": ("d", b"1"), "title": ("t", b"a file")})
        assert got.json()["errors"] == [
            {"loc": ["form", "title"], "msg": "Expected text, got a file", "type": "type_error"}
        ]
        assert client.post("/optional", data={"a": "b"}).json() == {"doc": None}
        # A browser sends an empty file input as a part with an empty filename: no file.
        payload = body(part("doc", b"", filename=""))
        assert client.post("/optional", content=payload, headers=MULTIPART).json() == {"doc": None}
        payload = body(part("docs", "a", filename="a"), part("docs", b"", filename=""))
        assert client.post("/many", content=payload, headers=MULTIPART).json() == [
            {"filename": "a", "size": 1}
        ]


@dataclasses.dataclass
class Prefs:
    email: str
    news: bool = False
    weekly: bool | None = None


def test_checkboxes_read_as_booleans() -> None:
    app = Carafe()

    @app.post("/one")
    async def one(agree: Annotated[bool, Form()] = False) -> bool:
        return agree

    @app.post("/model")
    async def model(prefs: Annotated[Prefs, Form()]) -> dict[str, Any]:
        return dataclasses.asdict(prefs)

    with TestClient(app) as client:
        assert client.post("/one", data={"agree": "on"}).json() is True
        assert client.post("/one", data={"agree": "Off"}).json() is False
        assert client.post("/one", data={"other": "x"}).json() is False
        assert client.post("/one", data={"agree": "maybe"}).status_code == 422
        got = client.post("/model", data={"email": "a@x", "news": "on", "weekly": "no"})
        assert got.json() == {"email": "a@x", "news": True, "weekly": False}
        got = client.post("/model", data={"email": "a@x", "weekly": ""})
        assert got.json() == {"email": "a@x", "news": False, "weekly": None}


@dataclasses.dataclass
class Broken:
    x: Nowhere  # type: ignore[name-defined]  # noqa: F821


def test_a_model_with_an_unresolvable_annotation_is_a_startup_error() -> None:
    app = Carafe()

    @app.post("/")
    async def handler(item: Annotated[Broken, Form()]) -> None: ...

    with pytest.raises(ConfigurationError, match="Cannot read the fields of Broken"):
        app.compile()


def test_a_text_list_rejects_files() -> None:
    app = Carafe()

    @app.post("/")
    async def tags(tag: Annotated[list[str], Form()]) -> list[str]:
        return tag

    with TestClient(app) as client:
        got = client.post("/", files={"tag": ("f", b"x")}, data={"tag": "a"})
        assert got.status_code == 422
        assert got.json()["errors"][0]["msg"] == "Expected text, got a file"


def test_file_parameters_must_be_files() -> None:
    app = Carafe()

    @app.post("/")
    async def wrong(doc: Annotated[str, File()]) -> None: ...

    with pytest.raises(ConfigurationError, match="must be UploadFile, bytes"):
        app.compile()


def test_a_missing_parser_is_a_startup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "multipart", None)
    app = Carafe()

    @app.post("/")
    async def handler(note: Annotated[str, Form()]) -> str:
        return note

    with pytest.raises(ConfigurationError, match=r"pip install 'carafe\[forms\]'"):
        app.compile()


def test_request_form_and_form_data() -> None:
    app = Carafe()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        form = await request.form()
        assert await request.form() is form  # parsed once
        upload = form.get("doc")
        return {
            "items": [
                (k, v if isinstance(v, str) else f"<{v.filename}>") for k, v in form.multi_items()
            ],
            "first": form["a"],
            "all": form.getlist("a"),
            "none": form.getlist("zzz"),
            "missing": form.get("zzz", "default"),
            "len": len(form),
            "keys": list(form),
            "has": "a" in form,
            "upload": repr(upload) if upload is not None else None,
        }

    with TestClient(app) as client:
        got = client.post(
            "/echo",
            content=b"a=1&a=2&b=",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert got.json() == {
            "items": [["a", "1"], ["a", "2"], ["b", ""]],
            "first": "1",
            "all": ["1", "2"],
            "none": [],
            "missing": "default",
            "len": 2,
            "keys": ["a", "b"],
            "has": True,
            "upload": None,
        }
        got = client.post(
            "/echo", data={"a": "1"}, files={"doc": ("d.bin", b"xyz", "application/x-thing")}
        )
        assert got.json()["items"] == [["a", "1"], ["doc", "<d.bin>"]]
        assert (
            got.json()["upload"]
            == "UploadFile(filename='d.bin', content_type='application/x-thing', size=3)"
        )

    form = FormData([("a", "1"), ("a", "2")])
    assert form == FormData([("a", "1"), ("a", "2")]) and form != {"a": "1"}
    assert repr(form) == "FormData([('a', '1'), ('a', '2')])"
    assert list(form.keys()) == ["a"]


SEEN_FORMS: list[int] = []


async def current_user(user: Annotated[str, Form()], request: Request) -> str:
    SEEN_FORMS.append(id(await request.form()))
    return user.upper()


def test_form_and_file_parameters_share_one_parse_across_dependencies() -> None:
    app = Carafe()
    seen = SEEN_FORMS
    seen.clear()

    @app.post("/")
    async def handler(
        user: Annotated[str, Depends(current_user)],
        doc: UploadFile,
        request: Request,
    ) -> dict[str, Any]:
        seen.append(id(await request.form()))
        return {"user": user, "doc": (await doc.read()).decode()}

    with TestClient(app) as client:
        got = client.post("/", data={"user": "ann"}, files={"doc": ("d", b"D")})
        assert got.json() == {"user": "ANN", "doc": "D"}
        assert len(set(seen)) == 1


def test_a_failed_parse_is_remembered() -> None:
    app = Carafe()

    @app.post("/")
    async def handler(request: Request) -> list[int]:
        statuses = []
        for _ in range(2):
            try:
                await request.form()
            except Exception as exc:
                statuses.append(exc.status_code)  # type: ignore[attr-defined]
        return statuses

    with TestClient(app) as client:
        got = client.post(
            "/", content=b"--x\r\n", headers={"content-type": "multipart/form-data; boundary=x"}
        )
        assert got.json() == [400, 400]


def test_content_types() -> None:
    app = form_app()

    @app.post("/optional")
    async def optional(note: Annotated[str, Form()] = "none") -> str:
        return note

    with TestClient(app) as client:
        got = client.post("/fields", json={"name": "W"})
        assert got.status_code == 415
        assert got.headers["content-type"] == "application/problem+json"
        assert "multipart/form-data or application/x-www-form-urlencoded" in got.json()["detail"]
        got = client.post("/fields", content=b"name=W", headers={"content-type": ""})
        assert got.status_code == 415
        got = client.post("/fields", content=b"name=Widget&price=1")
        assert got.status_code == 415
        assert "send a Content-Type header" in got.json()["detail"]
        assert client.post("/optional").text == "none"
        quoted = {"content-type": f'multipart/form-data; charset=utf-8; boundary="{BOUNDARY}"'}
        assert client.post("/optional", content=body(part("note", "q")), headers=quoted).text == "q"
        assert (
            client.post("/optional", content=body(part("note", "q")), headers=quoted).status_code
            == 200
        )


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("multipart/form-data", "needs a boundary="),
        ("multipart/form-data; boundary=", "needs a boundary="),
        ("multipart/form-data; boundary=" + "b" * 10_000, "10000 characters long; at most 70"),
        ("multipart/form-data; boundary=" + "b" * 71, "71 characters long"),
        ("multipart/form-data; boundary=bad{chars}", "characters RFC 2046 does not allow"),
    ],
)
def test_bad_boundaries_are_400(content_type: str, message: str) -> None:
    with TestClient(form_app()) as client:
        got = client.post(
            "/fields", content=body(part("name", "W")), headers={"content-type": content_type}
        )
        assert got.status_code == 400
        assert message in got.json()["detail"]
        assert client.post("/fields", data={"name": "Wi", "price": "1"}).status_code == 200


def test_a_boundary_of_70_characters_is_fine() -> None:
    boundary = "b" * 70
    payload = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'
        f"ok\r\n--{boundary}--\r\n"
    )
    app = Carafe()

    @app.post("/")
    async def handler(note: Annotated[str, Form()]) -> str:
        return note

    with TestClient(app) as client:
        got = client.post(
            "/",
            content=payload.encode(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )
        assert got.text == "ok"


def test_malformed_multipart_bodies_are_400() -> None:
    with TestClient(form_app()) as client:
        truncated = body(part("name", "Widget"), part("price", "1"))[:-30]
        got = client.post("/fields", content=truncated, headers=MULTIPART)
        assert got.status_code == 400
        assert got.json()["detail"].startswith("The multipart body is malformed")
        no_disposition = (
            f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode()
        )
        got = client.post("/fields", content=no_disposition, headers=MULTIPART)
        assert got.status_code == 400
        assert "Content-Disposition" in got.json()["detail"]
        got = client.post("/fields", content=b"not multipart at all", headers=MULTIPART)
        assert got.status_code == 400
        got = client.post("/fields", content=body(part("name", b"\xff\xfe")), headers=MULTIPART)
        assert got.status_code == 400
        assert got.json()["detail"] == "Form field 'name' is not valid 'utf-8' text."
        got = client.post(
            "/fields",
            content=body(part("name", "x", extra="Content-Type: text/plain; charset=klingon\r\n")),
            headers=MULTIPART,
        )
        assert got.status_code == 400
        assert "klingon" in got.json()["detail"]
        latin = body(
            part(
                "name",
                "café".encode("latin-1"),
                extra="Content-Type: text/plain; charset=latin-1\r\n",
            ),
            part("price", "1"),
        )
        assert client.post("/fields", content=latin, headers=MULTIPART).json()["name"] == "café"


def test_a_flood_of_fields_is_refused_quickly() -> None:
    with TestClient(form_app()) as client:
        flood = b"&".join([b"a="] * 100_000)
        got = client.post(
            "/fields", content=flood, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert got.status_code == 413
        assert got.json()["detail"] == "The number of form fields is over the limit of 1000."
        multipart_flood = body(*[part("a", "")] * 100_000)
        got = client.post("/fields", content=multipart_flood, headers=MULTIPART)
        assert got.status_code == 413
        assert got.json()["detail"] == "The number of form fields is over the limit of 1000."
        # '&' alone does not count as fields.
        sparse = b"name=Widget&price=1" + b"&" * 5000
        got = client.post(
            "/fields", content=sparse, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert got.status_code == 200
        assert client.post("/fields", data={"name": "Wi", "price": "1"}).status_code == 200


def test_huge_part_headers_are_refused() -> None:
    with TestClient(form_app()) as client:
        huge = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"; x="'.encode()
            + b"h" * (10 * MiB)
        )
        got = client.post("/fields", content=huge + b'"\r\n\r\nW\r\n', headers=MULTIPART)
        assert got.status_code == 413
        assert got.json()["detail"] == (
            "The headers of a multipart part are over the limit of 16384 bytes (16 lines)."
        )
        many_lines = "".join(f"X-H{i}: {'v' * 1100}\r\n" for i in range(15))
        got = client.post(
            "/fields", content=body(part("name", "W", extra=many_lines)), headers=MULTIPART
        )
        assert got.status_code == 413
        assert (
            got.json()["detail"]
            == "The headers of a multipart part are over the limit of 16384 bytes."
        )
        too_many = "".join(f"X-H{i}: v\r\n" for i in range(40))
        got = client.post(
            "/fields", content=body(part("name", "W", extra=too_many)), headers=MULTIPART
        )
        assert got.status_code == 413
        assert client.post("/fields", data={"name": "Wi", "price": "1"}).status_code == 200


def test_limits_per_app_router_and_route() -> None:
    app = Carafe(limits=Limits(max_files=1, max_part_size=10, max_body_size=100))
    router = Router(prefix="/r", limits=Limits(max_form_fields=2))

    @app.post("/files")
    async def files(docs: list[UploadFile]) -> int:
        return len(docs)

    @app.post("/big", limits=Limits(max_file_size=5, max_files=3))
    async def big(docs: list[UploadFile]) -> int:
        return len(docs)

    @app.post("/text")
    async def text(note: Annotated[str, Form()]) -> str:
        return note

    @router.post("/fields")
    async def fields(request: Request) -> int:
        return len(await request.form())

    app.include(router)
    with TestClient(app) as client:
        got = client.post("/files", files=[("docs", ("a", b"1")), ("docs", ("b", b"2"))])
        assert got.status_code == 413
        assert got.json()["detail"] == "The number of uploaded files is over the limit of 1."
        assert client.post("/files", files=[("docs", ("a", b"1"))]).text == "1"
        assert client.post("/big", files=[("docs", ("a", b"1")), ("docs", ("b", b"2"))]).text == "2"
        got = client.post("/big", files=[("docs", ("a", b"123456"))])
        assert got.status_code == 413
        assert got.json()["detail"] == "The uploaded file 'docs' is over the limit of 5 bytes."
        got = client.post("/text", files={"x": ("x", b"")}, data={"note": "x" * 11})
        assert got.status_code == 413
        assert got.json()["detail"] == "Form field 'note' is over the limit of 10 bytes."
        got = client.post("/text", data={"note": "x" * 200})
        assert got.status_code == 413  # urlencoded: max_body_size
        got = client.post("/r/fields", data={"a": "1", "b": "2", "c": "3"})
        assert got.status_code == 413
        assert client.post("/r/fields", data={"a": "1", "b": "2"}).text == "2"


def test_multipart_size_is_checked_on_content_length_and_on_bytes() -> None:
    app = Carafe(limits=Limits(max_multipart_size=1000))

    @app.post("/")
    async def handler(request: Request) -> int:
        return len(await request.form())

    payload = body(part("a", "x" * 2000))
    with TestClient(app) as client:
        got = client.post("/", content=payload, headers=MULTIPART)
        assert got.status_code == 413
        assert got.json()["detail"] == "The multipart body is over the limit of 1000 bytes."

    # Without a Content-Length, the bytes are counted as they arrive.
    sent = run_asgi(app, [payload[:600], payload[600:]], MULTIPART)
    assert sent["status"] == 413


def run_asgi(
    app: Carafe, chunks: list[bytes], headers: dict[str, str], disconnect: bool = False
) -> dict[str, Any]:
    """Call the app directly with a body in ``chunks`` (no Content-Length); the client
    disconnects after the last chunk when ``disconnect`` is set."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: dict[str, Any] = {"status": None, "seen": []}
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        sent["seen"].append(None)
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": disconnect or bool(pending)}
        await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]

    asyncio.run(app(scope, receive, send))
    return sent


# --- Uploads on disk, and cleaning them up ------------------------------------------


def test_large_uploads_spool_to_disk_and_are_closed_after_the_request(spool_dir: Path) -> None:
    app = Carafe()

    @app.post("/")
    async def handler(doc: UploadFile) -> dict[str, Any]:
        digest = 0
        while chunk := await doc.read(256 * 1024):
            digest += chunk.count(b"x")
        return {
            "on_disk": doc.on_disk,
            "open": len(open_files_in(spool_dir)),
            "xs": digest,
            "size": doc.size,
        }

    with TestClient(app) as client:
        got = client.post("/", files={"doc": ("big.bin", b"x" * (3 * MiB))})
        assert got.json() == {"on_disk": True, "open": 1, "xs": 3 * MiB, "size": 3 * MiB}
        assert open_files_in(spool_dir) == []
        got = client.post("/", files={"doc": ("small.bin", b"x" * 1000)})
        assert got.json() == {"on_disk": False, "open": 0, "xs": 1000, "size": 1000}
    assert os.listdir(spool_dir) == []


def test_uploads_are_closed_on_validation_errors_and_handler_failures(spool_dir: Path) -> None:
    app = Carafe()
    kept: list[UploadFile] = []

    @app.post("/needs-title")
    async def needs_title(doc: UploadFile, title: Annotated[int, Form()]) -> None:
        raise AssertionError("not reached")

    @app.post("/fails")
    async def fails(doc: UploadFile) -> None:
        kept.append(doc)
        raise RuntimeError("boom")

    big = {"doc": ("big.bin", b"x" * (2 * MiB))}
    with TestClient(app, raise_server_exceptions=False) as client:
        got = client.post("/needs-title", files=big, data={"title": "not a number"})
        assert got.status_code == 422
        assert open_files_in(spool_dir) == []
        got = client.post("/fails", files=big)
        assert got.status_code == 500
        assert "boom" not in got.text
        assert open_files_in(spool_dir) == []
        assert kept[0].file.closed


def test_uploads_are_closed_when_the_client_disconnects(spool_dir: Path) -> None:
    app = Carafe()

    @app.post("/")
    async def handler(doc: UploadFile) -> int:
        raise AssertionError("not reached")

    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="doc"; filename="d"\r\n\r\n'.encode()
    )
    sent = run_asgi(app, [head + b"x" * (2 * MiB), b"x" * MiB], MULTIPART, disconnect=True)
    assert sent["status"] == 400  # sent in case the client is still there (granian)
    assert len(sent["seen"]) == 3  # two chunks, then the disconnect
    assert open_files_in(spool_dir) == []


def test_a_temp_file_exists_while_the_body_streams(spool_dir: Path) -> None:
    app = Carafe()

    @app.post("/")
    async def handler(doc: UploadFile) -> int:
        return doc.size

    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="doc"; filename="d"\r\n\r\n'.encode()
    )
    pieces = [head + b"x" * (2 * MiB), b"x" * MiB, f"\r\n--{BOUNDARY}--\r\n".encode()]
    during: list[int] = []

    async def run() -> int | None:
        status: int | None = None

        async def receive() -> dict[str, Any]:
            during.append(len(open_files_in(spool_dir)))
            chunk = pieces.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pieces)}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", MULTIPART["content-type"].encode())],
        }
        await app(scope, receive, send)
        return status

    assert asyncio.run(run()) == 200
    assert during == [0, 1, 1]  # rolled to disk after the first 2 MiB
    assert open_files_in(spool_dir) == []


@pytest.mark.parametrize(
    ("sent", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\win.ini", "win.ini"),
        ("evil\x00.txt.php", "evil.txt.php"),
        ("..", ""),
        ("", ""),
        ("photo\u202egnp.exe", "photognp.exe"),  # no right-to-left override
        ("r\u00e9sum\u00e9.pdf", "r\u00e9sum\u00e9.pdf"),
        ("NUL.txt", "_NUL.txt"),
        ("a<b>:c|d?e*.txt", "a_b__c_d_e_.txt"),
        ("-rf .txt", "rf .txt"),
    ],
)
def test_upload_safe_filename(sent: str, safe: str) -> None:
    app = Carafe()

    @app.post("/up")
    async def up(doc: UploadFile) -> dict[str, str | None]:
        return {"filename": doc.filename, "safe": doc.safe_filename}

    payload = body(part("doc", "x", filename=sent))
    got = TestClient(app).post("/up", content=payload, headers=MULTIPART).json()
    assert got == {"filename": sent, "safe": safe}


def test_secure_filename_keeps_names_short_and_their_suffix() -> None:
    from carafe.uploads import secure_filename

    long = secure_filename("\u00e9" * 300 + ".tar")
    assert long.endswith("\u00e9.tar") and len(long.encode()) <= 255
    assert len(secure_filename("a" * 300).encode()) == 255
    assert secure_filename("a" * 300 + "." + "b" * 40) == "a" * 255  # no such suffix
    assert secure_filename("r\u00e9sum\u00e9.pdf", ascii_only=True) == "resume.pdf"
    assert secure_filename("\u65e5\u672c.txt", ascii_only=True) == "txt"
    assert secure_filename("tab\tand\nnewline.txt") == "tab and newline.txt"
    assert secure_filename('C:\\Users\\ann\\"q".pdf') == "_q_.pdf"
    assert UploadFile(None, file=io.BytesIO()).safe_filename == ""


def test_upload_file_on_its_own() -> None:
    async def run() -> None:
        upload = UploadFile("n.txt", "text/plain", {"X-A": "b"}, file=io.BytesIO())
        assert not upload.on_disk and upload.headers["x-a"] == "b"
        await upload.write(b"abc")
        assert upload.size == 3
        assert await upload.seek(0) == 0
        assert await upload.read() == b"abc"
        await upload.close()
        await upload.close()  # twice is fine
        spooled = UploadFile(None, spool_threshold=4)
        await spooled.write(b"12")
        assert not spooled.on_disk
        await spooled.write(b"345")
        assert spooled.on_disk
        assert await spooled.seek(1) == 1
        assert await spooled.read(2) == b"23"
        await spooled.close()
        assert spooled.file.closed
        with tempfile.TemporaryFile() as raw:
            given = UploadFile("g", headers=Headers([(b"x", b"y")]), file=raw)
            assert given.on_disk and given.headers["x"] == "y"
            await given.write(b"z")
            await given.close()

    asyncio.run(run())


def test_helpers() -> None:
    assert parse_content_type('Multipart/Form-Data; Boundary="a b"; x') == (
        "multipart/form-data",
        {"boundary": "a b"},
    )
    assert parse_content_type("text/plain") == ("text/plain", {})
    assert parse_urlencoded("a=1&&b=x+y&c&%41=%zz") == [
        ("a", "1"),
        ("b", "x y"),
        ("c", ""),
        ("A", "%zz"),
    ]


def test_import_carafe_does_not_import_the_parser() -> None:
    code = (
        "import sys, carafe; print('multipart' in sys.modules, 'python_multipart' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_per_request_objects_are_slotted() -> None:
    from carafe.forms import _Parts
    from carafe.limits import DEFAULT_LIMITS

    for instance in (
        UploadFile("f", file=io.BytesIO()),
        FormData(),
        _Parts(FormData(), DEFAULT_LIMITS, {}, object),
    ):
        assert not hasattr(instance, "__dict__"), type(instance).__name__


# --- A real server: a 2 GiB upload with flat memory -----------------------------------


def _rss_peak(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _open_files_of(pid: int, directory: Path) -> list[str]:
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


def _zeros(total: int, head: bytes, tail: bytes) -> Iterator[bytes]:
    yield head
    block = bytes(MiB)
    left = total
    while left:
        step = min(left, MiB)
        yield block if step == MiB else block[:step]
        left -= step
    yield tail


@pytest.mark.slow
def test_a_2_gib_upload_through_a_real_server_keeps_memory_flat(
    live_server: Any, tmp_path: Path
) -> None:
    import httpx

    server = live_server("tests.forms_app:app", env={"TMPDIR": str(tmp_path)})
    pid = server.proc.pid
    with httpx.Client(base_url=server.url, timeout=60) as client:
        warm = client.post("/upload", files={"file": ("w", b"x" * (2 * MiB))})
        assert warm.json() == {"size": 2 * MiB, "on_disk": True, "zeros": 0}
        before = _rss_peak(pid)
        size = 2 * 1024 * MiB
        head = part("file", b"", filename="zeros.bin")[:-2]  # headers, no data, no CRLF
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        got = client.post(
            "/upload",
            content=_zeros(size, head, tail),
            headers={**MULTIPART, "content-length": str(len(head) + size + len(tail))},
        )
        assert got.status_code == 200, got.text
        assert got.json() == {"size": size, "on_disk": True, "zeros": size}
        after = _rss_peak(pid)
        assert after - before < 100 * MiB, (before, after)
        # The upload is closed as the request ends, just after the response went out.
        deadline = time.monotonic() + 10
        while _open_files_of(pid, tmp_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _open_files_of(pid, tmp_path) == []
        assert os.listdir(tmp_path) == []
        # Over the route's limit: a 413 from the declared length alone, and the server
        # goes on serving.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: "
                + MULTIPART["content-type"].encode()
                + f"\r\nContent-Length: {4 * 1024 * MiB}\r\n\r\n".encode()
                + head
            )
            assert sock.recv(100).startswith(b"HTTP/1.1 413 ")
        assert client.post("/upload", files={"file": ("s", b"\0")}).json()["zeros"] == 1


@pytest.mark.slow
def test_a_client_leaving_mid_upload_leaves_no_temp_file(live_server: Any, tmp_path: Path) -> None:
    server = live_server("tests.forms_app:app", env={"TMPDIR": str(tmp_path)})
    pid = server.proc.pid
    head = part("file", b"", filename="partial.bin")[:-2]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: "
            + MULTIPART["content-type"].encode()
            + f"\r\nContent-Length: {100 * MiB}\r\n\r\n".encode()
            + head
            + bytes(3 * MiB)
        )
        deadline = time.monotonic() + 10
        while not _open_files_of(pid, tmp_path) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(_open_files_of(pid, tmp_path)) == 1  # spooled to disk past 1 MiB
    deadline = time.monotonic() + 10
    while _open_files_of(pid, tmp_path) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _open_files_of(pid, tmp_path) == []
    assert os.listdir(tmp_path) == []
    import httpx

    got = httpx.post(f"{server.url}/upload", files={"file": ("s", b"\0\0")}, timeout=10)
    assert got.json() == {"size": 2, "on_disk": False, "zeros": 2}


def test_the_docs_example() -> None:
    from docs.examples import uploads

    with TestClient(uploads.app) as client:
        got = client.post("/signup", data={"name": "Ann", "email": "a@x", "tags": ["a", "b"]})
        assert got.status_code == 201
        assert got.json() == {"name": "Ann", "email": "a@x", "tags": ["a", "b"]}
        got = client.post("/signup", data={"name": "", "email": "a@x"})
        assert got.status_code == 422
        assert got.json()["errors"][0]["loc"] == ["form", "name"]
        photo = {"photo": ("sea.png", b"\x89PNG" + bytes(2 * MiB), "image/png")}
        got = client.post("/photos", files=photo, data={"caption": "Sea"})
        assert got.json()["bytes"] == 2 * MiB + 4
        assert got.json()["caption"] == "Sea"
        got = client.post("/photos", files={"photo": ("a.txt", b"x", "text/plain")})
        assert got.status_code == 415
