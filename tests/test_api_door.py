"""The API's door, through the real server: hostile bodies of every class the probe used —
deep, huge, too many values, bad text, tools and tool calls of the wrong shape, schemas that
refer outside themselves — are answered 400 or 413 in OpenAI's error shape within a second,
with nothing sent upstream, no ledger row and no budget hold; /health keeps answering within
100 ms meanwhile; and every request that was sent leaves its row and no hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fake_openai import MODEL, broken, http_error, reply
from support import free_port, wait_for_http

pytest_plugins = ["api_served"]     # the `served` fixture

ROOT = Path(__file__).resolve().parents[1]

LOCAL = "local/smollm2-135m-instruct"
PRICED = f"compat/{MODEL}"          # $1 / $2 per million tokens: calls to it reserve
HI = [{"role": "user", "content": "hi"}]
MiB = 2**20


def chat(model: str = PRICED, **more) -> dict:
    return {"model": model, "max_tokens": 8, "messages": HI, **more}


def nested(n: int, open_: str = "[", close: str = "]") -> str:
    return open_ * n + close * n


def tool(parameters, name: str = "f") -> list[dict]:
    return [{"type": "function", "function": {"name": name, "parameters": parameters}}]


def with_call(arguments) -> dict:
    """A chat whose history holds an assistant's tool call with these arguments."""
    return {"model": PRICED, "max_tokens": 8, "messages": [
        {"role": "user", "content": "add"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "1"}]}


def text(body: dict, extra: str) -> bytes:
    """The body's JSON with `extra` (raw JSON text) as one more field."""
    return (json.dumps(body)[:-1] + ", " + extra + "}").encode()


