"""Sign-in's services: who made each ledger row, conversation, knowledge base and compare run;
conversations private to their owner; per-user budgets that concurrent calls by one user never
overshoot; the Costs figures filtered and grouped by user. Storage tests run on SQLite and on
PostgreSQL."""

from __future__ import annotations

import pytest
from fakes import FakeProvider, chat_turn, ok, scripted
from support import race, together

from lib import chat, compare, knowledge, spend, users
from lib.compare import Variant
from lib.core import BudgetExceededError, NotFoundError, now_iso, today
from lib.llm import (
    Call,
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Usage,
    load_catalog,
)
from lib.prompts import PromptStore
from lib.spend import CallRecord, Filters

ALICE, BOB = "alice@example.com", "bob@example.com"
# $100 per million output tokens: 500 max tokens reserve $0.05; 400 used cost $0.04.
PAID = ModelInfo("pricey", "openai", "Pricey", 10_000, 1000, input=0.0, output=100.0)
FREE = ModelInfo("fake", "local", "Fake", 4096, 256)
REQUEST = ChatRequest("pricey", (Message("user", "hi"),), max_tokens=500)
both = pytest.mark.usefixtures("backend")  # each on SQLite, then on PostgreSQL


def paid_call(settings, user: str | None) -> Call:
    provider = FakeProvider([ok("x" * 10, usage=Usage(0, 400))])
    return scripted(settings, provider).call(
        CallSpec(PAID, REQUEST, CallContext("test", user=user)))


@both
def test_a_calls_user_is_on_its_ledger_row_and_the_costs_filter_and_group_by_it(settings):
    db = settings.db
    calls = [paid_call(settings, u) for u in (ALICE, ALICE, BOB, None)]
    for c in calls:
        list(c)
    assert [spend.get_call(db, c.record.id).user_id for c in calls] == [ALICE, ALICE, BOB,
                                                                          None]
    day = today()
    everyone = spend.dashboard(db, Filters(day, day))
    assert everyone["totals"]["calls"] == 4 and everyone["totals"]["cost_micro"] == 160_000
    users = everyone["users"]
    assert list(users["user_id"]) == [ALICE, BOB, ""]  # most spent first; "": nobody signed in
    assert list(users["calls"]) == [2, 1, 1] and list(users["cost_micro"]) == [80_000, 40_000,
                                                                                40_000]
    split = spend.spend_by_user(db, Filters(day, day, provider=("openai",), status=("ok",)))
    assert list(split["user_id"]) == [ALICE, BOB] and list(split["errors"]) == [0, 0]
    only = spend.dashboard(db, Filters(day, day, user_id=(ALICE,)))
    assert only["totals"]["calls"] == 2 and only["totals"]["cost_micro"] == 80_000
    assert list(only["spend"]["cost_micro"]) == [80_000]
    assert list(only["users"]["user_id"]) == [ALICE]  # no "nobody" row under a user filter
    assert set(only["top"]["id"]) == {calls[0].record.id, calls[1].record.id}
    assert spend.options(db)["user_id"] == [ALICE, BOB]


@both
def test_many_rows_at_once_sum_into_the_user_rollup(settings):
    rows = [CallRecord(ts=now_iso(), page="compare", provider="openai", model="m", attempts=1,
                       status="ok", total_ms=5.0, cost_micro=c, input_tokens=10, user_id=u)
            for c, u in ((100, ALICE), (200, ALICE), (400, BOB), (800, None))]
    spend.record_many(settings.db, rows)
    spend.record(settings.db, CallRecord(ts=now_iso(), page="compare", provider="openai",
                                              model="m", attempts=1, status="ok",
                                              total_ms=5.0, cost_micro=1000, user_id=ALICE))
    with settings.db.connect() as conn:
        got = conn.execute("SELECT user_id, calls, cost_micro, input_tokens FROM "
                           "calls_daily_users ORDER BY user_id").fetchall()
        days = conn.execute("SELECT user_id, calls, cost_micro, errors FROM user_days "
                            "ORDER BY user_id").fetchall()
    assert [tuple(r) for r in got] == [(ALICE, 3, 1300, 20), (BOB, 1, 400, 10)]
    assert [tuple(r) for r in days] == [(ALICE, 3, 1300, 0), (BOB, 1, 400, 0)]


