"""PostgreSQL connections in sqlite3's shape, so the app's SQL and calling code run unchanged.

Callers write SQL with `?` placeholders and read rows by index or column name, with
`cursor.lastrowid` after an INSERT, as with sqlite3. Here `?` becomes psycopg's `%s`; an
INSERT into a table with an identity `id` gets `RETURNING id` for lastrowid; SQLite's
`INDEXED BY` planner hint is dropped (PostgreSQL's planner takes no hints). SQL is otherwise
portable at the call sites; sums of integers come back as int (not Decimal) and a Python
bool is stored as 0 / 1, as SQLite does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from typing import Any

_INSERT = re.compile(r"\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_HINT = re.compile(r"\s+INDEXED\s+BY\s+\w+", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """sqlite3's SQL to psycopg's: `?` outside quotes becomes `%s`, a literal `%` is
    doubled (psycopg reads `%` anywhere in a query as a placeholder), INDEXED BY goes."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "-" and sql.startswith("--", i):  # a comment runs to the end of its line
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end].replace("%", "%%").replace("?", ""))
            i = end
            continue
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        elif ch in " \t\n" and (hint := _HINT.match(sql, i)):
            i = hint.end()
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class Row(Sequence[Any]):
    """A result row read by position or by column name, and `dict(row)`, like sqlite3.Row."""

    __slots__ = ("_names", "_values")

    def __init__(self, values: Sequence[Any], names: dict[str, int]) -> None:
        self._values, self._names = tuple(values), names

    def __getitem__(self, key: int | slice | str) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self._values == other._values

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._names, self._values, strict=True))!r})"


def rows(cursor: Any) -> Any:
    """psycopg row factory making Rows."""
    names = {c.name: i for i, c in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Row:
        return Row(values, names)

    return make


@functools.cache
def adapters() -> Any:
    """Types as SQLite gives them: SUM and AVG's numeric as int or float, bool as 0 / 1."""
    import psycopg
    from psycopg.adapt import AdaptersMap, Dumper, Loader

    class NumberLoader(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data)
            try:
                return int(text)
            except ValueError:
                return float(text)

    class BoolAsInt(Dumper):
        oid = psycopg.adapters.types["int8"].oid

        def dump(self, obj: bool) -> bytes:
            return b"1" if obj else b"0"

    amap = AdaptersMap(psycopg.adapters)
    amap.register_loader("numeric", NumberLoader)
    amap.register_dumper(bool, BoolAsInt)
    return amap


@functools.cache
def cursor_class() -> type:
    import psycopg

    class Cursor(psycopg.Cursor):
        """psycopg's cursor with sqlite3's lastrowid."""

        __slots__ = ("lastrowid",)

    return Cursor


class PgConnection:
    """A pooled psycopg connection with sqlite3's execute / executemany shape."""

    dialect = "postgres"

    def __init__(self, raw: Any, identity_tables: frozenset[str]) -> None:
        self.raw, self._identity = raw, identity_tables

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.raw.cursor()
        cur.lastrowid = None
        query = translate(sql)
        insert = _INSERT.match(sql)
        if insert and insert.group(1).lower() in self._identity and not _RETURNING.search(sql):
            cur.execute(query + " RETURNING id", params)
            row = cur.fetchone()
            cur.lastrowid = None if row is None else row[0]
        else:
            cur.execute(query, params)
        return cur

    def executemany(self, sql: str, seq: Any) -> Any:
        cur = self.raw.cursor()
        cur.lastrowid = None
        cur.executemany(translate(sql), list(seq))
        return cur

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE
