"""Chat turns with tools: the run is stored with the reply, resumes with calls and results in
the next request, exports, and a refusal stores nothing."""

from __future__ import annotations

import pytest
from fakes import FakeProvider, chat_turn, ok, scripted

from lib import chat, spend
from lib.agents import BUILTINS
from lib.chat import TurnOptions
from lib.core import BudgetExceededError, PromptLabError
from lib.llm import ModelInfo, Stop, ToolCall, ToolResult, ToolUse, Usage
from lib.ui.chat.tools import DEFINE

MODEL = ModelInfo("m", "openai", "Paid", 8000, 1000, input=1.0, output=2.0)
CALC = (BUILTINS["calculator"],)


def calc_call(expression: str, text: str = ""):
    from lib.llm import TextDelta

    return ([*([TextDelta(text)] if text else []),
             ToolCall("c1", "calculator", {"expression": expression}, "{}"),
             Usage(50, 10), Stop("tool_use")], None)


def test_a_turn_with_tools_stores_its_steps_and_resumes_with_them(settings):
    provider = FakeProvider([calc_call("6 * 7", "Let me compute."), ok("It is 42.")])
    turn = chat_turn(settings, None, MODEL, "What is 6 * 7?", TurnOptions(tools=CALC),
                    calls=scripted(settings, provider))
    list(turn)
    conv = turn.conversation_id
    user, reply = chat.list_messages(settings.db, conv)
    assert (user.content, reply.content, reply.status) == ("What is 6 * 7?", "It is 42.", "ok")
    [first, second] = reply.meta["steps"]
    assert first["text"] == "Let me compute."
    assert first["calls"][0] | {"ms": 0} == first["calls"][0] | {
        "name": "calculator", "arguments": {"expression": "6 * 7"}, "result": "42",
        "is_error": False, "ms": 0}
    assert reply.meta["run_end"] == "answered" and reply.meta["cost_micro"] == sum(
        spend.get_call(settings.db, s["call_id"]).cost_micro for s in (first, second))
    # The next turn sends the call and its result before the answer, in order.
    nxt = FakeProvider([ok("You're welcome.")])
    list(chat_turn(settings, conv, MODEL, "Thanks!", TurnOptions(tools=CALC),
                  calls=scripted(settings, nxt)))
    sent = nxt.requests[0].messages
    assert [m.role for m in sent] == ["user", "assistant", "user", "assistant", "user"]
    assert sent[1].blocks == (ToolUse("c1", "calculator", {"expression": "6 * 7"}),)
    assert sent[2].blocks == (ToolResult("c1", "42"),)
    assert sent[3].content == "It is 42." and sent[4].content == "Thanks!"
    md = chat.export_markdown(settings.db, conv)
    assert "**Tool call** `calculator`" in md and "Let me compute." in md
    assert md.index("*result:*") < md.index("It is 42.")
    assert '"steps"' in chat.export_json(settings.db, conv)


def test_a_refused_turn_with_tools_stores_nothing(settings):
    spend.set_budget(settings.db, "all", "day", 0.0)
    turn = chat_turn(settings, None, MODEL, "What is 1 + 1?", TurnOptions(tools=CALC),
                    calls=scripted(settings, FakeProvider([ok("2")])))
    with pytest.raises(BudgetExceededError):
        turn.begin()
    assert chat.list_conversations(settings.db) == []


def test_a_run_stopped_at_the_step_limit_is_kept_and_says_so(settings):
    looping = [calc_call(f"{i} + 1") for i in range(5)]
    turn = chat_turn(settings, None, MODEL, "Count.", TurnOptions(tools=CALC, max_steps=2),
                    calls=scripted(settings, FakeProvider(looping)))
    list(turn)
    [_, reply] = chat.list_messages(settings.db, turn.conversation_id)
    assert reply.status == "incomplete" and reply.meta["run_end"] == "paused"
    assert len(reply.meta["steps"]) == 2


