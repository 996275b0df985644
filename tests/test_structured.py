"""Structured output: each adapter's request shape, validation into the ledger, a reply that
fails its schema and is repaired (attempts and rows asserted), and the bundled model, whose
grammar makes every reply parse and validate."""

from __future__ import annotations

import json

import pytest
from fakes import Replay, scripted

from lib.core import SchemaError
from lib.llm import (
    AnthropicProvider,
    CallContext,
    CallEvent,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    OpenAIProvider,
    Repair,
    Response,
    TextDelta,
    check_schema,
    get_provider,
    strict_compatible,
    validate,
)

CLAUDE = ModelInfo("claude-haiku-4-5", "anthropic", "Claude Haiku 4.5", 200_000, 64_000,
                   input=1.0, output=5.0)
GPT = ModelInfo("gpt-4o-mini", "openai", "GPT-4o mini", 128_000, 16_384,
                input=0.15, output=0.60)
SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string"}, "age": {"type": "integer", "minimum": 0},
    "city": {"type": "string"}}, "required": ["name", "age", "city"],
    "additionalProperties": False}


def openai_sse(text: str) -> bytes:
    chunks = [{"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]},
              {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
              {"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 12}}]
    return b"".join(b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk",
                                           "created": 1, "model": "gpt-4o-mini", **c}).encode()
                    + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def anthropic_sse(text: str) -> bytes:
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "m1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 30, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": text}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 12}}),
        ("message_stop", {"type": "message_stop"})]
    return b"".join(f"event: {n}\ndata: {json.dumps(d)}\n\n".encode() for n, d in events)


def replies(kind: str, *texts: str) -> Replay:
    make = anthropic_sse if kind == "anthropic" else openai_sse
    return Replay(*[lambda r, t=t: __import__("httpx2").Response(
        200, headers={"content-type": "text/event-stream"}, content=make(t)) for t in texts])


def provider(kind: str, replay: Replay):
    if kind == "anthropic":
        return AnthropicProvider("sk-ant-test", base_url="http://anthropic.test",
                                 http_client=replay.client())
    return OpenAIProvider("sk-test", base_url="http://openai.test/v1",
                          http_client=replay.client())


BOTH = pytest.mark.parametrize("kind", ["anthropic", "openai"])


def structured_call(kind: str, replay: Replay, settings,
                    repairs: int = 1) -> Response[CallEvent]:
    model = CLAUDE if kind == "anthropic" else GPT
    request = ChatRequest(model.id, (Message("user", "Alice, 30, Paris"),), temperature=None,
                          max_tokens=100, output_schema=SCHEMA, schema_name="person")
    return scripted(settings, provider(kind, replay)).invoke(
        CallSpec(model, request, CallContext("test", "extract", 2), repairs=repairs))


def ledger(settings) -> list[tuple]:
    with settings.db.connect() as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT id, status, structured, repair_of, prompt_name, cost_micro FROM calls "
            "ORDER BY id")]


