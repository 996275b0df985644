"""A turn with tools is one stored reply whose meta holds its steps (thinking, text, calls,
results): drawn inline under the reply, exported, and expanded back into thinking, calls and
results, in each provider's format, when the conversation goes on."""

from __future__ import annotations

from typing import Any

from lib.chat.thoughts import Thoughts, as_block, step_parts
from lib.core import ToolError
from lib.llm import Block, Message, ToolResult, ToolUse


def expand(role: str, content: str, meta: dict[str, Any]) -> list[Message]:
    """A stored message as the model saw it: each step's thinking and calls in the order the
    model wrote them, and their results; then the text."""
    out: list[Message] = []
    for step in meta.get("steps", ()):
        calls = step.get("calls", ())
        if not calls:
            continue
        blocks: list[Block] = []
        for kind, part in step_parts(step):
            if kind == "thinking":
                blocks += [as_block(b) for b in part]
            elif kind == "call":
                blocks.append(ToolUse(part["id"], part["name"], part.get("arguments", {})))
        out.append(Message("assistant", step.get("text", ""), tuple(blocks)))
        out.append(Message("user", "", tuple(
            ToolResult(c["id"], "No result was given." if c.get("pending") else
                       c.get("result", ""), bool(c.get("is_error") or c.get("pending")))
            for c in calls)))
    if content or not out:
        # A stored role: the messages table allows only 'user' and 'assistant'.
        out.append(Message(role, content))  # type: ignore[arg-type]
    return out


def steps_meta(steps: list[Any], thoughts: Thoughts | None = None,
               model: str = "") -> list[dict[str, Any]]:
    """The run's steps (lib.agents.Step) as plain data for the message's meta, each with the
    thinking `thoughts` saw in it (`model`: the run's, for blocks that name none)."""
    return [{"number": s.number, "call_id": s.call_id, "text": s.text, "status": s.status,
             "input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
             "reasoning_tokens": s.record.reasoning_tokens,
             "thinking": thoughts.blocks(model, s.number) if thoughts else [],
             "cost_micro": s.cost_micro, "ms": round(s.ms, 1),
             "calls": [{"id": c.id, "name": c.name, "arguments": c.arguments, "raw": c.raw,
                        "invalid": c.invalid, "result": o.content, "is_error": o.is_error,
                        "ms": round(o.ms, 1), "cut": o.cut, "sources": list(o.sources),
                        **({"pending": True} if o.pending else {}),
                        **({"server": o.server} if o.server else {})}
                       for c, o in s.calls]}
            for s in steps]


def give_results(meta: dict[str, Any], typed: dict[str, str]) -> None:
    """Fill the results a run waits for with what the user typed (in place)."""
    waiting = [c for s in meta.get("steps", ()) for c in s.get("calls", ()) if c.get("pending")]
    missing = [c["name"] for c in waiting if not str(typed.get(c["id"], "")).strip()]
    if missing:
        raise ToolError(f"Give a result for {', '.join(missing)} before going on.")
    for c in waiting:
        c["result"], c["pending"] = str(typed[c["id"]]), False


# What a run's reply adds up over its steps: a paused run that goes on sums both parts.
RUN_TOTALS = ("input_tokens", "output_tokens", "cost_micro", "total_ms", "unpriced",
              "reasoning_tokens", "reasoning_micro")


def gone_on(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The reply meta of a paused run that went on: earlier steps first, totals summed."""
    return {**after, "steps": before["steps"] + after["steps"],
            **{k: after.get(k, 0) + before.get(k, 0) for k in RUN_TOTALS}}
