"""The HTTP API served by uvicorn on 127.0.0.1 over a temporary data folder, beside a scripted
OpenAI-compatible server offering `fake-model` (priced, as compat/fake-model, with no
fallback chain) and `flaky` (unpriced; its chain falls back to the bundled model): the
`served` fixture, loaded by a test module's `pytest_plugins = ["api_served"]`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
from fake_openai import MODEL, FakeOpenAI, app_env_for, reply, serving
from support import serving_asgi

from lib import api
from lib.core import Settings, load_settings
from lib.llm import ModelInfo, save_user_catalog


@dataclass
class Served:
    url: str                        # the /v1 base URL
    settings: Settings
    fake: FakeOpenAI

    def client(self, secret: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=secret, max_retries=0, timeout=60)

    def key(self, name: str = "test", budget: float | None = None, *,
            fallbacks: bool = False) -> str:
        flag = {"fallbacks": True} if fallbacks else {}
        return api.create_key(self.settings.db, name, budget, **flag).secret

    def post(self, path: str, secret: str | None, body: dict) -> httpx.Response:
        headers = {"authorization": f"Bearer {secret}"} if secret else {}
        return httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=60)

    def rows(self) -> list[dict]:
        """The ledger, oldest row first."""
        with self.settings.db.connect() as conn:
            return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY id")]

    def holds(self) -> int:
        """Budget reservations still held (a settled or released call holds none)."""
        with self.settings.db.connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0]


@pytest.fixture
def served(data_dir, prompts_dir, monkeypatch) -> Iterator[Served]:
    fake = FakeOpenAI(reply("Hello", " from", " the fake."))
    with serving(fake):
        env = app_env_for(fake)
        monkeypatch.setenv("PROMPTLAB_OPENAI_BASE_URL", env["PROMPTLAB_OPENAI_BASE_URL"])
        monkeypatch.setenv("PROMPTLAB_OPENAI_MODELS", f"{MODEL},flaky")
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        save_user_catalog(settings, [ModelInfo(MODEL, "compat", "Fake (priced)", 8192, 1024,
                                               input=1.0, output=2.0)], "2026-01-01")
        with serving_asgi(api.create_app(settings)) as url:
            yield Served(f"{url}/v1", settings, fake)
