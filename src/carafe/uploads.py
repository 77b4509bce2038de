"""``UploadFile``: one uploaded file, held in memory while small and spooled to disk after.

The multipart parser in ``carafe.forms`` creates them; handlers receive them through
``File()`` parameters or ``await request.form()``::

    @app.post("/avatar")
    async def avatar(picture: UploadFile) -> dict:
        head = await picture.read(512)
        return {"name": picture.filename, "size": picture.size, "type": picture.content_type}

Every method that may touch the disk runs in the thread pool, so a large upload never
blocks the event loop; while the content is still in memory the call is made directly.
The temporary file has no name on disk (``tempfile.TemporaryFile``) and is closed when
the request ends, however it ends.

``filename`` is what the client sent: ``../../etc/passwd``, ``C:\\boot.ini`` and NUL
bytes included. To store a file under its own name, use ``safe_filename`` (or
``secure_filename()``), or better, a name you generate.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Final

from carafe._concurrency import run_sync
from carafe.datastructures import Headers

if TYPE_CHECKING:
    from tempfile import SpooledTemporaryFile

__all__ = ["SPOOL_THRESHOLD", "UploadFile", "secure_filename"]

SPOOL_THRESHOLD = 1024 * 1024
"""Bytes an upload keeps in memory before it moves to a temporary file (1 MiB)."""


_MAX_NAME_BYTES: Final = 255  # what ext4, APFS and NTFS take for one name
_MAX_SUFFIX_BYTES: Final = 32
# Reserved by Windows (or by shells and other tools, for a leading "-"); "/" and "\\"
# are taken care of before, as separators.
_RESERVED_CHARACTERS: Final = re.compile(r'[<>:"|?*]')
_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_WINDOWS_DEVICES: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{n}" for port in ("COM", "LPT") for n in "0123456789\u00b9\u00b2\u00b3"}
)


def secure_filename(filename: str, *, ascii_only: bool = False) -> str:
    r"""A name under which an upload can be stored in a directory, made from ``filename``.

    What is left is one plain name: the last component of a path (either separator);
    no control or invisible formatting characters (NUL, a right-to-left override that
    makes ``exe.pdf`` out of ``fdp.exe``); none of ``<>:"|?*``; no dots or spaces at
    either end (no hidden file, no ``..``) nor a leading ``-``; no Windows device name
    (``CON``, ``NUL.txt``); at most 255 bytes of UTF-8, the extension kept. Letters of
    every script are kept, NFC-normalised; ``ascii_only=True`` keeps ASCII alone
    (``résumé`` becomes ``resume``). The result is ``""`` when nothing usable is
    left: then pick a name yourself (a generated name is the safest anyway).

    The name is safe as one path component, not as shell text: pass it to a
    subprocess in an argument list, never in a command string.

    >>> secure_filename("../../etc/passwd"), secure_filename("C:\\Users\\ann\\résumé.pdf")
    ('passwd', 'résumé.pdf')
    >>> secure_filename(" .bashrc"), secure_filename("con.txt"), secure_filename("a\x00b?.txt")
    ('bashrc', '_con.txt', 'ab_.txt')
    >>> secure_filename(".."), secure_filename("résumé.pdf", ascii_only=True)
    ('', 'resume.pdf')
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFKD" if ascii_only else "NFC", name)
    if ascii_only:
        name = name.encode("ascii", "ignore").decode("ascii")
    name = "".join(
        " " if ch.isspace() else ch
        for ch in name
        if unicodedata.category(ch) not in _DROPPED_CATEGORIES or ch in "\t\n\r"
    )
    name = _RESERVED_CHARACTERS.sub("_", name).strip(" .").lstrip("-").strip(" .")
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        name = "_" + name
    return _shortened(name)


