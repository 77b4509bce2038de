"""A websocket client written by hand, so that tests can misbehave on the wire."""

from __future__ import annotations

import base64
import os
import socket

import pytest

LINGER_0 = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close() resets


def raw_websocket(port: int, path: str, rcvbuf: int | None = None) -> socket.socket:
    """A handshake by hand: the socket is then ours to misuse."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)  # byte by byte: not a byte of the first frame is taken
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(opcode: int, payload: bytes, *, masked: bool = True, length: int | None = None) -> bytes:
    """One final frame as a client sends it (masked, unless told otherwise).

    ``length`` declares a size other than the payload's: the header of a frame whose
    payload would follow.
    """
    size = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([mask_bit | size])
    elif size < 65536:
        head += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    else:
        head += bytes([mask_bit | 127]) + size.to_bytes(8, "big")
    if masked:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def read_close_code(sock: socket.socket) -> int:
    """Read frames until the server's close frame; its status code."""
    while True:
        first, second = sock.recv(1)[0], sock.recv(1)[0]
        size = second & 0x7F
        if size >= 126:
            size = int.from_bytes(_exactly(sock, 2 if size == 126 else 8), "big")
        payload = _exactly(sock, size)
        if first & 0x0F == 0x8:  # a close frame without a status means 1005
            return int.from_bytes(payload[:2], "big") if payload else 1005


def read_frame_payload(sock: socket.socket) -> bytes:
    """One small unfragmented frame from the server (no mask): its payload."""
    sock.recv(1)
    size = sock.recv(1)[0] & 0x7F
    assert size < 126
    return _exactly(sock, size)


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def until_closed(sock: socket.socket, bound: float) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the socket open
    longer than ``bound`` seconds."""
    sock.settimeout(bound)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {bound} s; it sent {data[:200]!r}")
    return data
