"""Batch runs of a compare dataset at the providers' half price: forecast, hold the budget,
submit one batch per model, poll in a background thread (so a run survives page reloads and
app restarts), reconcile results by custom id, cancel on request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from lib import spend
from lib.compare.batch_records import (
    custom_id,
    finish_batch,
    get_batch,
    open_batches,
    renew_hold,
    state_values,
    store_batch,
    update_batch,
)
from lib.compare.checks import EXPECTS, Check
from lib.compare.plan import CellPlan, Forecast
from lib.compare.runs import CellResult, run_owner, save_cell, set_status
from lib.compare.variants import LETTERS, AnyVariant, ResolvedVariant, request_for
from lib.core import (
    BatchError,
    BudgetExceededError,
    CompareError,
    PromptLabError,
    Settings,
    ago_iso,
)
from lib.llm import (
    BatchClient,
    BatchState,
    ModelInfo,
    batch_client,
    batch_price,
    batch_providers,
    price_unknown,
    provider_label,
    user_catalog_path,
)
from lib.storage import Database

log = logging.getLogger(__name__)

ClientFor = Callable[[str], BatchClient]   # a provider's name -> its batch API
SUBMIT_GRACE_S = 900.0   # a batch still unsubmitted after this was cut off by a stop or crash
POLL_EVERY_S = 30.0
_polling = threading.RLock()   # one poll or cancel at a time in this process


def batch_forecast(resolved: list[AnyVariant], plan: Forecast) -> Forecast:
    """The forecast at the batch price: each runnable cell's worst case, discounted (a
    workflow's cells cannot be batched: their own price)."""
    out = []
    for c in plan.cells:
        r = resolved[c.variant]
        if c.error or c.over_window or not isinstance(r, ResolvedVariant):
            out.append(c)
            continue
        cost = batch_price(r.model).cost_micro(c.input_tokens,
                                               request_for(r, c.text).max_tokens)
        out.append(replace(c, max_cost_micro=cost, costs={r.model.provider: cost}))
    return Forecast(out, plan.n_rows, plan.n_variants)


def prompt_variants(resolved: list[AnyVariant]) -> list[ResolvedVariant]:
    """The variants, refused if any is a workflow: a batch sends single requests."""
    out = []
    for i, r in enumerate(resolved):
        if not isinstance(r, ResolvedVariant):
            raise BatchError(f"Variant {LETTERS[i]} is a workflow, whose steps need each "
                             "other's answers: it cannot run as a batch.")
        out.append(r)
    return out


def _client(settings: Settings, client_for: ClientFor | None, provider: str) -> BatchClient:
    return (client_for or (lambda p: batch_client(p, settings)))(provider)


def batchable(resolved: list[AnyVariant]) -> None:
    """Refuse variants a batch cannot run: workflows, tool runs, models without a batch API."""
    for i, r in enumerate(prompt_variants(resolved)):
        if r.variant.tools:
            raise CompareError(f"Variant {LETTERS[i]} uses tools, whose results the model needs "
                               "between steps: it cannot run as a batch.")
        if r.model.provider not in batch_providers():
            names = " and ".join(provider_label(p) for p in batch_providers())
            raise BatchError(f"{r.model.label} ({r.model.key}) cannot run as a batch: only "
                             f"{names} models can.")


def submit_batch(settings: Settings, run_id: int, variants: list[AnyVariant],
                 plan: Forecast, checks: list[Check],
                 client_for: ClientFor | None = None) -> list[int]:
    """Submit a run's cells at half price, one batch per model; returns the batches' ids."""
    batchable(variants)
    resolved = prompt_variants(variants)
    for c in checks:
        c.validate()
    if any(c.kind in EXPECTS for c in checks) and all(c.expected is None for c in plan.cells):
        raise CompareError("Checks against the expected answer need an 'expected' column in "
                           "the dataset.")
    priced = batch_forecast(variants, plan)
    groups: dict[str, tuple[ModelInfo, list[CellPlan]]] = {}
    for cell in sorted(priced.cells, key=lambda c: (c.row, c.variant)):
        if not (cell.error or cell.over_window):
            model = resolved[cell.variant].model
            groups.setdefault(model.key, (model, []))[1].append(cell)
    # A missing key fails here, before any budget is held or anything stored.
    clients = {m.provider: _client(settings, client_for, m.provider) for m, _ in groups.values()}
    owner = run_owner(settings.db, run_id)  # the run's calls are its owner's
    if refusal := spend.refusal(settings.db, priced.cost_by_provider(), user=owner):
        raise BudgetExceededError(refusal, hint="Raise the budget on the Costs page, lower max "
                                  "tokens, or run fewer rows.")
    holds = _hold(settings.db, groups, owner, str(user_catalog_path(settings)))
    for cell in priced.problems:  # as the engine does: shown, never sent
        save_cell(settings.db, run_id, CellResult(
            cell.row, cell.variant, status="skipped", prompt_text=cell.text,
            error=cell.error or "The input does not fit the model's window."))
    set_status(settings.db, run_id, "batch" if groups else "done")
    ids, failure = [], None
    for key, (model, cells) in groups.items():
        batch_id = store_batch(settings, run_id, model, cells, holds[key])
        ids.append(batch_id)
        try:
            remote_id = clients[model.provider].submit(
                [(custom_id(c), request_for(resolved[c.variant], c.text)) for c in cells])
        except PromptLabError as exc:  # the other models' batches still go
            log.warning("batch %d (%s): submission failed: %s", batch_id, key, exc)
            failure = failure or exc
            finish_batch(settings, get_batch(settings, batch_id),
                         BatchState("failed", len(cells), error=str(exc)), {})
            continue
        update_batch(settings.db, batch_id, remote_id=remote_id, status="in_progress")
        log.info("batch %d (%s): %d requests submitted as %s", batch_id, key, len(cells),
                 remote_id)
    if failure is not None:
        raise failure
    return ids


