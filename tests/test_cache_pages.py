"""The response cache in the app: the Costs page says what the cache saved and its hit rate
for the filtered period and clears it behind a confirmation; the Compare form's checkbox."""

from __future__ import annotations

import datetime as dt

from support import shown as reads

from lib import spend
from lib.core import get_settings
from lib.llm import DatabaseStore


def _row(response_cache: str | None, cost: int, saved: int = 0) -> spend.CallRecord:
    return spend.CallRecord(
        ts=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), page="api",
        provider="openai", model="gpt-4.1", attempts=1, status="ok", total_ms=10.0,
        input_tokens=100, output_tokens=20, cost_micro=cost, saved_micro=saved,
        response_cache=response_cache)


def test_costs_say_what_the_cache_saved_and_clear_it(app):
    at = app("app_pages/costs.py")
    db = get_settings().db
    spend.record(db, _row(None, 500))             # no lookup: not in the hit rate
    spend.record(db, _row("miss", 3000))
    spend.record(db, _row("hit", 0, saved=3000))
    spend.record(db, _row("hit", 0, saved=3000))
    at.run()
    assert not at.exception
    line = next(reads(m.value) for m in at.markdown if "The cache saved" in reads(m.value))
    assert "The cache saved **$0.0060**: 2 of 3 calls" in line and "(67% hit rate)" in line
    assert {m.label: reads(m.value) for m in at.metric}["Spend"] == "$0.0035"

    settings = get_settings()
    store = DatabaseStore(db, settings.cache_ttl_s, settings.cache_max_entries)
    store.put("a" * 64, "[]")
    at.button(key="cost_clear_cache").click().run()
    assert not at.exception
    assert any("1 kept reply forgotten" in reads(s.value) for s in at.success)
    assert store.get("a" * 64) is None


def test_costs_without_cached_calls_say_how_to_turn_it_on(app):
    at = app("app_pages/costs.py")
    spend.record(get_settings().db, _row(None, 500))
    at.run()
    assert not at.exception
    assert any("PROMPTLAB_CACHE" in reads(c.value) for c in at.caption)
    assert not any("The cache saved" in reads(m.value) for m in at.markdown)


def test_the_compare_form_offers_the_cache_off_unless_its_page_is_listed(app, monkeypatch):
    at = app("app_pages/compare.py")
    assert not at.exception
    box = at.checkbox(key="cmp_cache")
    assert box.label == "Reuse identical answers (cache)" and box.value is False
    monkeypatch.setenv("PROMPTLAB_CACHE", "compare,api")
    get_settings.cache_clear()
    assert get_settings().cache_pages == ("compare", "api")
    at = app("app_pages/compare.py")
    assert at.checkbox(key="cmp_cache").value is True


def test_a_key_can_be_made_to_use_the_cache_and_the_table_says_so(app):
    from lib import api

    at = app("app_pages/api.py")
    assert not at.checkbox(key="api_key_cache").value       # off unless asked
    at.text_input(key="api_key_name").set_value("cached")
    at.checkbox(key="api_key_cache").check()
    next(b for b in at.button if b.label == "Create key").click().run()
    at.text_input(key="api_key_name").set_value("fresh")
    next(b for b in at.button if b.label == "Create key").click().run()
    assert not at.exception
    assert {k.name: k.cache for k in api.list_keys(get_settings().db)} == {
        "cached": True, "fresh": False}
    table = at.table[0].value
    assert dict(zip(table["Name"], table["Cache"], strict=True)) == {
        "cached": "yes", "fresh": "no"}
