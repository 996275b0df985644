"""Anthropic Messages API, streamed, with cache read / write usage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lib.core import ProviderError, remember_secrets
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
from lib.llm.toolcalls import ToolCallParts


def _message(m: Message) -> dict[str, Any]:
    """One of our messages as Anthropic content blocks (plain text stays a string)."""
    if not m.blocks:
        return {"role": m.role, "content": m.content}
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    for b in m.blocks:
        if isinstance(b, ToolUse):
            blocks.append({"type": "tool_use", "id": b.id, "name": b.name, "input": b.arguments})
        elif isinstance(b, ToolResult):
            blocks.append({"type": "tool_result", "tool_use_id": b.call_id, "content": b.content,
                           "is_error": b.is_error})
    # Anthropic wants tool results first in their user message.
    blocks.sort(key=lambda d: d["type"] != "tool_result")
    return {"role": m.role, "content": blocks}


def _tool_choice(choice: str) -> dict[str, str]:
    return {"auto": {"type": "auto"}, "none": {"type": "none"},
            "required": {"type": "any"}}.get(choice, {"type": "tool", "name": choice})


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, api_key: str, *, read_timeout: float = 60.0,
                 http_client: Any | None = None, base_url: str | None = None) -> None:
        import anthropic  # lazy: ~0.5 s to import

        self._sdk = anthropic
        remember_secrets(api_key)  # an error that echoes it is redacted (sdk.translate)
        self._client = anthropic.Anthropic(api_key=api_key, base_url=base_url,
                                           **client_options(read_timeout, http_client))

    def params(self, request: ChatRequest) -> dict[str, Any]:
        """The Messages API body for a request, without `stream` (batches reuse it)."""
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [_message(m) for m in request.messages],
        }
        if request.tools:
            params["tools"] = [{"name": t.name, "description": t.description,
                                "input_schema": t.parameters} for t in request.tools]
            params["tool_choice"] = _tool_choice(request.tool_choice)
        if request.output_schema is not None:
            params["output_config"] = {"format": {"type": "json_schema",
                                                  "schema": request.output_schema}}
        if request.temperature is not None:
            # The current SDK has no temperature argument; older models still take one.
            params["extra_body"] = {"temperature": request.temperature}
        if request.system:
            block: dict[str, Any] = {"type": "text", "text": request.system}
            if request.cache_system:
                block["cache_control"] = {"type": "ephemeral"}
            params["system"] = [block]
        return params

    def count_tokens(self, request: ChatRequest) -> int:
        """Anthropic's exact input count: a network call, made only when a user asks."""
        params = self.params(request)
        params.pop("max_tokens")
        params.pop("extra_body", None)
        try:
            return self._client.messages.count_tokens(**params).input_tokens
        except Exception as exc:
            raise translate(exc, self._sdk, "Anthropic") from exc

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        usage = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
        reported = False
        reason: str | None = None
        finished = False
        calls = ToolCallParts()
        try:
            stream = self._client.messages.create(stream=True, **self.params(request))
            with stream:
                for event in stream:
                    kind = event.type
                    if kind == "message_start":
                        u = getattr(event.message, "usage", None)
                        if u is None:
                            continue
                        reported = True
                        usage["input"] = u.input_tokens or 0
                        usage["cache_read"] = getattr(u, "cache_read_input_tokens", 0) or 0
                        usage["cache_write"] = getattr(u, "cache_creation_input_tokens", 0) or 0
                        # Report input usage at once, so a stream cut later still has it.
                        yield Usage(usage["input"], 0, usage["cache_read"], usage["cache_write"])
                    elif kind == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            calls.add(event.index, id=block.id, name=block.name)
                    elif kind == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield TextDelta(event.delta.text)
                        elif event.delta.type == "input_json_delta":
                            calls.add(event.index, fragment=event.delta.partial_json)
                    elif kind == "content_block_stop":
                        if event.index in calls:  # a call's arguments are complete
                            yield calls.finish(event.index)
                    elif kind == "message_delta":
                        reason = event.delta.stop_reason or reason
                        if (u := getattr(event, "usage", None)) is not None and u.output_tokens:
                            usage["output"] = u.output_tokens
                    elif kind == "message_stop":
                        finished = True
        except ProviderError:
            raise
        except Exception as exc:
            raise translate(exc, self._sdk, "Anthropic") from exc
        if not finished:
            raise ProviderError("incomplete", "Anthropic's stream ended before message_stop.")
        if reported:
            yield Usage(usage["input"], usage["output"], usage["cache_read"],
                        usage["cache_write"])
        yield Stop(stop_reason(reason))
