"""The provider protocol: `stream(request)` yields a small closed set of typed events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from lib.core import ProviderError


@dataclass(frozen=True)
class ToolUse:
    """A tool call the model made, as a block of its message in the history."""
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gave back, as a block of the next user message."""
    call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Thinking:
    """What a model reasoned before its answer or between its tool calls, as a block of its
    message. Anthropic signs each block and wants it back unchanged in a tool-use turn; a
    redacted block carries only its encrypted `data`. Thinking is tied to the model that
    wrote it (`model`): a conversation moved to another model does not send it."""
    text: str
    signature: str = ""
    data: str = ""                   # a redacted block's encrypted content (text is empty)
    model: str = ""                  # the provider's id of the model that thought it

    @property
    def redacted(self) -> bool:
        return bool(self.data)


Block = ToolUse | ToolResult | Thinking


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str                     # the text; may be empty when blocks carry the message
    blocks: tuple[Block, ...] = ()   # in the order the model wrote them


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: its parameters as a JSON Schema object."""
    name: str
    description: str
    parameters: dict[str, Any]


# auto: the model decides; none: no tool; required: some tool; any other value: that tool.
ToolChoice = str

# off: no thinking; on: thinking within `budget_tokens`; adaptive: the model decides how much.
ReasoningMode = Literal["off", "on", "adaptive"]
REASONING_MODES: tuple[ReasoningMode, ...] = ("off", "on", "adaptive")


@dataclass(frozen=True)
class Reasoning:
    """How a model reasons before it answers, where it takes a setting."""
    mode: ReasoningMode = "adaptive"
    effort: str | None = None        # low | medium | high | ... for a model that takes one
    budget_tokens: int | None = None  # for mode "on"


@dataclass(frozen=True)
class ChatRequest:
    model: str                       # the provider's own model id
    messages: tuple[Message, ...]
    system: str = ""
    temperature: float | None = 0.7  # None: the model takes no temperature
    max_tokens: int = 512
    cache_system: bool = False       # ask the provider to cache the system prompt (Anthropic)
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice = "auto"
    # The reply's text must be JSON matching this schema: enforced natively where the
    # provider can, and validated (with repairs) by lib.llm.structured in every case.
    output_schema: dict[str, Any] | None = None
    schema_name: str = "reply"
    reasoning: Reasoning | None = None  # None: the model's own default
    # Sampling seed (None: the provider's own). OpenAI-style servers and the local model take
    # one; Anthropic has none, so there it is recorded but not sent.
    seed: int | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ThinkingDelta:
    """A piece of the model's reasoning as it streams; the whole block follows as Thinking."""
    text: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False          # True when counted by us because the provider sent none
    reasoning_tokens: int = 0        # of output_tokens, those spent thinking (billed as output)


@dataclass(frozen=True)
class ToolCall:
    """A tool call whose arguments are complete. `invalid` says why they cannot be used (not
    JSON, not an object); `raw` is the JSON text as the model wrote it."""
    id: str
    name: str
    arguments: dict[str, Any]
    raw: str
    invalid: str = ""


# One vocabulary for why a reply ended, whatever each provider calls it.
STOP_REASONS = ("end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal")
_STOP_ALIASES = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                 "function_call": "tool_use", "content_filter": "refusal",
                 "pause_turn": "end_turn", "model_context_window_exceeded": "max_tokens"}


def stop_reason(provider_reason: str | None) -> str:
    reason = _STOP_ALIASES.get(provider_reason or "end_turn", provider_reason or "end_turn")
    return reason if reason in STOP_REASONS else "end_turn"


@dataclass(frozen=True)
class Stop:
    reason: str                      # one of STOP_REASONS


@dataclass(frozen=True)
class Error:
    error: ProviderError
    partial: bool                    # output had begun before the failure


@dataclass(frozen=True)
class Waiting:
    """The call waits its turn under a rate limit before it is sent."""

    seconds: float                   # left to wait
    reason: str


Event = TextDelta | ThinkingDelta | Thinking | ToolCall | Usage | Stop | Error | Waiting


class Provider(Protocol):
    """Adapters yield TextDelta / ThinkingDelta / Thinking / ToolCall / Usage / Stop and raise
    ProviderError on failure. A ToolCall comes out only once its arguments are complete, a
    Thinking once its block is (after its ThinkingDeltas), in the order the model wrote them.

    The retry layer (lib.llm.call) turns those exceptions into a final Error event.
    """

    name: str

    def stream(self, request: ChatRequest) -> Iterator[Event]: ...