@both
def test_conversations_are_private_to_their_owner(settings):
    db = settings.db
    mine = chat.create_conversation(db, owner=ALICE)
    theirs = chat.create_conversation(db, owner=BOB)
    before = chat.create_conversation(db)  # made before sign-in was on: nobody's
    for conv in (mine, theirs, before):
        chat.add_message(db, conv, "user", f"the needle in {conv}")
    assert [c.id for c in chat.list_conversations(db, owner=ALICE)] == [mine]
    assert chat.count_conversations(db, owner=BOB) == 1
    assert [c.id for c in chat.search_conversations(db, "needle", owner=ALICE)] == [mine]
    assert chat.get_conversation(db, mine, owner=ALICE).owner == ALICE
    with pytest.raises(NotFoundError):  # someone else's reads as missing
        chat.get_conversation(db, theirs, owner=ALICE)
    with pytest.raises(NotFoundError):
        chat.get_conversation(db, before, owner=ALICE)
    # Without sign-in there is one user, who sees everything, as before.
    assert {c.id for c in chat.list_conversations(db)} == {mine, theirs, before}
    assert chat.count_conversations(db) == 3
    assert len(chat.search_conversations(db, "needle")) == 3


def test_a_users_chat_turn_owns_its_conversation_and_its_calls_and_summaries(settings):
    turn = chat_turn(settings, None, FREE, "Hello", chat.TurnOptions(user=ALICE),
                         calls=scripted(settings, FakeProvider([ok("Hi")])))
    list(turn)
    conv = chat.get_conversation(settings.db, turn.conversation_id, owner=ALICE)
    assert conv.owner == ALICE and turn.record.user_id == ALICE
    messages = chat.list_messages(settings.db, conv.id)
    summary = chat.summarise(settings, conv.id, None, messages, model=FREE,
                             calls=scripted(settings, FakeProvider([ok("They said hello.")])))
    assert spend.get_call(settings.db, summary.call_id).user_id == ALICE


@both
def test_fifty_concurrent_calls_by_one_user_never_overshoot_their_budget(settings):
    db = settings.db
    spend.set_budget(db, spend.user_scope(ALICE), "day", 1.00)
    people = [ALICE] * 50 + [BOB] * 10
    results = race(lambda i: paid_call(settings, people[i]), len(people))
    done: dict[str | None, list[int]] = {ALICE: [], BOB: []}
    refused = []
    for user, r in zip(people, results, strict=True):
        if isinstance(r, BudgetExceededError):
            refused.append((user, str(r)))
        elif not isinstance(r, Exception):
            done[user].append(r.record.cost_micro)
    errors = [r for r in results if isinstance(r, Exception)
              and not isinstance(r, BudgetExceededError)]
    assert errors == []
    [status] = spend.statuses(db, user=ALICE)
    assert status.spent_micro == sum(done[ALICE]) <= 1_000_000 and status.reserved_micro == 0
    assert len(done[ALICE]) >= 20 and len(done[ALICE]) + len(refused) == 50  # all that fitted
    assert {u for u, _ in refused} == {ALICE} and len(done[BOB]) == 10  # bob has no budget
    assert "Today's budget for alice@example.com of $1.00" in refused[0][1]
    with db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0


@both
def test_a_users_budget_binds_only_that_user_and_shows_only_to_them(settings):
    db = settings.db
    spend.set_budget(db, spend.user_scope(ALICE), "month", 0.0)
    spend.set_budget(db, "all", "month", 100.0)
    with pytest.raises(BudgetExceededError, match=r"This month's budget for alice@example\.com"):
        list(paid_call(settings, ALICE))
    for user in (BOB, None):
        list(paid_call(settings, user))
    # The local model is never blocked.
    list(chat_turn(settings, None, FREE, "Hi", chat.TurnOptions(user=ALICE),
                       calls=scripted(settings, FakeProvider([ok("free")]))))
    assert [s.scope for s in spend.statuses(db)] == ["all"]
    assert [s.scope for s in spend.statuses(db, user=BOB)] == ["all"]
    assert [s.label for s in spend.statuses(db, user=ALICE)] == [
        "This month's overall budget", "This month's budget for alice@example.com"]
    assert len(spend.statuses(db, everyone=True)) == 2
    assert "alice@example.com" in spend.refusal(db, {"openai": 10}, user=ALICE)
    assert spend.refusal(db, {"openai": 10}, user=BOB) is None
    spend.set_budget(db, spend.user_scope(ALICE), "month", None)
    assert spend.statuses(db, everyone=True)[0].scope == "all"


