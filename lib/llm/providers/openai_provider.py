"""OpenAI Chat Completions, streamed with usage; also any OpenAI-compatible server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from lib.core import ProviderError
from lib.llm.protocol import (
    ChatRequest,
    Event,
    Message,
    Stop,
    TextDelta,
    ToolResult,
    ToolUse,
    Usage,
    stop_reason,
)
from lib.llm.providers.sdk import client_options, translate
from lib.llm.structured import strict_compatible
from lib.llm.toolcalls import ToolCallParts


def _messages(m: Message) -> list[dict[str, Any]]:
    """One of our messages in Chat Completions' shape: tool results are messages of their own."""
    uses = [b for b in m.blocks if isinstance(b, ToolUse)]
    results = [b for b in m.blocks if isinstance(b, ToolResult)]
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": r.call_id,
         "content": f"Error: {r.content}" if r.is_error else r.content} for r in results]
    if uses:
        out.append({"role": "assistant", "content": m.content or None, "tool_calls": [
            {"id": u.id, "type": "function",
             "function": {"name": u.name, "arguments": json.dumps(u.arguments)}} for u in uses]})
    elif m.content or not results:
        out.append({"role": m.role, "content": m.content})
    return out


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


class OpenAIProvider:
    """`compat=True` talks to Ollama, vLLM, LM Studio or llama.cpp's server at `base_url`."""

    def __init__(self, api_key: str | None, *, base_url: str | None = None,
                 compat: bool = False, read_timeout: float = 60.0,
                 http_client: Any | None = None) -> None:
        import openai  # lazy: ~0.5 s to import

        self.name = "compat" if compat else "openai"
        self.base_url = base_url or ""  # each compatible server has its own breaker
        self._label = f"The server at {base_url}" if compat else "OpenAI"
        self._compat = compat
        self._sdk = openai
        # Local servers accept any key, but the SDK insists on one.
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url,
                                     **client_options(read_timeout, http_client))

    def params(self, request: ChatRequest) -> dict[str, Any]:
        """The Chat Completions body for a request, without streaming (batches reuse it)."""
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [d for m in request.messages for d in _messages(m)]
        params: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.tools:
            params["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in request.tools]
            params["tool_choice"] = _tool_choice(request.tool_choice)
        if request.output_schema is not None:
            # Strict mode refuses schemas it cannot enforce (an open object, an optional
            # field); those go best-effort and are validated after.
            params["response_format"] = {"type": "json_schema", "json_schema": {
                "name": request.schema_name, "schema": request.output_schema,
                "strict": strict_compatible(request.output_schema)}}
        # OpenAI's own models take max_completion_tokens; most compatible servers only the old name.
        params["max_tokens" if self._compat else "max_completion_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        usage: Usage | None = None
        finish: str | None = None
        calls = ToolCallParts()
        try:
            stream = self._client.chat.completions.create(
                **self.params(request), stream=True, stream_options={"include_usage": True})
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        u = chunk.usage
                        details = getattr(u, "prompt_tokens_details", None)
                        cached = (getattr(details, "cached_tokens", 0) or 0) if details else 0
                        # Ledger input_tokens are the uncached ones, as Anthropic reports them.
                        usage = Usage(max(0, (u.prompt_tokens or 0) - cached),
                                      u.completion_tokens or 0, cache_read_tokens=cached)
                    for choice in chunk.choices or ():
                        delta = choice.delta
                        if delta is not None and delta.content:
                            yield TextDelta(delta.content)
                        # Calls arrive by index, interleaved; complete only at the finish.
                        for part in (delta.tool_calls or ()) if delta is not None else ():
                            fn = part.function
                            calls.add(part.index, id=part.id, name=fn and fn.name,
                                      fragment=fn and fn.arguments)
                        if choice.finish_reason:
                            finish = choice.finish_reason
                            yield from calls.finish_all()
        except ProviderError:
            raise
        except Exception as exc:
            raise translate(exc, self._sdk, self._label) from exc
        if finish is None:
            raise ProviderError("incomplete", f"{self._label}'s stream ended without a "
                                "finish reason.")
        if usage is not None:
            yield usage
        yield Stop(stop_reason(finish))
