"""An agent run's trace: its steps from the ledger, each with the thinking, text and tool calls
the reply that holds the run stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lib import spend
from lib.chat.thoughts import step_parts
from lib.storage import Database


@dataclass(frozen=True)
class StepTrace:
    call: spend.CallRecord
    text: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)
    stored: dict[str, Any] = field(default_factory=dict)  # the step as the reply keeps it

    def parts(self) -> Iterator[tuple[str, Any]]:
        """Its thinking, text and tool calls in the order the model wrote them."""
        return step_parts({**self.stored, "text": self.text, "calls": self.calls},
                          answer=True)


@dataclass(frozen=True)
class RunTrace:
    run_id: str
    steps: list[StepTrace]
    conversation_id: int | None
    end: str                       # answered, paused, cost_limit, stopped, error, refused

    @property
    def tool_calls(self) -> int:
        return sum(len(s.calls) for s in self.steps)


def run_trace(db: Database, run_id: str, *, user: str | None = None) -> RunTrace | None:
    """A run's trace; None when it is missing, or (with `user`) someone else's: a chat run's
    steps hold its private conversation's text."""
    calls = spend.run_calls(db, run_id)
    if not calls or (user is not None and calls[0].user_id != user):
        return None
    with db.connect() as conn:
        row = conn.execute("SELECT conversation_id, meta FROM messages WHERE "
                           "json_extract(meta, '$.run_id') = ? ORDER BY id DESC LIMIT 1",
                           (run_id,)).fetchone()
    meta = json.loads(row["meta"]) if row else {}
    stored = {s.get("number"): s for s in meta.get("steps", ())}
    steps = [StepTrace(c, stored.get(c.step, {}).get("text", ""),
                       list(stored.get(c.step, {}).get("calls", ())), stored.get(c.step, {}))
             for c in calls]
    return RunTrace(run_id, steps, row["conversation_id"] if row else None,
                    meta.get("run_end", "answered" if calls[-1].status == "ok" else "error"))