def test_knowledge_bases_and_compare_runs_record_who_made_them(settings, prompts_dir):
    kb = knowledge.create_kb(settings, "Handbook", owner=ALICE)
    assert kb.owner == ALICE and [k.owner for k in knowledge.list_kbs(settings.db)] == [ALICE]
    assert knowledge.create_kb(settings, "Old").owner is None
    store = PromptStore(prompts_dir)
    local = "local/smollm2-135m-instruct"
    resolved = compare.resolve(store, load_catalog(settings),
                               [Variant("classifier", "production", local, 0.0, 4)] * 2)
    rows = [{"text": "Add a dark mode."}]
    plan = compare.forecast(settings, resolved, rows)
    run_id = compare.create_run(settings.db, "by alice", resolved, rows, [], owner=ALICE)
    fake = FakeProvider([ok("feature"), ok("feature")])
    results = [e.result for e in compare.execute(settings, run_id, resolved, plan, [],
                                                 concurrency=1,
                                                 calls=scripted(settings, fake))
               if e.result]
    assert [spend.get_call(settings.db, r.call_id).user_id for r in results] == [ALICE] * 2
    run = compare.load_run(settings.db, run_id)
    assert run.owner == ALICE and compare.list_runs(settings.db)[0][4] == ALICE


@both
def test_agent_run_traces_are_their_users_own(settings):
    db = settings.db
    for run, user in (("run-a", ALICE), ("run-b", BOB), ("run-c", None)):
        spend.record(db, CallRecord(ts=now_iso(), page="chat", provider="local", model="m",
                                      attempts=1, status="ok", total_ms=5.0, run_id=run, step=1,
                                      user_id=user))
    assert [r["run_id"] for r in spend.recent_runs(db, user=ALICE)] == ["run-a"]
    assert {r["run_id"] for r in spend.recent_runs(db)} == {"run-a", "run-b", "run-c"}
    assert chat.run_trace(db, "run-a", user=ALICE) is not None
    assert chat.run_trace(db, "run-a", user=BOB) is None  # its steps hold her chat's text
    assert chat.run_trace(db, "run-a") is not None  # without sign-in: one user sees all


ISS, OTHER = "https://id.example.com", "https://other.example"


@both
def test_an_identity_is_its_issuer_and_subject_and_takes_an_email_only_verified(settings):
    db = settings.db
    legacy = chat.create_conversation(db, title="before", owner=ALICE)  # owned by email
    # Claims on her email, unverified or as a sub, first: each gets an id of its own.
    mallory = users.identify(db, ISS, "m1", None)
    spelled = users.identify(db, OTHER, ALICE, None)
    assert len({mallory.user_id, spelled.user_id, ALICE}) == 3
    assert "@" not in mallory.user_id + spelled.user_id
    # Alice, verified, is her email: what it owned before is hers.
    alice = users.identify(db, ISS, "a1", ALICE)
    assert alice.user_id == ALICE
    assert [c.id for c in chat.list_conversations(db, owner=alice.user_id)] == [legacy]
    # The same verified email at another issuer is another person: it takes nothing.
    twin = users.identify(db, OTHER, "a1", ALICE)
    assert twin.user_id not in (ALICE, mallory.user_id) and twin.email == ALICE
    # Each identity keeps its id; a verified email seen later changes what is displayed.
    assert users.identify(db, ISS, "m1", None) == mallory
    later = users.identify(db, ISS, "m1", "mallory@example.com")
    assert later.user_id == mallory.user_id and later.email == "mallory@example.com"
    assert users.identity_of(db, ISS, "a1") == alice


@both
def test_sessions_signing_in_together_get_one_id(settings):
    ids = together(lambda i: users.identify(settings.db, ISS, "new", "new@example.com"
                                            ).user_id, 8)
    assert ids == ["new@example.com"] * 8
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM identities").fetchone()[0] == 1


@pytest.mark.parametrize(("claims", "email"), [
    ({"email": ALICE, "email_verified": True}, ALICE),
    ({"email": ALICE, "email_verified": "true"}, ALICE),
    ({"email": ALICE, "email_verified": "TRUE"}, ALICE),
    ({"email": ALICE, "email_verified": False}, None),
    ({"email": ALICE, "email_verified": "false"}, None),
    ({"email": ALICE, "email_verified": 1}, None),
    ({"email": ALICE}, None),
    ({"email_verified": True}, None),
    ({"email": "not an email", "email_verified": True}, None),
    ({"email": ["alice@example.com"], "email_verified": True}, None),
    ({"email": f"{ALICE}\n", "email_verified": True}, None),
])
def test_an_email_counts_only_when_its_issuer_verified_it(claims, email):
    assert users.email_if_verified(claims) == email
