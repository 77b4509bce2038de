"""Flash messages: a note for the visitor's next page, shown once.

::

    @app.post("/profile")
    async def save(session: Session, ...) -> RedirectResponse:
        flash(session, "Profile saved.", "success")
        return RedirectResponse("/profile", 303)

    {# in the template of the next page #}
    {% for category, message in get_flashed_messages(with_categories=true) %}
      <p class="flash {{ category }}">{{ message }}</p>
    {% endfor %}

Messages live in the session (under ``_flashes``), so they survive the redirect and
work with every session store. Reading them removes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from carafe.web.sessions import Session, loaded_session

if TYPE_CHECKING:
    from carafe.requests import Request

__all__ = ["flash", "get_flashed_messages"]

FLASH_KEY = "_flashes"


def _session_of(target: Session | Request) -> Session:
    if isinstance(target, Session):
        return target
    session = loaded_session(target)
    if session is None:
        raise RuntimeError(
            "flash() with a Request needs the session loaded first: add a "
            "`session: Session` parameter to the handler, or pass the session"
        )
    return session


def flash(target: Session | Request, message: str, category: str = "message") -> None:
    """Keep ``message`` for the next page that shows flashed messages.

    Args:
        target: The session (or a request whose session is loaded).
        message: The text; templates escape it like any other value.
        category: A label for styling, e.g. ``"error"``, ``"success"``.
    """
    session = _session_of(target)
    flashes = list(session.get(FLASH_KEY, ()))
    flashes.append([category, message])
    session[FLASH_KEY] = flashes


def get_flashed_messages(
    target: Session | Request,
    with_categories: bool = False,
    category_filter: Iterable[str] = (),
) -> list[Any]:
    """The flashed messages, removed from the session (each is shown once).

    Args:
        target: The session (or a request whose session is loaded).
        with_categories: Return ``(category, message)`` pairs instead of messages.
        category_filter: Only these categories; the others stay for a later call.

    Returns:
        Messages in the order they were flashed.
    """
    session = _session_of(target)
    if FLASH_KEY not in session:
        return []
    stored = session.pop(FLASH_KEY)
    pairs = [
        (str(item[0]), str(item[1]))
        for item in (stored if isinstance(stored, list) else ())
        if isinstance(item, list) and len(item) == 2
    ]
    wanted = set(category_filter)
    if wanted:
        kept = [[category, text] for category, text in pairs if category not in wanted]
        if kept:
            session[FLASH_KEY] = kept
        pairs = [pair for pair in pairs if pair[0] in wanted]
    if with_categories:
        return pairs
    return [message for _, message in pairs]
