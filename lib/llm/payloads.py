"""What a call sent and what came back, as plain JSON values: the ledger stores it beside the
call's row (bounded in size, lib/spend/ledger.py) for the call's detail page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from lib.llm.protocol import Block, ChatRequest, Message, Thinking, ToolCall, ToolUse

if TYPE_CHECKING:
    from lib.llm.call import Call


def _block(block: Block) -> dict[str, Any]:
    if isinstance(block, ToolUse):
        return {"type": "tool_use", "id": block.id, "name": block.name,
                "arguments": block.arguments}
    if isinstance(block, Thinking):
        return {"type": "redacted_thinking" if block.redacted else "thinking",
                "text": block.text, "model": block.model}
    return {"type": "tool_result", "call_id": block.call_id, "content": block.content,
            "is_error": block.is_error}


def _message(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.blocks:
        out["blocks"] = [_block(b) for b in message.blocks]
    return out


def request_payload(request: ChatRequest) -> dict[str, Any]:
    """The request as sent: system, messages, tools, tool choice, output schema, parameters
    (the reasoning setting when there is one)."""
    return {
        "model": request.model, "system": request.system,
        "messages": [_message(m) for m in request.messages],
        "tools": [{"name": t.name, "description": t.description, "parameters": t.parameters}
                  for t in request.tools],
        "tool_choice": request.tool_choice if request.tools else None,
        "output_schema": request.output_schema,
        "schema_name": request.schema_name if request.output_schema is not None else None,
        "temperature": request.temperature, "max_tokens": request.max_tokens,
        "cache_system": request.cache_system,
        **({"seed": request.seed} if request.seed is not None else {}),
        **({"reasoning": asdict(request.reasoning)} if request.reasoning else {})}


def reply_payload(text: str, tool_calls: Iterable[ToolCall], stop_reason: str | None,
                  thinking: Iterable[Thinking] = ()) -> dict[str, Any]:
    """The raw reply: its text, its tool calls as the model wrote them, why it stopped, and
    its thinking blocks if any, in order (their text; a redacted one says so)."""
    thought = [_block(t) for t in thinking]
    return {"text": text, "tool_calls": [
        {"id": c.id, "name": c.name, "arguments": c.arguments, "raw": c.raw,
         **({"invalid": c.invalid} if c.invalid else {})} for c in tool_calls],
        "stop_reason": stop_reason, **({"thinking": thought} if thought else {})}


def payload(call: Call) -> dict[str, Any]:
    """What lib.spend.record stores beside a finished call's row."""
    return {"request": request_payload(call.request),
            "reply": reply_payload(call.text, call.tool_calls, call.stop_reason,
                                   call.thinking)}
