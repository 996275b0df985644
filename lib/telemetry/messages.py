"""A call's messages as the GenAI conventions record them (gen_ai.system_instructions,
gen_ai.input.messages, gen_ai.output.messages: JSON text on a span), built from what the
ledger stores beside the row (lib.llm.payloads). Only used when message text may be recorded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Our stop reasons (the adapters normalise to these) as the conventions name them.
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "stop": "stop", "max_tokens": "length",
          "length": "length", "tool_use": "tool_call", "tool_calls": "tool_call",
          "content_filter": "content_filter", "refusal": "content_filter"}


def finish_reason(stop_reason: str | None, status: str) -> str:
    if status in ("error", "incomplete"):
        return "error"
    return FINISH.get(stop_reason or "", stop_reason or "stop")


def _part(block: Mapping[str, Any]) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "tool_use":
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"),
                "arguments": block.get("arguments")}
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": block.get("call_id"),
                "response": block.get("content")}
    return {"type": "reasoning", "content": block.get("text") or ""}  # thinking


def input_messages(request: Mapping[str, Any]) -> str:
    out = []
    for message in request.get("messages") or ():
        parts = [{"type": "text", "content": message["content"]}] if message.get("content") \
            else []
        parts += [_part(b) for b in message.get("blocks") or ()]
        # A turn of tool results only is the conventions' "tool" message.
        results = parts and all(p["type"] == "tool_call_response" for p in parts)
        out.append({"role": "tool" if results else message.get("role"), "parts": parts})
    return json.dumps(out, ensure_ascii=False)


def system_instructions(request: Mapping[str, Any]) -> str | None:
    system = request.get("system")
    return json.dumps([{"type": "text", "content": system}], ensure_ascii=False) \
        if system else None


def output_messages(reply: Mapping[str, Any], status: str) -> str:
    parts: list[dict[str, Any]] = [_part(t) for t in reply.get("thinking") or ()]
    if reply.get("text"):
        parts.append({"type": "text", "content": reply["text"]})
    parts += [{"type": "tool_call", "id": c.get("id"), "name": c.get("name"),
               "arguments": c.get("arguments")} for c in reply.get("tool_calls") or ()]
    return json.dumps([{"role": "assistant", "parts": parts,
                        "finish_reason": finish_reason(reply.get("stop_reason"), status)}],
                      ensure_ascii=False)
