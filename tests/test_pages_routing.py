"""AppTest for cost routing: Router in the Chat page's picker on the bundled model, a prompt's
declared task set on the Prompts page, and what routing saved on the Costs page."""

from __future__ import annotations

from support import shown

from lib import chat, spend
from lib.core import get_settings
from lib.prompts import PromptStore

ONLY_LOCAL = ("Router chose SmolLM2 135M Instruct (bundled, local): rule for the classify task "
              "names Claude Haiku 5.5, which is unavailable; the only available model")


def test_router_chooses_the_bundled_model_and_says_why_under_the_reply(app):
    at = app("app_pages/chat.py")
    at.selectbox(key="chat_model").set_value("router").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="chat_task").value == "auto"
    assert any("Now: SmolLM2" in shown(c.value) and "(the default)" in shown(c.value)
               for c in at.sidebar.caption)
    at.selectbox(key="chat_task").set_value("classify").run()
    at.chat_input[0].set_value("Bug report or question: the app crashes on save.").run()
    assert not at.exception and not at.error
    assert any(shown(c.value).endswith(ONLY_LOCAL) for c in at.caption)
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    reply = chat.list_messages(db, conv.id)[1]
    row = spend.get_call(db, reply.call_id)
    assert row.provider == "local" and row.route.startswith("rule for the classify task")
    assert row.baseline_micro == 0 == row.cost_micro  # the top available model is the local one

    at.switch_page("app_pages/costs.py")
    at.run()
    assert not at.exception
    assert any(shown(m.value).endswith(
        "Routing saved **$0** against always using SmolLM2 135M Instruct (bundled, local): 1 "
        "routed call cost $0 instead of $0.") for m in at.markdown)


def test_a_task_set_on_the_prompts_page_routes_the_chat(app, prompts_dir):
    at = app("app_pages/prompts.py")
    at.selectbox(key="prompt_pick").set_value("assistant").run()
    at.selectbox(key="edit_task_assistant").set_value("reasoning").run()
    at.button(key="save_version").click().run()
    assert not at.exception and not at.error
    assert PromptStore(prompts_dir).get("assistant").task == "reasoning"

    at.switch_page("app_pages/chat.py")
    at.run()
    at.selectbox(key="chat_model").set_value("router").run()
    at.radio(key="system_new_source").set_value("From a prompt").run()
    assert not at.exception and not at.error
    task = at.selectbox(key="chat_task")
    assert task.format_func("auto") == "Auto: reasoning (declared by prompt assistant)"
    assert any("rule for the reasoning task (declared by prompt 'assistant')" in shown(c.value)
               for c in at.sidebar.caption)
