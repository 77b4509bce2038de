"""A private PostgreSQL server for the tests: Debian's binaries, a temp dir, a loopback port.

    server = PostgresServer.start(directory, port)
    url = server.create_database("shop")   # postgresql://postgres@127.0.0.1:PORT/shop
    server.stop()

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
(``runuser``), which Debian's package creates. Authentication is ``trust`` on loopback
(and on ``network=``'s subnet): the server lives only as long as the test session.
``fsync`` is off; nothing outlives it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


def postgres_bindir() -> Path | None:
    """Where Debian keeps initdb and pg_ctl (not on PATH), or None when not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    directory: Path
    port: int
    bindir: Path
    runas: list[str]

    @classmethod
    def start(
        cls, directory: Path, port: int, *, initialise: bool = True, network: str = ""
    ) -> PostgresServer:
        """Start a server on ``port``; ``initialise=False`` restarts one stopped earlier.

        ``network`` (``"10.77.0.254/24"``): listen on that address as well, and trust
        connections from its subnet (the hosts of ``tests/cluster.py``).
        """
        bindir = postgres_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (scripts/system-deps installs it)")
        runas: list[str] = []
        if os.geteuid() == 0:
            runas = ["runuser", "-u", "postgres", "--"]
            shutil.chown(directory, "postgres", "postgres")
        server = cls(directory, port, bindir, runas)
        data = directory / "data"
        if initialise:
            server._run(
                [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--locale=C.UTF-8"]
            )  # fmt: skip
        listen = "127.0.0.1"
        if network:
            address, bits = network.split("/")
            listen += "," + address
            subnet = ".".join(address.split(".")[:3]) + f".0/{bits}"
            hba = data / "pg_hba.conf"
            rules = hba.read_text()
            if subnet not in rules:
                hba.write_text(rules + f"host all all {subnet} trust\n")
        options = (
            f"-p {port} -k {directory} -c listen_addresses={listen} -c max_connections=200 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        server._run(
            [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"),
             "-o", options, "-w", "start"]
        )  # fmt: skip
        return server

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        done = subprocess.run(
            [*self.runas, *argv], input=stdin, capture_output=True, text=True, check=True
        )
        return done.stdout

    def url(self, database: str = "postgres") -> str:
        """The database's URL, without a driver: add ``+asyncpg`` or ``+psycopg``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-At"],
            stdin=sql,
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        """A new, empty database; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data"),
                 "-m", "fast", "-w", "stop"]
            )  # fmt: skip
