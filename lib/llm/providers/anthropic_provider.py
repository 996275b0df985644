"""Anthropic Messages API, streamed, with cache read / write usage and thinking.

Thinking (https://platform.claude.com/docs/en/build-with-claude/thinking, checked 2026-12):
a request that sets `reasoning` sends `thinking` and `output_config.effort`; one that does
not leaves both to the model's default. Adaptive thinking asks for `display: "summarized"`:
newer models default to "omitted" (blocks with empty text), and Claude Sonnet 5.5 returns
the notes it writes between tool calls as thinking blocks, so without it a chat would go
quiet between tool calls (models/sonnet-5-5/migration-guide, "Text between tool calls").
Thinking blocks are sent back unchanged, signature and redacted data included, in the
order the model wrote them; another model's are not sent (they are tied to their model).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lib.core import ProviderError, remember_secrets
from lib.llm.protocol import (
    Block,
    ChatRequest,
    Event,
    Message,
    Reasoning,
    Stop,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolUse,
    Usage,
    stop_reason,
)
from lib.llm.providers.sdk import client_options, translate
from lib.llm.toolcalls import ToolCallParts


def _message(m: Message, model: str) -> dict[str, Any]:
    """One of our messages as Anthropic content blocks (plain text stays a string). Thinking
    comes first and keeps its place among the tool calls; `model`'s own only."""
    blocks = [b for b in m.blocks if not isinstance(b, Thinking) or b.model == model]
    if not blocks:
        return {"role": m.role, "content": m.content}
    lead = next((i for i, b in enumerate(blocks) if not isinstance(b, Thinking)), len(blocks))
    out = [_block(b) for b in blocks[:lead]]
    out += [{"type": "text", "text": m.content}] if m.content else []
    out += [_block(b) for b in blocks[lead:]]
    # Anthropic wants tool results first in their user message.
    out.sort(key=lambda d: d["type"] != "tool_result")
    return {"role": m.role, "content": out}


def _block(b: Block) -> dict[str, Any]:
    if isinstance(b, Thinking):  # as it came: its signature checks the text
        return {"type": "redacted_thinking", "data": b.data} if b.redacted else \
            {"type": "thinking", "thinking": b.text, "signature": b.signature}
    if isinstance(b, ToolUse):
        return {"type": "tool_use", "id": b.id, "name": b.name, "input": b.arguments}
    return {"type": "tool_result", "tool_use_id": b.call_id, "content": b.content,
            "is_error": b.is_error}


# Models on which thinking is turned off with `between_tools` ("disabled" is a 400 there):
# models/sonnet-5-5/whats-new-sonnet-5-5, "Turn off up-front thinking with between_tools".
_OFF_BETWEEN_TOOLS = ("claude-sonnet-5-5",)
_MIN_BUDGET = 1024  # the least `budget_tokens` the API takes


def _thinking(r: Reasoning, request: ChatRequest) -> dict[str, Any]:
    """The `thinking` parameter for a reasoning setting."""
    if r.mode == "off":
        off = request.model.startswith(_OFF_BETWEEN_TOOLS)
        return {"type": "between_tools" if off else "disabled"}
    if r.mode == "adaptive":
        return {"type": "adaptive", "display": "summarized"}
    budget = max(r.budget_tokens or _MIN_BUDGET, _MIN_BUDGET)
    if budget >= request.max_tokens:  # the API's rule: thinking is part of max_tokens
        raise ProviderError("bad_request", f"A thinking budget of {budget:,} tokens needs "
                            f"max tokens above it ({request.max_tokens:,} now).",
                            hint="Raise max tokens, lower the budget, or use adaptive thinking.")
    return {"type": "enabled", "budget_tokens": budget}


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
            "messages": [_message(m, request.model) for m in request.messages],
        }
        if request.tools:
            params["tools"] = [{"name": t.name, "description": t.description,
                                "input_schema": t.parameters} for t in request.tools]
            params["tool_choice"] = _tool_choice(request.tool_choice)
        if request.output_schema is not None:
            params["output_config"] = {"format": {"type": "json_schema",
                                                  "schema": request.output_schema}}
        if (r := request.reasoning) is not None:
            params["thinking"] = _thinking(r, request)
            if r.effort:
                params["output_config"] = {**params.get("output_config", {}), "effort": r.effort}
        # Thinking takes only the default temperature (another is a 400).
        if request.temperature is not None and (r is None or r.mode == "off"):
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
        usage = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "reasoning": 0}
        reported = False
        reason: str | None = None
        finished = False
        calls = ToolCallParts()
        thoughts: dict[int, tuple[list[str], list[str]]] = {}  # index: (text, signature)
        redacted: dict[int, str] = {}
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
                        elif block.type == "thinking":
                            thoughts[event.index] = ([getattr(block, "thinking", "") or ""],
                                                     [getattr(block, "signature", "") or ""])
                        elif block.type == "redacted_thinking":
                            redacted[event.index] = block.data
                    elif kind == "content_block_delta":
                        delta = event.delta
                        if delta.type == "text_delta" and delta.text:
                            yield TextDelta(delta.text)
                        elif delta.type == "input_json_delta":
                            calls.add(event.index, fragment=delta.partial_json)
                        elif delta.type == "thinking_delta" and event.index in thoughts:
                            thoughts[event.index][0].append(delta.thinking)
                            if delta.thinking:
                                yield ThinkingDelta(delta.thinking)
                        elif delta.type == "signature_delta" and event.index in thoughts:
                            thoughts[event.index][1].append(delta.signature)
                    elif kind == "content_block_stop":
                        if event.index in calls:  # a call's arguments are complete
                            yield calls.finish(event.index)
                        elif event.index in thoughts:  # a block is whole once signed
                            text, signature = thoughts.pop(event.index)
                            yield Thinking("".join(text), "".join(signature),
                                           model=request.model)
                        elif event.index in redacted:
                            yield Thinking("", data=redacted.pop(event.index),
                                           model=request.model)
                    elif kind == "message_delta":
                        reason = event.delta.stop_reason or reason
                        if (u := getattr(event, "usage", None)) is not None and u.output_tokens:
                            usage["output"] = u.output_tokens
                            details = getattr(u, "output_tokens_details", None)
                            usage["reasoning"] = getattr(details, "thinking_tokens", 0) or 0
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
                        usage["cache_write"], reasoning_tokens=usage["reasoning"])
        yield Stop(stop_reason(reason))
