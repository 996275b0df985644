"""Tool calling and structured output on the bundled model, which has no format of its own
for either: tools and the output schema are described in the system prompt, and
grammar-constrained decoding (llama.cpp builds a grammar from a JSON Schema) makes every
reply fit — with tools, one JSON object that calls a declared tool with arguments fitting
its schema or (when the model may choose) answers; with an output schema, the answer itself
matches it. Even a 135M model then writes a well-formed call and parseable JSON.

The grammar is stricter than the schemas it comes from, where a small model needs it: a
required string cannot be empty, and a free string has a length cap. Every schema is checked
(lib.llm.schemas) and its grammar bounded before it is built: llama.cpp's converter expands
counts such as minLength into the grammar's text, so `minLength: 50000000` would take a minute
and gigabytes."""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from typing import Any

from lib.core import ProviderError, SchemaError
from lib.llm.protocol import ChatRequest, Event, Message, Stop, TextDelta, ToolResult, ToolUse
from lib.llm.schemas import check_schema, check_tool_parameters
from lib.llm.toolcalls import complete

log = logging.getLogger(__name__)
MAX_CAP = 800          # llama.cpp refuses grammars whose repetitions expand much further
GRAMMAR_BUDGET = 100_000  # a schema's lengths and counts, added up: what its grammar spells
MAX_GRAMMAR_CHARS = 1_000_000
# An answer with no output schema: words, or a bare number (asked for words only, SmolLM2
# that has a number to give writes ".7006652").
FREE_ANSWER = {"anyOf": [{"type": "number"}, {"type": "string", "minLength": 1}]}
_QUANTIFIER = re.compile(r"\{(\d+)(?:,(\d*))?\}")
def uses_tools(request: ChatRequest) -> bool:
    return bool(request.tools) and request.tool_choice != "none"


def json_replies(request: ChatRequest) -> bool:
    """Whether the reply is one JSON object held back until complete: with tools, and after
    a tool was used in the conversation — a small model that has seen calls written as JSON
    otherwise writes its answer as one more raw call."""
    return uses_tools(request) or any(isinstance(b, ToolUse) for m in request.messages
                                      for b in m.blocks)


def system_prompt(request: ChatRequest) -> str:
    shape = (f"Reply with JSON matching this schema: {json.dumps(request.output_schema)}"
             if request.output_schema is not None else "")
    if not uses_tools(request):
        how = ('Reply with one JSON object: {"answer": <your reply to the user>}.'
               if json_replies(request) else "")
        return "\n\n".join(p for p in (request.system, how, shape) if p)
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
    """The grammar the reply must follow, or None when it is free text. Raises ProviderError
    (bad_request) for a schema that cannot be checked or enforced, before building anything."""
    try:
        schema = reply_schema(request)
        if schema is None:
            return None
        text = json.dumps(schema)  # keeps the order of fields
        if len(text) > MAX_GRAMMAR_CHARS:
            raise SchemaError("The schemas together are too large for a grammar.")
        return _grammar(text)
    except SchemaError as exc:
        raise ProviderError("bad_request", f"The bundled model cannot enforce this JSON Schema: "
                            f"{exc}", hint="Simplify the schema (plain objects, arrays, "
                            "strings, numbers, enums; smaller lengths and counts).") from None


def reply_schema(request: ChatRequest) -> dict[str, Any] | None:
    """The JSON Schema the whole reply follows (checked, made strict), or None for free text."""
    output = check_schema(request.output_schema)
    budget = [GRAMMAR_BUDGET]
    if not uses_tools(request):
        if not json_replies(request):
            return None if output is None else strict(output, request.max_tokens, budget)
        return {"type": "object", "properties": {"answer": strict(
            output or FREE_ANSWER, request.max_tokens, budget, required=True)},
                "required": ["answer"]}
    tools = [t for t in request.tools if request.tool_choice in ("auto", "required", t.name)]
    options = [{"type": "object", "properties": {
        "tool": {"const": t.name},
        "arguments": strict(check_tool_parameters(t.name, t.parameters), request.max_tokens,
                            budget)},
        "required": ["tool", "arguments"]} for t in tools]
    if request.tool_choice == "auto":
        answer = strict(output or FREE_ANSWER, request.max_tokens, budget, required=True)
        options.append({"type": "object", "properties": {"answer": answer},
                        "required": ["answer"]})
    return {"anyOf": options}


