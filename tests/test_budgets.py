"""Budgets: atomic reservations that concurrent calls cannot overshoot (by more than one
call's worth when the upstream counts more than we estimate), on both databases."""

from __future__ import annotations

import pytest
from fakes import FakeProvider, fail, ok, scripted
from support import race, together

from lib import spend
from lib.core import BudgetExceededError, ProviderError, today
from lib.llm import (
    Call,
    CallContext,
    CallSpec,
    ChatRequest,
    Message,
    ModelInfo,
    Usage,
    counter_for,
)

pytestmark = pytest.mark.usefixtures("backend")  # each test on SQLite, then on PostgreSQL

# $100 per million output tokens: 500 max tokens reserve $0.05; 400 used cost $0.04.
PAID = ModelInfo("pricey", "openai", "Pricey", 10_000, 1000, input=0.0, output=100.0)
FREE = ModelInfo("smollm2", "local", "Local", 4096, 1024)
REQUEST = ChatRequest("pricey", (Message("user", "hi"),), max_tokens=500)


def make(settings, provider, model=PAID, request=REQUEST) -> Call:
    """One model's call through the seam, in the settings' ledger and budgets."""
    return scripted(settings, provider).call(CallSpec(model, request, CallContext("test")))


def paid_call(settings, model=PAID) -> Call:
    return make(settings, FakeProvider([ok("x" * 10, usage=Usage(0, 400))]), model)


def test_fifty_concurrent_calls_never_overshoot_a_one_dollar_budget(settings):
    spend.set_budget(settings.db, "all", "day", 1.00)
    results = race(lambda _: paid_call(settings), 50)
    done = [r.record.cost_micro for r in results if not isinstance(r, Exception)]
    refused = [str(r) for r in results if isinstance(r, BudgetExceededError)]
    errors = [r for r in results if isinstance(r, Exception)
              and not isinstance(r, BudgetExceededError)]
    assert errors == []
    spent = spend.spend_since_micro(settings.db, today())
    assert spent == sum(done) <= 1_000_000
    assert refused and len(done) + len(refused) == 50
    assert len(done) >= 20  # every reservation that fitted was allowed
    assert "$1.00" in refused[0] and "could cost up to $0.0500" in refused[0]
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0


def test_provider_budgets_only_bind_their_provider(settings):
    spend.set_budget(settings.db, "anthropic", "month", 0.01)
    list(paid_call(settings))  # openai: not under the anthropic budget
    claude = ModelInfo("c", "anthropic", "C", 10_000, 1000, output=100.0)
    with pytest.raises(BudgetExceededError, match="This month's anthropic budget"):
        list(paid_call(settings, claude))


def test_local_models_are_never_blocked(settings):
    spend.set_budget(settings.db, "all", "day", 0.0)
    call = make(settings, FakeProvider([ok("free")]), FREE)
    list(call)
    assert call.record.status == "ok" and call.record.cost_micro == 0


def test_status_warns_at_80_percent(settings):
    spend.set_budget(settings.db, "all", "day", 0.05)
    list(paid_call(settings))  # $0.04 of $0.05
    [status] = spend.statuses(settings.db)
    assert status.fraction == pytest.approx(0.8) and status.fraction >= spend.WARN_AT
    assert spend.refusal(settings.db, {"openai": 10_000}) is None
    assert spend.refusal(settings.db, {"openai": 10_001})
    with pytest.raises(BudgetExceededError):
        list(paid_call(settings))  # would reserve $0.05 with $0.01 left


def test_a_failed_call_releases_its_reservation(settings):
    spend.set_budget(settings.db, "all", "day", 1.0)
    call = make(settings, FakeProvider([fail(ProviderError("auth", "no"))]))
    list(call)
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
    assert spend.statuses(settings.db)[0].used == 0


def test_a_planned_batch_is_checked_against_every_budget(settings):
    spend.set_budget(settings.db, "all", "month", 0.10)
    assert spend.refusal(settings.db, {"openai": 50_000, "local": 0}) is None
    message = spend.refusal(settings.db, {"openai": 60_000, "anthropic": 50_000})
    assert message and "up to $0.1100" in message and "this month's overall budget" in message


# $5 / $15 per million: input is most of a call's cost.
INPUT_PRICED = ModelInfo("dear-input", "compat", "Dear input", 128_000, 1000, input=5.0,
                         output=15.0)
TEXTS = {"english": " ".join(f"Item {i}: the invoice lists the parts, the hours and the tax "
                             "that apply." for i in range(400)),
         "ruled": "\n".join(f"{'=' * 70}\n|{i:>5} |{' ' * 50}|" for i in range(100)),
         "emoji": "🙂 ok " * 2000}


@pytest.mark.parametrize(("text", "factor"), [("english", 2), ("ruled", 10), ("emoji", 3)])
def test_calls_all_in_flight_at_once_end_one_call_at_most_over(settings, text, factor):
    """50 calls reserve at the same instant (none settled yet), then each is billed
    `factor` times the input tokens we estimated: holding only the estimate, the budget
    ended ~`factor` times over; holding bounds, at most one call's bound over."""
    spend.set_budget(settings.db, "all", "day", 1.00)
    request = ChatRequest("dear-input", (Message("user", TEXTS[text]),), max_tokens=100)
    counter = counter_for(INPUT_PRICED, settings)
    assert not counter.exact  # the model's input is an estimate (o200k), held with a margin
    billed = factor * counter.count_request(request)

    def build(_: int) -> Call:
        return make(settings, FakeProvider([ok("done", usage=Usage(billed, 100))]),
                    INPUT_PRICED, request)

    def reserve(call: Call) -> Call:
        call.reserve()
        return call

    held = together(reserve, 50, prepare=build)
    admitted = [c for c in held if isinstance(c, Call)]
    assert admitted and all(isinstance(r, BudgetExceededError) for r in held
                            if not isinstance(r, Call))
    for call in admitted:
        list(call)
    spent = spend.spend_since_micro(settings.db, today())
    one = admitted[0]
    assert one.record.cost_micro <= one.bound_micro()  # the bound holds for this upstream
    assert spent <= 1_000_000 + one.bound_micro() - one.worst_case_micro()
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0


def test_a_call_holds_its_bound_and_is_let_through_on_its_expected_cost(settings):
    """With $0.10 left, a call expected to cost $0.06 goes through and holds its (larger)
    bound; a second one, the first still in flight, is refused: its own expected cost fits
    what is left, but not beside the first one's bound."""
    request = ChatRequest("dear-input", (Message("user", "word " * 2000),), max_tokens=100)
    first = make(settings, FakeProvider([ok("a")]), INPUT_PRICED, request)
    expected, bound = first.worst_case_micro(), first.bound_micro()
    assert expected < bound
    spend.set_budget(settings.db, "all", "day", (expected + bound) / 1e6 - 1e-6)
    first.reserve()
    [status] = spend.statuses(settings.db)
    assert status.reserved_micro == bound
    second = make(settings, FakeProvider([ok("b")]), INPUT_PRICED, request)
    with pytest.raises(BudgetExceededError):
        second.reserve()
