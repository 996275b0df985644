"""Approval on the Chat page (AppTest): a scripted model calls the reference time server's
tool, which asks first; the paused reply shows the call with its server, arguments and hints,
and Deny sends the denial while Approve runs it, each going on in the same reply; a reload
while waiting keeps the pause and its buttons."""

from __future__ import annotations

import json

from fakes import ok
from support import TIME_SERVER, picker, shown
from test_chat_thinking_page import THINKER, scripted_model  # noqa: F401  (a fixture)
from test_mcp_servers import tools_toml  # noqa: F401  (a fixture)

from lib import chat
from lib.core import get_settings
from lib.llm import Stop, ToolCall, Usage

TOOL = "time__get_current_time"


def asks_the_time(call_id: str):
    return ([ToolCall(call_id, TOOL, {"timezone": "UTC"}, '{"timezone": "UTC"}'),
             Usage(30, 8), Stop("tool_use")], None)


def last_reply(conversation: int):
    return chat.list_messages(get_settings().db, conversation)[-1]


def test_an_ask_tool_pauses_the_reply_and_deny_or_approve_goes_on(app, scripted_model,  # noqa: F811
                                                                  tools_toml):  # noqa: F811
    tools_toml(TIME_SERVER)  # not trusted: its tools ask first
    scripted_model.attempts = [asks_the_time("t1"), ok("I was not allowed to look."),
                               asks_the_time("t2"), ok("It is the time above.")]
    at = app("app_pages/chat.py")
    at.selectbox(key="chat_model").set_value(THINKER).run()
    tools = at.multiselect(key="chat_tools")
    assert "time · get_current_time (MCP, asks first)" in tools.options
    tools.set_value([TOOL]).run()
    at.chat_input[0].set_value("What time is it?").run()
    assert not at.exception, [e.value for e in at.exception]
    [conv] = chat.list_conversations(get_settings().db)
    waiting = last_reply(conv.id)
    assert waiting.meta["run_end"] == "awaiting" and len(scripted_model.requests) == 1
    text = " ".join(shown(m.value) for m in at.markdown)
    assert "`time__get_current_time` asks before it runs · MCP server `time`" in text
    # The server's hints as badges: the time server says its tool only reads.
    assert ":green-badge[:material/visibility: read-only]" in text
    assert "destructive" not in text
    assert json.loads(at.code[-1].value) == {"timezone": "UTC"}
    assert "approve or deny each call below" in " ".join(shown(c.value) for c in at.caption)

    # A reload while waiting: the pause and its buttons are still there.
    fresh = app("app_pages/chat.py")
    picker(fresh).set_value(conv.id).run()
    assert not fresh.exception, [e.value for e in fresh.exception]
    assert fresh.button(key=f"approve_{waiting.id}_t1").label == "Approve"

    at.button(key=f"deny_{waiting.id}_t1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [denied] = scripted_model.requests[1].messages[-1].blocks
    assert denied.is_error and denied.content.startswith("denied: the person denied this call")
    reply = last_reply(conv.id)
    assert reply.id == waiting.id and reply.content == "I was not allowed to look."

    at.chat_input[0].set_value("Try again, please.").run()
    waiting = last_reply(conv.id)
    assert waiting.meta["run_end"] == "awaiting"
    at.button(key=f"approve_{waiting.id}_t2").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [result] = scripted_model.requests[3].messages[-1].blocks
    assert not result.is_error and '"timezone": "UTC"' in result.content
    reply = last_reply(conv.id)
    assert reply.id == waiting.id and reply.content == "It is the time above."
    call = reply.meta["steps"][0]["calls"][0]
    assert call["decision"] == "approve" and call["server"] == "time"
