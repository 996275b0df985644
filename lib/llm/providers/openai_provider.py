"""OpenAI Chat Completions, streamed with usage; also any OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lib.core import ProviderError
from lib.llm.protocol import ChatRequest, Event, Stop, TextDelta, Usage
from lib.llm.providers.sdk import client_options, translate


class OpenAIProvider:
    """`compat=True` talks to Ollama, vLLM, LM Studio or llama.cpp's server at `base_url`."""

    def __init__(self, api_key: str | None, *, base_url: str | None = None,
                 compat: bool = False, read_timeout: float = 60.0,
                 http_client: Any | None = None) -> None:
        import openai  # lazy: ~0.5 s to import

        self.name = "compat" if compat else "openai"
        self._label = f"The server at {base_url}" if compat else "OpenAI"
        self._compat = compat
        self._sdk = openai
        # Local servers accept any key, but the SDK insists on one.
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url,
                                     **client_options(read_timeout, http_client))

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages += [{"role": m.role, "content": m.content} for m in request.messages]
        params: dict[str, Any] = {
            "model": request.model, "messages": messages, "stream": True,
            "stream_options": {"include_usage": True},
        }
        # OpenAI's own models take max_completion_tokens; most compatible servers only the old name.
        params["max_tokens" if self._compat else "max_completion_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        return params

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        usage: Usage | None = None
        finish: str | None = None
        try:
            stream = self._client.chat.completions.create(**self._params(request))
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
                        if choice.delta is not None and choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        if choice.finish_reason:
                            finish = choice.finish_reason
        except ProviderError:
            raise
        except Exception as exc:
            raise translate(exc, self._sdk, self._label) from exc
        if finish is None:
            raise ProviderError("incomplete", f"{self._label}'s stream ended without a "
                                "finish reason.")
        if usage is not None:
            yield usage
        yield Stop(finish)
