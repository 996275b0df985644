"""The bundled model's tool replies, without running it: the grammar's schema is stricter
than the tools' where a small model needs it (no empty required string, the calculator's
expression kept to arithmetic, no count llama.cpp would expand past its limits), and what
the model wrote becomes events — never an empty answer or a call written inside one."""

from __future__ import annotations

import json

import pytest

from lib.agents import BUILTINS
from lib.core import SchemaError
from lib.llm import ChatRequest, Message, Stop, TextDelta, ToolCall, ToolResult, ToolUse
from lib.llm.providers import local_tools

CALC = BUILTINS["calculator"].spec


def ask(choice: str = "auto", history: tuple = (), **kw) -> ChatRequest:
    return ChatRequest("m", (Message("user", "what is 1234*5678?"), *history),
                       tools=(CALC,) if choice != "none" else (), tool_choice=choice,
                       max_tokens=128, **kw)


def test_the_grammar_never_allows_an_empty_expression_or_answer():
    schema = local_tools.reply_schema(ask())
    call, answer = schema["anyOf"]
    expression = call["properties"]["arguments"]["properties"]["expression"]
    assert expression["pattern"].startswith("^[-+(0-9a-z]")  # not "", " 1", ".1234.5678"
    words = next(o for o in answer["properties"]["answer"]["anyOf"] if o["type"] == "string")
    assert words["minLength"] == 1 and words["maxLength"] >= 16
    weather = {"type": "object", "properties": {"city": {"type": "string"},
                                                "note": {"type": "string"}},
               "required": ["city"]}
    strict = local_tools.strict(weather, 128)
    assert strict["properties"]["city"]["minLength"] == 1
    assert "minLength" not in strict["properties"]["note"]  # optional may stay empty
    assert local_tools.strict({"type": "string", "maxLength": 10 ** 5}, 128)["maxLength"] == \
        local_tools.MAX_CAP
    with pytest.raises(SchemaError, match="add up to"):
        local_tools.strict({"type": "array", "minItems": 60_000, "items": {
            "type": "string", "minLength": 60_000}}, 128)
    many = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(300)}}
    assert local_tools.strict(many, 4096)  # our own caps on free strings are not counted


def test_after_a_tool_was_used_the_answer_is_one_json_object_too():
    history = (Message("assistant", "", (ToolUse("c1", "calculator",
                                                 {"expression": "1234*5678"}),)),
               Message("user", "", (ToolResult("c1", "7006652"),)))
    request = ask("none", history)
    assert local_tools.json_replies(request) and not local_tools.uses_tools(request)
    assert '{"answer": <your reply to the user>}' in local_tools.system_prompt(request)
    assert local_tools.reply_schema(request)["required"] == ["answer"]
    assert not local_tools.json_replies(ask("none"))  # a plain chat stays free text
    assert local_tools.reply_schema(ask("none")) is None


@pytest.mark.parametrize("written,expected", [
    ('{"answer": 7006652}', [TextDelta("7006652"), Stop("end_turn")]),
    ('{"answer": "It is 7006652."}', [TextDelta("It is 7006652."), Stop("end_turn")]),
    # A call written inside the answer is the call the model meant.
    ('{"answer": "{\\"tool\\": \\"calculator\\", \\"arguments\\": {\\"expression\\": '
     '\\"1234*5678\\"}}"}', "call"),
])
def test_what_the_model_wrote_becomes_events(written, expected):
    events = local_tools.events(written, True, ask())
    if expected == "call":
        assert isinstance(events[0], ToolCall) and events[0].arguments == {
            "expression": "1234*5678"} and events[-1] == Stop("tool_use")
    else:
        assert events == expected


@pytest.mark.parametrize("cut,text", [
    ('{"answer": "It is 7006', "It is 7006"),
    ('{"answer": "Line one\\nLine t', "Line one\nLine t"),
    ('{"answer": "A quote \\', "A quote "),
    ('{"tool": "calculator", "arguments": {"expression": "12', None),
    ('{"ans', None),
])
def test_a_reply_cut_off_by_max_tokens_keeps_its_words_never_the_wrapper(cut, text):
    events = local_tools.events(cut, False, ask())
    assert events[-1] == Stop("max_tokens")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ([text] if text else [])


def test_a_structured_answer_cut_off_keeps_its_json():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    events = local_tools.events('{"answer": {"n": 12', False, ask(output_schema=schema))
    assert events == [TextDelta('{"n": 12'), Stop("max_tokens")]
    assert json.loads(local_tools.events('{"answer": {"n": 12}}', True, ask(
        output_schema=schema))[0].text) == {"n": 12}
