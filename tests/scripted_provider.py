"""A scripted provider registered like a built-in (listed in lib.llm.registry.BUILTIN by the
`scripted_model` fixture of the page tests), so the real app offers its model — one that
reasons, with every mode and effort — and answers with what a test scripts."""

from __future__ import annotations

from collections.abc import Callable

from fakes import FakeProvider, ok

from lib.llm import ModelInfo, ProviderSpec, estimate_counter

THINKER = ModelInfo("thinker-1", "scripted", "Thinker (scripted)", 200_000, 16_000,
                    input=3.0, output=15.0, thinking=("off", "on", "adaptive"),
                    efforts=("low", "medium", "high"))
PROVIDER = FakeProvider([ok("Hello.")], name="scripted")


def register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(ProviderSpec(
        "scripted", "Scripted", False, lambda _settings, _run: (True, ""),
        lambda _settings: PROVIDER, estimate_counter, models=lambda _settings: [THINKER]))