def _shortened(name: str) -> str:
    """``name`` cut to 255 bytes of UTF-8 from the end of its stem, keeping its suffix."""
    if len(name.encode()) <= _MAX_NAME_BYTES:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix.encode()) > _MAX_SUFFIX_BYTES:
        stem, suffix = name, ""
    tail = "." + suffix if suffix else ""
    budget = _MAX_NAME_BYTES - len(tail.encode())
    return stem.encode()[:budget].decode("utf-8", "ignore").rstrip(" .") + tail


def _spool() -> SpooledTemporaryFile[bytes]:
    import tempfile  # NOTE: lazy; ``import carafe`` stays free of tempfile's imports

    # max_size=0: the file never rolls over by itself; UploadFile rolls it, in a thread.
    return tempfile.SpooledTemporaryFile(max_size=0)


class UploadFile:
    """An uploaded file: its metadata, and its content behind async file methods.

    Args:
        filename: The name the client gave, as sent (never trust it as a path; see
            ``safe_filename``).
        content_type: The part's media type, e.g. ``image/png``; None when not sent.
        headers: The part's headers.
        file: The content; by default an empty spooled temporary file.
        spool_threshold: Bytes kept in memory before the content moves to disk.

    Attributes:
        size: Bytes written so far; the final size once parsing is done.
        file: The underlying binary file object, for sync code (``shutil.copyfileobj``).
    """

    __slots__ = (
        "_on_disk",
        "_spool",
        "_threshold",
        "content_type",
        "file",
        "filename",
        "headers",
        "size",
    )

    def __init__(
        self,
        filename: str | None,
        content_type: str | None = None,
        headers: Headers | Mapping[str, str] | None = None,
        *,
        file: IO[bytes] | None = None,
        spool_threshold: int = SPOOL_THRESHOLD,
    ) -> None:
        self.filename = filename
        self.content_type = content_type
        if headers is None or isinstance(headers, Headers):
            self.headers = headers if headers is not None else Headers()
        else:
            self.headers = Headers(
                [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
            )
        self.size = 0
        self._threshold = spool_threshold
        self._spool: SpooledTemporaryFile[bytes] | None = None
        if file is None:
            self._spool = _spool()
            self.file: IO[bytes] = self._spool
            self._on_disk = False
        else:
            self.file = file
            self._on_disk = not isinstance(file, io.BytesIO)

    @property
    def safe_filename(self) -> str:
        """``filename`` made safe to store under: ``secure_filename(filename)``.

        ``""`` when the client sent no name or nothing usable is left of it.
        """
        return secure_filename(self.filename or "")

    @property
    def on_disk(self) -> bool:
        """Whether the content lives in a temporary file (or a caller-given file), not memory."""
        return self._on_disk

    def _write_all(self, chunks: Iterable[bytes]) -> None:
        write = self.file.write
        for chunk in chunks:
            write(chunk)
        spool = self._spool
        if spool is not None and not self._on_disk and self.size > self._threshold:
            spool.rollover()
            self._on_disk = True

    async def _append(self, chunks: list[bytes], length: int) -> None:
        # The parser hands over a batch of chunks: one thread hop per batch, not per chunk.
        self.size += length
        if self._on_disk or self.size > self._threshold:
            await run_sync(self._write_all, chunks)
        else:
            self._write_all(chunks)

    async def write(self, data: bytes) -> None:
        """Append ``data`` to the file."""
        await self._append([data], len(data))

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all that is left by default) from the current position."""
        if self._on_disk:
            return await run_sync(self.file.read, size)
        return self.file.read(size)

    async def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move to ``offset`` (from the start, by default); returns the new position."""
        if self._on_disk:
            return await run_sync(self.file.seek, offset, whence)
        return self.file.seek(offset, whence)

    async def close(self) -> None:
        """Close the file; a temporary file is gone from the disk at once."""
        if self.file.closed:
            return
        if self._on_disk:
            await run_sync(self.file.close)
        else:
            self.file.close()

    def __repr__(self) -> str:
        return (
            f"UploadFile(filename={self.filename!r}, content_type={self.content_type!r}, "
            f"size={self.size})"
        )
