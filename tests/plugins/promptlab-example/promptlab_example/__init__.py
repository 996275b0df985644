"""An example Prompt Lab plugin.

`register_providers` adds a provider, "example", with one model that answers with the user's
last message in capitals, word by word, as a real adapter streams; `register_tools` adds a
tool that counts the words of a text. Both go through the lab's own call seam and agent loop,
so their calls are ledger rows like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from lib.agents import tool
from lib.llm import (
    ChatRequest,
    Event,
    ModelInfo,
    ProviderSpec,
    Stop,
    TextDelta,
    Usage,
    estimate_counter,
)

MODEL = ModelInfo(id="shout", provider="example", label="Shout (example plugin)",
                  context_window=8192, max_output=1024)


class ShoutProvider:
    """Answers with the last user message in capitals."""

    name = "example"

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        words = last.upper().split()[: request.max_tokens]
        for i, word in enumerate(words):
            yield TextDelta(word if i == 0 else " " + word)
        counted = sum(len(m.content.split()) for m in request.messages)
        yield Usage(counted + len(request.system.split()), len(words))
        yield Stop("end_turn")


def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec(
        "example", "Example plugin", False, lambda _settings, _run: (True, ""),
        lambda _settings: ShoutProvider(), estimate_counter,
        models=lambda _settings: [MODEL]))


@tool()
def word_count(text: str) -> int:
    """Count the words of a text (runs of characters between spaces)."""
    return len(text.split())


def register_tools(register: Callable[..., None]) -> None:
    register(word_count)
