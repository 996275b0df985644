"""Stored batch runs: the batches and their items, and each result recorded once into the
ledger (at the batch price) and its compare cell (with the run's checks)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from lib import spend
from lib.compare.checks import run_checks
from lib.compare.expected import similarity_with
from lib.compare.plan import CellPlan, expected_of
from lib.compare.runs import CellResult, Run, load_run, mark_status, run_owner, save_cell
from lib.core import NotFoundError, PromptLabError, Settings, now_iso
from lib.llm import BATCH_OUTCOMES, BatchOutcome, BatchState, ModelInfo, batch_price, counter_for
from lib.llm import validate as validate_reply
from lib.storage import Database

log = logging.getLogger(__name__)

STATUS = {"succeeded": "ok", "errored": "error", "expired": "error", "cancelled": "cancelled"}
Checker = Callable[[str, int], dict[str, bool]]   # (reply, row) -> check results


@dataclass(frozen=True)
class BatchInfo:
    """One provider batch of a compare run, as stored (the columns of `batches`)."""
    id: int
    run_id: int
    provider: str
    model_key: str
    model: ModelInfo                 # the catalog entry when submitted: the price paid
    remote_id: str | None
    status: str                      # submitting, then one of lib.llm's BATCH_STATES
    reservation_id: int | None
    reserved_micro: int              # the forecast at the batch price
    total: int
    succeeded: int
    errored: int
    expired: int
    cancelled: int
    error: str                       # the last failure to submit, poll or finish it
    created_at: str
    updated_at: str
    closed_at: str | None            # set once every item is recorded and the hold released

    @property
    def open(self) -> bool:
        return self.closed_at is None


def _batches(db: Database, where: str, args: tuple = ()) -> list[BatchInfo]:
    columns = ", ".join(f.name for f in fields(BatchInfo))
    with db.connect() as conn:
        rows = conn.execute(f"SELECT {columns} FROM batches WHERE {where} ORDER BY id",
                            args).fetchall()
    return [BatchInfo(**{**dict(r), "model": ModelInfo(**json.loads(r["model"]))}) for r in rows]


def open_batches(settings: Settings) -> list[BatchInfo]:
    """Batches still waiting for results, oldest first."""
    return _batches(settings.db, "closed_at IS NULL")


def run_batches(settings: Settings, run_id: int) -> list[BatchInfo]:
    """A compare run's batches, open or closed."""
    return _batches(settings.db, "run_id = ?", (run_id,))


def get_batch(settings: Settings, batch_id: int) -> BatchInfo:
    found = _batches(settings.db, "id = ?", (batch_id,))
    if not found:
        raise NotFoundError(f"Batch {batch_id} no longer exists.")
    return found[0]


def update_batch(db: Database, batch_id: int, **values: Any) -> None:
    sets = "".join(f"{k} = ?, " for k in values)  # column names from our code, never input
    with db.connect(write=True) as conn:
        conn.execute(f"UPDATE batches SET {sets}updated_at = ? WHERE id = ?",
                     (*values.values(), now_iso(), batch_id))


def state_values(state: BatchState) -> dict[str, Any]:
    """A provider's report as the batch row's columns."""
    return {k: getattr(state, k) for k in ("status", "total", "succeeded", "errored",
                                           "expired", "cancelled", "error")}


def custom_id(cell: CellPlan) -> str:
    return f"r{cell.row}-v{cell.variant}"  # within Anthropic's [a-zA-Z0-9_-]{1,64}


def store_batch(settings: Settings, run_id: int, model: ModelInfo, cells: list[CellPlan],
                hold: int | None) -> int:
    """The batch and its items, stored before anything is sent: a failed submit loses nothing."""
    now = now_iso()
    with settings.db.connect(write=True) as conn:
        batch_id = int(conn.execute(
            "INSERT INTO batches (run_id, provider, model_key, model, status, reservation_id, "
            "reserved_micro, total, created_at, updated_at) VALUES (?, ?, ?, ?, 'submitting', ?, "
            "?, ?, ?, ?)", (run_id, model.provider, model.key, json.dumps(asdict(model)), hold,
                            sum(c.max_cost_micro for c in cells), len(cells), now, now)).lastrowid)
        conn.executemany("INSERT INTO batch_items (batch_id, custom_id, row_index, variant_index)"
                         " VALUES (?, ?, ?, ?)",
                         [(batch_id, custom_id(c), c.row, c.variant) for c in cells])
    for c in cells:  # pending until the batch ends
        save_cell(settings.db, run_id, CellResult(c.row, c.variant, prompt_text=c.text))
    return batch_id


def renew_hold(db: Database, b: BatchInfo) -> None:
    """Keep an open batch's hold current, taking a new one if it was dropped while we slept."""
    if b.reservation_id is None:
        return
    hold = spend.renew(db, b.reservation_id, b.provider, b.reserved_micro,
                       user=run_owner(db, b.run_id))
    if hold != b.reservation_id:
        with db.connect(write=True) as conn:
            conn.execute("UPDATE batches SET reservation_id = ? WHERE id = ?", (hold, b.id))


