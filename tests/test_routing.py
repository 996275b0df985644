"""Cost routing: the router's choice for each rule, its rules' validation, a prompt's declared
task, the baseline a routed call records, and what the Costs page says routing saved."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from fakes import FakeProvider, chat_turn, ok, scripted

from lib import chat, spend
from lib.chat import TurnOptions
from lib.core import CatalogError, PromptStoreError, ProviderError
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelStatus,
    RetryPolicy,
    Router,
    RouteRule,
    Usage,
    load_catalog,
    load_router,
    parse_router,
    route,
    route_messages,
    save_user_catalog,
    top_model,
    user_catalog_path,
)
from lib.prompts import PromptStore
from lib.spend import Filters

FABLE, OPUS, SONNET, HAIKU = ("anthropic/claude-fable-5-2", "anthropic/claude-opus-5-5",
                              "anthropic/claude-sonnet-5-5", "anthropic/claude-haiku-5-5")
ASTRA, SOL, TERRA, LUNA = ("openai/gpt-6.2-astra", "openai/gpt-6.2-sol", "openai/gpt-6.1-terra",
                           "openai/gpt-6-luna")
LOCAL = "local/smollm2-135m-instruct"


@pytest.fixture
def catalog(settings):
    return load_catalog(settings)


@pytest.fixture
def router(settings, catalog):
    return load_router(settings, catalog)


def statuses(catalog, *providers: str) -> list[ModelStatus]:
    """Every catalog model; those of `providers` available."""
    return [ModelStatus(m, m.provider in providers, "" if m.provider in providers else "no key")
            for m in catalog.models]


EVERYONE = ("anthropic", "openai", "local")


@pytest.mark.parametrize(("task", "model"), [
    ("classify", HAIKU), ("extract", HAIKU), ("summarise", HAIKU),  # small
    ("chat", SONNET), ("reasoning", OPUS),                           # mid
    ("hard", FABLE),                                                 # top
])
def test_each_task_rule_sends_its_task_to_its_model(router, catalog, task, model):
    routed = route(router, statuses(catalog, *EVERYONE), task, 1_000)
    assert routed.model.key == model and routed.task == task
    assert routed.reason == f"rule for the {task} task"
    assert routed.baseline.key == FABLE  # the top of the ladder


def test_no_task_means_the_default_task(router, catalog):
    routed = route(router, statuses(catalog, *EVERYONE), None, 10)
    assert routed.model.key == SONNET and routed.task == "chat"
    assert routed.reason == "rule for the chat task (the default)"


def test_a_prompts_declared_task_routes_and_is_named(router, catalog, prompts_dir):
    declared = PromptStore(prompts_dir).get("classifier").task
    assert declared == "classify"
    routed = route(router, statuses(catalog, *EVERYONE), declared, 50, declared_by="classifier")
    assert routed.model.key == HAIKU
    assert routed.reason == "rule for the classify task (declared by prompt 'classifier')"


def test_a_long_summary_goes_to_the_model_whose_rate_holds_at_that_length(router, catalog):
    ready = statuses(catalog, *EVERYONE)
    routed = route(router, ready, "summarise", 100_001)
    assert routed.model.key == LUNA
    assert routed.reason == ("rule for the summarise task with an input over 100,000 tokens "
                             "(this one is 100,001)")
    # Why: past 100K Haiku 5.5 bills the whole request at 5x, Luna keeps its rate to 272K.
    haiku, luna = catalog.get(HAIKU), catalog.get(LUNA)
    assert haiku.cost_micro(100_001, 1_000) > luna.cost_micro(100_001, 1_000)
    assert haiku.cost_micro(100_000, 1_000) == luna.cost_micro(100_000, 1_000)  # same rates
    assert route(router, ready, "summarise", 100_000).model.key == HAIKU  # not over it
    assert route(router, ready, "summarise", None).model.key == HAIKU     # not counted yet
    assert route(router, ready, "classify", 100_001).model.key == HAIKU   # summaries only


def test_a_rule_naming_a_task_and_a_length_needs_both(catalog):
    r = Router((OPUS, SONNET, HAIKU), (RouteRule(SONNET, "summarise", 100),
                                       RouteRule(HAIKU, "summarise")))
    ready = statuses(catalog, *EVERYONE)
    assert route(r, ready, "summarise", 101).model.key == SONNET
    assert route(r, ready, "summarise", 101).reason == (
        "rule for the summarise task with an input over 100 tokens (this one is 101)")
    assert route(r, ready, "summarise", 99).model.key == HAIKU
    assert route(r, ready, "chat", 101).model.key == OPUS  # no rule: the top model
    assert route(r, ready, "chat", 101).reason == "no rule for the chat task; the top model"


@pytest.mark.parametrize(("task", "model"), [  # a tie goes to the cheaper side
    ("classify", LUNA), ("hard", ASTRA), ("reasoning", SOL), ("chat", TERRA)])
def test_an_unavailable_rule_model_moves_to_the_nearest_available(router, catalog, task,
                                                                  model):
    routed = route(router, statuses(catalog, "openai", "local"), task, 10)
    assert routed.model.key == model
    wanted = catalog.get({"classify": HAIKU, "hard": FABLE, "reasoning": OPUS}.get(
        task, SONNET)).label
    assert routed.reason == (f"rule for the {task} task names {wanted}, which is unavailable; "
                             "the next available model on the router's ladder")
    assert routed.baseline.key == ASTRA  # the top available model


def test_with_only_the_local_model_the_router_still_answers(router, catalog):
    ready = statuses(catalog, "local")
    for task in ("classify", "chat", "hard", None):
        routed = route(router, ready, task, 100_000_000)
        assert routed.model.key == LOCAL and routed.baseline.key == LOCAL
        assert routed.reason.endswith("which is unavailable; the only available model")
    assert top_model(router, ready).key == LOCAL


def test_no_available_model_is_a_plain_error(router, catalog):
    with pytest.raises(ProviderError, match="None of the router's models"):
        route(router, statuses(catalog), "chat", 10)
    assert top_model(router, statuses(catalog)) is None


def test_the_input_length_is_counted_by_the_chosen_models_counter(settings, catalog):
    r = Router(("openai/gpt-4.1", "openai/gpt-4o-mini"),
               (RouteRule("openai/gpt-4.1", above_tokens=200),
                RouteRule("openai/gpt-4o-mini", "chat")))
    ready = statuses(catalog, "openai")
    short = route_messages(r, ready, settings, "chat", "Be brief.", [Message("user", "Hi")])
    assert short.model.key == "openai/gpt-4o-mini"
    long = [Message("user", "word " * 150), Message("assistant", "ok"),
            Message("user", "word " * 100)]
    routed = route_messages(r, ready, settings, "chat", "Be brief.", long)
    assert routed.model.key == "openai/gpt-4.1" and "over 200 tokens" in routed.reason


# -- the rules' validation --------------------------------------------------------------

def tables(ladder=(OPUS, HAIKU), **rule) -> dict:
    return {"router": {"ladder": list(ladder)}, "route": [rule]}


@pytest.mark.parametrize(("raw", "says"), [
    (tables(model="anthropic/claude-nope", task="chat"), "not on the router's ladder"),
    (tables(ladder=(OPUS, "openai/gpt-99"), model=OPUS, task="chat"),
     "names 'openai/gpt-99', which is not in the model catalog"),
    (tables(model=HAIKU, task="poetry"), "unknown task 'poetry'"),
    (tables(model=HAIKU), "neither a task nor above_tokens"),
    (tables(model=HAIKU, above_tokens=-5), "above_tokens must be a positive whole number"),
    (tables(model=HAIKU, task="chat", colour="red"), "may only have task, above_tokens"),
    ({"router": {"ladder": []}}, "needs a ladder"),
    ({"router": {"ladder": [OPUS, OPUS]}}, "names a model twice"),
    ({"router": {"ladder": [OPUS], "default_task": "nap"}}, "default task 'nap'"),
])
def test_bad_rules_are_refused_in_plain_words(catalog, raw, says):
    with pytest.raises(CatalogError, match=says.replace("(", r"\(")):
        parse_router(raw, catalog, "models.toml")


def test_the_users_copy_replaces_the_rules_and_keeps_them_when_prices_are_saved(settings,
                                                                                catalog):
    path = user_catalog_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[router]\ndefault_task = "hard"\n\n[[route]]\ntask = "hard"\n'
                    f'model = "{HAIKU}"\n', encoding="utf-8")
    mine = load_router(settings, catalog)
    assert mine.default_task == "hard" and mine.ladder[0] == FABLE  # shipped ladder kept
    assert mine.rules == (RouteRule(HAIKU, "hard"),)
    save_user_catalog(settings, list(load_catalog(settings).models), "2026-01-01")
    assert load_router(settings, load_catalog(settings)) == mine
    path.write_text(f'[[route]]\ntask = "hard"\nmodel = "{HAIKU[:-1]}"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="not on the router's ladder"):
        load_router(settings, catalog)


# -- a prompt's declared task ------------------------------------------------------------

def test_a_declared_task_round_trips_and_a_bad_one_is_refused(prompts_dir):
    store = PromptStore(prompts_dir)
    store.create("triage", "Sort: {{ text }}", task="classify",
                 variables=store.get("classifier").variables[:1])
    assert store.get("triage").task == "classify"
    store.save_version("triage", "Sort this: {{ text }}")
    assert store.get("triage").task == "classify"  # None keeps it
    store.save_version("triage", "Sort this: {{ text }}", task="")
    assert store.get("triage").task == "" and "task" not in (
        prompts_dir / "triage" / "manifest.toml").read_text()
    with pytest.raises(PromptStoreError, match="'poetry' is not a task the router knows"):
        store.save_version("triage", "x {{ text }}", task="poetry")
    with pytest.raises(PromptStoreError, match="not a task the router knows"):
        store.create("verse", "Rhyme.", task="poetry")
    assert not (prompts_dir / "verse").exists() and store.get("triage").latest == 3
    manifest = prompts_dir / "triage" / "manifest.toml"
    manifest.write_text('task = "poetry"\n' + manifest.read_text(), encoding="utf-8")
    with pytest.raises(PromptStoreError, match="not a task the router knows"):
        store.get("triage")


# -- what a routed call records ----------------------------------------------------------

def test_a_routed_call_records_its_reason_and_the_top_models_price(settings, catalog):
    small, top = catalog.get("openai/gpt-4o-mini"), catalog.get(OPUS)
    calls = scripted(settings, FakeProvider([ok("Positive.", usage=Usage(1000, 200))]),
                     policy=RetryPolicy(initial_wait_s=0))
    call = calls.invoke(CallSpec(
        small, ChatRequest(small.id, (Message("user", "Classify: great!"),)),
        CallContext("chat", route="rule for the classify task", baseline=top)))
    list(call)
    row = spend.get_call(settings.db, call.record.id)
    assert row.route == "rule for the classify task"
    assert row.cost_micro == 1000 * 0.15 + 200 * 0.60 == 270
    assert row.baseline_micro == top.cost_micro(1000, 200) == 1000 * 4 + 200 * 20


def test_a_routed_chat_turn_keeps_the_reason_with_the_reply(settings, catalog):
    small, top = catalog.get("openai/gpt-4o-mini"), catalog.get(OPUS)
    options = TurnOptions(route="rule for the chat task (the default)", baseline=top)
    turn = chat_turn(settings, None, small, "Hello?", options,
                    calls=scripted(settings, FakeProvider([ok("Hi.", usage=Usage(40, 3))]),
                                   policy=RetryPolicy(initial_wait_s=0)))
    list(turn)
    [_, reply] = chat.list_messages(settings.db, turn.conversation_id)
    assert reply.meta["route"] == "rule for the chat task (the default)"
    assert reply.meta["baseline_micro"] == top.cost_micro(40, 3)
    row = spend.get_call(settings.db, reply.call_id)
    assert (row.route, row.baseline_micro) == (options.route, top.cost_micro(40, 3))


# -- what the Costs page says routing saved ----------------------------------------------

def test_routing_savings_equal_a_direct_computation(settings):
    rng = random.Random(7)
    db = settings.db
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    rows = []
    for _ in range(400):
        when = start + dt.timedelta(seconds=rng.randrange(0, 20 * 86400))
        cost = rng.randint(0, 50_000)
        routed = rng.random() < 0.5
        rec = spend.CallRecord(
            ts=when.isoformat(timespec="milliseconds"), page=rng.choice(["chat", "compare"]),
            provider="openai", model=rng.choice(["gpt-5-mini", "gpt-4.1"]), attempts=1,
            status=rng.choice(["ok", "ok", "error"]), total_ms=100.0, cost_micro=cost,
            route="rule" if routed or rng.random() < 0.2 else None,  # fallbacks have a route
            baseline_micro=cost + rng.randint(0, 90_000) if routed else None)
        spend.record(db, rec)
        rows.append(rec)
    for f in (Filters("2026-10-01", "2026-10-20"), Filters("2026-10-05", "2026-10-09"),
              Filters("2026-10-01", "2026-10-20", page=("chat",), model=("gpt-4.1",)),
              Filters("2026-11-01", "2026-11-02")):
        chosen = [r for r in rows if f.start <= r.ts[:10] <= f.end and r.baseline_micro is not None
                  and (not f.page or r.page in f.page) and (not f.model or r.model in f.model)]
        assert spend.routing_savings(db, f) == {
            "calls": len(chosen),
            "saved_micro": sum(r.baseline_micro - r.cost_micro for r in chosen),
            "baseline_micro": sum(r.baseline_micro for r in chosen)}
        assert spend.dashboard(db, f)["routing"] == spend.routing_savings(db, f)
