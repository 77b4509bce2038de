"""What Carafe's uvicorn protocol (the request head's deadline) adds per request, in process.

    .venv/bin/python bench/protocol.py

uvicorn's ``HttpToolsProtocol`` and Carafe's ``HttpToolsHeadTimeoutProtocol`` each get
one kept-alive connection over an in-memory transport, on uvloop; a GET is fed to the
protocol, the raw ASGI app answers it, and the next GET follows once the response is
written. Blocks of requests alternate between the two protocols; the fastest block is
reported, in microseconds per request (CPU clock), with the difference.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from carafe._protocols import HttpToolsHeadTimeoutProtocol

REQUEST = b"GET /json HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n\r\n"
BODY = b'{"message":"Hello, World!"}'


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"27")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


class Transport(asyncio.Transport):
    """Just enough of a socket transport: writes set an event once a response ends."""

    def __init__(self) -> None:
        super().__init__()
        self.done = asyncio.Event()
        self.closed = False
        self.protocol: asyncio.BaseProtocol | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data).endswith(BODY):
            self.done.set()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def connect(cls: type[HttpToolsProtocol]) -> tuple[HttpToolsProtocol, Transport]:
    config = Config(app, lifespan="off", access_log=False, log_level="warning")
    protocol = cls(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


async def block(protocol: HttpToolsProtocol, transport: Transport, calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        transport.done.clear()
        protocol.data_received(REQUEST)
        await transport.done.wait()
        await asyncio.sleep(0)  # let the cycle finish (on_response_complete)
    return (time.process_time() - start) / calls * 1e6


async def main(blocks: int = 40, calls: int = 2000) -> None:
    pairs = {
        "uvicorn HttpToolsProtocol": connect(HttpToolsProtocol),
        "Carafe HttpToolsHeadTimeoutProtocol": connect(HttpToolsHeadTimeoutProtocol),
    }
    best = dict.fromkeys(pairs, float("inf"))
    for protocol, transport in pairs.values():
        await block(protocol, transport, 500)  # warm up
    for _ in range(blocks):
        for name, (protocol, transport) in pairs.items():
            best[name] = min(best[name], await block(protocol, transport, calls))
    for name, figure in best.items():
        print(f"{name:38s} {figure:7.2f} us per request")
    ours, theirs = best["Carafe HttpToolsHeadTimeoutProtocol"], best["uvicorn HttpToolsProtocol"]
    print(f"{'difference':38s} {ours - theirs:7.2f} us per request")


if __name__ == "__main__":
    uvloop.run(main())
