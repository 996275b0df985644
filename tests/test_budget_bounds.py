"""Budgets bound what is spent even when the upstream counts more input tokens than we
estimate: 50 concurrent requests on one API key, over the HTTP API, against a server that
reports 2x (English) and 10x (text its tokenizer packs less tightly than ours) the input
tokens our counter gives. A key ends at most one call's worth over its budget, on SQLite and
on PostgreSQL; and every hold holds a bound that the call cannot pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from fake_openai import MODEL, FakeOpenAI, Reply, app_env_for, serving
from fakes import FakeProvider, scripted
from support import serving_asgi, together

from lib import api
from lib.core import Settings, load_settings
from lib.llm import (
    CallContext,
    CallSpec,
    ChatRequest,
    MemoryRecorder,
    Message,
    ModelInfo,
    counter_for,
    save_user_catalog,
)

pytestmark = pytest.mark.usefixtures("backend")  # each test on SQLite, then on PostgreSQL

# $5 / $15 per million tokens, a 128k window: input is most of what a call costs.
PRICED = ModelInfo(MODEL, "compat", "Fake (priced)", 128_000, 1024, input=5.0, output=15.0)
MAX_TOKENS = 200
# ~12k o200k tokens of English (about 4.3 bytes each) ...
ENGLISH = " ".join(f"Paragraph {i}: the quarterly report covers revenue, churn and the new "
                   "pricing tiers in some detail." for i in range(600))
# ... and a report laid out with rules and padding, which o200k packs ~30 bytes to a token
# where a tokenizer without those merges counts one per byte or two.
RULED = "\n".join(f"{'=' * 70}\n| row {i:>4} |{' ' * 40}|\n{'-' * 70}" for i in range(120))


@dataclass
class Served:
    url: str
    settings: Settings
    fake: FakeOpenAI

    def post(self, secret: str, text: str) -> httpx.Response:
        return httpx.post(f"{self.url}/chat/completions", timeout=120,
                          headers={"authorization": f"Bearer {secret}"},
                          json={"model": f"compat/{MODEL}", "max_tokens": MAX_TOKENS,
                                "messages": [{"role": "user", "content": text}]})


@pytest.fixture
def served(data_dir, prompts_dir, monkeypatch) -> Iterator[Served]:
    """The API on loopback before a fake OpenAI-compatible server (its script set by tests)."""
    fake = FakeOpenAI()
    with serving(fake):
        for name, value in app_env_for(fake).items():
            monkeypatch.setenv(name, value)
        settings = load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        save_user_catalog(settings, [PRICED], "2026-01-01")
        with serving_asgi(api.create_app(settings)) as url:
            yield Served(f"{url}/v1", settings, fake)


def our_estimate(settings: Settings, text: str) -> int:
    """What our counter says the request holds (the compat server's o200k estimate)."""
    request = ChatRequest(MODEL, (Message("user", text),), max_tokens=MAX_TOKENS)
    return counter_for(PRICED, settings).count_request(request)


def bound_of(settings: Settings, text: str) -> int:
    """What one call of `text` holds against a budget: the most it could cost."""
    request = ChatRequest(MODEL, (Message("user", text),), max_tokens=MAX_TOKENS)
    call = scripted(settings, FakeProvider([]), recorder=MemoryRecorder()).call(
        CallSpec(PRICED, request, CallContext("api")))  # never sent: only its bound is read
    return call.bound_micro()


@pytest.mark.parametrize(("text", "factor"), [(ENGLISH, 2), (RULED, 10)],
                         ids=["english-2x", "ruled-10x"])
def test_fifty_requests_on_one_key_end_at_most_one_call_over_its_budget(served, text, factor):
    settings = served.settings
    estimate = our_estimate(settings, text)
    served.fake.script = [Reply(["Noted."], usage=lambda body: (factor * estimate, 3))]
    secret = api.create_key(settings.db, "probe", 0.50).secret

    answers = together(lambda i: served.post(secret, text), 50)

    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {200, 429}, statuses
    key = api.list_keys(settings.db)[0]
    one_call = bound_of(settings, text)
    actual = PRICED.cost_micro(factor * estimate, 3)
    print(f"\n{factor}x: {statuses.count(200)} answered, {statuses.count(429)} refused, "
          f"spent ${key.spent_micro / 1e6:.4f} of $0.50 "
          f"({key.spent_micro / 5e3:.0f}%); one call costs ${actual / 1e6:.4f}, "
          f"holds ${one_call / 1e6:.4f}")
    assert 200 in statuses and 429 in statuses
    assert actual <= one_call  # the bound holds for this upstream
    assert key.calls == statuses.count(200) == len(served.fake.requests)
    assert key.spent_micro <= key.budget_micro + one_call
    with settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0


def test_once_spent_the_key_refuses_what_could_pass_the_limit(served):
    """Sequentially the rule is the same: a call is sent only while spent + its expected
    cost fits; afterwards at most that one call's worth over."""
    settings = served.settings
    estimate = our_estimate(settings, ENGLISH)
    served.fake.script = [Reply(["Noted."], usage=lambda body: (2 * estimate, 3))]
    secret = api.create_key(settings.db, "serial", 0.50).secret
    statuses = [served.post(secret, ENGLISH).status_code for _ in range(8)]
    key = api.list_keys(settings.db)[0]
    assert statuses.count(200) >= 2 and statuses[-1] == 429
    assert key.spent_micro <= key.budget_micro + bound_of(settings, ENGLISH)
