"""Storage: the one SQLite database (WAL), its per-thread connections and named migrations."""

from lib.storage.connection import connect, migrate
from lib.storage.migrations import MIGRATIONS

__all__ = [
    "MIGRATIONS", "connect", "migrate",
]
