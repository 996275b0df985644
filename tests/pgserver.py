"""A throwaway PostgreSQL server on 127.0.0.1, from Debian's `postgresql` package, for tests
and benchmarks: one server per session, a fresh database per test.

initdb and postgres refuse to run as root, so as root they run as the `postgres` user the
package creates. If the server cannot start, this raises: a test that needs it fails (it is
never skipped).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support import free_port

if TYPE_CHECKING:
    from lib.storage import Database

SUPERUSER = "postgres"
TEMPLATE = "promptlab_template"   # every migration applied: copied for each test's database


def bin_dir() -> Path:
    """The newest installed server's binaries (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if not found:
        raise RuntimeError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/pg_ctl); "
                           "`make test-deps` installs Debian's postgresql package")
    return found[-1].parent


def _as_owner(cmd: list[str]) -> list[str]:
    """initdb and postgres must not run as root: run them as the package's postgres user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Server:
    """A running server: its URL, and fresh databases made from the migrated template."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self._names = itertools.count(1)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def make_template(self) -> None:
        """Create the template database and apply every migration to it, once."""
        from lib.storage import Database

        self._admin(f"CREATE DATABASE {TEMPLATE}")
        template = Database.postgresql(self.url(TEMPLATE))
        template.migrate()
        template.dispose()

    def fresh_database(self, *, migrated: bool = True) -> str:
        """A new empty database (migrated: a copy of the template); returns its URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        template = TEMPLATE if migrated else "template0"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY file_copy")
        return self.url(name)

    def drop(self, url: str) -> None:
        from lib.storage import Database

        Database.postgresql(url).dispose()
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


@contextlib.contextmanager
def running() -> Iterator[Server]:
    """Start a server in a new temporary folder; stop it and remove the folder afterwards."""
    binaries = bin_dir()
    # As root, under /tmp itself: the postgres user must reach the folder (TMPDIR may not let it).
    root = Path(tempfile.mkdtemp(prefix="promptlab-pg-", dir="/tmp" if os.geteuid() == 0 else None))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, log = root / "data", root / "server.log"
    try:
        subprocess.run(_as_owner([str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER,
                                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True, timeout=120, cwd=root)
        # PostgreSQL takes no port 0: a port picked here may be taken before the server binds
        # it, and then the server says so and stops; it starts again on another. (pg_ctl -w
        # waits for this server, so another one on the port cannot pass for it.)
        for attempt in range(5):
            port = free_port()
            log.unlink(missing_ok=True)
            # Test speed over durability: a crash loses nothing a test needs.
            options = (f"-c listen_addresses=127.0.0.1 -c port={port} "
                       f"-c unix_socket_directories={root} -c fsync=off "
                       "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200")
            try:
                subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-l",
                                          str(log), "-o", options, "-w", "-t", "60", "start"]),
                               check=True, capture_output=True, timeout=90, cwd=root)
                break
            except subprocess.CalledProcessError:
                taken = log.exists() and "Address already in use" in log.read_text(
                    errors="replace")
                if not taken or attempt == 4:
                    raise
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        out = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc}\n{out.decode(errors='replace')}"
                           f"\n{detail}") from exc
    server = Server(root, port)
    try:
        server.make_template()
        yield server
    finally:
        subprocess.run(_as_owner([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                  "-w", "stop"]), capture_output=True, timeout=60, cwd=root)
        # -w returns once the server has exited and removed its pid file: nothing writes here.
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """One throwaway server for the whole session (fails, never skips, if it cannot start)."""
    with running() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, data_dir: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The test's database: the SQLite file under its data dir, then a fresh PostgreSQL
    database. Tests hand it to what they call; settings read from the environment (the
    `settings` fixture, a page, a served API) name the same one, as a deployment's would."""
    from lib.core import get_settings, load_settings
    from lib.storage import Database

    if request.param == "sqlite":
        monkeypatch.delenv("PROMPTLAB_DATABASE_URL", raising=False)
        db = Database.sqlite(data_dir / "promptlab.sqlite3")
        url = None
    else:
        server: Server = request.getfixturevalue("postgres_server")
        url = server.fresh_database()
        monkeypatch.setenv("PROMPTLAB_DATABASE_URL", url)
        db = Database.postgresql(url)
    get_settings.cache_clear()
    assert load_settings().db == db
    yield db
    get_settings.cache_clear()
    if url is not None:
        server.drop(url)
