"""Tool calling on the bundled model, which has no tool format of its own: the tools are
described in the system prompt, and grammar-constrained decoding (llama.cpp builds a grammar
from a JSON Schema) makes every reply one JSON object — a call of a declared tool with
arguments that fit its schema, or (when the model may choose) an answer. Even a 135M model
then writes a well-formed call."""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

from lib.llm.protocol import ChatRequest, Event, Message, Stop, TextDelta, ToolResult, ToolUse
from lib.llm.toolcalls import complete


def uses_tools(request: ChatRequest) -> bool:
    return bool(request.tools) and request.tool_choice != "none"


def system_prompt(request: ChatRequest) -> str:
    if not uses_tools(request):
        return request.system
    lines = [f"- {t.name}: {t.description} Arguments (JSON Schema): {json.dumps(t.parameters)}"
             for t in request.tools]
    how = ('Reply with one JSON object: {"tool": "<name>", "arguments": {...}} to call a tool'
           + ('.' if request.tool_choice != "auto" else
              ', or {"answer": "<your reply>"} to answer the user.'))
    return "\n\n".join(p for p in (request.system, "You can call these tools:\n"
                                   + "\n".join(lines), how) if p)


def messages(request: ChatRequest) -> list[dict[str, str]]:
    """The history as plain chat turns: calls as the JSON the model writes, results as text."""
    names = {b.id: b.name for m in request.messages for b in m.blocks if isinstance(b, ToolUse)}
    return [{"role": m.role, "content": _text(m, names)} for m in request.messages]


def _text(m: Message, names: dict[str, str]) -> str:
    parts = [m.content] if m.content else []
    for b in m.blocks:
        if isinstance(b, ToolUse):
            parts.append(json.dumps({"tool": b.name, "arguments": b.arguments}))
        elif isinstance(b, ToolResult):
            name = names.get(b.call_id, "the tool")
            parts.append(f"{'Error from' if b.is_error else 'Result of'} {name}: {b.content}")
    return "\n".join(parts)


def grammar(request: ChatRequest) -> Any:  # -> llama_cpp.LlamaGrammar
    tools = [t for t in request.tools if request.tool_choice in ("auto", "required", t.name)]
    options = [{"type": "object", "properties": {"tool": {"const": t.name},
                                                 "arguments": t.parameters or {"type": "object"}},
                "required": ["tool", "arguments"]} for t in tools]
    if request.tool_choice == "auto":
        options.append({"type": "object", "properties": {"answer": {"type": "string"}},
                        "required": ["answer"]})
    return _grammar(json.dumps({"anyOf": options}, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _grammar(schema: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema, verbose=False)


def events(text: str, finished: bool) -> list[Event]:
    """The constrained reply as events: a ToolCall, or the answer's text."""
    try:
        reply = json.loads(text)
    except ValueError:
        reply = None
    if not finished or not isinstance(reply, dict):  # cut off by max tokens mid-object
        return [TextDelta(text), Stop("max_tokens")]
    if "tool" in reply:
        raw = json.dumps(reply.get("arguments", {}))
        return [complete(f"call_{uuid.uuid4().hex[:12]}", str(reply["tool"]), raw),
                Stop("tool_use")]
    return [TextDelta(str(reply.get("answer", ""))), Stop("end_turn")]
