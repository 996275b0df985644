"""Models discovered live: the real anthropic and openai SDK clients over a fake transport (and a
compatible server on loopback) list models; a new one joins the catalog with its window and
no price, a budget refuses it until models.toml prices it; a failing endpoint leaves the
catalog as it was and says why; no key, no call."""

from __future__ import annotations

import logging
import threading
import tomllib
from dataclasses import replace

import httpx2
import pytest
from fake_openai import FakeOpenAI, serving
from fakes import FakeProvider, Replay, ok, scripted

from lib import spend
from lib.core import BudgetExceededError, format_cost, load_settings
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    Usage,
    current_catalog,
    forget_listings,
    listing_under_way,
    load_catalog,
    model_origin,
    refresh_models,
    save_user_catalog,
    user_catalog_path,
)
from lib.llm.discovery import ensure_listings

FABLE = "anthropic/claude-fable-5"


@pytest.fixture(autouse=True)
def no_vendor(monkeypatch):
    """Nothing here may reach a vendor: an SDK client left to its default address would call a
    closed loopback port, and every listing is forgotten around each test."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    forget_listings()
    yield
    forget_listings()


def claude(model_id: str, name: str, window: int | None, output: int | None, *,
           lifecycle: str = "active", modes: tuple[str, ...] = ("disabled", "adaptive"),
           efforts: tuple[str, ...] = ("low", "medium", "high", "max")) -> dict:
    """A model as Anthropic's models endpoint lists it."""
    support = {"supported": True}
    return {"type": "model", "id": model_id, "display_name": name,
            "created_at": "2026-01-01T00:00:00Z", "lifecycle": lifecycle,
            "max_input_tokens": window, "max_tokens": output,
            "capabilities": {
                "thinking": {"supported": True, "types": {
                    t: {"supported": t in modes}
                    for t in ("adaptive", "between_tools", "disabled", "enabled")}},
                "effort": {"supported": bool(efforts), **{
                    e: {"supported": e in efforts} for e in ("low", "medium", "high", "max")}},
                "batch": support, "citations": support, "image_input": support}}


def anthropic_pages(*pages: list[dict]) -> Replay:
    """Anthropic's list, a page per GET (each names the last id, and whether more follow)."""
    def page(models: list[dict], more: bool):
        body = {"data": models, "has_more": more, "first_id": models[0]["id"] if models else None,
                "last_id": models[-1]["id"] if models else None}
        return lambda request: httpx2.Response(200, json=body)

    return Replay(*(page(p, i < len(pages) - 1) for i, p in enumerate(pages)))


def openai_list(*ids: str) -> Replay:
    body = {"object": "list", "data": [{"id": i, "object": "model", "created": 0,
                                        "owned_by": "openai"} for i in ids]}
    return Replay(lambda request: httpx2.Response(200, json=body))


def keyed(settings, **keys):
    """The settings with (fake) keys, listing on."""
    return replace(settings, discover_models=True, **keys)


