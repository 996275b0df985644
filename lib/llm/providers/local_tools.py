"""Tool calling and structured output on the bundled model, which has no format of its own
for either: tools and the output schema are described in the system prompt, and
grammar-constrained decoding (llama.cpp builds a grammar from a JSON Schema) makes every
reply fit — with tools, one JSON object that calls a declared tool with arguments fitting
its schema or (when the model may choose) answers; with an output schema, the answer itself
matches it. Even a 135M model then writes a well-formed call and parseable JSON."""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

from lib.core import ProviderError
from lib.llm.protocol import ChatRequest, Event, Message, Stop, TextDelta, ToolResult, ToolUse
from lib.llm.toolcalls import complete


def uses_tools(request: ChatRequest) -> bool:
    return bool(request.tools) and request.tool_choice != "none"


def system_prompt(request: ChatRequest) -> str:
    shape = (f"Reply with JSON matching this schema: {json.dumps(request.output_schema)}"
             if request.output_schema is not None else "")
    if not uses_tools(request):
        return "\n\n".join(p for p in (request.system, shape) if p)
    lines = [f"- {t.name}: {t.description} Arguments (JSON Schema): {json.dumps(t.parameters)}"
             for t in request.tools]
    how = ('Reply with one JSON object: {"tool": "<name>", "arguments": {...}} to call a tool'
           + ('.' if request.tool_choice != "auto" else
              ', or {"answer": <your reply>} to answer the user.'))
    return "\n\n".join(p for p in (request.system, "You can call these tools:\n"
                                   + "\n".join(lines), how, shape) if p)


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


def grammar(request: ChatRequest) -> Any:  # -> llama_cpp.LlamaGrammar | None
    """The grammar the reply must follow, or None when it is free text."""
    if not uses_tools(request):
        if request.output_schema is None:
            return None
        schema = capped(request.output_schema, request.max_tokens)
        return _grammar(json.dumps(schema))  # keeps the order of fields
    tools = [t for t in request.tools if request.tool_choice in ("auto", "required", t.name)]
    options = [{"type": "object", "properties": {"tool": {"const": t.name},
                                                 "arguments": t.parameters or {"type": "object"}},
                "required": ["tool", "arguments"]} for t in tools]
    if request.tool_choice == "auto":
        answer = capped(request.output_schema or {"type": "string"}, request.max_tokens)
        options.append({"type": "object", "properties": {"answer": answer},
                        "required": ["answer"]})
    return _grammar(json.dumps({"anyOf": options}))


MAX_CAP = 800  # llama.cpp refuses grammars whose repetitions expand much further


def capped(schema: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """The schema with a length cap on every free string that has none, sharing about two
    characters per output token: a small model that misses a closing quote would otherwise
    write until max tokens and leave the JSON unfinished."""
    copy = json.loads(json.dumps(schema))
    free = [node for node in _nodes(copy) if node.get("type") == "string"
            and not {"maxLength", "enum", "const", "pattern", "format"} & node.keys()]
    for node in free:
        node["maxLength"] = min(MAX_CAP, max(16, 2 * max_tokens // len(free)))
    return copy


def _nodes(schema: Any) -> list[dict[str, Any]]:
    """Every sub-schema (object) in a schema, the schema itself first."""
    out, stack = [], [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.append(node)
            stack += list(node.values())
        elif isinstance(node, list):
            stack += node
    return out


_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


@functools.lru_cache(maxsize=32)
def _grammar(schema: str) -> Any:
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(schema)
        # llama-cpp-python's string characters let raw control characters (a newline) into a
        # string, which JSON forbids: a small model then rambles past the closing quote.
        return LlamaGrammar.from_string(gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR, 1),
                                        verbose=False)
    except (ValueError, KeyError, TypeError, RecursionError, NotImplementedError) as exc:
        raise ProviderError("bad_request", "The bundled model cannot enforce this JSON Schema "
                            f"({type(exc).__name__}: {exc}).",
                            hint="Simplify the schema (plain objects, arrays, strings, numbers, "
                                 "enums).") from exc


def events(text: str, finished: bool, structured: bool = False) -> list[Event]:
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
    answer = reply.get("answer", "")
    # A structured answer is the JSON itself, even when its schema is a plain string.
    text = json.dumps(answer) if structured or not isinstance(answer, str) else answer
    return [TextDelta(text), Stop("end_turn")]
