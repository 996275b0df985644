"""The named, append-only migrations of the one database: one module per migration.

Never edit or reorder a migration that has shipped; add a new one at the end. A database
records the names of the migrations applied to it (schema_migrations), so a name, once
shipped, is history.

Adding one is one new file, `mNNNN_what.py` with the next number, holding:
- NAME, the file's name without its `m` ("NNNN_what"): what the database records;
- STEP, SQL in SQLite's dialect (run on PostgreSQL with its types mapped: lib/storage/ddl.py),
  or a function given the connection inside the migration's transaction (run on both);
- POSTGRES_TRIGGERS, only if STEP creates a SQLite trigger: the same trigger as a plpgsql
  function, run on PostgreSQL in place of SQLite's.

The modules are found by their file names and applied in the order of their numbers, which
must run 0001, 0002, ... with no gap or repeat: a migration cannot be slipped in between two
that have shipped, and a name cannot change without its file's changing too.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from typing import Any

from lib.core import StorageError

Step = str | Callable[[Any], None]

_MODULE = re.compile(r"m(\d{4})_[a-z0-9_]+")


def migrations_in(package: str) -> tuple[tuple[tuple[str, Step], ...], dict[str, str]]:
    """(name, step) of every migration module in `package`, in order, and the PostgreSQL
    triggers by migration name; StorageError if the files break the rules above."""
    stems = sorted(m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__))
    migrations: list[tuple[str, Step]] = []
    triggers: dict[str, str] = {}
    for number, stem in enumerate(stems, 1):
        match = _MODULE.fullmatch(stem)
        if match is None or int(match[1]) != number:
            raise StorageError(f"{package}.{stem}: expected migration {number:04d} next "
                               "(files mNNNN_what.py, numbered from 0001 with no gap).")
        module = importlib.import_module(f"{package}.{stem}")
        if stem[1:] != module.NAME:
            raise StorageError(f"{package}.{stem} names itself {module.NAME!r}, "
                               f"not {stem[1:]!r}.")
        migrations.append((module.NAME, module.STEP))
        if hasattr(module, "POSTGRES_TRIGGERS"):
            triggers[module.NAME] = module.POSTGRES_TRIGGERS
    return tuple(migrations), triggers


MIGRATIONS, POSTGRES_TRIGGERS = migrations_in(__name__)
