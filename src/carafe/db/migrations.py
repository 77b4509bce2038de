"""``carafe db``: Alembic migrations for the app's ``Database``, as Flask-Migrate does for Flask.

::

    carafe --app shop:app db init                         # write migrations/
    carafe --app shop:app db revision --autogenerate -m "add orders"
    carafe --app shop:app db upgrade                      # to the newest revision
    carafe --app shop:app db downgrade                    # one step back
    carafe --app shop:app db current | history | stamp REV | check

There is no ``alembic.ini``: each command builds Alembic's configuration from the app (the
database URL ``Database.sync_url_for(app)`` gives, the models' metadata) and hands both to
``migrations/env.py`` in ``config.attributes``. A mistake (no migrations folder, an unknown
revision, a database that is down) is one line on stderr and exit status 1.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from alembic.config import Config

    from carafe.db._database import Database

__all__ = ["alembic_config", "db_command"]

_TEMPLATE = Path(__file__).parent / "template"


def alembic_config(db: Database, app: Any, directory: str | None = None) -> Config:
    """Alembic's configuration for ``app``'s database, its scripts in ``directory``
    (default ``db.migrations``): what every ``carafe db`` command runs with."""
    from alembic.config import Config

    config = Config(stdout=sys.stdout)  # NOTE: Alembic's default is the stdout at its import
    config.set_main_option("script_location", directory or db.migrations)
    url = db.sync_url_for(app)
    # NOTE: Alembic's options are ConfigParser values: a '%' in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.render_as_string(False).replace("%", "%%"))
    config.attributes["carafe_url"] = url
    config.attributes["carafe_metadata"] = db.metadata
    return config


@contextmanager
def _one_line_errors(config: Config) -> Iterator[None]:
    """Alembic's and the database's errors as one line, without a traceback."""
    from alembic.util import CommandError
    from sqlalchemy.exc import DBAPIError

    from carafe.db._database import _first_line, mask_url

    try:
        yield
    except CommandError as error:
        raise click.ClickException(str(error)) from None
    except DBAPIError as error:
        url = mask_url(config.attributes["carafe_url"])
        raise click.ClickException(f"{url}: {_first_line(error)}") from None


def _progress(record: logging.LogRecord) -> bool:
    """What a person running ``carafe db`` wants to read: each migration run, warnings."""
    return record.levelno >= logging.WARNING or record.getMessage().startswith("Running ")


@dataclasses.dataclass(frozen=True)
class _Target:
    """What the ``db`` group's commands work on: the ``Database`` and its folder."""

    db: Database
    directory: str

    def run(self, action: Callable[[Config], object]) -> None:
        """``action(config)`` for the running command's app, with one-line errors."""
        from carafe.cli.commands import current_app

        config = alembic_config(self.db, current_app(), self.directory)
        if not (Path(self.directory) / "env.py").is_file():
            raise click.ClickException(
                f"No migrations in {self.directory}/: run `carafe db init` first"
            )
        with _one_line_errors(config), _alembic_says():
            action(config)


@contextmanager
def _alembic_says() -> Iterator[None]:
    """Show Alembic's progress (``Running upgrade  -> 1f2e, notes``) on stderr,
    unless the app configured a level or a handler for Alembic's logger."""
    log = logging.getLogger("alembic")
    if log.level != logging.NOTSET or any(
        not isinstance(h, logging.NullHandler) for h in log.handlers
    ):
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_progress)
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)
        log.propagate = True


def db_command(db: Database) -> click.Group:
    """The ``db`` command group for one ``Database``."""

    @click.group("db")
    @click.option(
        "-d",
        "--directory",
        default=db.migrations,
        show_default=True,
        help="The migrations folder.",
    )
    @click.pass_context
    def group(ctx: click.Context, directory: str) -> None:
        """Database migrations (Alembic): init, revision, upgrade, downgrade, ..."""
        ctx.obj = _Target(db, directory)

    for command in (init, revision, migrate, upgrade, downgrade, current, history, stamp, check):
        group.add_command(command)
    return group


@click.command()
@click.pass_obj
def init(target: _Target) -> None:
    """Write the migrations folder (env.py, the script template, versions/)."""
    location = Path(target.directory)
    if location.exists() and any(location.iterdir()):
        raise click.ClickException(f"{location}/ exists and is not empty")
    (location / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako", "README"):
        shutil.copyfile(_TEMPLATE / name, location / name)
    click.echo(f"Wrote {location}/; next: carafe db revision --autogenerate -m 'first'")


@click.command()
@click.option("-m", "--message", default=None, help="What the revision does.")
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@click.option("--sql", is_flag=True, help="Write SQL instead of connecting (no autogenerate).")
@click.option("--rev-id", default=None, help="The revision's id (default: random).")
@click.pass_obj
def revision(
    target: _Target, message: str | None, autogenerate: bool, sql: bool, rev_id: str | None
) -> None:
    """Write a new migration script into versions/."""
    from alembic import command

    target.run(
        lambda c: command.revision(
            c, message=message, autogenerate=autogenerate, sql=sql, rev_id=rev_id
        )
    )


@click.command()
@click.option("-m", "--message", default=None, help="What the revision does.")
@click.pass_context
def migrate(ctx: click.Context, message: str | None) -> None:
    """Same as revision --autogenerate (Flask-Migrate's name for it)."""
    ctx.invoke(revision, message=message, autogenerate=True, sql=False, rev_id=None)


@click.command()
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_obj
def upgrade(target: _Target, revision: str, sql: bool) -> None:
    """Apply migrations up to REVISION (default: head)."""
    from alembic import command

    target.run(lambda c: command.upgrade(c, revision, sql=sql))


@click.command()
@click.argument("revision", default="-1")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it (FROM:TO).")
@click.pass_obj
def downgrade(target: _Target, revision: str, sql: bool) -> None:
    """Undo migrations down to REVISION (default: -1, the last one; base: all)."""
    from alembic import command

    if sql and ":" not in revision:
        raise click.ClickException("downgrade --sql needs a range: FROM:TO")
    target.run(lambda c: command.downgrade(c, revision, sql=sql))


@click.command()
@click.option("-v", "--verbose", is_flag=True)
@click.pass_obj
def current(target: _Target, verbose: bool) -> None:
    """The revision the database is at."""
    from alembic import command

    target.run(lambda c: command.current(c, verbose=verbose))


@click.command()
@click.option("-r", "--rev-range", default=None, help="A range, e.g. base:head.")
@click.option("-v", "--verbose", is_flag=True)
@click.pass_obj
def history(target: _Target, rev_range: str | None, verbose: bool) -> None:
    """The migration scripts, newest first."""
    from alembic import command

    target.run(lambda c: command.history(c, rev_range=rev_range, verbose=verbose))


@click.command()
@click.argument("revision")
@click.pass_obj
def stamp(target: _Target, revision: str) -> None:
    """Record REVISION as applied without running anything."""
    from alembic import command

    target.run(lambda c: command.stamp(c, revision))


@click.command()
@click.pass_obj
def check(target: _Target) -> None:
    """Fail if the models have changes no migration records."""
    from alembic import command

    target.run(command.check)
