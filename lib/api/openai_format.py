"""OpenAI's Chat Completions shapes going back: our events written as a chat.completion, its
streamed chunks and OpenAI's error body (lib.api.chat_request reads a request's)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from lib.llm import ToolCall, Usage

# Our stop reasons (lib.llm STOP_REASONS) as OpenAI's finish reasons.
FINISH = {"end_turn": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "stop_sequence": "stop", "refusal": "content_filter"}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def usage_body(usage: Usage | None) -> dict[str, Any]:
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