def finish_batch(settings: Settings, b: BatchInfo, state: BatchState,
                 outcomes: dict[str, BatchOutcome]) -> None:
    """Record every item not yet recorded, then close the batch and release its hold."""
    update_batch(settings.db, b.id, **state_values(state))
    run = load_run(settings.db, b.run_id)
    with settings.db.connect() as conn:
        items = conn.execute("SELECT custom_id, row_index, variant_index, status FROM batch_items"
                             " WHERE batch_id = ? AND status IN ('pending', 'recording')",
                             (b.id,)).fetchall()
    # Items without a result: unfinished when the batch was cancelled, expired or failed.
    missing = {"cancelled": "cancelled", "expired": "expired"}.get(state.status, "errored")
    check = _checker(settings, run, b.model)
    for cid, row, variant, status in items:
        outcome = outcomes.get(cid) or BatchOutcome(cid, missing, error=(
            state.error or "The provider returned no result for this request.")
            if missing == "errored" else "")
        if status == "pending":
            with settings.db.connect(write=True) as conn:  # claim it: one recorder only
                if not conn.execute("UPDATE batch_items SET status = 'recording' WHERE batch_id "
                                    "= ? AND custom_id = ? AND status = 'pending'",
                                    (b.id, cid)).rowcount:
                    continue
        # A 'recording' item left by a crash may have its ledger row: never write a second.
        # A batch the provider never accepted cost nothing and gets no ledger rows.
        _record(settings, b, run, outcome, row, variant, check,
                ledger=status == "pending" and b.remote_id is not None)
    _close(settings.db, b)


def _checker(settings: Settings, run: Run, model: ModelInfo) -> Checker:
    """The run's checks on a reply, exactly as the engine runs them on a streamed cell."""
    if not run.checks:
        return lambda text, row: {}
    count = counter_for(model, settings).count
    similar = similarity_with(settings) if any(c.kind == "semantic" for c in run.checks) else None
    return lambda text, row: run_checks(run.checks, text, count, {"steps": 1},
                                        expected_of(run.rows[row]), similar)


def _record(settings: Settings, b: BatchInfo, run: Run, o: BatchOutcome, row: int,
            variant: int, check: Checker, *, ledger: bool) -> None:
    """One result into the ledger at the batch price, its cell and its item."""
    v, u, price, status = run.variants[variant], o.usage, batch_price(b.model), STATUS[o.status]
    old = run.cells.get((row, variant))
    cost = price.cost_micro(u.input_tokens, u.output_tokens, u.cache_read_tokens,
                            u.cache_write_tokens)
    error = o.error or ("The batch expired before this request ran." if o.status == "expired"
                        else "")
    schema = v.get("schema")
    valid = validate_reply(o.text, schema) if schema and status == "ok" else None
    # The ledger's time for a batch result is the wait from submission to reconciling it.
    waited_ms = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(b.created_at)
                 ).total_seconds() * 1000
    call_id = old.call_id if old else None
    if ledger:
        call_id = spend.record(settings.db, spend.CallRecord(
            ts=now_iso(), page="compare", provider=b.provider, model=b.model.id, attempts=1,
            status=status, total_ms=waited_ms, prompt_name=v["prompt"],
            prompt_version=v["version"], input_tokens=u.input_tokens,
            output_tokens=u.output_tokens, cache_read_tokens=u.cache_read_tokens,
            cache_write_tokens=u.cache_write_tokens, cost_micro=cost, priced=b.model.priced,
            cache_savings_micro=round(u.cache_read_tokens
                                      * max(0.0, price.input - price.cache_read)),
            error_kind=o.status if status == "error" else None, error_message=error or None,
            structured=valid.status if valid else None, user_id=run.owner))
    cell = CellResult(row, variant, o.text, status, u.input_tokens, u.output_tokens, cost,
                      None, waited_ms, call_id, error, prompt_text=old.prompt_text if old else "",
                      structured=valid.status if valid else "", priced=b.model.priced,
                      trace={"reasoning_tokens": u.reasoning_tokens} if u.reasoning_tokens
                      else {})
    if valid is not None and not valid.ok:
        cell.error = "The reply does not match its schema: " + "; ".join(valid.errors)
    if status == "ok":
        try:
            cell.checks = check(o.text, row)
        except PromptLabError as exc:  # e.g. no embedder: the result itself still stands
            cell.error = f"The checks could not run: {exc}"
    save_cell(settings.db, b.run_id, cell)
    with settings.db.connect(write=True) as conn:
        conn.execute("UPDATE batch_items SET status = ?, call_id = ? WHERE batch_id = ? AND "
                     "custom_id = ?", (o.status, call_id, b.id, o.custom_id))


def _close(db: Database, b: BatchInfo) -> None:
    """Close the batch and drop its hold at once; the run is over when all its batches are."""
    counts = ", ".join(f"{s} = (SELECT COUNT(*) FROM batch_items i WHERE i.batch_id = "
                       f"batches.id AND i.status = '{s}')" for s in BATCH_OUTCOMES)
    if b.reservation_id is not None:  # a crash before the close below renews it, then closes
        spend.release(db, [(b.reservation_id, b.provider, b.reserved_micro)])
    now = now_iso()
    with db.connect(write=True) as conn:
        conn.execute(f"UPDATE batches SET {counts}, closed_at = ?, updated_at = ? WHERE id = ?",
                     (now, now, b.id))
        if not conn.execute("SELECT 1 FROM batches WHERE run_id = ? AND closed_at IS NULL",
                            (b.run_id,)).fetchone():
            cancelled = conn.execute("SELECT 1 FROM batches WHERE run_id = ? AND status = "
                                     "'cancelled'", (b.run_id,)).fetchone()
            mark_status(conn, b.run_id, "cancelled" if cancelled else "done")
    log.info("batch %d: closed", b.id)
