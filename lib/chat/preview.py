"""The provider's own exact count of a conversation, where it offers one (the page asks for it
when the estimate is not exact)."""

from __future__ import annotations

from collections.abc import Sequence

from lib.chat.context import alternate
from lib.core import Settings
from lib.llm import ChatRequest, Message, ModelInfo, get_provider


def provider_count(settings: Settings, model: ModelInfo, history: Sequence[Message],
                   system: str) -> int | None:
    """The provider's own count of a conversation, where it offers one (Anthropic)."""
    provider = get_provider(model.provider, settings)
    count = getattr(provider, "count_tokens", None)
    messages = tuple(m for m in alternate(history) if m.content)  # no empty turns allowed
    if count is None or not messages:
        return None
    return count(ChatRequest(model.id, messages, system=system))
