"""docs/clients.md's event-stream example, for the client that ``carafe client
examples.conduit.app:app --lang python -o conduit_client.py`` writes.

tests/test_clients.py runs both functions against a real Conduit server.
"""

from __future__ import annotations

from conduit_client import AddCommentBody, AsyncClient, Client, CommentView, NewComment


def comment_and_watch(api: Client, slug: str, text: str) -> CommentView:
    """Comment on an article, and see the comment come back on its event stream."""
    with api.comment_events(slug) as events:  # the request is sent: the stream is open
        api.add_comment(slug, AddCommentBody(comment=NewComment(body=text)))
        for event in events:  # each event as the server sends it
            if event.event == "comment":
                return event.decode(CommentView)  # leaving the block closes the stream
    raise RuntimeError("the stream ended")  # Conduit's does not, unless the server stops


async def comment_and_watch_async(api: AsyncClient, slug: str, text: str) -> CommentView:
    """The same with ``AsyncClient``: ``async with`` and ``async for``."""
    async with api.comment_events(slug) as events:
        await api.add_comment(slug, AddCommentBody(comment=NewComment(body=text)))
        async for event in events:
            if event.event == "comment":
                return event.decode(CommentView)
    raise RuntimeError("the stream ended")
