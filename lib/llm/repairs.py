"""A structured call with its repairs: when a reply fails its schema, the errors go back to the
model, at most `repairs` times. Each attempt is its own call and ledger row; a repair's row
names the row it repairs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from lib.core import BudgetExceededError, ProviderError
from lib.llm.call import Call
from lib.llm.fallbacks import Fallback, Fallbacks, Skipped
from lib.llm.modelinfo import ModelInfo
from lib.llm.protocol import Event, ToolCall, Usage
from lib.llm.structured import Repair, Validation, repair_request
from lib.spend import CallRecord

log = logging.getLogger(__name__)


class Repairing:
    """A Response (lib.llm.seam): the first response's events, then a Repair event and the
    next attempt's events while the reply is invalid and repairs remain (each repair asks the
    model that answered). Afterwards `text`, `record` and `validation` describe the last
    attempt; `records` holds every attempt's row."""

    def __init__(self, first: Call | Fallbacks, repairs: int) -> None:
        self.first = first
        self.repairs_made: list[Call] = []
        self.repairs = max(0, min(2, repairs))
        self.skipped = ""          # why a repair that was due was not made
        self.cancel = first.cancel  # the Stop button's event, shared by every attempt

    @property
    def last(self) -> Call:
        return self.repairs_made[-1] if self.repairs_made else self.first.last

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
        """The rows of the attempts that make the reply: each one is paid for."""
        return [*self.first.records, *(c.record for c in self.repairs_made if c.record)]

    @property
    def passed_over(self) -> list[Skipped]:
        return self.first.passed_over

    @property
    def validation(self) -> Validation | None:
        return self.last.validation

    @property
    def error(self) -> ProviderError | None:
        return self.last.error

    @property
    def cache_status(self) -> str | None:
        return self.first.cache_status  # the first reply's: a repair is always sent

    def reserve(self) -> None:
        self.first.reserve()

    def bind(self, conversation_id: int) -> None:
        self.first.bind(conversation_id)
        for call in self.repairs_made:
            call.bind(conversation_id)

    def close(self) -> None:
        self.first.close()

    def __iter__(self) -> Iterator[Event | Fallback | Repair]:
        yield from self.first
        call = self.first.last
        while (v := call.validation) is not None and not v.ok \
                and len(self.repairs_made) < self.repairs and not self.cancel.is_set():
            failed = self.first.last.record
            context = replace(call.context, repair_of=failed.id if failed else None)
            nxt = call.again(repair_request(call.request, call.text, v.errors), context)
            try:
                nxt.reserve()
            except BudgetExceededError as exc:
                self.skipped = f"No repair: {exc}"
                log.info("repair of call %s skipped: %s", failed.id if failed else "-", exc)
                return
            self.repairs_made.append(nxt)
            yield Repair(len(self.repairs_made), v.errors)
            call = nxt
            yield from call