def _hold(db: Database, groups: dict[str, tuple[ModelInfo, list[CellPlan]]],
          user: str | None = None, price_file: str = "<data dir>/models.toml"
          ) -> dict[str, int | None]:
    """Reserve each batch's worst case; if one is refused, drop the holds already taken."""
    holds: dict[str, int | None] = {}
    taken: list[tuple[int, str, int]] = []
    try:
        for key, (model, cells) in groups.items():
            amount = sum(c.max_cost_micro for c in cells)
            applies = spend.applies(db, model.provider, user=user)
            if applies and not model.priced:
                raise price_unknown(model, price_file, "its batch")
            holds[key] = hold = spend.reserve(db, model.provider, amount,
                                              user=user) if applies else None
            if hold is not None:
                taken.append((hold, model.provider, amount))
    except BudgetExceededError:
        spend.release(db, taken)
        raise
    return holds


def poll_batch(settings: Settings, batch_id: int, client_for: ClientFor | None = None) -> str:
    """Poll a batch once, recording every result once it has ended; returns its status."""
    with _polling:
        b = get_batch(settings, batch_id)
        if not b.open:  # a closed batch is never asked about again
            return b.status
        if b.remote_id is None:
            if b.created_at < ago_iso(SUBMIT_GRACE_S):
                finish_batch(settings, b, BatchState("failed", b.total, error="The app stopped "
                                                     "while submitting this batch."), {})
                return "failed"
            return b.status
        client = _client(settings, client_for, b.provider)
        state = client.state(b.remote_id)
        if not state.final:
            update_batch(settings.db, b.id, **state_values(state))
            renew_hold(settings.db, b)
            return state.status
        finish_batch(settings, b, state, {o.custom_id: o for o in client.results(b.remote_id)})
        return state.status


def cancel_batch(settings: Settings, batch_id: int, client_for: ClientFor | None = None) -> str:
    """Ask the provider to stop a batch; its results are recorded when it ends (see poll)."""
    with _polling:
        b = get_batch(settings, batch_id)
        if not b.open or b.status in ("cancelling", "cancelled"):
            return b.status
        if b.remote_id is None:
            raise BatchError("This batch is still being submitted; cancel it in a moment.")
        state = _client(settings, client_for, b.provider).cancel(b.remote_id)
        update_batch(settings.db, b.id, **state_values(state))
        log.info("batch %d: cancel requested, now %s", b.id, state.status)
        return poll_batch(settings, batch_id, client_for) if state.final else state.status


def poll_open(settings: Settings, client_for: ClientFor | None = None) -> dict[int, str]:
    """Poll every open batch once; a batch that fails keeps the error, the rest go on."""
    out = {}
    for b in open_batches(settings):
        try:
            out[b.id] = poll_batch(settings, b.id, client_for)
        except PromptLabError as exc:
            log.warning("batch %d: poll failed: %s", b.id, exc)
            update_batch(settings.db, b.id, error=str(exc))
            out[b.id] = b.status
    return out


_pollers: dict[Database, tuple[threading.Event, threading.Thread]] = {}
_pollers_guard = threading.Lock()


def resume_batches(settings: Settings, *, every_s: float = POLL_EVERY_S,
                   client_for: ClientFor | None = None) -> threading.Event:
    """Start this process's poller for the database once; set the returned event to stop it."""
    key = settings.db
    with _pollers_guard:
        if key in _pollers and not _pollers[key][0].is_set():
            return _pollers[key][0]
        stop = threading.Event()
        thread = threading.Thread(target=_poll_forever, args=(settings, every_s, client_for, stop),
                                  name="batch-poller", daemon=True)
        _pollers[key] = (stop, thread)
    thread.start()
    return stop


def stop_pollers(timeout_s: float = 10.0) -> None:
    """Stop every poller this process started and wait for each to finish its round.

    A poller outliving its database (a test's, dropped at teardown) would log a failed round
    every `every_s` for the rest of the process."""
    with _pollers_guard:
        running = list(_pollers.values())
        _pollers.clear()
    for stop, _ in running:
        stop.set()
    for _, thread in running:
        thread.join(timeout_s)


def _poll_forever(settings: Settings, every_s: float, client_for: ClientFor | None,
                  stop: threading.Event) -> None:
    """Poll every open batch now (catching up after a restart), then every `every_s` s."""
    while not stop.is_set():
        try:
            poll_open(settings, client_for)
        except Exception:  # the poller must outlive one bad round (a locked database, a bug)
            log.exception("batch poller: a round failed")
        stop.wait(every_s)