def test_the_trace_page_draws_a_run_and_the_costs_table_links_to_it(app, settings):
    from support import shown

    at = app("app_pages/traces.py")
    assert any("No agent runs yet" in shown(i.value) for i in at.info)
    turn = chat_turn(settings, None, MODEL, "What is 6 * 7?", TurnOptions(tools=CALC),
                    calls=scripted(settings, FakeProvider([
                        calc_call("6 * 7", "Let me compute."), ok("It is 42.")])))
    list(turn)
    run_id = turn.run.run_id
    at = app()
    at.query_params["run"] = run_id
    at.switch_page("app_pages/traces.py")
    at.run()
    assert not at.exception and not at.error
    steps = [shown(m.value) for m in at.markdown if shown(m.value).startswith("**Step")]
    assert len(steps) == 2 and "· ok ·" in steps[0]
    assert any("`calculator` answered" in shown(m.value) for m in at.markdown)
    assert [m.value for m in at.metric][:2] == ["2", "1"]
    assert any(c.value == "42" for c in at.code)  # the tool's result
    at.switch_page("app_pages/costs.py")
    at.query_params["section"] = "Calls"
    at.run()
    tables = [d.value for d in at.dataframe]
    top = next(t for t in tables if "trace" in t.columns)  # shown as a link column
    assert f"/traces?run={run_id}" in set(top["trace"])


def test_a_paused_run_goes_on_in_the_same_reply_and_run(settings):
    looping = [calc_call(f"{i} + 1") for i in range(3)]
    provider = FakeProvider([*looping, ok("Done counting.")])
    turn = chat_turn(settings, None, MODEL, "Count.", TurnOptions(tools=CALC, max_steps=2),
                    calls=scripted(settings, provider))
    list(turn)
    conv = turn.conversation_id
    [_, paused] = chat.list_messages(settings.db, conv)
    assert paused.meta["run_end"] == "paused"
    more = chat_turn(settings, conv, MODEL, "", TurnOptions(tools=CALC, max_steps=5),
                    calls=scripted(settings, provider), continue_from=paused.id)
    list(more)
    [user, reply] = chat.list_messages(settings.db, conv)  # no new message
    assert reply.id == paused.id and reply.content == "Done counting."
    assert reply.status == "ok" and reply.meta["run_end"] == "answered"
    assert [s["number"] for s in reply.meta["steps"]] == [1, 2, 3, 4]
    rows = spend.run_calls(settings.db, paused.meta["run_id"])
    assert [r.step for r in rows] == [1, 2, 3, 4]
    assert reply.meta["cost_micro"] == sum(r.cost_micro for r in rows)
    # The continuation sent the paused steps' calls and results, and no empty user turn.
    sent = provider.requests[2].messages
    assert sent[-1].blocks and isinstance(sent[-1].blocks[0], ToolResult)
    with pytest.raises(PromptLabError):  # only the last reply's run can go on
        chat_turn(settings, conv, MODEL, "", TurnOptions(tools=CALC),
                 calls=scripted(settings, provider), continue_from=user.id)


