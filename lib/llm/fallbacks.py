"""Fallback chains: when a model cannot answer, the next model of its chain is asked, but
only before any output began (text or a tool call), so a reply is never two models' halves
and a tool call never turns into prose. A model is passed over when its provider is not
available, when the request cannot fit its window, or when its budget is spent; it is left
when its call fails before output (the retry loop gave up, or its breaker is open)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from lib.core import BudgetExceededError, ContextOverflowError, ProviderError
from lib.llm.call import Call
from lib.llm.modelinfo import ModelInfo
from lib.llm.protocol import Error, Event, ToolCall, Usage
from lib.llm.structured import Validation
from lib.llm.terms import CallContext
from lib.spend import CallRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fallback:
    """The chain moves on: `failed` could not answer, for `reason`; `next` is asked now."""

    failed: str                  # model labels
    next: str
    reason: str


@dataclass(frozen=True)
class Skipped:
    model: str                   # model key
    label: str
    reason: str


def why(error: ProviderError) -> str:
    """A short reason for the reply's note: the provider's own words, first sentence."""
    if error.kind == "circuit_open":
        return "its circuit breaker is open"
    if error.kind == "unavailable":
        return "it is not available here"
    first = error.message.split(". ")[0].rstrip(".")
    return f"{first} ({error.kind.replace('_', ' ')})"


class Fallbacks:
    """A Response (lib.llm.seam) over a chain: the first model's events, then a Fallback event
    and the next model's while a model fails before output. `attempt(model, context)` builds
    a model's call and may raise ContextOverflowError or ProviderError to pass it over.
    Afterwards `last` is the call that answered (or failed last); `skipped` says why each
    earlier model did not answer."""

    def __init__(self, models: Sequence[ModelInfo],
                 attempt: Callable[[ModelInfo, CallContext], Call],
                 context: CallContext, cancel: threading.Event) -> None:
        self.models = list(models)
        self._attempt = attempt
        self._context = context
        self.cancel = cancel
        self._next = 0
        self.calls: list[Call] = []
        self.skipped: list[Skipped] = []
        self._pending: Call | None = None

    # -- the outcome: the call that answered (or failed last) -----------------------------
    @property
    def last(self) -> Call:
        return self.calls[-1] if self.calls else self._first()

    @property
    def model(self) -> ModelInfo:
        return self.last.model

    @property
    def text(self) -> str:
        return self.last.text

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.last.tool_calls

    @property
    def usage(self) -> Usage | None:
        return self.last.usage

    @property
    def record(self) -> CallRecord | None:
        return self.last.record

    @property
    def records(self) -> list[CallRecord]:
        """The answering call's row (the failed models' rows stay in the ledger, and in
        `calls`, but are not this reply's)."""
        return self.last.records if self.calls else []

    @property
    def validation(self) -> Validation | None:
        return self.last.validation

    @property
    def error(self) -> ProviderError | None:
        return self.last.error

    @property
    def cache_status(self) -> str | None:
        return self.last.cache_status

    @property
    def passed_over(self) -> list[Skipped]:
        """Why each model before the one that answered did not."""
        return list(self.skipped)

    def bind(self, conversation_id: int) -> None:
        self._context = replace(self._context, conversation_id=conversation_id)
        for call in (*self.calls, *([self._pending] if self._pending else [])):
            call.bind(conversation_id)

    def reserve(self) -> None:
        """Reserve the first usable model now; raises BudgetExceededError, or the reason the
        first model cannot be used when no model of the chain can."""
        self._first()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.close()

    # -- the chain -----------------------------------------------------------------------
    def _first(self) -> Call:
        if self._pending is None and not self.calls:
            self._pending = self._build(None, budget_refusals=False)
        if self._pending is None:
            raise self._nothing_left()
        return self._pending

    def _build(self, failed: CallRecord | None, *, budget_refusals: bool = True) -> Call | None:
        """The next model that can take the request, noting why others were passed over."""
        while self._next < len(self.models):
            model = self.models[self._next]
            self._next += 1
            note = "; ".join(f"{s.label}: {s.reason}" for s in self.skipped) or None
            context = replace(self._context, fallback_of=failed.id if failed else None,
                              route=f"fallback after {note}" if note else self._context.route)
            try:
                call = self._attempt(model, context)
                call.reserve()
                return call
            except (ContextOverflowError, ProviderError) as exc:
                self._skip(model, why(exc) if isinstance(exc, ProviderError) else
                           "the request does not fit its context window")
            except BudgetExceededError as exc:
                if not budget_refusals and not self.skipped:
                    raise  # the chosen model's budget refuses: say so, store nothing
                self._skip(model, f"its budget refuses the call ({exc.message})")
        return None

    def _skip(self, model: ModelInfo, reason: str) -> None:
        log.info("fallback: passing over %s: %s", model.key, reason)
        self.skipped.append(Skipped(model.key, model.label, reason))

    def _nothing_left(self) -> ProviderError:
        tried = "; ".join(f"{s.label}: {s.reason}" for s in self.skipped)
        return ProviderError("unavailable", f"No model of the chain could answer ({tried}).",
                             hint="Check the providers on Home, or pick other fallbacks.")

    def __iter__(self) -> Iterator[Event | Fallback]:
        call = self._first()
        self._pending = None
        while True:
            self.calls.append(call)
            failure: Error | None = None
            for event in call:
                if isinstance(event, Error) and not event.partial:
                    failure = event  # held back: another model may still answer
                    continue
                yield event
            if failure is None or self.cancel.is_set():
                if failure is not None:
                    yield failure
                return
            self._skip(call.model, why(failure.error))
            nxt = self._build(call.record)
            if nxt is None:
                yield failure
                return
            yield Fallback(call.model.label, nxt.model.label, self.skipped[-1].reason)
            call = nxt
