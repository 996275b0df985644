"""Storage: the one database (SQLite under data/, or PostgreSQL at PROMPTLAB_DATABASE_URL)
behind one interface, its connections, named migrations, and a background writer for writes
that need not hold up the caller."""

from lib.storage.connection import connect, database, dispose, migrate
from lib.storage.deferred import defer
from lib.storage.migrations import MIGRATIONS
from lib.storage.migrations_pg import pg_body

__all__ = ["MIGRATIONS", "connect", "database", "defer", "dispose", "migrate", "pg_body"]
