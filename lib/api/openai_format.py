"""OpenAI's Chat Completions shapes: a request body read into our messages, and our events
written back as a chat.completion, its streamed chunks and OpenAI's error body."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lib.core import ApiError, SchemaError
from lib.llm import Message, ToolCall, ToolResult, ToolSpec, ToolUse, Usage, check_schema

# Our stop reasons (lib.llm STOP_REASONS) as OpenAI's finish reasons.
FINISH = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "stop_sequence": "stop", "refusal": "content_filter"}


@dataclass(frozen=True)
class ChatParams:
    """What a request asks for, before any model is chosen (each model caps it)."""

    model: str
    messages: tuple[Message, ...]
    system: str = ""
    temperature: float | None = None      # None: the model's own default
    max_tokens: int | None = None         # None: as much as the window and model allow
    stream: bool = False
    include_usage: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    output_schema: dict[str, Any] | None = None
    schema_name: str = "reply"


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(message, status=400, code="invalid_request", param=param)


def _text(content: Any, where: str) -> str:
    """A message's content: a string, or a list of text parts (other parts are refused)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in content:
            if not (isinstance(part, dict) and part.get("type") == "text"
                    and isinstance(part.get("text"), str)):
                raise _bad("Only text content parts are supported.", f"{where}.content")
            parts.append(part["text"])
        return "".join(parts)
    raise _bad("A message's content must be a string or a list of text parts.",
               f"{where}.content")


def _tool_uses(calls: Any, where: str) -> tuple[ToolUse, ...]:
    out = []
    for i, call in enumerate(calls or ()):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _bad("A tool call needs a function name.", f"{where}.tool_calls[{i}]")
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except (TypeError, ValueError):
            args = None
        if not isinstance(args, dict):
            raise _bad("A tool call's arguments must be a JSON object.",
                       f"{where}.tool_calls[{i}].function.arguments")
        out.append(ToolUse(str(call.get("id") or f"call_{i}"), fn["name"], args))
    return tuple(out)


def _messages(raw: Any) -> tuple[str, tuple[Message, ...]]:
    """(system text, messages): system and developer messages join the system prompt; tool
    results next to each other become one user message of result blocks."""
    if not isinstance(raw, list) or not raw:
        raise _bad("`messages` must be a non-empty list.", "messages")
    system: list[str] = []
    out: list[Message] = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        role = m.get("role") if isinstance(m, dict) else None
        if role in ("system", "developer"):
            system.append(_text(m.get("content"), where))
        elif role == "user":
            out.append(Message("user", _text(m.get("content"), where)))
        elif role == "assistant":
            out.append(Message("assistant", _text(m.get("content"), where),
                               _tool_uses(m.get("tool_calls"), where)))
        elif role == "tool":
            result = ToolResult(str(m.get("tool_call_id") or ""), _text(m.get("content"), where))
            if out and out[-1].role == "user" and out[-1].blocks and not out[-1].content:
                out[-1] = Message("user", "", (*out[-1].blocks, result))
            else:
                out.append(Message("user", "", (result,)))
        else:
            raise _bad(f"Unknown message role {role!r}.", f"{where}.role")
    if not out:
        raise _bad("`messages` needs at least one user message.", "messages")
    return "\n\n".join(s for s in system if s), tuple(out)


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    out = []
    for i, tool in enumerate(raw or ()):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise _bad("Each tool must be {type: function, function: {name, ...}}.",
                       f"tools[{i}]")
        out.append(ToolSpec(fn["name"], str(fn.get("description") or ""),
                            fn.get("parameters") or {"type": "object", "properties": {}}))
    return tuple(out)


def _tool_choice(raw: Any) -> str:
    if raw is None:
        return "auto"
    if raw in ("auto", "none", "required"):
        return raw
    if isinstance(raw, dict) and isinstance((raw.get("function") or {}).get("name"), str):
        return raw["function"]["name"]
    raise _bad("`tool_choice` must be auto, none, required or a named function.",
               "tool_choice")


def _schema(raw: Any) -> tuple[dict[str, Any] | None, str]:
    """`response_format`: text, json_object (any JSON object) or json_schema."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    if raw is None or kind == "text":
        return None, "reply"
    if kind == "json_object":
        return {"type": "object"}, "reply"
    spec = raw.get("json_schema") if kind == "json_schema" else None
    if not isinstance(spec, dict):
        raise _bad("`response_format` must be text, json_object or json_schema.",
                   "response_format")
    try:
        return check_schema(spec.get("schema") or {}), str(spec.get("name") or "reply")
    except SchemaError as exc:
        raise _bad(str(exc), "response_format") from None


def _number(body: dict, name: str, low: float, high: float, whole: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float) or \
            not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise _bad(f"`{name}` must be {kind} from {low:g} to {high:g}.", name)
    return value


def chat_params(body: Any) -> ChatParams:
    """A /v1/chat/completions body, checked; raises ApiError (400) naming the field."""
    if not isinstance(body, dict):
        raise _bad("The body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("`model` is required: a model id from GET /v1/models.", "model")
    if body.get("n") not in (None, 1):
        raise _bad("Only n = 1 is supported.", "n")
    system, messages = _messages(body.get("messages"))
    max_tokens = _number(body, "max_completion_tokens", 1, 10**7, True)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", 1, 10**7, True)
    schema, schema_name = _schema(body.get("response_format"))
    options = body.get("stream_options") or {}
    return ChatParams(model, messages, system, _number(body, "temperature", 0, 2), max_tokens,
                      bool(body.get("stream")),
                      bool(isinstance(options, dict) and options.get("include_usage")),
                      _tools(body.get("tools")), _tool_choice(body.get("tool_choice")),
                      schema, schema_name)


# -- what goes back -------------------------------------------------------------------------
def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_body(usage: Usage | None) -> dict[str, int]:
    u = usage or Usage(0, 0)
    prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens
    return {"prompt_tokens": prompt, "completion_tokens": u.output_tokens,
            "total_tokens": prompt + u.output_tokens,
            "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens}}


def tool_call_body(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": call.raw}}
    return out if index is None else {"index": index, **out}


def completion(cid: str, model: str, text: str, calls: list[ToolCall], stop: str | None,
               usage: Usage | None, extra: dict[str, Any]) -> dict[str, Any]:
    """A whole chat.completion; `extra` is our own `promptlab` field (ledger row, cost)."""
    message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
    if calls:
        message["tool_calls"] = [tool_call_body(c) for c in calls]
    return {"id": cid, "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message, "logprobs": None,
                                         "finish_reason": FINISH.get(stop or "", "stop")}],
            "usage": usage_body(usage), "promptlab": extra}


def chunk(cid: str, model: str, delta: dict[str, Any] | None, finish: str | None = None,
          usage: Usage | None = None, extra: dict[str, Any] | None = None) -> bytes:
    """One server-sent event of a stream; `delta` None is the usage-only closing chunk."""
    body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk",
                            "created": int(time.time()), "model": model, "choices": [] if
                            delta is None else [{"index": 0, "delta": delta,
                                                 "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage_body(usage)
    if extra:
        body["promptlab"] = extra
    return sse(body)


def sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def error_body(message: str, kind: str, code: str | None, param: str | None = None,
               **more: Any) -> dict[str, Any]:
    """OpenAI's error shape, which its SDKs read into their exceptions."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code, **more}}
