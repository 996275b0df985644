"""Settings precedence, and keys never leaking into reprs, pages or the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import Replay, error_response, scripted

from lib import spend
from lib.core import ConfigError, load_settings
from lib.llm import (
    AnthropicProvider,
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    load_catalog,
    model_statuses,
    user_catalog_path,
)

SECRET = "sk-ant-api03-VERY-SECRET-KEY"


def test_env_beats_secrets_beats_defaults(tmp_path: Path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'ANTHROPIC_API_KEY = "{SECRET}"\nPROMPTLAB_DEADLINE = "12"\n'
                       'PROMPTLAB_READ_TIMEOUT = "5"\n')
    s = load_settings({"PROMPTLAB_DEADLINE": "99", "PROMPTLAB_DATA_DIR": str(tmp_path)}, secrets)
    assert s.anthropic_api_key == SECRET          # from secrets.toml
    assert s.deadline_s == 99.0                   # env wins
    assert s.read_timeout_s == 5.0
    assert s.openai_api_key is None and s.chroma_port == 8000  # defaults
    assert s.api_port != s.chroma_port  # `make serve` and a Chroma server side by side
    assert s.data_dir == tmp_path


def test_relative_data_dir_is_under_the_project():
    s = load_settings({"PROMPTLAB_DATA_DIR": "somewhere"}, Path("/nonexistent"))
    assert s.data_dir.is_absolute() and s.data_dir.name == "somewhere"


def test_bad_values_are_config_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="PROMPTLAB_DEADLINE"):
        load_settings({"PROMPTLAB_DEADLINE": "soon"}, Path("/nonexistent"))
    broken = tmp_path / "secrets.toml"
    broken.write_text(f'ANTHROPIC_API_KEY = "{SECRET}\n')
    with pytest.raises(ConfigError) as info:
        load_settings({}, broken)
    assert SECRET not in str(info.value)


def test_keys_never_appear_in_repr():
    s = load_settings({"ANTHROPIC_API_KEY": SECRET, "OPENAI_API_KEY": SECRET},
                      Path("/nonexistent"))
    assert SECRET not in repr(s) and SECRET not in str(s)


def test_missing_key_means_unavailable_with_instructions(tmp_path: Path):
    s = load_settings({"PROMPTLAB_DATA_DIR": str(tmp_path)}, Path("/nonexistent"))
    by_provider = {st.model.provider: st for st in model_statuses(load_catalog(s), s,
                                                                   check_local=False)}
    assert not by_provider["anthropic"].available
    assert "ANTHROPIC_API_KEY" in by_provider["anthropic"].reason
    assert not by_provider["openai"].available and "OPENAI_API_KEY" in by_provider["openai"].reason
    with_key = load_settings({"ANTHROPIC_API_KEY": SECRET, "PROMPTLAB_DATA_DIR": str(tmp_path)},
                             Path("/nonexistent"))
    assert all(st.available for st in model_statuses(load_catalog(with_key), with_key,
                                                     check_local=False)
               if st.model.provider == "anthropic")


def test_a_failed_call_stores_no_key(settings):
    replay = Replay(error_response(401, "authentication_error", "invalid x-api-key"))
    model = load_catalog(settings).get("anthropic/claude-haiku-4-5")
    provider = AnthropicProvider(SECRET, base_url="http://anthropic.test",
                                 http_client=replay.client())
    call = scripted(settings, provider).invoke(CallSpec(
        model, ChatRequest(model.id, (Message("user", "hi"),)), CallContext("test")))
    list(call)
    assert replay.requests[0].headers["authorization"].endswith(SECRET)  # it was sent...
    assert call.record.status == "error" and call.record.error_kind == "auth"
    for path in settings.data_dir.rglob("*"):                          # ...and stored nowhere
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()
    assert SECRET not in str(call.error)
    assert spend.count_calls(settings.db) == 1


def test_user_catalog_overrides_shipped_prices(settings):
    user_catalog_path(settings).parent.mkdir(parents=True, exist_ok=True)
    user_catalog_path(settings).write_text(
        'prices_checked = "2026-11-20"\n[[model]]\nid = "gpt-5"\nprovider = "openai"\n'
        'label = "GPT-5 (ours)"\ncontext_window = 400000\nmax_output = 128000\n'
        'input = 1.0\noutput = 9.0\n')
    catalog = load_catalog(settings)
    assert catalog.prices_checked == "2026-11-20"
    assert catalog.get("openai/gpt-5").input == 1.0
    assert catalog.get("anthropic/claude-haiku-4-5").input == 1.0  # the rest still shipped


def test_compat_models_join_the_catalog(tmp_path: Path):
    s = load_settings({"PROMPTLAB_OPENAI_BASE_URL": "http://127.0.0.1:11434/v1",
                       "PROMPTLAB_OPENAI_MODELS": "llama3.2, qwen2.5",
                       "PROMPTLAB_DATA_DIR": str(tmp_path)}, Path("/nonexistent"))
    catalog = load_catalog(s)
    m = catalog.get("compat/qwen2.5")
    assert m.input == 0 and m.context_window == 8192
    statuses = {st.model.key: st for st in model_statuses(catalog, s, check_local=False)}
    assert statuses["compat/llama3.2"].available
