"""The Tools page through AppTest: the empty state says how to add a server; a configured
server is listed with its status and tools; a tool is called from its test form; a server
that cannot start shows why."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lib.mcp import manager

MISBEHAVING = Path(__file__).parent / "fixtures" / "mcp_misbehaving.py"


@pytest.fixture
def tools_toml(data_dir):
    def write(text: str) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "tools.toml").write_text(text, encoding="utf-8")

    yield write
    manager().configure(())


def texts(at) -> str:
    return "\n".join([*(m.value for m in at.markdown), *(c.value for c in at.caption),
                      *(e.label for e in at.expander)])


def test_without_tools_toml_the_page_says_how_to_add_a_server(app):
    at = app("app_pages/tools.py")
    [info] = at.info
    assert "No MCP servers are configured" in info.value and "tools.toml" in info.value
    assert any('name = "time"' in c.value for c in at.code)  # the example, to copy
    assert "`calculator`" in texts(at)  # the built-ins are listed all the same


def test_a_configured_server_is_listed_with_its_tools_and_one_is_called(app, tools_toml):
    tools_toml(f'[[server]]\nname = "bad"\ncommand = "{sys.executable}"\n'
               f'args = ["{MISBEHAVING}"]\n[server.tools]\ncrash = "never"\n')
    at = app("app_pages/tools.py")
    shown = texts(at)
    assert "**bad** · :material/check_circle: ready · stdio" in shown
    assert "`bad__echo` · asks first · read-only" in shown
    assert "`bad__crash` · never offered · destructive" in shown
    assert not at.info  # no empty state
    assert at.text_area(key="tool_args_bad__echo").value == '{"text": ""}'  # to fill in
    at.text_area(key="tool_args_bad__echo").input('{"text": "hello from the form"}')
    at.button(key="tool_run_bad__echo").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "hello from the form" in [c.value for c in at.code]
    at.text_area(key="tool_args_bad__echo").input('{"text": 3}')
    at.button(key="tool_run_bad__echo").click().run()
    assert any(c.value.startswith("Invalid arguments: text:") for c in at.code)
    at.text_area(key="tool_args_bad__echo").input("{text")
    at.button(key="tool_run_bad__echo").click().run()
    assert any("The arguments are not JSON" in e.value for e in at.error)


def test_a_server_that_cannot_start_shows_why_and_can_be_started_again(app, tools_toml):
    tools_toml('[[server]]\nname = "gone"\ncommand = "no-such-mcp-server-here"\n')
    at = app("app_pages/tools.py")
    assert "**gone** · :material/error: failed" in texts(at)
    assert any("no-such-mcp-server-here" in e.value for e in at.error)
    at.button(key="mcp_start_gone").click().run()
    assert not at.exception and "failed" in texts(at)


def test_a_broken_tools_toml_is_an_error_on_the_page(app, tools_toml):
    tools_toml('[[server]]\nname = "x"\ncomand = "y"\n')
    at = app("app_pages/tools.py")
    assert any("unknown key 'comand'" in e.value for e in at.error)
    assert "`calculator`" in texts(at)
