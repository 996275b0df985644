"""The Chat page and thinking (AppTest): thinking drawn collapsed above the answer, redacted
thinking said as such, a run's thinking between its tool calls in the order written, reasoning
tokens and their cost in the caption; the Reasoning control only for a model that reasons,
kept with the conversation and sent with the request, its budget reserved in the context bar;
Compare's effort per variant and reasoning tokens per cell."""

from __future__ import annotations

import pytest
import scripted_provider
from fakes import ok
from support import picker, shown
from test_chat_thinking import saved_run, stored_run

from lib import chat
from lib.core import get_settings
from lib.llm import Reasoning, Stop, TextDelta, Thinking, ThinkingDelta, Usage, get_provider

LOCAL = "local/smollm2-135m-instruct"
THINKER = "scripted/thinker-1"


@pytest.fixture
def scripted_model(monkeypatch):
    """The scripted provider and its reasoning model, offered by the real app."""
    from lib.llm import provider_specs, registry

    monkeypatch.setattr(registry, "BUILTIN", (*registry.BUILTIN, "scripted_provider"))
    provider_specs.cache_clear()
    get_provider.cache_clear()
    provider = scripted_provider.PROVIDER
    provider.attempts, provider.requests = [ok("Hello.")], []
    yield provider
    monkeypatch.undo()
    provider_specs.cache_clear()
    get_provider.cache_clear()


def opened(app, conversation: int):
    at = app("app_pages/chat.py")
    picker(at).set_value(conversation).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def drawn(message) -> list[tuple[str, str]]:
    """A chat message's expanders and text, in the order drawn: (kind, label or text)."""
    return [(n.type, n.label if n.type == "expander" else shown(n.value))
            for n in message if n.type in ("expander", "markdown")]


def captions(at) -> str:
    return " ".join(shown(c.value) for c in at.caption)


def test_thinking_is_drawn_collapsed_above_the_answer(app):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Thought", model=LOCAL)
    chat.add_message(db, conv, "user", "What is 6 * 7?")
    chat.add_message(db, conv, "assistant", "It is 42.", meta={
        "model": LOCAL, "label": "SmolLM2", "input_tokens": 20, "output_tokens": 1900,
        "cost_micro": 28_600, "reasoning_tokens": 1840, "reasoning_micro": 27_600,
        "thinking_ms": 12_300.0, "thinking": [
            {"text": "Six sevens are forty-two.", "signature": "s", "data": "", "model": "x"},
            {"text": "", "signature": "", "data": "ENCRYPTED-blob", "model": "x"}]})
    at = opened(app, conv)
    reply = at.chat_message[1]
    assert drawn(reply)[:3] == [("expander", "Thought for 12 s · 1,840 tokens"),
                                ("markdown", "Six sevens are forty-two."),
                                ("markdown", "It is 42.")]
    [box] = [e for e in reply.expander if e.label.startswith("Thought")]
    assert not box.proto.expanded  # collapsed: the answer reads first
    assert any("Redacted by the provider" in shown(c.value) for c in box.caption)
    assert "ENCRYPTED" not in " ".join(str(n) for n in reply)
    assert "1,900 out · 1,840 of them reasoning ($0.0276)" in captions(at)


def test_thinking_without_reported_tokens_says_so(app):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Thought", model=LOCAL)
    chat.add_message(db, conv, "user", "Hi")
    chat.add_message(db, conv, "assistant", "Hello.", meta={
        "model": LOCAL, "thinking_ms": 300.0,
        "thinking": [{"text": "Greet.", "signature": "", "data": "", "model": "x"}]})
    at = opened(app, conv)
    assert [e.label for e in at.chat_message[1].expander] == [
        "Thought for under 1 s · tokens not reported"]
    assert "reasoning" not in captions(at)


def test_a_runs_thinking_is_drawn_between_its_tool_calls_in_order(app):
    db = get_settings().db
    conv = chat.create_conversation(db, title="Run", model=LOCAL)
    chat.add_message(db, conv, "user", "What is 6 * 7?")
    chat.add_message(db, conv, "assistant", "It is 42.", meta=stored_run())
    at = opened(app, conv)
    labels = [shown(e.label) for e in at.chat_message[1].expander]
    assert [label.split(" ·")[0] if "Thought" in label else label.split(" ")[1]
            for label in labels if "Context anatomy" not in label] == [
        "Thought for 2 s", "`calculator`", "Thought for under 1 s", "`calculator`",
        "Thought for 1 s"]
    text = [t for kind, t in drawn(at.chat_message[1]) if kind == "markdown"]
    assert text.index("Use the tool.") < text.index("Let me compute.") < text.index(
        "The tool said 42.") < text.index("It is 42.")


