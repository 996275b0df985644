"""Tool-call arguments arrive as JSON fragments inside a stream (Anthropic's input_json_delta,
OpenAI's tool_calls deltas by index, several calls interleaved): gather them per call and
hand out a ToolCall only when a call is complete."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lib.llm.protocol import ToolCall


@dataclass
class _Pending:
    id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)  # joined once: linear in the size


class ToolCallParts:
    """Fragments by the provider's key (a content block or tool_calls index), in first-seen
    order."""

    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}

    def add(self, key: int, *, id: str | None = None, name: str | None = None,
            fragment: str | None = None) -> None:
        part = self._pending.setdefault(key, _Pending())
        if id:
            part.id = id
        if name and not part.name:
            part.name = name
        if fragment:
            part.fragments.append(fragment)

    def __contains__(self, key: int) -> bool:
        return key in self._pending

    def finish(self, key: int) -> ToolCall:
        part = self._pending.pop(key)
        return complete(part.id, part.name, "".join(part.fragments))

    def finish_all(self) -> list[ToolCall]:
        return [self.finish(key) for key in list(self._pending)]


def complete(call_id: str, name: str, raw: str) -> ToolCall:
    """A call from its whole arguments text; no arguments at all means an empty object."""
    if not raw.strip():
        return ToolCall(call_id, name, {}, raw)
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError as exc:
        return ToolCall(call_id, name, {}, raw, invalid=f"The arguments are not valid JSON "
                        f"({exc.msg} at character {exc.pos}).")
    if not isinstance(arguments, dict):
        return ToolCall(call_id, name, {}, raw, invalid="The arguments are not a JSON object.")
    return ToolCall(call_id, name, arguments, raw)
