"""Migrations from 0014 on, appended to `migrations.MIGRATIONS` (that module was full).

The same rules: never edit or reorder one that has shipped; add new ones at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

LATE: list[tuple[str, str | Callable[[sqlite3.Connection], None]]] = [
    # Resilience and routing: a fallback's row names the row whose model failed before it;
    # `route` says why this model was used (a router rule, or why a fallback was needed);
    # `baseline_micro` is what the same tokens would have cost on the router's top model.
    ("0014_fallbacks_and_routes", """
        ALTER TABLE calls ADD COLUMN fallback_of INTEGER;
        ALTER TABLE calls ADD COLUMN route TEXT;
        ALTER TABLE calls ADD COLUMN baseline_micro INTEGER;
        CREATE INDEX calls_routed ON calls (ts) WHERE baseline_micro IS NOT NULL;
    """),
]