# (status, code, param or None, the body as bytes): each a varied instance of a class.
CASES: dict[str, tuple[int, str, str | None, Callable[[], bytes]]] = {
    # JSON nested past the door's 100 levels, used or ignored, lists or objects
    "deep-ignored-field-100k": (400, "invalid_json", None,
                                lambda: text(chat(), '"x": ' + nested(100_000))),
    "deep-objects-5000": (400, "invalid_json", None,
                          lambda: text(chat(), '"metadata": ' + nested(5000, '{"a":', "}")
                                       .replace("}", "1}", 1))),
    "deep-just-past-the-limit": (400, "invalid_json", None,
                                 lambda: text(chat(), '"user": ' + nested(101))),
    "deep-in-a-content-part": (400, "invalid_json", None, lambda: json.dumps(chat(messages=[
        {"role": "user", "content": [{"type": "text", "text": "x", "cache_control": "D"}]}])
    ).replace('"D"', nested(150)).encode()),
    # more values than json.loads may build without freezing the server
    "200k-tiny-messages": (400, "invalid_json", None, lambda: json.dumps(
        {"model": PRICED, "messages": [{"role": "user", "content": "x"}] * 200_000}).encode()),
    "a-million-numbers": (400, "invalid_json", None,
                          lambda: text(chat(), '"logit_bias": [' + "1," * 10**6 + "1]")),
    "60k-empty-objects": (400, "invalid_json", None,
                          lambda: text(chat(), '"x": [' + "{}," * 60_000 + "{}]")),
    # counts past OpenAI's own limits
    "3000-messages": (400, "invalid_request", "messages", lambda: json.dumps(
        chat(messages=HI * 3000)).encode()),
    "200-tools": (400, "invalid_request", "tools", lambda: json.dumps(chat(tools=[
        tool({"type": "object"}, f"t{i}")[0] for i in range(200)])).encode()),
    "2000-content-parts": (400, "invalid_request", "messages[0].content", lambda: json.dumps(
        chat(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}] * 2000}])
    ).encode()),
    "200-tool-calls-in-a-message": (400, "invalid_request", "messages[1].tool_calls",
                                    lambda: json.dumps({**with_call("{}"), "messages": [
                                        HI[0], {"role": "assistant", "tool_calls": [
                                            {"id": f"c{i}", "type": "function", "function": {
                                                "name": "f", "arguments": "{}"}}
                                            for i in range(200)]}]}).encode()),
    # bodies too large to read: announced, or sent in chunks with no length said
    "15-MiB-announced": (413, "body_too_large", None, lambda: json.dumps(chat(messages=[
        {"role": "user", "content": "x" * 15 * MiB}])).encode()),
    "9-MiB-announced": (413, "body_too_large", None, lambda: b" " * 9 * MiB),
    # text that is not text
    "not-utf-8": (400, "invalid_json", None, lambda: b'{"model": "\xff\xfe", "messages": []}'),
    "lone-high-surrogate": (400, "invalid_json", None,
                            lambda: text(chat(), '"user": "a\\ud800b"')),
    "lone-low-surrogate-in-a-key": (400, "invalid_json", None,
                                    lambda: text(chat(), '"metadata": {"\\uDFFF": 1}')),
    "reversed-pair-in-content": (400, "invalid_json", None, lambda: json.dumps(chat(
        messages=[{"role": "user", "content": "\udc00\ud800"}])).encode()),
    # tools of the wrong shape (parameters go through the one schema check: invalid_schema)
    "parameters-a-string": (400, "invalid_schema", "tools[0].function.parameters",
                            lambda: json.dumps(chat(tools=tool("abc"))).encode()),
    "parameters-a-list": (400, "invalid_schema", "tools[0].function.parameters",
                          lambda: json.dumps(chat(tools=tool([1, 2]))).encode()),
    "parameters-a-number": (400, "invalid_schema", "tools[0].function.parameters",
                            lambda: json.dumps(chat(tools=tool(7))).encode()),
    "parameters-an-array-schema": (400, "invalid_schema", "tools[0].function.parameters",
                                   lambda: json.dumps(chat(tools=tool({"type": "array"}))
                                                      ).encode()),
    "tool-name-with-a-space": (400, "invalid_request", "tools[0].function.name",
                               lambda: json.dumps(chat(tools=tool({}, "two words"))).encode()),
    "tool-name-of-65-chars": (400, "invalid_request", "tools[0].function.name",
                              lambda: json.dumps(chat(tools=tool({}, "a" * 65))).encode()),
    "tool-choice-not-defined": (400, "invalid_request", "tool_choice", lambda: json.dumps(chat(
        tools=tool({}), tool_choice={"type": "function", "function": {"name": "g"}})).encode()),
    # an assistant's tool-call arguments that are not a small JSON object
    "arguments-nested-3000": (400, "invalid_request", "messages[1].tool_calls[0].function."
                              "arguments", lambda: json.dumps(with_call(
                                  '{"a":' * 3000 + "1" + "}" * 3000)).encode()),
    "arguments-lists-nested-70": (400, "invalid_request", "messages[1].tool_calls[0].function."
                                  "arguments", lambda: json.dumps(with_call(
                                      '{"a": ' + nested(70) + "}")).encode()),
    "arguments-60k-values": (400, "invalid_request", "messages[1].tool_calls[0].function."
                             "arguments", lambda: json.dumps(with_call(
                                 '{"a": [' + "[]," * 60_000 + "[]]}")).encode()),
    "arguments-not-a-string": (400, "invalid_request", "messages[1].tool_calls[0].function."
                               "arguments", lambda: json.dumps(with_call({"a": 1})).encode()),
    "arguments-a-list": (400, "invalid_request", "messages[1].tool_calls[0].function."
                         "arguments", lambda: json.dumps(with_call("[1]")).encode()),
}


def quickest(send: Callable[[], httpx.Response], check: Callable[[httpx.Response], None],
             tries: int = 3) -> float:
    """The quickest of up to `tries` answers, each one checked: slowness the request causes
    recurs every time, a busy machine's does not (2 cores shared by several test runs)."""
    took = []
    for _ in range(tries):
        started = time.perf_counter()
        r = send()
        took.append(time.perf_counter() - started)
        check(r)
        if took[-1] < 1.0:
            break
    return min(took)


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_body_gets_a_quick_4xx_in_openais_shape_and_nothing_else(served, case):
    status, code, param, build = CASES[case]
    secret = served.key("probe", budget=5.0)
    body = build()

    def check(r: httpx.Response) -> None:
        assert r.status_code == status, r.text[:300]
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and isinstance(error["message"], str)
        assert error["code"] == code and error["param"] == param

    took = quickest(lambda: httpx.post(
        f"{served.url}/chat/completions", content=body, timeout=60, headers={
            "authorization": f"Bearer {secret}", "content-type": "application/json"}), check)
    assert took < 1.0, f"{case}: answered in {took:.2f} s at best"
    assert served.fake.requests == [] and served.rows() == [] and served.holds() == 0