def strict(schema: dict[str, Any], max_tokens: int, budget: list[int] | None = None, *,
           required: bool = False) -> dict[str, Any]:
    """A copy of a checked schema as its grammar should enforce it: a free string has a
    length cap (sharing about two characters per output token: a small model that misses a
    closing quote would otherwise write until max tokens and leave the JSON unfinished), no
    count above the cap, and a required string is never empty. `budget` (one number, shared
    by the schemas of one reply) is what the counts may still expand; SchemaError past it.
    `required`: the schema is itself a required value (an answer)."""
    copy = json.loads(json.dumps(schema))
    nodes = _nodes(copy)
    needed = {id(sub) for node in nodes if isinstance(node.get("properties"), dict)
              for name, sub in node["properties"].items()
              if name in (node.get("required") or ()) and isinstance(sub, dict)}
    if required:
        needed.add(id(copy))
    budget = budget if budget is not None else [GRAMMAR_BUDGET]
    for node in nodes:  # the schema's own counts, as the grammar will spell them out
        for low, high in (("minLength", "maxLength"), ("minItems", "maxItems")):
            if isinstance(node.get(high), int):
                node[high] = min(node[high], max(MAX_CAP, node.get(low) or 0))
            for key in (low, high):
                if isinstance(node.get(key), int):
                    budget[0] -= node[key]
        if isinstance(node.get("pattern"), str):
            budget[0] -= sum(max(int(a), int(b or 0))
                             for a, b in _QUANTIFIER.findall(node["pattern"]))
        if budget[0] < 0:
            raise SchemaError(f"its lengths and counts (minLength, maxItems, ...) add up to "
                              f"more than {GRAMMAR_BUDGET:,}.")
    fixed = {"enum", "const", "pattern", "format"}
    free = [n for n in nodes
            if n.get("type") == "string" and not (fixed | {"maxLength"}) & n.keys()]
    for node in free:
        node["maxLength"] = min(MAX_CAP, max(16, 2 * max_tokens // len(free)))
    for node in nodes:
        if node.get("type") == "string" and id(node) in needed and not fixed & node.keys() \
                and not node.get("minLength") and node.get("maxLength") != 0:
            node["minLength"] = 1
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
    """The grammar of a checked, bounded schema; SchemaError if llama.cpp cannot build it."""
    from llama_cpp import LlamaGrammar
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        gbnf = json_schema_to_gbnf(schema)
    except Exception as exc:  # the converter asserts, and raises what it meets: log it all
        log.warning("json-schema-to-grammar failed", exc_info=exc)
        raise SchemaError(f"it cannot be turned into a grammar ({type(exc).__name__}: "
                          f"{str(exc)[:200]}).") from None
    if len(gbnf) > MAX_GRAMMAR_CHARS:
        raise SchemaError(f"its grammar would be {len(gbnf):,} characters; the limit is "
                          f"{MAX_GRAMMAR_CHARS:,}.")
    try:
        # llama-cpp-python's string characters let raw control characters (a newline) into a
        # string, which JSON forbids: a small model then rambles past the closing quote.
        return LlamaGrammar.from_string(gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR, 1),
                                        verbose=False)
    except Exception as exc:
        log.warning("llama.cpp refused a grammar", exc_info=exc)
        raise SchemaError(f"llama.cpp cannot use its grammar ({type(exc).__name__}).") \
            from None


def events(text: str, finished: bool, request: ChatRequest) -> list[Event]:
    """The constrained reply as events: a ToolCall, or the answer's text — never the JSON
    wrapper, and never a call written out as the answer."""
    try:
        reply = json.loads(text)
    except ValueError:
        reply = None
    structured = request.output_schema is not None
    if not finished or not isinstance(reply, dict):  # cut off by max tokens mid-object
        return [*_partial(text, structured), Stop("max_tokens")]
    names = {t.name for t in request.tools} if uses_tools(request) else set()
    answer = reply.get("answer", "")
    if "tool" not in reply and isinstance(answer, str) and names:
        written = _loads(answer)  # a call written inside the answer is the call it meant
        if isinstance(written, dict) and written.get("tool") in names:
            reply = written
    if "tool" in reply:
        raw = json.dumps(reply.get("arguments", {}))
        return [complete(f"call_{uuid.uuid4().hex[:12]}", str(reply["tool"]), raw),
                Stop("tool_use")]
    answer = reply.get("answer", "")
    # A structured answer is the JSON itself, even when its schema is a plain string.
    text = json.dumps(answer) if structured or not isinstance(answer, str) else answer
    return [TextDelta(text), Stop("end_turn")]


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


_ANSWER_START = re.compile(r'\s*\{\s*"answer"\s*:\s*')


def _partial(text: str, structured: bool) -> list[Event]:
    """What a reply cut off mid-object had said: the answer so far (a free one as plain text),
    or nothing when it was a call or cannot be read."""
    start = _ANSWER_START.match(text)
    if start is None:
        return []
    rest = text[start.end():]
    if structured or not rest.startswith('"'):
        return [TextDelta(rest)] if rest else []
    body = rest[1:].rstrip("\\")
    for cut in range(len(body), max(-1, len(body) - 6), -1):  # an escape may be cut short
        decoded = _loads('"' + body[:cut] + '"')
        if isinstance(decoded, str):
            return [TextDelta(decoded)] if decoded else []
    return [TextDelta(body)]
