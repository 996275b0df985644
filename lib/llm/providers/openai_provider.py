"""OpenAI Chat Completions, streamed with usage; also any OpenAI-compatible server.

The SDK configures the client (base URL, key, organisation and project, its headers, its
HTTP client and timeouts) and its errors are what `translate` reads. The streamed request
itself goes out on that HTTP client with those headers, not through the SDK's request
builder, and its SSE is read as plain JSON: the builder and its typed models cost ~0.4 ms
of CPU before a first token (bench_api: the API's added time to first token 2.0 -> 1.7 ms),
and the sync SDK closes a stream at [DONE] unread, which drops the connection, so every
call opened a new one (a TLS handshake to a hosted API; the async SDK drains it).

Reasoning: OpenAI's models take `reasoning_effort` and count the tokens spent in
`usage.completion_tokens_details.reasoning_tokens` (part of completion_tokens, billed as
output); mode "off" asks for "none", which models since gpt-5.1 take (the call seam has
already turned "off" into the lowest effort of a model that cannot stop reasoning). A
compatible server streams reasoning as `reasoning_content` (vLLM, llama.cpp, DeepSeek) or
`reasoning` deltas, or writes it into the text as `<think>…</think>` (Ollama, Qwen): all come
out as ThinkingDelta, then one Thinking block when the reasoning ends. Thinking is never sent
back: Chat Completions has no place for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import closing
from typing import Any

from lib.core import ProviderError, remember_secrets
from lib.llm.protocol import (
    ChatRequest,
    Event,
    Message,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolResult,
    ToolUse,
    Usage,
    stop_reason,
)
from lib.llm.providers.sdk import client_options, translate
from lib.llm.providers.thinktags import ThinkTags
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
        remember_secrets(api_key)  # an error that echoes it is redacted (sdk.translate)
        options = client_options(read_timeout, None)
        self._timeout = options["timeout"]
        self._http = http_client or openai.DefaultHttpxClient(timeout=self._timeout)
        # Local servers accept any key, but the SDK insists on one.
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url,
                                     **{**options, "http_client": self._http})
        self._url = self._client.base_url.join("chat/completions")
        self._headers = {k: v for k, v in self._client.default_headers.items()
                         if isinstance(v, str)}  # unset ones (organisation...) are markers

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
        if request.seed is not None:
            params["seed"] = request.seed
        if (r := request.reasoning) is not None:
            # A compatible server may not know "none": it gets an effort only when one is set.
            effort = r.effort or ("none" if r.mode == "off" and not self._compat else None)
            if effort:
                params["reasoning_effort"] = effort
        return params

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        usage: Usage | None = None
        finish: str | None = None
        calls = ToolCallParts()
        thought: list[str] = []  # the reasoning streamed since the last Thinking block
        tags = ThinkTags() if self._compat else None

        def pieces(parts: Iterable[tuple[bool, str]]) -> Iterator[Event]:
            """(is thinking, text) parts as events; a Thinking block once its reasoning ends."""
            for thinking, piece in parts:
                if thinking:
                    thought.append(piece)
                    yield ThinkingDelta(piece)
                else:
                    yield from thought_ends()
                    yield TextDelta(piece)

        def thought_ends() -> Iterator[Event]:
            if thought:
                yield Thinking("".join(thought), model=request.model)
                thought.clear()

        try:
            body = {**self.params(request), "stream": True,
                    "stream_options": {"include_usage": True}}
            response = self._http.send(self._http.build_request(
                "POST", self._url, json=body, timeout=self._timeout,
                headers={**self._headers, **self._client.auth_headers}), stream=True)
            with closing(response):
                if response.status_code >= 400:
                    raise _status_error(response, self._sdk)
                for chunk in _chunks(response, self._sdk):
                    if (u := chunk.get("usage")) is not None:
                        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                        reasoning = (u.get("completion_tokens_details") or {}).get(
                            "reasoning_tokens") or 0
                        # Ledger input_tokens are the uncached ones, as Anthropic reports them.
                        usage = Usage(max(0, (u.get("prompt_tokens") or 0) - cached),
                                      u.get("completion_tokens") or 0, cache_read_tokens=cached,
                                      reasoning_tokens=reasoning)
                    for choice in chunk.get("choices") or ():
                        delta = choice.get("delta") or {}
                        for key in ("reasoning_content", "reasoning"):
                            if isinstance(r := delta.get(key), str) and r:
                                thought.append(r)
                                yield ThinkingDelta(r)
                        if (text := delta.get("content")) and tags is None and not thought:
                            yield TextDelta(text)  # the common case, kept cheap (bench_api)
                        elif text:
                            yield from pieces(tags.feed(text) if tags else [(False, text)])
                        # Calls arrive by index, interleaved; complete only at the finish.
                        for part in delta.get("tool_calls") or ():
                            fn = part.get("function") or {}
                            calls.add(part["index"], id=part.get("id"), name=fn.get("name"),
                                      fragment=fn.get("arguments"))
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                            yield from pieces(tags.end() if tags else ())
                            yield from thought_ends()
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


def _chunks(response: Any, sdk: Any) -> Iterator[dict[str, Any]]:
    """Each event's JSON until [DONE]; then the body is read to its end, so the connection
    goes back to the pool. An in-stream error raises the SDK's APIError. Read as bytes,
    lines ending in LF or CRLF (the text and line layers of httpx's iter_lines cost more
    than the parse)."""
    done, data, rest = False, [], b""
    for part in response.iter_bytes():
        lines = (rest + part).split(b"\n")
        rest = lines.pop()  # an unfinished line waits for the next part
        for line in lines:
            line = line.removesuffix(b"\r")
            if line.startswith(b"data:"):
                data.append(line[6:] if line.startswith(b"data: ") else line[5:])
            elif not line and data and not done:
                payload, data = b"\n".join(data), []
                if payload.startswith(b"[DONE]"):
                    done = True
                    continue
                chunk = json.loads(payload)
                if isinstance(chunk, dict) and chunk.get("error"):
                    error = chunk["error"]
                    message = error.get("message") if isinstance(error, dict) else None
                    raise sdk.APIError(message or "An error occurred during streaming",
                                       request=response.request, body=error)
                yield chunk


def _status_error(response: Any, sdk: Any) -> Exception:
    """The SDK's error for a refused request, with the body it would have parsed."""
    text = response.read().decode(errors="replace").strip()
    try:
        body: Any = json.loads(text)
    except ValueError:
        body = text or None
    return sdk.APIStatusError(f"Error code: {response.status_code} - {body}",
                              response=response, body=body)
