"""The shipped catalog at today's lineup (issue 23): it parses, every vendor model names the
page its figures come from, legacy marks, long-context rates; parameters a model refuses are
dropped with a note (one rule: ModelInfo.temperature_for / reasoning_for) in the seam, Compare
and the API; a newer tokenizer's margin reaches counts, forecasts and budget reservations."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest
from fakes import FakeProvider, ok, scripted
from support import shown

from lib import compare, spend, tokenviz
from lib.compare import Variant
from lib.core import BudgetExceededError, CatalogError
from lib.llm import (
    SHIPPED,
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Reasoning,
    counter_for,
    encoding,
    load_catalog,
    shaped,
    user_catalog_path,
)
from lib.prompts import PromptStore

LOCAL = "local/smollm2-135m-instruct"
LINEUP = ("anthropic/claude-fable-5-2", "anthropic/claude-opus-5-5",
          "anthropic/claude-sonnet-5-5", "anthropic/claude-haiku-5-5",
          "openai/gpt-6.2-astra", "openai/gpt-6.2-sol", "openai/gpt-6.1-terra",
          "openai/gpt-6-luna")
LEGACY = ("anthropic/claude-sonnet-4-5", "anthropic/claude-opus-4-5",
          "anthropic/claude-haiku-4-5", "openai/gpt-5", "openai/gpt-5-mini", "openai/gpt-4.1",
          "openai/gpt-4o-mini")
SONNET = "anthropic/claude-sonnet-5-5"
CLAUDE_FACTOR = 1.15  # our cl100k estimate of Claude's older tokenizer (lib.llm.tokens)
PAGES = re.compile(r"https://(platform\.claude\.com/docs/en/|developers\.openai\.com/api/docs/)")


@pytest.fixture
def catalog(settings):
    return load_catalog(settings)


# -- the shipped file -----------------------------------------------------------------------

def test_the_shipped_catalog_is_todays_lineup_with_the_bundled_model_first(catalog):
    keys = [m.key for m in catalog.models]
    assert keys[0] == LOCAL  # the bundled model stays first: the default everywhere
    assert sorted(keys) == sorted((LOCAL, *LINEUP, *LEGACY))
    assert catalog.prices_checked == "2026-12-06"
    for key in LINEUP:
        m = catalog.get(key)
        assert m.context_window >= 1_000_000 and m.max_output == 128_000, key
        assert not m.legacy and m.thinking and m.efforts and not m.temperature, key
        assert m.input > 0 and m.output > m.input and 0 < m.cache_read < m.input < m.cache_write


def test_every_vendor_model_names_the_page_its_figures_come_from():
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == "[[model]]"]
    assert len(starts) == 1 + len(LINEUP) + len(LEGACY)
    for i in starts:
        provider = next(line for line in lines[i:] if line.startswith("provider"))
        above = []
        for line in reversed(lines[:i]):
            if not line.startswith("#"):
                break
            above.append(line)
        if '"local"' in provider:
            assert not above  # the bundled model has no vendor page
            continue
        assert any(PAGES.search(line) for line in above), (lines[i + 1], above)


def test_legacy_models_stay_and_are_marked(catalog):
    assert {m.key for m in catalog.models if m.legacy} == set(LEGACY)


def test_models_that_refuse_a_temperature_or_manual_thinking_say_so(catalog):
    sonnet = catalog.get(SONNET)
    assert not sonnet.temperature and "on" not in sonnet.thinking
    assert "adaptive" in sonnet.thinking and sonnet.token_margin == 1.3
    for key in ("anthropic/claude-fable-5-2", "anthropic/claude-opus-5-5"):
        assert catalog.get(key).thinking == ("adaptive",)  # thinking cannot be turned off
    # Before Sonnet 5 a temperature is taken, and thinking with a budget too.
    haiku_45 = catalog.get("anthropic/claude-haiku-4-5")
    assert haiku_45.temperature and "on" in haiku_45.thinking and haiku_45.token_margin == 1


# -- long-context rates -----------------------------------------------------------------------

def test_a_prompt_past_the_long_context_threshold_bills_the_whole_request_higher(catalog):
    haiku = catalog.get("anthropic/claude-haiku-5-5")  # $0.10 / $0.50; 5x past 100K
    assert haiku.cost_micro(100_000, 1_000) == round(100_000 * 0.10 + 1_000 * 0.50)
    assert haiku.cost_micro(100_001, 1_000) == round(5 * (100_001 * 0.10 + 1_000 * 0.50))
    # Cache reads and writes are part of the prompt, and are billed at the higher rate too.
    assert haiku.cost_micro(1, 10, 99_000, 1_000) == round(
        5 * (1 * 0.10 + 99_000 * 0.01 + 1_000 * 0.125 + 10 * 0.50))
    sol = catalog.get("openai/gpt-6.2-sol")          # past 272K: input 2x, output 1.5x
    assert sol.cost_micro(272_000, 100) == 272_000 * 2 + 100 * 10
    assert sol.cost_micro(272_001, 100) == round(2 * 272_001 * 2 + 1.5 * 100 * 10)
    one_rate = catalog.get("anthropic/claude-sonnet-5-5")
    assert one_rate.cost_micro(900_000, 0) == 900_000 * 2  # no long-context rate


@pytest.mark.parametrize("field", [{"token_margin": 0.9}, {"long_input": 0.5},
                                   {"long_above": -1}])
def test_a_margin_or_long_rate_that_would_lower_a_count_or_price_is_refused(settings, field):
    path = user_catalog_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    name, value = next(iter(field.items()))
    path.write_text(f'[[model]]\nid = "x"\nprovider = "openai"\nlabel = "X"\n'
                    f"context_window = 100\nmax_output = 10\n{name} = {value}\n",
                    encoding="utf-8")
    with pytest.raises(CatalogError, match="openai/x: token_margin, long_input"):
        load_catalog(settings)


# -- what a model refuses is not sent ---------------------------------------------------------

def test_the_seam_drops_a_refused_temperature_and_manual_thinking(catalog):
    sonnet, haiku_45 = catalog.get(SONNET), catalog.get("anthropic/claude-haiku-4-5")
    request = ChatRequest("x", (Message("user", "hi"),), temperature=0.7,
                          reasoning=Reasoning("on", budget_tokens=2048))
    sent = shaped(request, sonnet)
    # Manual thinking is refused: the nearest mode it takes, adaptive, goes instead (asked
    # for, so its thinking is shown between tool calls), without the budget.
    assert sent.temperature is None and sent.reasoning == Reasoning("adaptive")
    kept = shaped(request, haiku_45)
    assert kept.temperature == 0.7 and kept.reasoning == request.reasoning
    adaptive = Reasoning("adaptive", effort="xhigh")
    assert shaped(replace(request, reasoning=adaptive), sonnet).reasoning == adaptive
    # An effort the model does not take is left out; the mode stays.
    assert shaped(replace(request, reasoning=Reasoning("on", effort="xhigh")),
                  catalog.get("anthropic/claude-opus-4-5")).reasoning == Reasoning("on")
    assert sonnet.temperature_note(0.7).startswith("Temperature 0.7 not sent: Claude Sonnet 5.5 "
                                                   "refuses a temperature")
    assert sonnet.temperature_note(None) == haiku_45.temperature_note(0.7) == ""


def test_compare_drops_a_refused_temperature_and_says_so_with_the_run(settings, catalog):
    store = PromptStore(settings.prompts_dir)
    resolved = compare.resolve(store, catalog, [
        Variant("classifier", "production", SONNET, 0.7, 20),
        Variant("classifier", "production", LOCAL, 0.3, 20)])
    assert compare.request_for(resolved[0], "text").temperature is None
    assert compare.request_for(resolved[1], "text").temperature == 0.3
    assert resolved[0].label(0).endswith("· t: the model's own (it refuses one)")
    assert resolved[1].label(1).endswith("· t=0.3")
    run_id = compare.create_run(settings.db, "t", resolved, [{"text": "ticket"}], [])
    claude, local = FakeProvider([ok("question")]), FakeProvider([ok("question")])
    plan = compare.forecast(settings, resolved, [{"text": "ticket"}])
    list(compare.execute(settings, run_id, resolved, plan, [], concurrency=1,
                         calls=scripted(settings, {SONNET: claude, LOCAL: local})))
    assert [r.temperature for r in claude.requests] == [None]
    assert [r.temperature for r in local.requests] == [0.3]
    run = compare.load_run(settings.db, run_id)
    assert compare.dropped_notes(run.variants) == [
        "Variant A: Temperature 0.7 not sent: Claude Sonnet 5.5 refuses a temperature (its API "
        "rejects any but its own default), so none is sent."]
    assert run.variant_label(0).endswith("t: the model's own (it refuses one)")


def test_the_compare_run_page_warns_of_the_dropped_temperature(app, settings, catalog):
    store = PromptStore(settings.prompts_dir)
    resolved = compare.resolve(store, catalog, [
        Variant("classifier", "production", SONNET, 0.7, 20),
        Variant("classifier", "production", LOCAL, 0.3, 20)])
    run_id = compare.create_run(settings.db, "t", resolved, [{"text": "ticket"}], [])
    at = app()
    at.switch_page("app_pages/compare_run.py")
    at.query_params["run"] = str(run_id)
    at.run()
    assert not at.exception
    assert [shown(w.value) for w in at.warning] == [
        "Variant A: Temperature 0.7 not sent: Claude Sonnet 5.5 refuses a temperature (its API "
        "rejects any but its own default), so none is sent."]


def test_the_chat_sidebar_says_why_temperature_is_off(app):
    at = app("app_pages/chat.py")
    at.selectbox(key="chat_model").set_value(SONNET).run()
    assert at.slider(key="chat_temperature").disabled
    assert any("Claude Sonnet 5.5 refuses a temperature" in shown(c.value)
               for c in at.sidebar.caption)
    at.selectbox(key="chat_model").set_value(LOCAL).run()
    assert not at.slider(key="chat_temperature").disabled
    assert not any("refuses a temperature" in shown(c.value) for c in at.sidebar.caption)


# -- a newer tokenizer's margin ---------------------------------------------------------------

TEXT = " ".join(f"Item {i}: the invoice lists the parts, the hours and the tax that apply."
                for i in range(300))


def test_the_margin_multiplies_the_estimate_and_the_counter_says_so(settings, catalog):
    sonnet = catalog.get(SONNET)
    with_margin, without = counter_for(sonnet, settings), counter_for(
        replace(sonnet, token_margin=1.0), settings)
    n = len(encoding("cl100k_base").encode(TEXT))
    assert without.count(TEXT) == math.ceil(n * CLAUDE_FACTOR)
    assert with_margin.count(TEXT) == math.ceil(n * CLAUDE_FACTOR * 1.3) > 1.25 * without.count(
        TEXT)
    assert not with_margin.exact
    assert with_margin.name == ("estimate (cl100k × 1.15), +30% margin for this model's newer "
                                "tokenizer")
    rows = {r["model"]: r for r in tokenviz.model_table(TEXT, catalog, settings)}
    assert rows["Claude Sonnet 5.5"]["counted by"] == with_margin.name
    assert rows["Claude Sonnet 5.5"]["tokens"] == with_margin.count(TEXT)
    assert "margin" not in rows["Claude Haiku 4.5"]["counted by"]


def test_the_margin_reaches_a_compare_forecast(settings, catalog):
    store = PromptStore(settings.prompts_dir)
    resolved = compare.resolve(store, catalog, [
        Variant("classifier", "production", SONNET, 0.7, 20),
        Variant("classifier", "production", "anthropic/claude-sonnet-4-5", 0.7, 20)])
    plan = compare.forecast(settings, resolved, [{"text": TEXT}])
    [newer, older] = plan.cells
    n = len(encoding("cl100k_base").encode(newer.text))
    framing = 6  # one message: 3 tokens for it, 3 priming the reply
    assert newer.input_tokens == framing + math.ceil(n * CLAUDE_FACTOR * 1.3)
    assert older.input_tokens == framing + math.ceil(n * CLAUDE_FACTOR)
    assert newer.max_cost_micro == catalog.get(SONNET).cost_micro(newer.input_tokens, 20)


def test_the_margin_reaches_a_budget_reservation(settings, catalog):
    """A budget a count without the margin would admit refuses the call: its expected cost,
    on which a reservation is admitted, counts the margin."""
    sonnet = catalog.get(SONNET)
    request = ChatRequest(sonnet.id, (Message("user", TEXT),), max_tokens=100)

    def call(model: ModelInfo):
        return scripted(settings, FakeProvider([ok("done")])).call(
            CallSpec(model, request, CallContext("test")))

    counted = call(sonnet)
    unmarked = call(replace(sonnet, token_margin=1.0))
    tokens = counter_for(sonnet, settings).count_request(request)
    assert counted.worst_case_micro() == round(round(tokens * 1.1) * 2.5 + 100 * 10)
    assert counted.worst_case_micro() > 1.25 * unmarked.worst_case_micro()
    spend.set_budget(settings.db, "all", "day",
                     (counted.worst_case_micro() + unmarked.worst_case_micro()) / 2e6)
    with pytest.raises(BudgetExceededError):
        counted.reserve()
    unmarked.reserve()  # what we would have let through before the margin
    [status] = spend.statuses(settings.db)
    assert status.reserved_micro == max(unmarked.worst_case_micro(), unmarked.bound_micro())


def test_a_long_prompt_reserves_at_the_long_context_rates(settings, catalog):
    """Haiku 5.5 bills a prompt past 100K tokens at 5x: the budget holds that, not the list
    price (a reservation at list prices would let such calls overspend five-fold)."""
    haiku = catalog.get("anthropic/claude-haiku-5-5")
    short = ChatRequest(haiku.id, (Message("user", "word " * 1_000),), max_tokens=100)
    long = replace(short, messages=(Message("user", "word " * 120_000),))

    def call(request: ChatRequest):
        return scripted(settings, FakeProvider([ok("done")])).call(
            CallSpec(haiku, request, CallContext("test")))

    for request, rate in ((short, 1), (long, 5)):
        one = call(request)
        tokens = round(counter_for(haiku, settings).count_request(request) * 1.1)
        assert one.worst_case_micro() == round(
            rate * tokens * max(haiku.input, haiku.cache_write) + rate * 100 * haiku.output)
        assert one.bound_micro() >= one.worst_case_micro()
