"""Datasets: a CSV whose columns are prompt variables, saved for reuse."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from lib.core import DatasetError, NotFoundError, now_iso
from lib.storage import Database

MAX_ROWS = 1000
MAX_COLUMNS = 50


@dataclass(frozen=True)
class Dataset:
    id: int | None
    name: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]


def parse_csv(data: bytes, name: str) -> Dataset:
    """A CSV upload as a dataset; any problem is a plain error and nothing is stored."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DatasetError(f"{name} is not UTF-8 text.",
                             hint="Save the CSV as UTF-8 and upload it again.") from None
    if "\x00" in text:
        raise DatasetError(f"{name} looks like a binary file, not a CSV.")
    try:
        reader = csv.DictReader(io.StringIO(text))
        columns = tuple(c.strip() for c in (reader.fieldnames or ()))
        rows = []
        for i, row in enumerate(reader):
            if i >= MAX_ROWS:
                raise DatasetError(f"{name} has more than {MAX_ROWS} rows.")
            if None in row:
                raise DatasetError(f"Row {i + 2} of {name} has more cells than the header.")
            rows.append({c.strip(): (v or "") for c, v in row.items()})
    except csv.Error as exc:
        raise DatasetError(f"{name} is not a valid CSV: {exc}") from None
    if not columns or any(not c for c in columns):
        raise DatasetError(f"{name} needs a header row naming every column.")
    if len(set(columns)) != len(columns):
        raise DatasetError(f"{name} has duplicate column names.")
    if len(columns) > MAX_COLUMNS:
        raise DatasetError(f"{name} has more than {MAX_COLUMNS} columns.")
    if not rows:
        raise DatasetError(f"{name} has a header but no rows.")
    return Dataset(None, name, columns, tuple(rows))


def save_dataset(db: Database, dataset: Dataset) -> int:
    with db.connect(write=True) as conn:
        cur = conn.execute("INSERT INTO datasets (name, columns, rows, created_at) "
                           "VALUES (?, ?, ?, ?)",
                           (dataset.name, json.dumps(dataset.columns), json.dumps(dataset.rows),
                            now_iso()))
    return int(cur.lastrowid)


def load_dataset(db: Database, dataset_id: int) -> Dataset:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"Dataset {dataset_id} no longer exists.")
    return Dataset(row["id"], row["name"], tuple(json.loads(row["columns"])),
                   tuple(json.loads(row["rows"])))


def list_datasets(db: Database) -> list[tuple[int, str, int]]:
    """(id, name, row count), newest first."""
    with db.connect() as conn:
        return [(r[0], r[1], r[2]) for r in conn.execute(
            "SELECT id, name, json_array_length(rows) FROM datasets ORDER BY id DESC")]
