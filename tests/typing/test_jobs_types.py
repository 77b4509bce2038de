"""Checked by ``mypy --strict`` (tests/typing is in mypy's ``files``), and run by pytest.

``@jobs.task`` and ``@jobs.task(...)`` give a ``Task`` that keeps the function's
signature: calling it is typed as calling the function; ``enqueue`` gives the job's id.
"""

from typing import assert_type

from carafe.jobs import JobInfo, Jobs, Task

jobs = Jobs()


@jobs.task
async def send(address: str, info: JobInfo) -> int:
    return len(address) + info.attempt


@jobs.task(retries=2, timeout=None)
def count(words: list[str]) -> int:
    return len(words)


async def awaited() -> None:  # checked, never run: enqueueing needs a running app
    assert_type(await send("a@b", JobInfo("id", "send", 1, 1)), int)
    # The worker fills some parameters, so enqueue takes any arguments (checked at run
    # time against the signature) and gives the job's id.
    assert_type(await count.enqueue(["a"]), str)


def test_tasks_keep_their_signatures() -> None:
    assert isinstance(send, Task)
    assert_type(count(words=["a", "b"]), int)  # the parameters' names are kept too
    assert count(["a", "b"]) == 2
    assert count.retries == 2
