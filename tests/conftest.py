"""Shared fixtures. Tests never read a real secrets file, never use real keys, and keep every
byte they write under a temporary data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Before anything imports lib.settings: no real keys or secrets may reach a test.
for _var in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "PROMPTLAB_OPENAI_BASE_URL",
             "PROMPTLAB_OPENAI_MODELS", "PROMPTLAB_DATA_DIR", "PROMPTLAB_DATABASE_URL",
             "ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"):
    os.environ.pop(_var, None)
# A test that sets a (fake) key must not ask a vendor's models endpoint: listing is off unless
# a test turns it on over a fake endpoint (tests/test_discovery.py). Browser apps inherit it.
os.environ["PROMPTLAB_DISCOVER_MODELS"] = "0"
os.environ["PROMPTLAB_SECRETS_FILE"] = os.devnull
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from pgserver import backend, postgres_server  # noqa: E402, F401  (fixtures)
from redisserver import redis_server, redis_url  # noqa: E402, F401  (fixtures)
from support import free_port, wait_for_http  # noqa: E402

from lib.core import ROOT, Settings, get_settings, load_settings  # noqa: E402
from lib.storage import Database  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_guards():
    """Breakers and rate limiters are process-wide: each test starts with closed ones."""
    from lib.llm import GUARDS

    GUARDS.reset()
    yield
    GUARDS.reset()


@pytest.fixture(autouse=True)
def no_leftover_pollers():
    """A page starts a batch poller for its database; it stops with the test, not the process
    (a poller outliving a dropped database logged a traceback every round, and 3.11's
    traceback carets call ast.parse, which races a page's own parse in another thread)."""
    yield
    from lib import compare

    compare.stop_pollers()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("PROMPTLAB_DATA_DIR", str(d))
    get_settings.cache_clear()
    yield d
    get_settings.cache_clear()


@pytest.fixture
def prompts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped prompts: tests may save versions without touching the repo."""
    import shutil

    d = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", d)
    monkeypatch.setenv("PROMPTLAB_PROMPTS_DIR", str(d))
    # No shipped eval guards a label here: a test that wants one writes it.
    monkeypatch.setenv("PROMPTLAB_EVALS_DIR", str(tmp_path / "evals"))
    # Nor a shipped workflow: a test that wants one copies it (tests/test_workflows*.py).
    monkeypatch.setenv("PROMPTLAB_WORKFLOWS_DIR", str(tmp_path / "workflows"))
    return d


@pytest.fixture
def app(data_dir, prompts_dir):
    """A fresh AppTest per test: caches cleared, no secrets, data in a temporary folder.

    `app()` opens Home; `app("app_pages/chat.py")` switches to a page after that.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from lib.llm import get_provider

    st.cache_data.clear()
    st.cache_resource.clear()
    get_settings.cache_clear()
    get_provider.cache_clear()

    def make(page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120)
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    yield make
    get_settings.cache_clear()
    get_provider.cache_clear()


@pytest.fixture
def openai_key(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """A (fake) OpenAI key is configured; returns the settings' database."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    get_settings.cache_clear()
    return get_settings().db


@pytest.fixture
def settings(data_dir: Path, prompts_dir: Path) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir for slow session-wide fixtures (the local model's CPU check is cached there)."""
    return tmp_path_factory.mktemp("shared-data")


@pytest.fixture(scope="session")
def llama_server():
    """llama-cpp-python's OpenAI-compatible server with the bundled model, on loopback."""
    import subprocess
    import sys

    from lib.llm import bundled_model_path

    path = bundled_model_path()
    if path is None:
        pytest.skip("the bundled model is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/v1/models", proc=proc)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(10)
