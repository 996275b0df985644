"""Storage: the one database (SQLite under data/, or PostgreSQL at PROMPTLAB_DATABASE_URL)
behind one interface, its connections, named migrations, and a background writer for writes
that need not hold up the caller."""

from lib.storage.connection import connect, database, dispose, migrate
from lib.storage.ddl import pg_body
from lib.storage.deferred import defer
from lib.storage.migrations import MIGRATIONS, migrations_in

__all__ = ["MIGRATIONS", "connect", "database", "defer", "dispose", "migrate", "migrations_in",
           "pg_body"]
