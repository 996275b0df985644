"""Anthropic Messages API, streamed, with cache read / write usage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lib.core import ProviderError
from lib.llm.protocol import ChatRequest, Event, Stop, TextDelta, Usage
from lib.llm.providers.sdk import client_options, translate


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, api_key: str, *, read_timeout: float = 60.0,
                 http_client: Any | None = None, base_url: str | None = None) -> None:
        import anthropic  # lazy: ~0.5 s to import

        self._sdk = anthropic
        self._client = anthropic.Anthropic(api_key=api_key, base_url=base_url,
                                           **client_options(read_timeout, http_client))

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
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
        params = self._params(request)
        params.pop("max_tokens")
        params.pop("extra_body", None)
        try:
            return self._client.messages.count_tokens(**params).input_tokens
        except Exception as exc:
            raise translate(exc, self._sdk, "Anthropic") from exc

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        usage = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
        reported = False
        stop_reason: str | None = None
        finished = False
        try:
            stream = self._client.messages.create(stream=True, **self._params(request))
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
                    elif kind == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield TextDelta(event.delta.text)
                    elif kind == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
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
        yield Stop(stop_reason or "end_turn")