def test_a_body_sent_in_chunks_stops_being_read_at_the_limit(served):
    secret = served.key("probe", budget=5.0)

    def chunks() -> Iterator[bytes]:
        yield b'{"model": "' + PRICED.encode() + b'", "messages": [{"role": "user", '
        yield b'"content": "'
        for _ in range(12 * 4):
            yield b"x" * (MiB // 4)
        yield b'"}]}'

    def check(r: httpx.Response) -> None:
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"

    assert quickest(lambda: httpx.post(f"{served.url}/chat/completions", content=chunks(),
                                       timeout=60, headers={"authorization": f"Bearer {secret}"}),
                    check) < 1.0
    assert served.fake.requests == [] and served.rows() == []


@contextmanager
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that serves a schema to anyone and counts who asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps({"type": "string", "description": "fetched"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/schema+json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


def refs(loopback: str) -> dict[str, dict]:
    """Schemas whose references point to nothing in them, or outside them."""
    def at(ref: str) -> dict:
        return {"type": "object", "properties": {"a": {"$ref": ref}}}

    return {
        "missing-def": at("#/$defs/nope"),
        "missing-deep-path": {"type": "object", "$defs": {"x": {"type": "string"}},
                              "properties": {"a": {"$ref": "#/$defs/x/items/0"}}},
        "https": at("https://example.invalid/schema.json"),
        "loopback": at(f"{loopback}/schema.json"),
        "relative-to-an-id": {"$id": f"{loopback}/root.json", "type": "object",
                              "properties": {"a": {"$ref": "other.json"}}},
        "file": at("file:///etc/hostname"),
        "dynamic": {"type": "object", "properties": {"a": {"$dynamicRef": f"{loopback}/d"}}},
    }


@pytest.mark.parametrize("model", [LOCAL, PRICED])
def test_a_schema_that_refers_outside_itself_is_refused_before_any_call(served, model):
    """In response_format and in a tool's parameters, for the bundled model (whose grammar
    converter raised AssertionError: 500) and a paid one (the call went upstream, then wrote
    no row and left its budget hold for an hour)."""
    secret = served.key("probe", budget=5.0)
    with counting_server() as (loopback, asked):
        for name, schema in refs(loopback).items():
            for where, body in (
                    ("response_format", chat(model, response_format={
                        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}})),
                    ("tools[0].function.parameters", chat(model, tools=tool(schema)))):
                def check(r: httpx.Response, name=name, where=where) -> None:
                    assert r.status_code == 400, (name, where, r.text[:300])
                    error = r.json()["error"]
                    assert error["type"] == "invalid_request_error"
                    assert error["param"] == where and "fetched" not in r.text

                assert quickest(lambda body=body: served.post(
                    "/chat/completions", secret, body), check) < 1.0, (name, where)
    assert asked == []          # nothing was fetched
    assert served.fake.requests == [] and served.rows() == [] and served.holds() == 0
    # A reference inside the schema still works.
    fine = {"type": "object", "$defs": {"colour": {"type": "string"}},
            "properties": {"colour": {"$ref": "#/$defs/colour"}}, "required": ["colour"]}
    served.fake.script = [reply('{"colour": "red"}')]
    r = served.post("/chat/completions", secret, chat(PRICED, response_format={
        "type": "json_schema", "json_schema": {"name": "c", "schema": fine}}))
    assert r.status_code == 200 and r.json()["promptlab"]["structured"]["status"] == "valid"


def test_every_request_sent_leaves_its_row_and_no_hold(served):
    """A paid model under a key budget: whatever ends a call — an upstream refusal, a stream
    broken after output, a reply failing its schema and its repair — each request sent is a
    ledger row, and no reservation outlives its call. A request refused before sending (its
    budget, its window) is neither."""
    secret = served.key("holds", budget=5.0)
    sent = 0

    def check(r: httpx.Response, status: int, upstream: int) -> None:
        nonlocal sent
        assert r.status_code == status or (status == 0 and r.status_code >= 400), r.text[:300]
        sent += upstream
        assert len(served.fake.requests) == sent and len(served.rows()) == sent
        assert served.holds() == 0

    served.fake.script = [http_error(400, "Refused upstream.")]
    check(served.post("/chat/completions", secret, chat()), 400, 1)
    served.fake.script = [http_error(401, "Bad key upstream.")]
    check(served.post("/chat/completions", secret, chat(stream=True)), 0, 1)  # any error
    served.fake.script = [broken("Half a rep", "The upstream fell over.")]
    check(served.post("/chat/completions", secret, chat()), 502, 1)
    with httpx.stream("POST", f"{served.url}/chat/completions", timeout=60,
                      headers={"authorization": f"Bearer {secret}"},
                      json=chat(stream=True)) as streamed:
        assert "fell over" in streamed.read().decode()
    check(streamed, 200, 1)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    served.fake.script = [reply("not json")]
    r = served.post("/chat/completions", secret, chat(response_format={
        "type": "json_schema", "json_schema": {"name": "n", "schema": schema}}))
    check(r, 200, 2)                                    # the reply and its repair
    assert r.json()["promptlab"]["structured"]["status"] == "invalid"
    check(served.post("/chat/completions", secret, {**chat(), "max_tokens": 1024, "messages": [
        {"role": "user", "content": "word " * 9000}]}), 400, 0)     # past the 8k window
    check(served.post("/chat/completions", served.key("spent", budget=0.0), chat()), 429, 0)


@pytest.fixture
def api_process(served, tmp_path) -> Iterator[str]:
    """The API as `make serve` runs it, in a process of its own over the `served` data
    folder and fake upstream: a freeze measured from outside is the server's alone, not
    this process's (which builds and sends the hostile bodies). Yields its base URL."""
    port = free_port()
    env = {**os.environ, "PROMPTLAB_API_PORT": str(port),
           "PROMPTLAB_OPENAI_BASE_URL": served.fake.url,
           "PROMPTLAB_OPENAI_MODELS": f"{MODEL},flaky"}
    with open(tmp_path / "api.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lib.api"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(15)
    assert "Traceback" not in (tmp_path / "api.log").read_text()


@contextmanager
def health_watch(base: str) -> Iterator[list[float]]:
    """/health asked again and again, one request after another on one connection, while
    the block runs; yields the latencies, filled in when the block ends."""
    latencies: list[float] = []
    stop, answered = threading.Event(), threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                started = time.perf_counter()
                assert client.get(f"{base}/health").status_code == 200
                latencies.append(time.perf_counter() - started)
                answered.set()

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        assert answered.wait(60), "/health never answered"  # the watch is on before the block
        yield latencies
    finally:
        stop.set()
        poller.join()


def test_health_answers_within_100_ms_while_hostile_requests_are_processed(served,
                                                                          api_process):
    """The worst /health latency during each hostile request. Each class runs five times
    and the best of the five worsts is kept: a freeze the request causes recurs every time,
    a busy machine's hiccup does not. (Before: 3.4 s during a catastrophic pattern, 0.4 s
    during 200,000 messages.)"""
    secret = served.key("probe", budget=5.0)
    served.fake.script = [reply('{"a": "' + "a" * 24 + 'b"}')]
    word = json.dumps(chat(messages=[{"role": "user", "content": "x" * (8 * MiB - 200)}]))
    # name: (path, body, the statuses that show it was read and answered)
    hostile = {
        "an 8 MiB word": ("/v1/chat/completions", word.encode(), {400}),
        "a 15 MiB body": ("/v1/chat/completions", b" " * 15 * MiB, {413}),
        "JSON 100,000 deep": ("/v1/chat/completions",
                              text(chat(), '"x": ' + nested(100_000)), {400}),
        "200,000 messages": ("/v1/chat/completions", json.dumps(
            {"model": PRICED, "messages": HI * 200_000}).encode(), {400}),
        "40 KB of escaped quotes": ("/v1/prompts/json-extractor/run", json.dumps(
            {"variables": {"text": "x", "schema": '"' + '\\"' * 20_000 + '"'},
             "max_tokens": 4}).encode(), {400, 422}),
        # validated on the reply (200), or refused at the door as a pattern too costly (400)
        "a catastrophic pattern": ("/v1/chat/completions", json.dumps(chat(response_format={
            "type": "json_schema", "json_schema": {"name": "a", "schema": {
                "type": "object", "properties": {"a": {"type": "string",
                                                       "pattern": "^(a|a)*$"}}}}})).encode(),
                                   {200, 400}),
    }
    worst: dict[str, float] = {}
    for name, (path, body, answered) in hostile.items():
        runs = []
        for _ in range(5):
            with health_watch(api_process) as latencies:
                r = httpx.post(f"{api_process}{path}", content=body, timeout=120, headers={
                    "authorization": f"Bearer {secret}", "content-type": "application/json"})
            assert r.status_code in answered, (name, r.text[:300])
            runs.append(max(latencies))
        worst[name] = min(runs)
    print("worst /health latency (ms):", {k: round(v * 1000) for k, v in worst.items()})
    assert all(v < 0.1 for v in worst.values()), worst
