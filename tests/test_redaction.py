"""A key in an upstream's error never reaches a person, the ledger, an export, the API's
answer or the log: upstream error text is redacted at the adapter (lib.llm.providers.sdk),
and the log formatter redacts again. Each provider (Anthropic, OpenAI, a compatible server)
is driven over a transport whose 401 echoes the key it was sent, in varied shapes."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest
from fake_openai import MODEL, FakeOpenAI, app_env_for, echoing, serving
from fakes import Replay, scripted
from support import serving_asgi, shown

from lib import api, chat
from lib.core import ProviderError, get_settings, load_settings, log_path, redact, setup_logging
from lib.llm import (
    AnthropicProvider,
    CallContext,
    CallSpec,
    ChatRequest,
    Error,
    Message,
    ModelInfo,
    OpenAIProvider,
    Stop,
    save_user_catalog,
)

CLAUDE = ModelInfo("claude-haiku-4-5", "anthropic", "Claude Haiku 4.5", 200_000, 64_000,
                   input=1.0, output=5.0)
GPT = ModelInfo("gpt-4o-mini", "openai", "GPT-4o mini", 128_000, 16_384, input=0.15,
                output=0.6)
COMPAT = ModelInfo(MODEL, "compat", "Fake", 8192, 1024)


def fresh(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


# What an upstream's 401 may say about what it was sent: {key} is the key itself,
# {header} the whole credential header value ("Bearer sk-..." or the x-api-key value).
ECHOES = [
    "Invalid Authorization header: {header}",
    "Incorrect API key provided: {key}. You can find your API key in your account.",
    'Bad credentials {{"x-api-key": "{key}", "model": "m"}}',
    "x-api-key: {key} is not valid for this organisation",
    "Request to https://upstream.test/v1/chat?key={key}&alt=sse was refused",
    "api_key={key}",
    "{key}",
    "key {key} revoked",
    "authorization=Bearer%20{key}",
]


def leaks(text: str, *keys: str) -> list[str]:
    """The keys (or a recognisable part of one: its last 12 characters) found in text."""
    return [k for k in keys if k in text or k[-12:] in text]


# -- the net itself ------------------------------------------------------------------------

UNKNOWN_KEYS = [fresh("sk-ant-api03-"), fresh("sk-proj-"), fresh("sk-"), fresh("pl-"),
                "AIza" + secrets.token_urlsafe(30), "ghp_" + secrets.token_hex(18),
                "xoxb-" + secrets.token_hex(12), "AKIA" + secrets.token_hex(8).upper(),
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9." + secrets.token_urlsafe(20)]


@pytest.mark.parametrize("key", UNKNOWN_KEYS, ids=lambda k: k[:5])
@pytest.mark.parametrize("shape", ECHOES)
def test_anything_shaped_like_a_key_is_redacted_even_if_never_configured(shape, key):
    said = shape.format(key=key, header=f"Bearer {key}")
    out = redact(said)
    assert leaks(out, key) == [] and "[redacted]" in out


@pytest.mark.parametrize("opaque", ["lab-server-" + secrets.token_hex(8), "Zq9" * 8,
                                    secrets.token_urlsafe(32)])
def test_a_configured_key_of_any_shape_is_redacted_wherever_it_stands(data_dir, monkeypatch,
                                                                      opaque):
    monkeypatch.setenv("PROMPTLAB_OPENAI_API_KEY", opaque)
    load_settings()
    for said in (f"bad key{opaque}!", f"<{opaque}>", f"«{opaque}»", f"ok:{opaque}:ok"):
        assert leaks(redact(said), opaque) == []


@pytest.mark.parametrize("text", [
    "Error code: 401 - invalid request", "max_tokens is too large: 9000 > 8192",
    "This model's maximum context length is 8192 tokens.", "token limit exceeded",
    "The key named model is missing", "Basic plan users cannot call this model",
    "Overloaded, try again in 20 s", "bearer of bad news", "task-based pricing"])
def test_ordinary_error_text_is_left_alone(text):
    assert redact(text) == text


# -- at the adapter: the error, the ledger row, the log ------------------------------------

def _echo_401(request: httpx2.Request) -> httpx2.Response:
    header = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
    key = header.removeprefix("Bearer ")
    message = " | ".join(s.format(key=key, header=header) for s in ECHOES)
    return httpx2.Response(401, json={"type": "error", "error": {
        "type": "authentication_error", "message": message}})


def _echo_in_stream(request: httpx2.Request) -> httpx2.Response:
    key = (request.headers.get("authorization") or "").removeprefix("Bearer ")
    body = ("data: " + json.dumps({"error": {"message": f"Invalid key {key} (Bearer {key})",
                                             "type": "authentication_error"}}) + "\n\n")
    return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                           content=body.encode())


def _adapter(kind: str, key: str, replay: Replay):
    if kind == "anthropic":
        return CLAUDE, AnthropicProvider(key, base_url="http://anthropic.test",
                                         http_client=replay.client())
    return (GPT if kind == "openai" else COMPAT), OpenAIProvider(
        key, base_url="http://upstream.test/v1", compat=kind == "compat",
        http_client=replay.client())


KEYS = {"anthropic": lambda: fresh("sk-ant-api03-"), "openai": lambda: fresh("sk-proj-"),
        "compat": lambda: "lab-server-" + secrets.token_hex(10)}  # no known shape: configured


@pytest.mark.parametrize(("kind", "respond"), [
    ("anthropic", _echo_401), ("openai", _echo_401), ("compat", _echo_401),
    ("openai", _echo_in_stream), ("compat", _echo_in_stream)])
def test_an_upstream_echoing_the_key_leaves_it_nowhere(kind, respond, settings):
    key = KEYS[kind]()
    setup_logging(settings)
    replay = Replay(respond)
    model, provider = _adapter(kind, key, replay)
    call = scripted(settings, provider).invoke(CallSpec(
        model, ChatRequest(model.id, (Message("user", "hi"),), max_tokens=10),
        CallContext("test")))
    events = list(call)
    assert replay.attempts == 1
    [error] = [e for e in events if isinstance(e, Error)]
    assert not any(isinstance(e, Stop) for e in events)
    assert isinstance(error.error, ProviderError) and error.error.kind in ("auth", "bad_request")
    assert "[redacted]" in error.error.message  # it said something, without the key
    assert leaks(str(error.error), key) == []
    with settings.db.connect() as conn:
        [row] = conn.execute("SELECT error_message FROM calls").fetchall()
    assert "[redacted]" in row[0] and leaks(row[0], key) == []
    # The log: a record that carries the key (say, a third-party exception's text) is
    # blanked too.
    logging.getLogger("lib.test").warning("upstream said: %s", f"Bearer {key}",
                                          exc_info=error.error.__cause__)
    for handler in logging.getLogger("lib").handlers:
        handler.flush()
    written = log_path(settings).read_text(encoding="utf-8")
    assert "upstream said" in written and leaks(written, key) == []


# -- in the app: what a person sees, exports, the database file, the log -------------------

@pytest.fixture
def echo_server() -> Iterator[FakeOpenAI]:
    # The server fills {authorization} / {x-api-key} in from each request it gets.
    fake = FakeOpenAI(echoing(401, " | ".join(
        s.replace("{{", "{{{{").replace("}}", "}}}}").format(
            key="{x-api-key}{authorization}", header="{authorization}{x-api-key}")
        for s in ECHOES)))
    with serving(fake):
        yield fake


def _everything_shown(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "code", "text",
                 "json", "exception", "toast"):
        parts += [str(getattr(e, "value", "")) for e in at.get(kind)]
    parts += [e.label for e in at.get("expander")] + [e.label for e in at.get("status")]
    return shown("\n".join(parts))


def _files_under(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace")
                     for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4-5", f"compat/{MODEL}"])
def test_a_chat_whose_models_echo_their_keys_shows_stores_and_exports_none(
        app, echo_server, monkeypatch, model):
    """Claude's chain passes over Claude (x-api-key echoed) and GPT-5 mini (Bearer echoed);
    the server's model over the server; the bundled model answers. The "Passed over" note,
    the reply on reload, both exports, the database file and the log hold no key."""
    keys = {"ANTHROPIC_API_KEY": fresh("sk-ant-api03-"), "OPENAI_API_KEY": fresh("sk-proj-"),
            "PROMPTLAB_OPENAI_API_KEY": "lab-server-" + secrets.token_hex(10)}
    for name, value in {**keys, **app_env_for(echo_server),
                        "ANTHROPIC_BASE_URL": echo_server.url.removesuffix("/v1"),
                        "OPENAI_BASE_URL": echo_server.url}.items():
        monkeypatch.setenv(name, value)
    at = app("app_pages/chat.py")
    at.selectbox(key="chat_model").set_value(model).run()
    at.chat_input[0].set_value("Say hello.").run()
    assert not at.exception
    page = _everything_shown(at)
    assert "Passed over" in page and "[redacted]" in page  # the failure path was drawn
    assert echo_server.requests  # the upstream was asked, and echoed
    assert leaks(page, *keys.values()) == []

    settings = get_settings()
    [conv] = chat.list_conversations(settings.db)
    again = app("app_pages/chat.py")  # reopened, as after a reload
    again.query_params["c"] = str(conv.id)
    again.run()
    assert "Passed over" in _everything_shown(again)
    assert leaks(_everything_shown(again), *keys.values()) == []
    for export in (chat.export_markdown(settings.db, conv.id),
                   chat.export_json(settings.db, conv.id)):
        assert "Say hello." in export and leaks(export, *keys.values()) == []
    with settings.db.connect() as conn:
        errors = [r[0] for r in conn.execute(
            "SELECT error_message FROM calls WHERE error_message IS NOT NULL")]
    assert errors and all("[redacted]" in e for e in errors)
    assert leaks(_files_under(settings.data_dir), *keys.values()) == []  # db, WAL, log


# -- over the HTTP API: the error body and the reply's notes -------------------------------

@pytest.fixture
def served(data_dir, prompts_dir, echo_server, monkeypatch) -> Iterator[tuple[str, str]]:
    key = "lab-server-" + secrets.token_hex(10)
    for name, value in {**app_env_for(echo_server), "PROMPTLAB_OPENAI_API_KEY": key,
                        "PROMPTLAB_OPENAI_MODELS": f"{MODEL},flaky"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # The server's model from the user's catalog has no fallback chain: its error is the
    # answer; "flaky" falls back to the bundled model.
    save_user_catalog(settings, [COMPAT], "2026-01-01")
    with serving_asgi(api.create_app(settings)) as url:
        yield f"{url}/v1", key


@pytest.mark.parametrize("stream", [False, True])
def test_the_api_answers_an_echoing_upstream_without_the_key(served, stream):
    url, upstream_key = served
    settings = get_settings()
    ours = api.create_key(settings.db, "probe").secret
    answers = []
    for model in (f"compat/{MODEL}", "compat/flaky"):  # the second falls back to the bundled
        r = httpx.post(f"{url}/chat/completions", timeout=120,
                       headers={"authorization": f"Bearer {ours}"},
                       json={"model": model, "max_tokens": 8, "stream": stream,
                             "fallbacks": model.endswith("flaky"),  # asked for (issue 21)
                             "messages": [{"role": "user", "content": "hi"}]})
        answers.append(r.status_code)
        assert "[redacted]" in r.text and leaks(r.text, upstream_key, ours) == [], r.text
    assert answers[0] >= 400 and answers[1] == 200
    assert leaks(_files_under(settings.data_dir), upstream_key, ours) == []
