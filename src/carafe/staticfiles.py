"""``StaticFiles``: an ASGI app serving the files under one directory, and nothing else.

    app.static("/static", "static")          # or: app.mount("/static", StaticFiles("static"))
    app.url_path_for("static", path="app.css")   # "/static/app.css"

A request path is checked twice before the disk is touched, and the file found is
checked once more after:

1. the raw path as the client sent it: a percent-encoded slash, backslash or NUL byte
   (``%2f``, ``%5c``, ``%00``) is refused with 400, so a separator can never be hidden
   from the checks below;
2. the decoded path, segment by segment: ``..``, ``.``, empty segments (``//``, which
   would make an absolute path), backslashes (Windows' separator, refused everywhere so
   a site behaves the same on every OS) and NUL bytes are refused with 400;
3. the file found is resolved to its real path (symlinks followed) and must lie inside
   the real directory, else 404, unless ``follow_symlinks=True`` trusts the links that
   the directory's owner put there.

Then ``FileResponse`` answers: content type, ``ETag``/``Last-Modified``, 304, ranges.
No directory is ever listed, and names starting with ``.`` are not served unless asked.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from carafe._concurrency import run_sync
from carafe._files import FileResponse, _Transfer, guess_media_type
from carafe.exceptions import ConfigurationError, HTTPError, elide
from carafe.responses import ProblemResponse, RedirectResponse

if TYPE_CHECKING:
    from carafe.types import Receive, Scope, Send

__all__ = ["StaticFiles"]

_METHODS: Final = ("GET", "HEAD")
_HIDDEN_SEPARATORS: Final = (b"%2f", b"%5c", b"%00", b"\\", b"\x00")
_BAD_SEGMENTS: Final = frozenset({"", ".", ".."})


class StaticFiles:
    """Serve the files under ``directory`` (GET and HEAD; any other method gets 405).

    Args:
        directory: The folder to serve; it must exist (``ConfigurationError`` otherwise,
            at startup) unless ``check_dir=False``.
        html: Serve ``index.html`` for a directory (redirecting ``/docs`` to ``/docs/``
            first, so its relative links work) and ``404.html`` as the not-found page,
            for a static site. Off by default: a directory is a 404.
        follow_symlinks: Serve files whose symlinks lead out of ``directory``. Off by
            default: the real path of every file must be inside the real directory.
        dotfiles: Serve names starting with ``.`` (``.env``, ``.git/config``). Off by
            default: they are 404, except ``.well-known`` (RFC 8615), which is served.
        cache_control: The ``Cache-Control`` of every file. The default, ``no-cache``,
            lets browsers keep files but ask each time (a cheap 304 when unchanged);
            for file names carrying a content hash, pass
            ``"public, max-age=31536000, immutable"``. None sends none.
        check_dir: Check at construction that ``directory`` exists.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        follow_symlinks: bool = False,
        dotfiles: bool = False,
        cache_control: str | None = "no-cache",
        check_dir: bool = True,
    ) -> None:
        # PERF: resolved once here; per request only the file's own path is resolved.
        self.directory = os.path.realpath(directory)
        self.html = html
        self.follow_symlinks = follow_symlinks
        self.dotfiles = dotfiles
        self.headers = {"cache-control": cache_control} if cache_control else {}
        self._inside = self.directory.rstrip(os.sep) + os.sep
        if check_dir and not os.path.isdir(self.directory):
            raise ConfigurationError(f"Static directory {os.fspath(directory)!r} does not exist")
        guess_media_type("index.html")  # builds the type table now, not in a request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return  # lifespan: nothing to start
        if scope["method"] not in _METHODS:
            error = HTTPError(
                405,
                f"{elide(scope['method'])} is not allowed here; use GET or HEAD.",
                {"allow": "GET, HEAD"},
            )
            await ProblemResponse.from_error(error)(scope, receive, send)
            return
        try:
            parts, is_dir_url = self._segments(scope)
            # PERF: finding, opening and (for a small file) reading it is one trip to the
            # thread pool, where Starlette's StaticFiles takes several; bench/static_files.py
            # measures about 2-3x its requests per second for small files and ranges.
            found = await run_sync(self._serve, parts, is_dir_url, scope)
        except HTTPError as error:
            await ProblemResponse.from_error(error)(scope, receive, send)
            return
        if isinstance(found, str):
            await RedirectResponse(found, 307)(scope, receive, send)
            return
        response, transfer = found
        await response.send_transfer(transfer, receive, send)

    # --- Sans I/O: the path ------------------------------------------------------

    def _segments(self, scope: Scope) -> tuple[list[str], bool]:
        """The path's segments below the mount, and whether it ended with ``/``.

        Raises:
            HTTPError: 400 for a path that tries to leave the directory or hide a separator.
        """
        raw_path = scope.get("raw_path")
        if raw_path is not None and any(bad in raw_path.lower() for bad in _HIDDEN_SEPARATORS):
            raise HTTPError(400, "The path contains an encoded separator, a backslash or NUL.")
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        relative = path[len(root) :] if path.startswith(root) else path
        if relative in ("", "/"):
            return [], relative == "/"
        is_dir_url = relative.endswith("/")
        parts = relative[1 : -1 if is_dir_url else None].split("/")
        for part in parts:
            if part in _BAD_SEGMENTS or "\\" in part or "\x00" in part:
                raise HTTPError(400, "The path has an empty, '.' or '..' segment, or a backslash.")
        return parts, is_dir_url

    # --- In the thread pool: the disk --------------------------------------------

    def _serve(
        self, parts: list[str], is_dir_url: bool, scope: Scope
    ) -> tuple[FileResponse, _Transfer] | str:
        """The response for ``parts``, opened and ready, or a URL to redirect to."""
        found = self._lookup(parts)
        if found is not None and stat.S_ISDIR(found[1].st_mode):
            if not self.html:
                found = None  # no listings
            elif not is_dir_url:
                return _with_slash(scope)
            else:
                parts = [*parts, "index.html"]
                found = self._lookup(parts)
        elif is_dir_url:
            found = None  # "app.css/" names a directory, and there is none
        status = 200
        if (found is None or not stat.S_ISREG(found[1].st_mode)) and self.html:
            parts, status = ["404.html"], 404
            found = self._lookup(parts)
        if found is None or not stat.S_ISREG(found[1].st_mode):
            raise HTTPError(404, f"Nothing is at {elide(scope['path'])}.")
        # The type comes from the name asked for, not from where a symlink leads.
        media_type = guess_media_type(parts[-1])
        # The directory's own pages (and SVG icons) are shown, not downloaded.
        response = FileResponse(
            found[0],
            status,
            self.headers,
            media_type,
            content_disposition_type="inline",
            stat_result=found[1],
        )
        return response, response.prepare(scope)

    def _lookup(self, parts: list[str]) -> tuple[str, os.stat_result] | None:
        """The file's real path and ``stat`` if it exists inside the directory, else None."""
        if not self.dotfiles and any(p[0] == "." and p != ".well-known" for p in parts):
            return None
        try:
            # NOTE: strict, so resolving stops at the first missing segment: a path of
            # thousands of segments costs one lstat, not thousands.
            real = os.path.realpath(os.path.join(self.directory, *parts), strict=True)
            info = os.stat(real)
        except (OSError, ValueError):
            return None
        if self.follow_symlinks or real == self.directory or real.startswith(self._inside):
            return real, info
        return None


def _with_slash(scope: Scope) -> str:
    # Quoted here, so that a "?" or "#" in a directory's name stays part of the path.
    target = quote(scope["path"]) + "/"
    query: bytes = scope.get("query_string", b"")
    return f"{target}?{query.decode('latin-1')}" if query else target