def test_the_trace_draws_each_steps_thinking_where_it_came(app):
    saved_run(get_settings().db)
    at = app()
    at.query_params["run"] = "r1"
    at.switch_page("app_pages/traces.py")
    at.run()
    assert not at.exception and not at.error
    order = [n.label if n.type == "expander" else shown(n.value) for n in at.main
             if n.type == "expander" or (n.type == "markdown" and "`calculator`" in n.value)]
    assert [o.split(" answered")[0] for o in order] == [
        "Thought for 2 s", "└ :material/build: `calculator`", "Thought for under 1 s",
        "└ :material/build: `calculator`", "Thought for 1 s · 30 tokens"]


def test_the_reasoning_control_is_offered_kept_and_sent(app, scripted_model):
    """Only a model that reasons gets the control; mode "on" asks for a budget, which the
    context bar reserves; the request carries the setting; reopening the conversation brings
    it back; and the reply's caption says its reasoning tokens and their cost."""
    at = app("app_pages/chat.py")
    assert not [s for s in at.sidebar.selectbox if s.label == "Reasoning"]  # the local model
    at.selectbox(key="chat_model").set_value(THINKER).run()
    mode = at.selectbox(key="chat_reasoning")
    assert mode.options == ["Off", "On, within a budget", "Adaptive"] and \
        mode.value == "adaptive"
    assert not [n for n in at.number_input if n.key == "chat_thinking_budget"]
    mode.set_value("on").run()
    assert at.number_input(key="chat_thinking_budget").value == 4096
    at.selectbox(key="chat_effort").set_value("high").run()
    assert "reserved thinking 4,096" in shown(at.get("progress")[0].proto.text)
    scripted_model.attempts = [ok("42.", usage=Usage(20, 500, reasoning_tokens=460))]
    at.chat_input[0].set_value("Think hard.").run()
    assert not at.exception, [e.value for e in at.exception]
    assert scripted_model.requests[-1].reasoning == Reasoning("on", "high", 4096)
    assert "500 out · 460 of them reasoning ($0.0069)" in captions(at)

    db = get_settings().db
    [conv] = chat.list_conversations(db)
    assert {k: conv.settings[k] for k in ("reasoning", "effort", "thinking_budget")} == {
        "reasoning": "on", "effort": "high", "thinking_budget": 4096}
    fresh = app("app_pages/chat.py")
    picker(fresh).set_value(conv.id).run()
    assert (fresh.selectbox(key="chat_reasoning").value, fresh.selectbox(
        key="chat_effort").value, fresh.number_input(key="chat_thinking_budget").value) == (
        "on", "high", 4096)
    fresh.selectbox(key="chat_model").set_value(LOCAL).run()  # no reasoning: no control
    assert not [s for s in fresh.sidebar.selectbox if s.label == "Reasoning"]


def test_a_reply_that_thinks_shows_it_apart_from_the_answer(app, scripted_model):
    """Waits on the provider half of issue 23: the call passing thinking on."""
    scripted_model.attempts = [([ThinkingDelta("Six "), ThinkingDelta("sevens."),
                                 Thinking("Six sevens.", "sig", model="thinker-1"),
                                 TextDelta("It is 42."), Usage(20, 60, reasoning_tokens=40),
                                 Stop("end_turn")], None)]
    at = app("app_pages/chat.py")
    at.selectbox(key="chat_model").set_value(THINKER).run()
    at.chat_input[0].set_value("What is 6 * 7?").run()
    assert not at.exception, [e.value for e in at.exception]
    reply = at.chat_message[1]
    assert drawn(reply)[:3] == [("expander", "Thought for under 1 s · 40 tokens"),
                                ("markdown", "Six sevens."), ("markdown", "It is 42.")]


def test_a_compare_variant_sets_its_effort_and_cells_show_reasoning(app, scripted_model):
    from lib import compare

    scripted_model.attempts = [ok("bug", usage=Usage(20, 90, reasoning_tokens=80))]
    at = app("app_pages/compare.py")
    assert not [s for s in at.selectbox if s.label == "Reasoning effort"]  # local models
    for i in range(2):
        at.selectbox(key=f"cv{i}_model_classifier").set_value(THINKER).run()
    effort = at.selectbox(key=f"cv0_effort_{THINKER}")
    assert effort.options == ["The model's default", "low", "medium", "high"]
    effort.set_value("low").run()
    at.text_area(key="cmp_form_text").input("The export button does nothing.").run()
    at.button(key="cmp_forecast_btn").click().run()
    at.button(key="cmp_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert sorted(map(str, (r.reasoning for r in scripted_model.requests))) == [
        "None", str(Reasoning("adaptive", "low"))]
    db = get_settings().db
    [(run_id, *_)] = compare.list_runs(db)
    run = compare.load_run(db, run_id)
    assert [v.get("effort") for v in run.variants] == ["low", ""]
    assert "effort low" in run.variant_label(0) and "effort" not in run.variant_label(1)
    assert [c.reasoning_tokens for c in run.cells.values()] == [80, 80]
    assert sum("90 out (80 reasoning)" in shown(m.value) for m in at.main.markdown) == 2