LISTED = [claude("claude-fable-5", "Claude Fable 5", 1_000_000, 128_000),
          # a dated snapshot of a model the catalog holds by its alias: that model
          claude("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 200_000, 64_000),
          claude("claude-opus-4-1-20250805", "Claude Opus 4.1", 200_000, 32_000,
                 lifecycle="deprecated", modes=("disabled", "enabled"), efforts=())]


def test_a_listed_claude_model_joins_the_catalog_with_its_limits_and_no_price(settings):
    s = keyed(settings, anthropic_api_key="sk-ant-test")
    before = load_catalog(s)
    replay = anthropic_pages(LISTED[:2], LISTED[2:])  # two pages: both are read
    [listing] = refresh_models(s, http_client=replay.client())
    assert replay.attempts == 2 and not listing.error
    first, second = replay.requests
    assert first.url.path == "/v1/models" and first.url.params["limit"] == "1000"
    assert "sk-ant-test" in (first.headers.get("x-api-key", "") + first.headers.get(
        "authorization", ""))  # the key goes along (in whichever header the SDK uses)
    assert second.url.params["after_id"] == "claude-sonnet-4-5-20250929"

    catalog = load_catalog(s)
    fable = catalog.get(FABLE)
    assert (fable.label, fable.context_window, fable.max_output) == (
        "Claude Fable 5", 1_000_000, 128_000)
    assert (fable.source, fable.priced, fable.input, fable.output) == ("discovered", False, 0, 0)
    assert fable.thinking == ("off", "adaptive") and fable.efforts == ("low", "medium", "high",
                                                                       "max")
    assert fable.temperature is False  # none is sent: a new model may refuse one
    opus = catalog.get("anthropic/claude-opus-4-1-20250805")
    assert opus.legacy and opus.thinking == ("off", "on") and opus.efforts == ()
    # The catalog keeps its own entries; a snapshot of one is not a second model.
    keys = [m.key for m in catalog.models]
    assert keys == [m.key for m in before.models] + [FABLE, "anthropic/claude-opus-4-1-20250805"]
    assert catalog.get("anthropic/claude-sonnet-4-5") == before.get("anthropic/claude-sonnet-4-5")
    assert model_origin(fable, s) == "discovered from Anthropic"
    assert model_origin(before.get("anthropic/claude-sonnet-4-5"), s) == "catalog"


def test_openai_lists_its_chat_models_with_a_stated_default_window(settings):
    s = keyed(settings, openai_api_key="sk-test")
    replay = openai_list("gpt-9", "gpt-5", "gpt-4.1-2025-04-14", "o7", "o7-pro",
                         "text-embedding-3-large", "whisper-1", "gpt-4o-realtime-preview",
                         "gpt-image-1", "dall-e-3", "gpt-3.5-turbo")
    [listing] = refresh_models(s, http_client=replay.client())
    assert replay.attempts == 1 and replay.requests[0].url.path == "/v1/models"
    assert replay.requests[0].headers["authorization"] == "Bearer sk-test"
    # Chat models only; the snapshot of a catalog model is dropped by the merge.
    assert [m.id for m in listing.models] == ["gpt-4.1-2025-04-14", "gpt-5", "gpt-9", "o7"]
    catalog = load_catalog(s)
    new = [m for m in catalog.models if m.source == "discovered"]
    assert [m.key for m in new] == ["openai/gpt-9", "openai/o7"]  # gpt-5 is the catalog's
    assert all((m.context_window, m.max_output, m.priced) == (128_000, 16_384, False)
               for m in new)
    assert catalog.get("openai/gpt-5").priced and catalog.get("openai/gpt-5").input > 0


def test_a_compatible_servers_own_list_replaces_the_model_setting(settings):
    fake = FakeOpenAI()
    fake.models = [{"id": "qwen3:8b", "object": "model"},
                   {"id": "llama-4", "object": "model", "max_model_len": 32_768}]  # vLLM's
    with serving(fake) as url:
        s = keyed(settings, openai_base_url=url)
        [listing] = refresh_models(s)
        assert fake.gets == ["/v1/models"] and not listing.error
        catalog = load_catalog(s)
        qwen, llama = catalog.get("compat/qwen3:8b"), catalog.get("compat/llama-4")
        assert (qwen.context_window, qwen.max_output) == (8192, 4096)  # the setting's window
        assert (llama.context_window, llama.max_output) == (32_768, 4096)
        # A server of one's own costs nothing, as the models the setting names always have.
        assert qwen.source == llama.source == "server" and qwen.priced and qwen.input == 0
        assert model_origin(qwen, s) == f"the server at {url}"
        assert catalog.fallbacks["compat/qwen3:8b"] == ("local/smollm2-135m-instruct",)

        named = replace(s, openai_compat_models=("fake-model",))  # the setting still wins
        forget_listings()
        assert [li.models for li in refresh_models(named)] == [()]
        assert fake.gets == ["/v1/models"]  # not asked again
        assert [m.key for m in load_catalog(named).models if m.provider == "compat"] == [
            "compat/fake-model"]


def test_a_failing_endpoint_leaves_the_catalog_as_it_was_and_says_why(settings, caplog):
    s = keyed(settings, anthropic_api_key="sk-ant-test")
    before = load_catalog(s)
    down = Replay(httpx2.ConnectError("connection refused"))
    with caplog.at_level(logging.WARNING, "lib.llm.discovery"):
        [listing] = refresh_models(s, http_client=down.client())
    assert down.attempts == 1  # the SDK's own retries are off: asked once
    assert listing.note == ("could not list models from Anthropic: The connection to Anthropic "
                            "failed (ConnectError).")
    assert load_catalog(s) == before
    [logged] = [r for r in caplog.records if r.name == "lib.llm.discovery"]
    assert logged.exc_info is not None  # with its traceback

    # Listed once, then the endpoint fails: the last good list stays, with the reason.
    refresh_models(s, http_client=anthropic_pages(LISTED[:1]).client())
    error = Replay(lambda request: httpx2.Response(
        500, json={"type": "error", "error": {"type": "api_error", "message": "Internal"}}))
    [listing] = refresh_models(s, http_client=error.client())
    assert "Internal" in listing.error and "HTTP 500" in listing.error
    assert [m.key for m in listing.models] == [FABLE]
    assert load_catalog(s).get(FABLE).context_window == 1_000_000


@pytest.mark.parametrize("keys", [{}, {"anthropic_api_key": "sk-ant-test",
                                       "discover_models": False}])
def test_no_key_or_listing_off_asks_nothing(settings, keys):
    s = replace(settings, **{"discover_models": True, **keys})
    transport = Replay(lambda request: httpx2.Response(200, json={"data": []}))
    before = load_catalog(s)
    assert refresh_models(s, http_client=transport.client()) == []
    ensure_listings(s)
    assert not listing_under_way(s)  # no background ask was started either
    assert transport.attempts == 0
    assert load_catalog(s) == before == current_catalog(s)


def test_the_catalog_never_waits_for_a_listing(settings):
    """current_catalog starts the ask in the background and answers with what it has; the
    models show once the server has answered."""
    fake = FakeOpenAI()
    fake.models = [{"id": "slow-model", "object": "model"}]
    fake.models_hold = threading.Event()
    with serving(fake) as url:
        s = keyed(settings, openai_base_url=url)
        try:
            first = current_catalog(s)  # the server holds its answer meanwhile
            assert "compat/slow-model" not in {m.key for m in first.models}
            assert listing_under_way(s)
            current_catalog(s)  # a rerun meanwhile starts no second ask
        finally:
            fake.models_hold.set()
        for t in [t for t in threading.enumerate() if t.name == "discover-compat"]:
            t.join(30)
        assert not listing_under_way(s) and len(fake.gets) == 1
        assert current_catalog(s).get("compat/slow-model").source == "server"
        current_catalog(s)  # listed within the session: not asked again
        assert len(fake.gets) == 1


def fable_settings(settings):
    """Settings with Claude Fable 5 discovered (and the Anthropic key that found it)."""
    s = keyed(settings, anthropic_api_key="sk-ant-test")
    refresh_models(s, http_client=anthropic_pages(LISTED[:1]).client())
    return s


def ask(s, model, provider):
    calls = scripted(s, provider)
    request = ChatRequest(model.id, (Message("user", "Hello"),), max_tokens=50)
    return calls.invoke(CallSpec(model, request, CallContext("chat")))


def test_an_unpriced_model_is_usable_and_its_cost_reads_unknown(settings):
    s = fable_settings(settings)
    fable = load_catalog(s).get(FABLE)
    provider = FakeProvider([ok("Hi there.", usage=Usage(1000, 200))])
    call = ask(s, fable, provider)
    list(call)
    row = spend.get_call(s.db, call.record.id)
    assert row.status == "ok" and (row.cost_micro, row.priced) == (0, False)
    assert format_cost(row.cost_micro, not row.priced) == "unknown"
    assert format_cost(1234, 1) == "$0.0012 + unknown" and format_cost(0) == "$0"


def test_a_budget_refuses_an_unpriced_model_until_models_toml_prices_it(settings):
    s = fable_settings(settings)
    spend.set_budget(s.db, "anthropic", "day", 5.0)
    provider = FakeProvider([ok("Hi there.", usage=Usage(1000, 200))])
    call = ask(s, load_catalog(s).get(FABLE), provider)
    with pytest.raises(BudgetExceededError) as refused:
        list(call)
    text = str(refused.value)
    assert "Claude Fable 5's price is unknown" in text and "was not sent" in text
    assert f"Set a price for claude-fable-5 (provider anthropic) in {user_catalog_path(s)}" \
        in text
    assert provider.requests == [] and spend.count_calls(s.db) == 0

    # Only the price is written: the window and limits stay the listing's.
    user_catalog_path(s).write_text('[[model]]\nid = "claude-fable-5"\nprovider = "anthropic"\n'
                                    "input = 2.0\noutput = 10.0\n", encoding="utf-8")
    fable = load_catalog(s).get(FABLE)
    assert (fable.priced, fable.input, fable.output, fable.context_window, fable.label) == (
        True, 2.0, 10.0, 1_000_000, "Claude Fable 5")
    call = ask(s, fable, provider)
    list(call)
    row = spend.get_call(s.db, call.record.id)
    assert (row.status, row.priced, row.cost_micro) == ("ok", True, 1000 * 2 + 200 * 10)
    assert len(provider.requests) == 1


def test_saving_prices_keeps_an_unpriced_model_out_until_it_has_one(settings):
    s = fable_settings(settings)
    catalog = load_catalog(s)
    save_user_catalog(s, list(catalog.models), "2026-01-01")
    written = user_catalog_path(s).read_text(encoding="utf-8")
    ids = {m["id"] for m in tomllib.loads(written)["model"]}  # the shipped claude-fable-5-2 too
    assert "claude-fable-5" not in ids and "source" not in written
    assert not load_catalog(s).get(FABLE).priced
    priced = [replace(m, input=1.0, output=4.0) if m.key == FABLE else m
              for m in catalog.models]
    save_user_catalog(s, priced, "2026-01-01")
    assert load_catalog(s).get(FABLE).priced and load_catalog(s).get(FABLE).output == 4.0


def test_a_partial_entry_for_a_model_nobody_lists_gets_the_stated_defaults(settings):
    """Offline, a model priced in models.toml is still there, with the default limits."""
    s = replace(settings, discover_models=True)
    user_catalog_path(s).parent.mkdir(parents=True, exist_ok=True)
    user_catalog_path(s).write_text('[[model]]\nid = "claude-fable-5"\nprovider = "anthropic"\n'
                                    "input = 2.0\noutput = 10.0\n", encoding="utf-8")
    fable = load_catalog(s).get(FABLE)
    assert (fable.label, fable.context_window, fable.max_output, fable.priced, fable.source) == (
        "claude-fable-5", 128_000, 4_096, True, "catalog")


def test_the_setting_reads_as_a_flag():
    assert load_settings({"PROMPTLAB_DISCOVER_MODELS": "0"}).discover_models is False
    assert load_settings({"PROMPTLAB_DISCOVER_MODELS": "on"}).discover_models is True
    assert load_settings({}).discover_models is True


def test_a_plugins_lister_that_breaks_is_said_plainly_and_redacted(settings, monkeypatch):
    from lib.llm import discovery, spec_of

    def broken(_settings, _client):
        raise RuntimeError("rejected key sk-live-0123456789abcdef0123")

    spec = replace(spec_of("openai"), name="mine", label="My gateway", lists=broken,
                   check=lambda _s, _run: (True, ""), source="my_plugin")
    monkeypatch.setattr(discovery, "provider_specs", lambda: {"mine": spec})
    [listing] = refresh_models(replace(settings, discover_models=True))
    assert listing.note == "could not list models from My gateway: RuntimeError: rejected key " \
        "[redacted]"
    assert listing.models == ()


def test_a_compare_run_on_an_unpriced_model_forecasts_and_stores_its_cost_as_unknown(
        settings, prompts_dir):
    import csv
    import io

    from lib import compare
    from lib.compare import Variant
    from lib.prompts import PromptStore

    s = fable_settings(settings)
    variants = [Variant("classifier", "production", FABLE, 0.0, 20),
                Variant("classifier", "production", "openai/gpt-4o-mini", 0.0, 20)]
    resolved = compare.resolve(PromptStore(prompts_dir), load_catalog(s), variants)
    rows = [{"text": "The app crashes on save."}]
    plan = compare.forecast(s, resolved, rows)
    assert plan.unpriced == 1 and [p["unpriced"] for p in plan.per_variant()] == [1, 0]
    assert compare.batch_forecast(resolved, plan).unpriced == 1
    run_id = compare.create_run(s.db, "unpriced", resolved, rows, [])
    list(compare.execute(s, run_id, resolved, plan, [],
                         calls=scripted(s, FakeProvider([ok("bug", usage=Usage(50, 2))]))))
    run = compare.load_run(s.db, run_id)
    fable, gpt = run.cells[(0, 0)], run.cells[(0, 1)]
    assert (fable.status, fable.priced, fable.cost_micro) == ("ok", False, 0)
    assert gpt.priced and gpt.cost_micro > 0
    exported = list(csv.DictReader(io.StringIO(compare.export_csv(run))))
    assert exported[0]["cost_usd"] == ""  # unknown, not 0
    assert float(exported[1]["cost_usd"]) > 0

    spend.set_budget(s.db, "all", "day", 5.0)  # a batch under a budget is refused whole
    with pytest.raises(BudgetExceededError, match="price is unknown"):
        compare.submit_batch(s, compare.create_run(s.db, "batch", resolved, rows, []),
                             resolved, plan, [], client_for=lambda p: None)
