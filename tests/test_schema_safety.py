"""Every JSON Schema from outside, at every door where one is checked or used — the output
schema (structured replies and their repairs), a tool defined in a page (its definition and
its arguments), the compare page's schema check, the bundled model's grammar — cannot:

- fetch anything: a loopback server counting connections sees none, for remote `$ref`s of
  every shape (http, https, scheme-relative, file:, relative to an `$id`, `$dynamicRef`,
  `$schema`), and each is refused with a SchemaError in plain words;
- freeze the process on a catastrophic regular expression (a heartbeat thread's largest gap
  stays under 100 ms);
- build a grammar bomb (counts in the millions, nested repetition, in a tool's parameters),
  or crash on what llama.cpp's converter cannot take ($ref to nothing, nesting 3,000 deep).
"""

from __future__ import annotations

import json
import socketserver
import threading
import time

import pytest
from support import Heartbeat

from lib.agents import Tool, run_tool, schema_tool
from lib.compare import Check, run_check
from lib.core import CheckError, ProviderError, SchemaError
from lib.llm import (
    ChatRequest,
    LocalProvider,
    Message,
    ToolCall,
    ToolSpec,
    check_schema,
    check_tool_parameters,
    schema_errors,
    validate,
)
from lib.ui.chat.tools import DEFINE

MARKER = "FETCHED-DOCUMENT-7f3a"


class _Counting(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.connections += 1  # type: ignore[attr-defined]
        body = json.dumps({"type": "string", "description": MARKER}).encode()
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                             + body)


