"""The public namespace: exactly these names, sorted, and importing carafe stays cheap."""

from __future__ import annotations

import subprocess
import sys

import carafe

DESIGN_NAMES = {"Carafe", "Router", "Request", "Response", "HTTPError", "Depends"}


def test_all_is_sorted_and_complete() -> None:
    assert carafe.__all__ == sorted(carafe.__all__)
    assert set(carafe.__all__) >= DESIGN_NAMES
    for name in carafe.__all__:
        assert hasattr(carafe, name), name
    public = {n for n in vars(carafe) if not n.startswith("_") and n[0].isupper()}
    assert public <= set(carafe.__all__), public - set(carafe.__all__)


def test_import_does_not_load_optional_libraries() -> None:
    code = (
        "import sys, carafe\n"
        "heavy = {'jinja2', 'multipart', 'python_multipart', 'pydantic', 'redis', 'itsdangerous',"
        " 'httpx', 'uvicorn', 'granian', 'a2wsgi', 'click'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_testing_module_exports() -> None:
    from carafe import testing

    assert testing.__all__ == [
        "AsyncTestClient",
        "AsyncWebSocketSession",
        "TestClient",
        "WebSocketDenied",
        "WebSocketSession",
    ]