@BOTH
def test_the_schema_is_sent_in_the_providers_own_shape(kind, settings):
    replay = replies(kind, '{"name": "Alice", "age": 30, "city": "Paris"}')
    call = structured_call(kind, replay, settings)
    list(call)
    body = json.loads(replay.requests[0].content)
    if kind == "anthropic":
        assert body["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    else:
        assert body["response_format"] == {"type": "json_schema", "json_schema": {
            "name": "person", "schema": SCHEMA, "strict": True}}
    assert call.validation.status == "valid"
    assert call.validation.data == {"name": "Alice", "age": 30, "city": "Paris"}
    assert [r[1:4] for r in ledger(settings)] == [("ok", "valid", None)]


@BOTH
def test_an_invalid_reply_is_repaired_with_its_errors(kind, settings):
    replay = replies(kind, '{"name": "Alice", "age": "thirty"}',
                     '{"name": "Alice", "age": 30, "city": "Paris"}')
    call = structured_call(kind, replay, settings)
    events = list(call)
    assert replay.attempts == 2 and len(call.records) == 2
    repair = next(e for e in events if isinstance(e, Repair))
    assert any("age" in e for e in repair.errors) and any("city" in e for e in repair.errors)
    # The repair sends the failed reply back with what was wrong.
    second = json.loads(replay.requests[1].content)
    last = second["messages"][-1]
    text = last["content"] if isinstance(last["content"], str) else last["content"][0]["text"]
    assert "did not match the required JSON Schema" in text and "'thirty'" in text
    assert call.validation.status == "repaired" and call.text.endswith('"Paris"}')
    rows = ledger(settings)
    assert [r[1:3] for r in rows] == [("ok", "invalid"), ("ok", "repaired")]
    assert rows[1][3] == rows[0][0] and rows[1][4] == "extract"
    assert all(r[5] > 0 for r in rows)  # both attempts are paid for


@BOTH
def test_with_no_repairs_allowed_an_invalid_reply_stays_invalid(kind, settings):
    replay = replies(kind, "not json at all")
    call = structured_call(kind, replay, settings, repairs=0)
    list(call)
    assert replay.attempts == 1
    assert call.validation.status == "invalid"
    assert call.validation.errors[0].startswith("not valid JSON")
    assert [r[2] for r in ledger(settings)] == ["invalid"]


@BOTH
def test_a_reply_failing_twice_ends_invalid_after_the_repairs(kind, settings):
    replay = replies(kind, '{"name": 1}')
    call = structured_call(kind, replay, settings, repairs=2)
    list(call)
    assert replay.attempts == 3
    assert [r[2] for r in ledger(settings)] == ["invalid", "invalid", "invalid"]


def test_openai_strict_mode_only_for_schemas_it_can_enforce():
    assert strict_compatible(SCHEMA)
    assert not strict_compatible({**SCHEMA, "additionalProperties": True})
    assert not strict_compatible({**SCHEMA, "required": ["name"]})
    nested = {"type": "object", "properties": {"p": SCHEMA}, "required": ["p"],
              "additionalProperties": False}
    assert strict_compatible(nested)


def test_bad_schemas_are_refused_in_plain_words():
    with pytest.raises(SchemaError, match="not valid JSON"):
        check_schema("{type: object")
    with pytest.raises(SchemaError, match="must be a JSON object"):
        check_schema("[1, 2]")
    with pytest.raises(SchemaError, match="invalid"):
        check_schema({"type": "objekt"})
    assert check_schema("  ") is None


def test_validation_reads_fenced_json_and_names_each_problem():
    assert validate('```json\n{"name": "A", "age": 1, "city": "B"}\n```', SCHEMA).ok
    v = validate('{"name": "A", "age": -1, "city": "B", "extra": 1}', SCHEMA)
    assert v.status == "invalid"
    assert any(e.startswith("age:") for e in v.errors)
    assert any("extra" in e for e in v.errors)


PEOPLE = ["Alice is 30 and lives in Paris.", "Bob, 45, from Rome.", "Chen is a 28 year old in "
          "Beijing.", "Dana (61) moved to Lisbon.", "Eve lives in Oslo; she is 19.",
          "Farid, aged 52, Cairo.", "Greta from Berlin turned 33.", "Hiro is 40, Tokyo.",
          "Ines, 27, Madrid.", "Jon lives in Dublin and is 35.", "Kofi, 44, Accra.",
          "Lena is twenty-two and lives in Vienna.", "Mo, 70, Marrakesh.",
          "Nina, 31, in Prague.", "Omar is 38 and lives in Amman.", "Priya, 26, Mumbai.",
          "Quinn from Toronto is 50.", "Rosa, 64, Lima.", "Sven, 23, Stockholm.",
          "Tariq lives in Lahore; age 47."]


def test_the_bundled_model_always_replies_valid_json_under_its_grammar(settings):
    """20 prompts, a 3-field schema, no key and no network: every reply parses and
    validates, because decoding is constrained by a grammar built from the schema."""
    local = get_provider("local", settings)
    for text in PEOPLE:
        request = ChatRequest("smollm2-135m-instruct", (Message("user", text),),
                              system="Extract the person.", temperature=0.7, max_tokens=80,
                              output_schema=SCHEMA)
        reply = "".join(e.text for e in local.stream(request) if isinstance(e, TextDelta))
        v = validate(reply, SCHEMA)
        assert v.status == "valid", (text, reply, v.errors)


def test_a_schema_too_large_for_a_grammar_is_refused_not_a_crash(settings):
    """A grammar that must spell out 150,000 characters is refused with a plain error, before
    it is built (sampling with a failed grammar would crash the whole app); a maxLength past
    what llama.cpp can build is lowered in the grammar, and the reply still fits the schema."""
    from lib.core import ProviderError

    huge = {"type": "object", "properties": {"t": {"type": "string", "minLength": 150_000}},
            "required": ["t"]}
    request = ChatRequest("smollm2-135m-instruct", (Message("user", "hi"),), max_tokens=20,
                          output_schema=huge)
    with pytest.raises(ProviderError, match="cannot enforce this JSON Schema"):
        list(get_provider("local", settings).stream(request))
    long = {"type": "object", "properties": {"t": {"type": "string", "maxLength": 5000}},
            "required": ["t"]}
    request = ChatRequest("smollm2-135m-instruct", (Message("user", "Say hi."),),
                          max_tokens=20, output_schema=long)
    reply = "".join(e.text for e in get_provider("local", settings).stream(request)
                    if isinstance(e, TextDelta))
    assert reply.replace(" ", "").startswith('{"t":"')
    # The default cap keeps a long free string buildable, and the model still answers.
    request = ChatRequest("smollm2-135m-instruct", (Message("user", "Alice is 30."),),
                          max_tokens=512, output_schema=SCHEMA)
    reply = "".join(e.text for e in get_provider("local", settings).stream(request)
                    if isinstance(e, TextDelta))
    assert validate(reply, SCHEMA).ok


@BOTH
def test_validity_and_repair_rates_per_model_and_prompt_version(kind, settings):
    from lib.core import today
    from lib.spend import Filters, structured_by_model

    for texts in (['{"name": "A", "age": 1, "city": "B"}'],
                  ['{"name": 1}', '{"name": "A", "age": 1, "city": "B"}'], ["no"]):
        list(structured_call(kind, replies(kind, *texts), settings, repairs=len(texts) - 1))
    day = today()
    df = structured_by_model(settings.db, Filters(day, day))
    [row] = df.to_dict("records")
    assert (row["prompt_name"], row["prompt_version"]) == ("extract", 2)
    assert (row["replies"], row["valid"], row["repaired"], row["invalid"]) == (3, 1, 1, 1)
    assert row["repair_calls"] == 1 and abs(row["valid_rate"] - 1 / 3) < 1e-9
