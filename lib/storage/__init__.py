"""Storage: a database handle (`Database`: a SQLite file under data/, or PostgreSQL) behind one
interface, its connections, named migrations, and a background writer for writes that need not
hold up the caller.

The convention, everywhere: a function that only reads or writes tables takes `db: Database`
as its first parameter (the modules that own tables: spend/ledger, budgets, costs;
chat/conversations, summaries, runs; compare/runs, datasets, batch_records; knowledge/registry;
api/keys; users; ...). A service that also needs other settings (paths, keys, limits) takes
`settings: Settings` and uses `settings.db`. Nothing reads global settings to decide where to
connect: the handle is passed from the caller that has the settings.
"""

from lib.storage.database import Database
from lib.storage.ddl import pg_body
from lib.storage.deferred import defer
from lib.storage.migrations import MIGRATIONS, migrations_in

__all__ = ["MIGRATIONS", "Database", "defer", "migrations_in", "pg_body"]
