"""A scripted OpenAI-compatible server on loopback, for tests that drive the real app.

Each POST /v1/chat/completions takes the next scripted reply (the last one repeats):
`reply("text")`, `http_error(status, message)`, `broken("partial", message)` (a stream
that sends some text, then an in-stream error event), `tool_call(name, arguments)` or
`reasoning(["thought"], "text")` (`reasoning_content` deltas before the answer, as vLLM and
llama.cpp's server stream a reasoning model's; Ollama's put `<think>…</think>` in the
content instead, which `reply` sends as it is given); a
reply with `hold` (a threading.Event) waits for it before answering (a slow model whose
pace the test sets). A reply's `usage(body)` gives the (prompt, completion) tokens it
reports, as a server counting with its own tokenizer does; an error's message may echo
request headers (`{authorization}`), as some servers' 401s do. GET /v1/models lists one
model, or `models` (each a dict of the listed fields), after `models_hold` is set if there is
one; `gets` keeps the path of every GET. Streams are chunked on kept-alive connections, as
real servers send them; `connections` counts the connections clients opened.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "fake-model"
COMPAT = f"OpenAI-compatible server · {MODEL} (server)"  # its label in the model picker


@dataclass
class Reply:
    chunks: list[str] = field(default_factory=list)
    status: int = 200
    error: str | None = None          # HTTP error body, or an in-stream error after chunks
    calls: list[tuple[str, str]] = field(default_factory=list)  # tool calls: name, arguments
    hold: threading.Event | None = None  # answer only once it is set (60 s at most)
    usage: Callable[[dict], tuple[int, int]] | None = None   # reported (prompt, completion)
    echo: bool = False                # fill `{header}` fields of `error` from the request
    reasoning: list[str] = field(default_factory=list)  # reasoning_content deltas, first


def reply(*chunks: str) -> Reply:
    return Reply(list(chunks))


def http_error(status: int, message: str) -> Reply:
    return Reply(status=status, error=message)


def echoing(status: int, message: str) -> Reply:
    """An HTTP error whose message repeats request headers: "{authorization}" and the like."""
    return Reply(status=status, error=message, echo=True)


def broken(partial: str, message: str) -> Reply:
    return Reply([partial], error=message)


def reasoning(thought: list[str], *chunks: str) -> Reply:
    """A reasoning model's reply: its thinking as `reasoning_content` deltas, then the text."""
    return Reply(list(chunks), reasoning=list(thought))


def tool_call(name: str, arguments: str, *chunks: str) -> Reply:
    """A reply that calls a tool (after `chunks` of text), its name and arguments verbatim."""
    return Reply(list(chunks), calls=[(name, arguments)])


class FakeOpenAI:
    def __init__(self, *script: Reply) -> None:
        self.script = list(script) or [reply("Hello.")]
        self.requests: list[dict] = []
        self.url = ""  # set while served
        self.connections = 0
        self.models: list[dict] = [{"id": MODEL, "object": "model", "owned_by": "test"}]
        self.models_hold: threading.Event | None = None  # GET /v1/models waits for it
        self.gets: list[str] = []
        self._lock = threading.Condition()

    def next(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            self._lock.notify_all()
            return self.script[min(len(self.requests), len(self.script)) - 1]

    def wait_for_gets(self, n: int, timeout: float = 60.0) -> None:
        """Until `n` GET requests (a models listing) have come in."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.gets) >= n, timeout):
                raise TimeoutError(f"{len(self.gets)} of {n} GET requests came in")

    def wait_for_requests(self, n: int, timeout: float = 60.0) -> None:
        """Until `n` requests have come in (a test that acts once a call has gone out)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} of {n} requests came in")


class _Headers(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _event(data: dict) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def setup(self) -> None:
            with fake._lock:
                fake.connections += 1
            super().setup()

        def do_GET(self) -> None:
            with fake._lock:
                fake.gets.append(self.path)
                fake._lock.notify_all()
            if fake.models_hold is not None:
                fake.models_hold.wait(60)
            body = json.dumps({"object": "list", "data": fake.models}).encode()
            self._send(200, body, "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            step = fake.next(body)
            if step.hold is not None:
                step.hold.wait(60)
            if step.status != 200:
                kind = "server_error" if step.status >= 500 else "invalid_request_error"
                message = step.error or ""
                if step.echo:
                    message = message.format_map(_Headers(
                        {k.lower(): v for k, v in self.headers.items()}))
                error = {"error": {"message": message, "type": kind}}
                self._send(step.status, json.dumps(error).encode(), "application/json")
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0,
                    "model": MODEL}
            for thought in step.reasoning:
                self._chunk(_event({**base, "choices": [
                    {"index": 0, "delta": {"reasoning_content": thought},
                     "finish_reason": None}]}))
            for text in step.chunks:
                self._chunk(_event({**base, "choices": [
                    {"index": 0, "delta": {"content": text}, "finish_reason": None}]}))
            for i, (name, arguments) in enumerate(step.calls):
                self._chunk(_event({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": i, "id": f"call_{i}", "type": "function",
                     "function": {"name": name, "arguments": arguments}}]},
                    "finish_reason": None}]}))
            if step.error is not None:
                self._chunk(_event({"error": {"message": step.error, "type": "server_error"}}))
            else:
                self._chunk(_event({**base, "choices": [{"index": 0, "delta": {},
                    "finish_reason": "tool_calls" if step.calls else "stop"}]}))
                if step.usage is not None:
                    prompt, completion = step.usage(body)
                    self._chunk(_event({**base, "choices": [], "usage": {
                        "prompt_tokens": prompt, "completion_tokens": completion,
                        "total_tokens": prompt + completion}}))
                self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")  # the body's end: the connection stays open for the next

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def serving(fake: FakeOpenAI) -> Iterator[str]:
    """Serve `fake` on 127.0.0.1; yields its /v1 base URL (also kept as `fake.url`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake.url
    finally:
        server.shutdown()
        server.server_close()


def app_env_for(fake: FakeOpenAI) -> dict[str, str]:
    """Settings that point the app under test at a served fake."""
    return {"PROMPTLAB_OPENAI_BASE_URL": fake.url, "PROMPTLAB_OPENAI_MODELS": MODEL}