def test_go_on_in_the_page_lets_a_paused_run_take_more_steps(app):
    """On the bundled model: the calculator required, a step limit of one, then Go on."""
    from lib.core import get_settings

    at = app("app_pages/chat.py")
    # Greedy decoding: the same call every time (sampling may ramble until max tokens).
    next(s for s in at.slider if s.label == "Temperature").set_value(0.0).run()
    at.multiselect(key="chat_tools").set_value(["calculator"]).run()
    at.selectbox(key="chat_tool_choice").set_value("required").run()
    at.number_input(key="chat_max_steps").set_value(1).run()
    at.chat_input[0].set_value("What is 17 * 23?").run()
    assert not at.exception, [e.value for e in at.exception]
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    [_, paused] = chat.list_messages(db, conv.id)
    assert paused.meta["run_end"] == "paused" and len(paused.meta["steps"]) == 1
    at.button(key=f"go_on_{paused.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [_, reply] = chat.list_messages(db, conv.id)
    assert reply.id == paused.id and len(reply.meta["steps"]) == 2
    assert [r.step for r in spend.run_calls(db, reply.meta["run_id"])] == [1, 2]


def test_a_page_defined_tool_waits_for_the_typed_result_then_goes_on(settings):
    from lib.agents import schema_tool

    weather = schema_tool("weather", "Today's weather.", {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
    ask = ([ToolCall("w1", "weather", {"city": "Oslo"}, "{}"), Usage(40, 8), Stop("tool_use")],
           None)
    provider = FakeProvider([ask, ok("Cold in Oslo.")])
    turn = chat_turn(settings, None, MODEL, "Weather in Oslo?", TurnOptions(tools=(weather,)),
                    calls=scripted(settings, provider))
    list(turn)
    [_, waiting] = chat.list_messages(settings.db, turn.conversation_id)
    assert waiting.meta["run_end"] == "awaiting" and len(provider.requests) == 1
    assert waiting.meta["steps"][0]["calls"][0]["pending"] is True
    with pytest.raises(PromptLabError):  # every waiting call needs a result
        chat_turn(settings, turn.conversation_id, MODEL, "", TurnOptions(tools=(weather,)),
                 calls=scripted(settings, provider), continue_from=waiting.id, typed={})
    more = chat_turn(settings, turn.conversation_id, MODEL, "", TurnOptions(tools=(weather,)),
                    calls=scripted(settings, provider), continue_from=waiting.id,
                    typed={"w1": "-3 °C, snow"})
    list(more)
    assert provider.requests[1].messages[-1].blocks == (ToolResult("w1", "-3 °C, snow"),)
    [_, reply] = chat.list_messages(settings.db, turn.conversation_id)
    assert reply.content == "Cold in Oslo." and reply.meta["run_end"] == "answered"
    assert reply.meta["steps"][0]["calls"][0]["result"] == "-3 °C, snow"


def test_define_a_tool_in_the_page_and_type_its_result(app):
    """A person defines a tool with no canned result, the bundled model calls it, the person
    types the result under the reply and sends it, and the run goes on."""
    from lib.core import get_settings

    at = app("app_pages/chat.py")
    next(s for s in at.slider if s.label == "Temperature").set_value(0.0).run()
    at.session_state[DEFINE] = True  # the "Define a tool" popover is open
    at.run()
    at.text_input(key="tool_new_name").input("get_weather").run()
    at.text_input(key="tool_new_description").input("Today's weather in a city.").run()
    at.button(key="tool_add").click().run()
    assert not at.exception and not at.error
    at.multiselect(key="chat_tools").set_value([]).run()
    at.selectbox(key="chat_tool_choice").set_value("get_weather").run()
    at.chat_input[0].set_value("What is the weather in Oslo?").run()
    assert not at.exception, [e.value for e in at.exception]
    db = get_settings().db
    [conv] = chat.list_conversations(db)
    [_, waiting] = chat.list_messages(db, conv.id)
    assert waiting.meta["run_end"] == "awaiting"
    [call] = waiting.meta["steps"][0]["calls"]
    assert call["name"] == "get_weather" and call["pending"]
    at.text_area(key=f"typed_{waiting.id}_{call['id']}").input("-3 °C and snowing").run()
    at.button(key=f"send_typed_{waiting.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [_, reply] = chat.list_messages(db, conv.id)
    assert reply.id == waiting.id and len(reply.meta["steps"]) >= 2
    assert reply.meta["steps"][0]["calls"][0]["result"] == "-3 °C and snowing"


def test_knowledge_base_search_as_a_tool_in_the_page(app):
    """A person grounds the chat in a base, enables the search tool and asks: the bundled
    model searches, and the reply keeps the call with the passage and its source."""
    from lib import knowledge
    from lib.core import get_settings

    settings = get_settings()
    kb = knowledge.create_kb(settings, "HR")
    knowledge.ingest(settings, kb, [("leave.txt", b"Leave policy\n\nEvery employee gets "
                                                 b"twenty-eight days of paid leave a year.\n")])
    at = app("app_pages/chat.py")
    next(s for s in at.slider if s.label == "Temperature").set_value(0.0).run()
    at.selectbox(key="chat_kb").set_value("HR").run()
    at.multiselect(key="chat_tools").set_value(["search_knowledge_base", "calculator"]).run()
    at.selectbox(key="chat_tool_choice").set_value("search_knowledge_base").run()
    at.chat_input[0].set_value("How many days of leave do employees get?").run()
    assert not at.exception, [e.value for e in at.exception]
    [conv] = chat.list_conversations(settings.db)
    [_, reply] = chat.list_messages(settings.db, conv.id)
    [call] = reply.meta["steps"][0]["calls"]
    assert call["name"] == "search_knowledge_base" and not call["is_error"]
    assert "twenty-eight days" in call["result"] and call["sources"][0]["source"] == "leave.txt"
    assert any("search_knowledge_base" in e.label for e in at.expander)
