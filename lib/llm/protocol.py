"""The provider protocol: `stream(request)` yields a small closed set of typed events."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from lib.core import ProviderError


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str                       # the provider's own model id
    messages: tuple[Message, ...]
    system: str = ""
    temperature: float | None = 0.7  # None: the model takes no temperature
    max_tokens: int = 512
    cache_system: bool = False       # ask the provider to cache the system prompt (Anthropic)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False          # True when counted by us because the provider sent none


@dataclass(frozen=True)
class Stop:
    reason: str                      # the provider's stop reason: end_turn, max_tokens, stop, ...


@dataclass(frozen=True)
class Error:
    error: ProviderError
    partial: bool                    # output had begun before the failure


Event = TextDelta | Usage | Stop | Error


class Provider(Protocol):
    """Adapters yield TextDelta / Usage / Stop and raise ProviderError on failure.

    The retry layer (lib.calls) turns those exceptions into a final Error event.
    """

    name: str

    def stream(self, request: ChatRequest) -> Iterator[Event]: ...
