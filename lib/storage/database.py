"""A database handle: which kind of database, where it is, and its connections.

Callers name the database they mean by passing a handle, never a bare path: the handle says
whether it is a SQLite file or a PostgreSQL database, so two handles in one process reach two
databases. `Settings.db` is the handle the settings name.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lib.core import ConfigError
from lib.storage import connection, postgres

URL_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, repr=False)
class Database:
    """A SQLite file or a PostgreSQL database; built by `Database.sqlite` / `.postgresql`."""

    kind: Literal["sqlite", "postgresql"]
    # The SQLite file (a Path), or the PostgreSQL URL (a str), which may hold a password: it is
    # kept out of repr, and `name` is what a message or log line may show.
    location: Path | str

    @classmethod
    def sqlite(cls, path: Path | str) -> Database:
        return cls("sqlite", Path(path))

    @classmethod
    def postgresql(cls, url: str) -> Database:
        if not url.startswith(URL_SCHEMES):
            raise ConfigError("A PostgreSQL database URL starts with postgresql://.")
        return cls("postgresql", url)

    @property
    def name(self) -> str:
        """Where it is, fit for a message or a log: the file, or the URL without its password."""
        if self.kind == "sqlite":
            return str(self.location)
        return postgres.redact(str(self.location))

    def __repr__(self) -> str:
        return f"Database.{self.kind}({self.name!r})"

    def connect(self, *, write: bool = False) -> AbstractContextManager[Any]:
        """This thread's connection to the migrated database; write=True: one transaction that
        holds the write lock from its start. Errors become StorageError (ConflictError for a
        broken uniqueness rule)."""
        return connection.connect(self.location, write=write)

    def migrate(self, *, until: str | None = None) -> list[str]:
        """Apply the migrations not yet applied, in order (up to and including `until`: how
        tests build an older database); return their names."""
        return connection.migrate(self.location, until=until)

    def dispose(self) -> None:
        """Close pooled connections (PostgreSQL) and forget the database was migrated, e.g.
        before dropping it."""
        connection.dispose(self.location)
