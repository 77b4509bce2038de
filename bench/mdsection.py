"""Put one ``## `` section of a Markdown page in place: bench scripts that record their
figures in docs/benchmarks.md (production.py, conduit.py) share it."""

from __future__ import annotations

from pathlib import Path


def replace_section(doc: Path, heading: str, text: str) -> None:
    """Write ``text`` (starting with ``heading``) into ``doc``: in place of the section
    with that heading, else before "## Failures", else at the end."""
    page = doc.read_text()
    if heading in page:
        start = page.index(heading)
        end = page.find("\n## ", start + len(heading))
        page = page[:start] + text + ("\n" + page[end + 1 :] if end != -1 else "")
    elif "\n## Failures" in page:
        at = page.index("\n## Failures") + 1
        page = page[:at] + text + "\n" + page[at:]
    else:
        page = page.rstrip("\n") + "\n\n" + text
    doc.write_text(page)
