"""Storage: the one SQLite database (WAL), its per-thread connections, named migrations, and
a background writer for writes that need not hold up the caller."""

from lib.storage.connection import connect, migrate
from lib.storage.deferred import defer
from lib.storage.migrations import MIGRATIONS

__all__ = ["MIGRATIONS", "connect", "defer", "migrate"]