@pytest.fixture(scope="module")
def loopback():
    """A server on loopback that answers any request with a schema and counts connections
    (an https attempt is counted too: its handshake is a connection)."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Counting)
    server.daemon_threads = True
    server.connections = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def remote_schemas(port: int, tmp_path) -> list[dict]:
    here = tmp_path / "schema.json"
    here.write_text(json.dumps({"type": "string", "description": MARKER}))
    url = f"http://127.0.0.1:{port}"
    return [
        {"$ref": f"{url}/s.json"},
        {"$ref": f"https://127.0.0.1:{port}/s.json"},
        {"$ref": f"//127.0.0.1:{port}/s.json"},
        {"$ref": here.as_uri()},
        {"type": "object", "properties": {"a": {"$ref": f"http://localhost:{port}/a#/x"}}},
        {"$id": f"{url}/root.json", "$ref": "other.json"},
        {"$id": f"{url}/dir/", "type": "object", "properties": {"a": {"$ref": "a.json"}}},
        {"$defs": {"x": {"$id": f"{url}/x/", "$ref": "y.json"}},
         "properties": {"a": {"$ref": "#/$defs/x"}}},
        {"$dynamicRef": f"{url}/dyn.json#meta"},
        {"$schema": f"{url}/meta.json", "type": "string"},
        {"items": {"anyOf": [{"type": "integer"}, {"$ref": f"{url}/deep.json"}]}},
    ]


def test_no_schema_anywhere_resolves_a_remote_reference(loopback, tmp_path):
    port = loopback.server_address[1]
    for schema in remote_schemas(port, tmp_path):
        with pytest.raises(SchemaError) as refused:  # the one check every door calls
            check_schema(schema)
        assert "outside" in str(refused.value) or "$schema" in str(refused.value)
        with pytest.raises(SchemaError):  # the API's text form, and a tool's parameters
            check_schema(json.dumps(schema))
        with pytest.raises(SchemaError):
            check_tool_parameters("t", {"type": "object", "properties": {"a": schema}})
        with pytest.raises(SchemaError):  # a tool defined in the page
            schema_tool("t", "x", {"type": "object", "properties": {"a": schema}})
        with pytest.raises(CheckError):  # the compare page's json-schema check
            Check("json_schema", json.dumps(schema)).validate()
        # Where a schema was not checked first, using it still fetches nothing:
        v = validate('"hello"', schema)  # a structured reply (and its repair message)
        assert not v.ok and MARKER not in " ".join(v.errors)
        assert run_check(Check("json_schema", json.dumps(schema)), '"hello"', len) is False
        wrapped = {"type": "object", "properties": {"a": schema}}
        outcome = run_tool(Tool("t", "x", wrapped), ToolCall("1", "t", {"a": "hi"}, ""), {},
                           "typed")
        assert outcome.is_error and MARKER not in outcome.content
        with pytest.raises(ProviderError, match="cannot enforce"):  # the bundled model
            list(LocalProvider(tmp_path / "none.gguf", 4096).stream(ChatRequest(
                "m", (Message("user", "hi"),), output_schema=schema)))
        with pytest.raises(ProviderError, match="cannot enforce"):
            list(LocalProvider(tmp_path / "none.gguf", 4096).stream(ChatRequest(
                "m", (Message("user", "hi"),), tools=(ToolSpec("t", "x", wrapped),))))
    assert loopback.connections == 0


def test_a_stored_prompt_cannot_keep_a_remote_reference(loopback, tmp_path, prompts_dir):
    """The prompt store checks a version's output schema with the same check: saving one
    with a remote $ref is refused, nothing is written, and nothing is fetched."""
    from lib.core import PromptStoreError
    from lib.prompts import PromptStore

    store = PromptStore(prompts_dir)
    name = store.names()[0]
    before = store.get(name).latest
    for schema in remote_schemas(loopback.server_address[1], tmp_path):
        with pytest.raises(PromptStoreError, match=r"outside|\$schema"):
            store.save_version(name, store.source(name, before),
                               output_schema=json.dumps(schema))
    assert store.get(name).latest == before and loopback.connections == 0


def test_local_references_still_work():
    schema = {"$id": "https://example.com/person.json", "$defs": {
        "age": {"type": "integer", "minimum": 0}, "name": {"$anchor": "nm", "type": "string"}},
        "type": "object", "properties": {"age": {"$ref": "#/$defs/age"},
                                         "name": {"$ref": "#nm"}},
        "required": ["age", "name"]}
    assert check_schema(schema) is schema
    assert validate('{"age": 3, "name": "Ada"}', schema).ok
    assert [path for path, _ in schema_errors(schema, {"age": -1, "name": 5})] == ["age",
                                                                                  "name"]
    with pytest.raises(SchemaError, match="points to nothing"):
        check_schema({"$ref": "#/$defs/missing"})
    with pytest.raises(SchemaError, match="points to nothing"):
        check_schema({"properties": {"a": {"$ref": "#/properties/b/items"}}})


# Each with a subject that takes Python's `re` seconds (exponential backtracking).
CATASTROPHIC = [("^(a|a)*$", "a" * 26 + "!"), ("^(a+)+$", "a" * 26 + "!"),
                ("(x+x+)+y", "x" * 26), ("^(\\w+\\s?)*$", "a " * 13 + "a!" * 3),
                ("^(a|aa)+$", "a" * 34 + "!"), ("^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 26),
                ("^(.*a){12}$", "a" * 24 + "!")]


@pytest.mark.parametrize("pattern,subject", CATASTROPHIC)
def test_catastrophic_patterns_never_freeze_the_process(pattern, subject):
    places = [  # the reply's text, a property name, every key, a closed object's extras
        ({"type": "string", "pattern": pattern}, subject),
        ({"type": "object", "patternProperties": {pattern: {"type": "integer"}}},
         {subject: "not an integer"}),
        ({"type": "object", "propertyNames": {"pattern": pattern}}, {subject: 1}),
        ({"type": "object", "patternProperties": {pattern: {}},
          "additionalProperties": False}, {subject: 1}),
    ]
    for schema, data in places:
        check_schema(schema)
        with Heartbeat() as beat:
            started = time.monotonic()
            v = validate(json.dumps(data), schema)
            took = time.monotonic() - started
        assert beat.largest < 0.1, (schema, beat.largest)
        assert took < 2.0, (schema, took)
        # The subject does not match: invalid, or not checked in time (invalid too) — except
        # under patternProperties, where a key that does not match is simply not checked.
        only_keys = "patternProperties" in schema and "additionalProperties" not in schema
        assert not v.ok or only_keys, (schema, v)
    tool = schema_tool("t", "x", {"type": "object", "properties": {
        "q": {"type": "string", "pattern": pattern}}})
    with Heartbeat() as beat:  # a tool's arguments, as the model wrote them
        outcome = run_tool(tool, ToolCall("1", "t", {"q": subject}, ""), {}, "typed")
    assert beat.largest < 0.1 and outcome.is_error
    with Heartbeat() as beat:  # the compare page's check on a cell's output
        passed = run_check(Check("json_schema", json.dumps({"pattern": pattern})),
                           json.dumps(subject), len)
    assert beat.largest < 0.1 and passed is False


def test_unevaluated_properties_with_pattern_properties_is_refused():
    with pytest.raises(SchemaError, match="unevaluatedProperties"):
        check_schema({"patternProperties": {"^(a|a)*$": {}}, "unevaluatedProperties": False})


def deep(levels: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def deep_text(levels: int) -> str:
    """deep(levels) as JSON text (json.dumps itself cannot recurse that far)."""
    return '{"type": "object", "properties": {"a": ' * levels + '{"type": "string"}' \
        + "}}" * levels


BOMBS = [
    {"type": "string", "minLength": 50_000_000},
    {"type": "array", "items": {"type": "integer"}, "minItems": 20_000_000},
    {"type": "string", "maxLength": 4_000_000_000},
    {"type": "array", "maxItems": 2_000_000_000},
    {"type": "object", "minProperties": 30_000_000},
    {"type": "array", "minItems": 40_000, "items": {"type": "array", "minItems": 40_000,
                                                   "items": {"type": "string",
                                                             "minLength": 40_000}}},
    {"type": "object", "properties": {f"p{i}": {"type": "string", "minLength": 5_000}
                                      for i in range(40)}, "required": ["p0"]},
    {"type": "object", "properties": {f"p{i}": {"type": "string", "maxLength": 10 ** 6}
                                      for i in range(200)}},
    {"type": "string", "pattern": "^a{0,900000}$"},
]


@pytest.mark.parametrize("bomb", BOMBS, ids=range(len(BOMBS)))
def test_grammar_bombs_are_refused_at_once(bomb, tmp_path):
    """As an output schema and as a tool's parameters: refused in plain words, within a
    second, with no thread held up, and nothing built."""
    provider = LocalProvider(tmp_path / "none.gguf", 4096)
    requests = [
        ChatRequest("m", (Message("user", "hi"),), output_schema=bomb),
        ChatRequest("m", (Message("user", "hi"),), tools=(ToolSpec("t", "x", {
            "type": "object", "properties": {"a": bomb}, "required": ["a"]}),)),
    ]
    for request in requests:
        with Heartbeat() as beat:
            started = time.monotonic()
            with pytest.raises(ProviderError, match="cannot enforce") as refused:
                list(provider.stream(request))
            took = time.monotonic() - started
        assert took < 1.0 and beat.largest < 0.1, (took, beat.largest)
        assert refused.value.kind == "bad_request" and not refused.value.retryable


@pytest.mark.parametrize("schema,words", [
    (deep(3000), "nests deeper than"),
    (deep_text(3000), "nests deeper than"),
    ({"$ref": "#/definitions/missing"}, "points to nothing"),
    ({"$ref": "https://example.com/s.json"}, "refers outside"),
    ({"type": "string", "minLength": 50_000_000}, "more than any reply can hold"),
    ({"type": "string", "pattern": "(" * 5}, "regex"),
    ("x" * 200_000, "not valid JSON"),
])
def test_what_crashed_before_is_a_schema_error_in_plain_words(schema, words, tmp_path):
    with pytest.raises(SchemaError, match=words):
        check_schema(schema)
    if isinstance(schema, dict):  # the bundled model's grammar, and a tool's parameters
        with pytest.raises(ProviderError, match="cannot enforce"):
            list(LocalProvider(tmp_path / "none.gguf", 4096).stream(ChatRequest(
                "m", (Message("user", "hi"),), output_schema=schema)))
        with pytest.raises(SchemaError, match=words):
            schema_tool("t", "x", {"type": "object", "properties": {"a": schema}})


def test_a_deep_tool_schema_in_the_sidebar_form_is_a_clear_error(app):
    """A person pastes a tool schema nested 3,000 deep into the chat sidebar's form, then one
    with a remote $ref: each gives a plain error under the form, and the page carries on."""
    at = app("app_pages/chat.py")
    at.session_state[DEFINE] = True  # the "Define a tool" popover is open
    at.run()
    at.text_input(key="tool_new_name").input("deep_tool").run()
    at.text_area(key="tool_new_schema").input(deep_text(3000)).run()
    at.button(key="tool_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("nests deeper than" in e.value for e in at.error), [e.value for e in at.error]
    at.text_area(key="tool_new_schema").input(json.dumps(
        {"type": "object", "properties": {"a": {"$ref": "http://127.0.0.1:9/x.json"}}})).run()
    at.button(key="tool_add").click().run()
    assert not at.exception
    assert any("refers outside itself" in e.value for e in at.error)
    assert "deep_tool" not in at.session_state["chat_custom_tools"]
    for schema, words in ((deep_text(3000), "nests deeper than"),  # the output schema box
                          ('{"$ref": "http://127.0.0.1:9/x.json"}', "refers outside itself"),
                          ('{"type": "string", "minLength": 50000000}', "more than any")):
        at.text_area(key="chat_schema").input(schema).run()
        assert not at.exception, [e.value for e in at.exception]
        assert any(words in e.value for e in at.error), [e.value for e in at.error]
