"""A structured call with its repairs: when a reply fails its schema, the errors go back to the
model, at most `repairs` times. Each attempt is its own call and ledger row; a repair's row
names the row it repairs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

from lib.core import BudgetExceededError
from lib.llm.call import Call, CallContext
from lib.llm.protocol import Event
from lib.llm.structured import Repair, Validation, repair_request
from lib.spend import CallRecord

log = logging.getLogger(__name__)


class Repairing:
    """Iterates like a Call: the first call's events, then a Repair event and the next
    attempt's events while the reply is invalid and repairs remain. Afterwards `text`,
    `record` and `validation` describe the last attempt; `calls` holds every attempt."""

    def __init__(self, first: Call, repairs: int) -> None:
        self.calls = [first]
        self.repairs = max(0, min(2, repairs))
        self.skipped = ""          # why a repair that was due was not made

    @property
    def first(self) -> Call:
        return self.calls[0]

    @property
    def last(self) -> Call:
        return self.calls[-1]

    @property
    def context(self) -> CallContext:
        return self.first.context

    @context.setter
    def context(self, value: CallContext) -> None:
        self.first.context = value

    @property
    def cancel(self):  # the Stop button's event, shared by every attempt
        return self.first.cancel

    def reserve(self) -> None:
        self.first.reserve()

    @property
    def text(self) -> str:
        return self.last.text

    @property
    def record(self) -> CallRecord | None:
        return self.last.record

    @property
    def records(self) -> list[CallRecord]:
        """Every attempt's ledger row: each one is paid for."""
        return [c.record for c in self.calls if c.record is not None]

    @property
    def validation(self) -> Validation | None:
        return self.last.validation

    @property
    def tool_calls(self):
        return self.last.tool_calls

    @property
    def error(self):
        return self.last.error

    def __iter__(self) -> Iterator[Event | Repair]:
        call = self.first
        yield from call
        while (v := call.validation) is not None and not v.ok \
                and len(self.calls) <= self.repairs and not call.cancel.is_set():
            context = replace(self.first.context, repair_of=self.first.record.id)
            nxt = call.again(repair_request(call.request, call.text, v.errors), context)
            try:
                nxt.reserve()
            except BudgetExceededError as exc:
                self.skipped = f"No repair: {exc}"
                log.info("repair of call %s skipped: %s", self.first.record.id, exc)
                return
            self.calls.append(nxt)
            yield Repair(len(self.calls) - 1, v.errors)
            call = nxt
            yield from call
