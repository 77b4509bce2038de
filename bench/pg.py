"""A private PostgreSQL cluster for the suite: a temp dir, a loopback port, TFB's tables.

    cluster = Cluster.create(cpu=1)   # initdb, start, create the world and fortune tables
    cluster.dsn                       # postgresql://benchmarkdbuser:...@127.0.0.1:PORT/hello_world
    cluster.stop()                    # stop it and remove the directory

PostgreSQL refuses to run as root, so as root the cluster is run by the ``postgres``
user (``runuser``). The server is pinned to ``cpu`` (the load generator's core) so the
core under test runs only the app.
"""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER, PASSWORD, DB = "benchmarkdbuser", "benchmarkdbpass", "hello_world"

# The TechEmpower Framework Benchmarks fortune rows (the test's fixed data set).
FORTUNES = [
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
]


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@dataclass
class Cluster:
    directory: Path
    port: int
    bindir: Path
    runas: list[str]
    cpu: int | None

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DB}"

    @property
    def version(self) -> str:
        out = subprocess.run(
            [str(self.bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip()

    def _run(self, argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.runas, *argv], check=True, capture_output=True, text=True, **kw
        )

    def psql(self, sql: str, db: str = "postgres") -> str:
        out = self._run(
            [str(self.bindir / "psql"), "-h", str(self.directory), "-p", str(self.port),
             "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-q", "-At"],
            input=sql,
        )  # fmt: skip
        return out.stdout

    @classmethod
    def create(
        cls, port: int, cpu: int | None = 1, max_connections: int = 300, nice: int = 0
    ) -> Cluster:
        bindir = _bindir()
        directory = Path(tempfile.mkdtemp(prefix="carafe-bench-pg-"))
        runas: list[str] = []
        if os.geteuid() == 0:
            runas = ["runuser", "-u", "postgres", "--"]
            shutil.chown(directory, "postgres", "postgres")
        cluster = cls(directory, port, bindir, runas, cpu)
        data = directory / "data"
        cluster._run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8"]
        )  # fmt: skip
        opts = (
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 "
            f"-c max_connections={max_connections} -c shared_buffers=256MB "
            "-c synchronous_commit=off -c fsync=off -c full_page_writes=off"
        )
        start = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"),
                 "-o", opts, "-w", "start"]  # fmt: skip
        start = [*cluster.runas, *start]
        if cpu is not None and shutil.which("taskset"):
            start = ["taskset", "-c", str(cpu), *start]
        if nice:
            start = ["nice", "-n", str(nice), *start]
        subprocess.run(start, check=True, capture_output=True, text=True)
        cluster.load()
        return cluster

    def load(self) -> None:
        """Create TFB's user, database and tables: world (10,000 rows), fortune (12)."""
        self.psql(
            f"CREATE USER {USER} WITH PASSWORD '{PASSWORD}'; CREATE DATABASE {DB} OWNER {USER};"
        )
        rng = random.Random(42)
        worlds = ",".join(f"({i},{rng.randint(1, 10000)})" for i in range(1, 10001))
        fortunes = ",".join(f"({i},{_sql_str(m)})" for i, m in FORTUNES)
        self.psql(
            f"""
            CREATE TABLE world (id integer NOT NULL PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0);
            CREATE TABLE fortune (id integer NOT NULL PRIMARY KEY, message varchar(2048) NOT NULL);
            INSERT INTO world (id, randomnumber) VALUES {worlds};
            INSERT INTO fortune (id, message) VALUES {fortunes};
            ALTER TABLE world OWNER TO {USER};
            ALTER TABLE fortune OWNER TO {USER};
            ANALYZE;
            """,
            db=DB,
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._run(
                [str(self.bindir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast",
                 "-w", "stop"]
            )  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)
