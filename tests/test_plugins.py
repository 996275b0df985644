"""Plugins: a package installed beside the lab adds a provider (and its model) through an entry
point; a broken plugin is left out and reported, never stops the lab."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lib.agents import forget_tools, registered_tools, run_tool, tool_sources
from lib.core import failures, get_settings
from lib.llm import (
    CallContext,
    Calls,
    CallSpec,
    ChatRequest,
    Message,
    ToolCall,
    get_provider,
    load_catalog,
    model_statuses,
    provider_specs,
)
from lib.spend import get_call

EXAMPLE = Path(__file__).parent / "plugins" / "promptlab-example"


@pytest.fixture(scope="session")
def installed_example(tmp_path_factory) -> Path:
    """The example plugin installed (as pip installs any package) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target),
                    str(EXAMPLE)], check=True)
    return target


def _fresh_registry() -> None:
    importlib.invalidate_caches()
    provider_specs.cache_clear()
    forget_tools()
    get_provider.cache_clear()


@pytest.fixture
def example(installed_example, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_example))
    _fresh_registry()
    yield installed_example
    monkeypatch.undo()
    _fresh_registry()


def test_the_example_plugin_adds_a_provider_and_its_model(example, data_dir):
    spec = provider_specs()["example"]
    assert spec.source == "example" and provider_specs()["local"].source == "built-in"
    settings = get_settings()
    catalog = load_catalog(settings)
    shout = catalog.get("example/shout")
    assert shout.label == "Shout (example plugin)"
    assert [s.available for s in model_statuses(catalog, settings) if s.model is shout] == [True]


def test_the_example_plugin_adds_a_tool_that_runs_like_a_built_in(example):
    tool = registered_tools()["word_count"]
    assert tool_sources()["word_count"] == "example"
    assert tool_sources()["calculator"] == "built-in"
    outcome = run_tool(tool, ToolCall("c1", "word_count", {"text": "one two three"}, ""), {})
    assert (outcome.content, outcome.is_error) == ("3", False)
    bad = run_tool(tool, ToolCall("c2", "word_count", {"text": 3}, ""), {})
    assert bad.is_error  # its arguments are validated against its schema, as a built-in's


def test_without_the_plugin_there_is_no_such_provider(data_dir):
    _fresh_registry()
    assert "example" not in provider_specs() and "word_count" not in registered_tools()
    assert "example/shout" not in {m.key for m in load_catalog(get_settings()).models}


def test_a_call_to_the_plugin_model_is_a_ledger_row_like_any_other(example, data_dir):
    settings = get_settings()
    model = load_catalog(settings).get("example/shout")
    call = Calls(settings).invoke(CallSpec(
        model, ChatRequest(model.id, (Message("user", "hello there"),)), CallContext("chat")))
    assert [e for e in call if type(e).__name__ == "TextDelta"]
    assert call.text == "HELLO THERE"
    row = get_call(settings.db, call.record.id)
    assert (row.provider, row.model, row.status, row.output_tokens) == ("example", "shout", "ok", 2)


def test_a_broken_plugin_is_left_out_and_reported(tmp_path, monkeypatch, data_dir):
    (tmp_path / "broken_plugin.py").write_text("def register_providers(register):\n"
                                               "    raise RuntimeError('no config found')\n")
    info = tmp_path / "broken_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [promptlab.providers]
        broken = broken_plugin:register_providers
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    _fresh_registry()
    try:
        assert "local" in provider_specs() and "broken" not in provider_specs()
        assert any(f.plugin == "broken" and "no config found" in f.error for f in failures())
    finally:
        monkeypatch.undo()
        _fresh_registry()


def test_the_plugin_model_answers_in_the_chat_page(example, app):
    at = app("app_pages/chat.py")
    picker = at.selectbox(key="chat_model")
    assert picker.value == "local/smollm2-135m-instruct"  # installing it changed no default
    assert "Example plugin · Shout (example plugin)" in picker.options
    picker.set_value("example/shout").run()
    tools = at.multiselect(key="chat_tools")
    assert "word_count (plugin example)" in tools.options
    at.chat_input[0].set_value("make it loud").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("MAKE IT LOUD" in m.value for m in at.markdown)
