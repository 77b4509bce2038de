"""An app with its own commands, for ``tests/test_cli.py`` (``carafe --app ...``)."""

from __future__ import annotations

import click

from carafe import Carafe
from carafe.cli.commands import current_app
from carafe.extensions import Registry

app = Carafe(title="shop")
app.state.started = 0


@app.on_startup
async def start() -> None:
    app.state.started += 1


@app.on_shutdown
async def stop() -> None:
    click.echo("shut down")


@app.get("/")
def index() -> dict[str, int]:
    return {"started": app.state.started}


@app.cli.command()
@click.argument("name")
@click.option("--shout", is_flag=True)
def greet(name: str, shout: bool) -> None:
    """Greet NAME."""
    text = f"hello {name}"
    click.echo(text.upper() if shout else text)


@app.cli.command(with_app=True)
def seed() -> None:
    """Fill the shop, inside the app's lifespan."""
    click.echo(f"seeding, started {app.state.started}")


@app.cli.command("aseed", with_app=True)
async def seed_async() -> None:
    click.echo(f"async seeding, started {app.state.started}")


@app.cli.command()
async def ping() -> None:
    click.echo(f"pong, started {app.state.started}")


@app.cli.group()
def db() -> None:
    """Database commands."""


@db.command(with_app=True)
def migrate() -> None:
    click.echo(f"migrated, started {app.state.started}")


broken = Carafe()


@broken.on_startup
async def fail() -> None:
    raise RuntimeError("no database\nsecond line")


@broken.cli.command(with_app=True)
def work() -> None:
    click.echo("never")  # pragma: no cover - the startup fails first


@broken.cli.command("awork", with_app=True)
async def work_async() -> None:
    click.echo("never")  # pragma: no cover - the startup fails first


async def not_carafe(scope: object, receive: object, send: object) -> None:
    """An ASGI app, but not a Carafe app: it has no commands."""


class Inventory:
    """An extension that offers a command of its own (``Registry.command``)."""

    def install(self, registry: Registry) -> None:
        @click.command("stock")
        def stock() -> None:
            """Say the app's title."""
            click.echo(f"stock of {current_app().title}")

        registry.command(stock)


app.extend(Inventory())
