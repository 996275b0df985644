"""Half-price batch runs through the real anthropic and openai SDKs over fake provider HTTP
APIs: submission shape, polling to the end, mixed results reconciled by custom id into compare
cells and ledger rows at half price, budget holds, cancel, idempotence and restarts."""

from __future__ import annotations

import json
import re
import sys
import threading
import time

import httpx2
import pytest

from lib import compare, spend
from lib.compare import Check, Variant
from lib.core import BatchError, BudgetExceededError, CompareError, ProviderError
from lib.llm import (
    AnthropicBatches,
    ChatRequest,
    Message,
    OpenAIBatches,
    batch_price,
    load_catalog,
)
from lib.prompts import PromptStore

ROWS = [{"text": "The app crashes when I click save."},
        {"text": "Please add a dark mode."},
        {"text": "How do I export my data?"}]
HAIKU, SONNET, GPT = ("anthropic/claude-haiku-4-5", "anthropic/claude-sonnet-4-5",
                      "openai/gpt-4o-mini")
NOW = "2026-11-24T08:00:00Z"


# -- fake provider APIs ---------------------------------------------------------------------

class FakeAnthropic:
    """Message Batches over HTTP: a batch is created in progress; a test ends it."""

    def __init__(self) -> None:
        self.batches: dict[str, dict] = {}
        self.requests: list[httpx2.Request] = []
        self.fail_create = False

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if request.url.path == "/v1/messages/batches" and request.method == "POST":
            if self.fail_create:
                return httpx2.Response(500, json={"type": "error", "error": {
                    "type": "api_error", "message": "Internal server error"}})
            bid = f"msgbatch_{len(self.batches) + 1}"
            self.batches[bid] = {"requests": json.loads(request.content)["requests"],
                                 "status": "in_progress", "results": [], "cancel": None}
            return self.batch(bid)
        bid, tail = re.fullmatch(r"/v1/messages/batches/(\w+)(/\w+)?",
                                 request.url.path).groups()
        b = self.batches[bid]
        if tail == "/cancel":
            b["status"], b["cancel"] = "canceling", NOW
        elif tail == "/results":
            return httpx2.Response(200, content="".join(json.dumps(r) + "\n"
                                                        for r in b["results"]).encode())
        return self.batch(bid)

    def batch(self, bid: str) -> httpx2.Response:
        b = self.batches[bid]
        kinds = [r["result"]["type"] for r in b["results"]]
        ended = b["status"] == "ended"
        counts = {k: kinds.count(k) for k in ("succeeded", "errored", "expired", "canceled")}
        return httpx2.Response(200, json={
            "id": bid, "type": "message_batch", "processing_status": b["status"],
            "request_counts": {"processing": 0 if ended else len(b["requests"]), **counts},
            "created_at": NOW, "expires_at": NOW, "ended_at": NOW if ended else None,
            "cancel_initiated_at": b["cancel"], "archived_at": None,
            "results_url": f"http://anthropic.test/v1/messages/batches/{bid}/results"
            if ended else None})

    def end(self, bid: str, results: dict[str, dict]) -> None:
        self.batches[bid]["status"] = "ended"
        self.batches[bid]["results"] = [{"custom_id": cid, "result": r}
                                        for cid, r in results.items()]

    def client(self) -> AnthropicBatches:
        return AnthropicBatches("sk-ant-test", base_url="http://anthropic.test",
                                http_client=httpx2.Client(transport=httpx2.MockTransport(self)))


def claude_ok(text: str, model: str = "claude-haiku-4-5") -> dict:
    return {"type": "succeeded", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 40, "output_tokens": 10,
                                         "cache_read_input_tokens": 0,
                                         "cache_creation_input_tokens": 0}}}


CLAUDE_ERROR = {"type": "errored", "error": {"type": "error", "error": {
    "type": "invalid_request_error", "message": "max_tokens: too large"}}}


class FakeOpenAI:
    """The Batch API over HTTP: JSONL uploads, batches, output and error files."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path, method = request.url.path, request.method
        if path == "/v1/files" and method == "POST":
            fid = self.save(b"\n".join(line for line in request.content.split(b"\r\n")
                                       if line.startswith(b'{"custom_id"')))
            return httpx2.Response(200, json={
                "id": fid, "object": "file", "bytes": len(self.files[fid]), "created_at": 0,
                "filename": "batch.jsonl", "purpose": "batch", "status": "processed"})
        if path == "/v1/batches" and method == "POST":
            bid = f"batch_{len(self.batches) + 1}"
            self.batches[bid] = {"create": json.loads(request.content), "status": "validating",
                                 "output": None, "errors": None}
            return self.batch(bid)
        if m := re.fullmatch(r"/v1/files/([\w-]+)/content", path):
            return httpx2.Response(200, content=self.files[m.group(1)])
        bid, tail = re.fullmatch(r"/v1/batches/(\w+)(/\w+)?", path).groups()
        if tail == "/cancel":
            self.batches[bid]["status"] = "cancelling"
        return self.batch(bid)

    def save(self, data: bytes) -> str:
        fid = f"file-{len(self.files) + 1}"
        self.files[fid] = data
        return fid

    def lines(self, bid: str) -> list[dict]:
        fid = self.batches[bid]["create"]["input_file_id"]
        return [json.loads(line) for line in self.files[fid].splitlines()]

    def batch(self, bid: str) -> httpx2.Response:
        b = self.batches[bid]
        return httpx2.Response(200, json={
            "id": bid, "object": "batch", "endpoint": "/v1/chat/completions",
            "input_file_id": b["create"]["input_file_id"], "completion_window": "24h",
            "status": b["status"], "created_at": 0, "output_file_id": b["output"],
            "error_file_id": b["errors"], "errors": None,
            "request_counts": {"total": len(self.lines(bid)), "completed": 0, "failed": 0}})

    def end(self, bid: str, status: str, output: list[dict], errors: list[dict]) -> None:
        b = self.batches[bid]
        b["status"] = status
        b["output"] = self.save("".join(json.dumps(x) + "\n" for x in output).encode()) \
            if output else None
        b["errors"] = self.save("".join(json.dumps(x) + "\n" for x in errors).encode()) \
            if errors else None

    def client(self) -> OpenAIBatches:
        return OpenAIBatches("sk-test", base_url="http://openai.test/v1",
                             http_client=httpx2.Client(transport=httpx2.MockTransport(self)))


def gpt_ok(cid: str, text: str, cached: int = 0) -> dict:
    return {"id": f"batch_req_{cid}", "custom_id": cid, "error": None, "response": {
        "status_code": 200, "request_id": "req_1", "body": {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
            "model": "gpt-4o-mini", "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant",
                                                             "content": text}}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60,
                      "prompt_tokens_details": {"cached_tokens": cached}}}}}


def gpt_error(cid: str) -> dict:
    return {"id": f"batch_req_{cid}", "custom_id": cid, "error": None, "response": {
        "status_code": 400, "request_id": "req_2", "body": {"error": {
            "message": "Invalid value for max_completion_tokens", "type":
                "invalid_request_error"}}}}


def gpt_expired(cid: str) -> dict:
    return {"id": f"batch_req_{cid}", "custom_id": cid, "response": None, "error": {
        "code": "batch_expired", "message": "This request could not be executed before the "
                                            "completion window expired."}}


# -- a run to batch -------------------------------------------------------------------------

@pytest.fixture
def store(prompts_dir) -> PromptStore:
    s = PromptStore(prompts_dir)
    s.save_version("classifier", s.source("classifier", 1) + "\nOne or two words only.")
    return s


def prepare(settings, store, a: str, b: str, checks=()):
    """A stored run of ROWS on two variants, and its forecast."""
    catalog = load_catalog(settings)
    resolved = compare.resolve(store, catalog, [Variant("classifier", "production", a, 0.0, 50),
                                                Variant("classifier", "v2", b, 0.0, 50)])
    plan = compare.forecast(settings, resolved, ROWS)
    run_id = compare.create_run(settings.db, "batch", resolved, ROWS, list(checks))
    return resolved, plan, run_id


def reservations(settings) -> list[int]:
    with settings.db.connect() as conn:
        return [r[0] for r in conn.execute("SELECT amount_micro FROM reservations ORDER BY id")]


def ledger(settings, run) -> dict[tuple[int, int], spend.CallRecord]:
    return {k: spend.get_call(settings.db, c.call_id) for k, c in run.cells.items()}


def test_anthropic_batches_submit_poll_and_record_at_half_price(settings, store):
    spend.set_budget(settings.db, "all", "day", 5.0)
    resolved, plan, run_id = prepare(settings, store, HAIKU, SONNET, [Check("contains", "bug")])
    fake = FakeAnthropic()
    client_for = lambda provider: fake.client()  # noqa: E731

    ids = compare.submit_batch(settings, run_id, resolved, plan, [Check("contains", "bug")],
                               client_for)

    # One batch per model, each request under its cell's custom id, with the Messages body.
    assert len(ids) == 2 and list(fake.batches) == ["msgbatch_1", "msgbatch_2"]
    sent = fake.batches["msgbatch_1"]["requests"]
    assert [r["custom_id"] for r in sent] == ["r0-v0", "r1-v0", "r2-v0"]
    # Claude Haiku 4.5 takes a temperature (its page: temperature or top_p, not both).
    assert sent[0]["params"] == {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [
        {"role": "user", "content": plan.cells[0].text}], "temperature": 0.0}
    assert [r["params"]["model"] for r in fake.batches["msgbatch_2"]["requests"]] == [
        "claude-sonnet-4-5"] * 3
    # The budget holds the forecast at the batch price: half the streamed forecast.
    priced = compare.batch_forecast(resolved, plan)
    assert sum(reservations(settings)) == priced.max_cost_micro
    assert abs(2 * priced.max_cost_micro - plan.max_cost_micro) <= len(plan.cells)
    run = compare.load_run(settings.db, run_id)
    assert run.status == "batch" and {c.status for c in run.cells.values()} == {"pending"}

    # Polling: still in progress, nothing recorded; a lapsed hold is taken again.
    first, second = (compare.get_batch(settings, i) for i in ids)
    with settings.db.connect(write=True) as conn:
        conn.execute("DELETE FROM reservations WHERE id = ?", (first.reservation_id,))
    assert compare.poll_batch(settings, ids[0], client_for) == "in_progress"
    assert reservations(settings) == [second.reserved_micro, first.reserved_micro]
    assert compare.get_batch(settings, ids[0]).reservation_id != first.reservation_id
    assert spend.count_calls(settings.db) == 0

    # The haiku batch ends with results in any order: succeeded, errored and expired.
    fake.end("msgbatch_1", {"r2-v0": {"type": "expired"}, "r0-v0": claude_ok("bug report"),
                            "r1-v0": CLAUDE_ERROR})
    assert compare.poll_batch(settings, ids[0], client_for) == "ended"
    run = compare.load_run(settings.db, run_id)
    rows = ledger(settings, run)
    ok, errored, expired = run.cells[(0, 0)], run.cells[(1, 0)], run.cells[(2, 0)]
    haiku = load_catalog(settings).get(HAIKU)
    assert (ok.status, ok.output, ok.checks) == ("ok", "bug report", {'contains "bug"': True})
    # 40 in x $0.50 + 10 out x $2.50 per million: half of the list price's 90 µ$.
    assert ok.cost_micro == rows[(0, 0)].cost_micro == 45 == haiku.cost_micro(40, 10) // 2
    assert (rows[(0, 0)].page, rows[(0, 0)].prompt_name, rows[(0, 0)].prompt_version,
            rows[(0, 0)].status) == ("compare", "classifier", 1, "ok")
    assert (errored.status, errored.cost_micro) == ("error", 0)
    assert "max_tokens: too large" in errored.error
    assert (rows[(1, 0)].status, rows[(1, 0)].cost_micro) == ("error", 0)
    assert (expired.status, rows[(2, 0)].status, rows[(2, 0)].error_kind) == (
        "error", "error", "expired")
    assert "expired" in expired.error
    first = compare.get_batch(settings, ids[0])
    assert (first.open, first.succeeded, first.errored, first.expired) == (False, 1, 1, 1)
    assert reservations(settings) == [second.reserved_micro] and run.status == "batch"

    fake.end("msgbatch_2", {f"r{i}-v1": claude_ok("question", "claude-sonnet-4-5")
                            for i in range(3)})
    assert compare.poll_open(settings, client_for) == {ids[1]: "ended"}
    run = compare.load_run(settings.db, run_id)
    assert run.status == "done" and reservations(settings) == []
    assert [run.cells[(i, 1)].cost_micro for i in range(3)] == [135] * 3  # half of 270
    assert spend.count_calls(settings.db) == 6

    # A second poll after the end asks nothing and records nothing.
    asked = len(fake.requests)
    assert compare.poll_batch(settings, ids[0], client_for) == "ended"
    assert compare.poll_open(settings, client_for) == {}
    assert len(fake.requests) == asked and spend.count_calls(settings.db) == 6
    assert compare.open_batches(settings) == []


def test_openai_batch_uploads_jsonl_and_reconciles_both_files(settings, store):
    spend.set_budget(settings.db, "openai", "month", 5.0)
    resolved, plan, run_id = prepare(settings, store, GPT, GPT)
    fake = FakeOpenAI()
    client_for = lambda provider: fake.client()  # noqa: E731
    [batch_id] = compare.submit_batch(settings, run_id, resolved, plan, [], client_for)

    upload = fake.requests[0]
    assert (upload.method, upload.url.path) == ("POST", "/v1/files")
    assert b'name="purpose"\r\n\r\nbatch' in upload.content
    assert fake.batches["batch_1"]["create"] == {
        "input_file_id": "file-1", "endpoint": "/v1/chat/completions",
        "completion_window": "24h"}
    lines = fake.lines("batch_1")
    assert [x["custom_id"] for x in lines] == ["r0-v0", "r0-v1", "r1-v0", "r1-v1", "r2-v0",
                                               "r2-v1"]
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert lines[0]["body"] == {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": plan.cells[0].text}], "max_completion_tokens": 50,
        "temperature": 0.0}
    assert reservations(settings) == [compare.batch_forecast(resolved, plan).max_cost_micro]

    assert compare.poll_batch(settings, batch_id, client_for) == "in_progress"  # validating
    fake.batches["batch_1"]["status"] = "in_progress"
    assert compare.poll_batch(settings, batch_id, client_for) == "in_progress"
    fake.end("batch_1", "completed", [gpt_ok("r1-v0", "feature request"),
                                      gpt_ok("r0-v0", "bug report", cached=20),
                                      gpt_ok("r0-v1", "bug")],
             [gpt_error("r1-v1"), gpt_expired("r2-v0"), gpt_expired("r2-v1")])
    assert compare.poll_batch(settings, batch_id, client_for) == "ended"

    run = compare.load_run(settings.db, run_id)
    rows = ledger(settings, run)
    assert {k: c.status for k, c in run.cells.items()} == {
        (0, 0): "ok", (0, 1): "ok", (1, 0): "ok", (1, 1): "error", (2, 0): "error",
        (2, 1): "error"}
    assert run.cells[(1, 0)].output == "feature request"
    # 30 uncached in x $0.075 + 20 cached x $0.0375 + 10 out x $0.30 = 6 µ$ (list price: 12).
    cached = rows[(0, 0)]
    assert (cached.input_tokens, cached.cache_read_tokens, cached.cost_micro) == (30, 20, 6)
    assert rows[(1, 0)].cost_micro == 7  # 50 in x $0.075 + 10 out x $0.30 = 6.75 µ$
    assert "Invalid value for max_completion_tokens" in run.cells[(1, 1)].error
    assert [rows[(2, v)].error_kind for v in (0, 1)] == ["expired", "expired"]
    assert sum(r.cost_micro for r in rows.values()) == sum(
        c.cost_micro for c in run.cells.values())
    assert run.status == "done" and reservations(settings) == []
    batch = compare.get_batch(settings, batch_id)
    assert (batch.succeeded, batch.errored, batch.expired, batch.closed_at is not None) == (
        3, 1, 2, True)
    asked = len(fake.requests)
    assert compare.poll_batch(settings, batch_id, client_for) == "ended"
    assert len(fake.requests) == asked and spend.count_calls(settings.db) == 6


def test_a_refused_budget_submits_and_stores_nothing(settings, store):
    spend.set_budget(settings.db, "anthropic", "day", 0.000_01)  # 10 µ$
    resolved, plan, run_id = prepare(settings, store, HAIKU, HAIKU)
    fake = FakeAnthropic()
    with pytest.raises(BudgetExceededError, match="This run could cost up to"):
        compare.submit_batch(settings, run_id, resolved, plan, [], lambda p: fake.client())
    assert fake.requests == [] and reservations(settings) == []
    assert compare.run_batches(settings, run_id) == []
    assert compare.load_run(settings.db, run_id).cells == {}


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_cancel_records_finished_results_and_cancels_the_rest_at_no_cost(settings, store, kind):
    spend.set_budget(settings.db, "all", "day", 5.0)
    model = HAIKU if kind == "anthropic" else GPT
    resolved, plan, run_id = prepare(settings, store, model, model)
    fake = FakeAnthropic() if kind == "anthropic" else FakeOpenAI()
    client_for = lambda provider: fake.client()  # noqa: E731
    [batch_id] = compare.submit_batch(settings, run_id, resolved, plan, [], client_for)

    assert compare.cancel_batch(settings, batch_id, client_for) == "cancelling"
    assert compare.poll_batch(settings, batch_id, client_for) == "cancelling"
    assert len(reservations(settings)) == 1
    if kind == "anthropic":
        fake.end("msgbatch_1", {"r0-v0": claude_ok("bug report"),
                                **{f"r{r}-v{v}": {"type": "canceled"} for r in range(3)
                                   for v in range(2) if (r, v) != (0, 0)}})
    else:  # OpenAI lists only what finished: the rest have no result at all
        fake.end("batch_1", "cancelled", [gpt_ok("r0-v0", "bug report")], [])
    assert compare.poll_batch(settings, batch_id, client_for) == "cancelled"

    run = compare.load_run(settings.db, run_id)
    rows = ledger(settings, run)
    assert run.cells[(0, 0)].status == "ok" and rows[(0, 0)].cost_micro > 0
    rest = [k for k in run.cells if k != (0, 0)]
    assert {run.cells[k].status for k in rest} == {rows[k].status for k in rest} == {"cancelled"}
    assert {run.cells[k].cost_micro for k in rest} == {rows[k].cost_micro for k in rest} == {0}
    assert run.status == "cancelled" and reservations(settings) == []
    assert compare.get_batch(settings, batch_id).cancelled == 5
    asked = len(fake.requests)
    assert compare.cancel_batch(settings, batch_id, client_for) == "cancelled"
    assert len(fake.requests) == asked


def test_a_new_process_poller_finishes_a_batch_with_a_fresh_client(settings, store):
    resolved, plan, run_id = prepare(settings, store, HAIKU, HAIKU)
    fake = FakeAnthropic()
    [batch_id] = compare.submit_batch(settings, run_id, resolved, plan, [],
                                      lambda p: fake.client())
    fake.end("msgbatch_1", {f"r{r}-v{v}": claude_ok("praise") for r in range(3)
                            for v in range(2)})
    # After a restart only the database knows the batch: a fresh client, a new poller thread.
    fresh = fake.client()
    stop = compare.resume_batches(settings, every_s=0.05, client_for=lambda p: fresh)
    try:
        assert compare.resume_batches(settings, every_s=0.05) is stop  # once per process
        deadline = time.monotonic() + 20
        while compare.load_run(settings.db, run_id).status != "done":
            assert time.monotonic() < deadline, "the poller did not finish the batch"
            time.sleep(0.05)
    finally:
        stop.set()
    run = compare.load_run(settings.db, run_id)
    assert {c.output for c in run.cells.values()} == {"praise"}
    assert spend.count_calls(settings.db) == 6
    assert not compare.get_batch(settings, batch_id).open


def test_stopping_the_pollers_ends_their_threads_and_a_new_one_can_start(settings):
    compare.resume_batches(settings, every_s=0.05)
    assert [t for t in threading.enumerate() if t.name == "batch-poller"]
    compare.stop_pollers()
    assert not [t for t in threading.enumerate() if t.name == "batch-poller"]
    again = compare.resume_batches(settings, every_s=0.05)
    assert not again.is_set()
    compare.stop_pollers()
    assert again.is_set()


def test_an_item_interrupted_while_recording_is_never_recorded_twice(settings, store,
                                                                     monkeypatch):
    resolved, plan, run_id = prepare(settings, store, HAIKU, HAIKU)
    fake = FakeAnthropic()
    client_for = lambda provider: fake.client()  # noqa: E731
    [batch_id] = compare.submit_batch(settings, run_id, resolved, plan, [], client_for)
    fake.end("msgbatch_1", {f"r{r}-v{v}": claude_ok("praise") for r in range(3)
                            for v in range(2)})
    real, saved = sys.modules["lib.compare.batch_records"].save_cell, []

    class Stopped(Exception):
        pass

    def crash_on_third(settings_, run_id_, cell):
        saved.append(cell)
        if len(saved) == 3:
            raise Stopped  # the app stops between an item's ledger row and its cell
        real(settings_, run_id_, cell)

    monkeypatch.setattr("lib.compare.batch_records.save_cell", crash_on_third)
    with pytest.raises(Stopped):
        compare.poll_batch(settings, batch_id, client_for)
    monkeypatch.setattr("lib.compare.batch_records.save_cell", real)
    assert spend.count_calls(settings.db) == 3
    assert compare.poll_batch(settings, batch_id, client_for) == "ended"
    assert spend.count_calls(settings.db) == 6  # the interrupted item's row is not doubled
    run = compare.load_run(settings.db, run_id)
    assert {c.status for c in run.cells.values()} == {"ok"}


def test_a_failed_submission_keeps_the_batch_and_releases_the_hold(settings, store):
    spend.set_budget(settings.db, "all", "day", 5.0)
    resolved, plan, run_id = prepare(settings, store, HAIKU, HAIKU)
    fake = FakeAnthropic()
    fake.fail_create = True
    with pytest.raises(ProviderError) as err:
        compare.submit_batch(settings, run_id, resolved, plan, [], lambda p: fake.client())
    assert err.value.kind == "server"
    [batch] = compare.run_batches(settings, run_id)
    assert (batch.status, batch.open, batch.remote_id) == ("failed", False, None)
    assert "Internal server error" in batch.error
    run = compare.load_run(settings.db, run_id)
    assert len(run.cells) == 6 and {c.status for c in run.cells.values()} == {"error"}
    assert spend.count_calls(settings.db) == 0 and reservations(settings) == []


def test_tools_and_models_without_a_batch_api_are_refused(settings, store):
    catalog = load_catalog(settings)
    tools = compare.resolve(store, catalog, [
        Variant("classifier", "production", HAIKU, tools=("calculator",)),
        Variant("classifier", "v2", HAIKU)])
    with pytest.raises(CompareError, match="Variant A uses tools"):
        compare.batchable(tools)
    local = compare.resolve(store, catalog, [
        Variant("classifier", "production", HAIKU),
        Variant("classifier", "v2", "local/smollm2-135m-instruct")])
    with pytest.raises(BatchError, match="local/smollm2-135m-instruct"):
        compare.submit_batch(settings, 1, local, compare.Forecast([], 3, 2), [])


def test_bodies_and_malformed_replies(settings):
    fake = FakeAnthropic()
    client = fake.client()
    request = ChatRequest("claude-3-haiku", (Message("user", "hi"),), temperature=0.3,
                          max_tokens=20)
    # The streaming adapter passes temperature as an SDK extra; in a batch it is plain JSON.
    assert client.body(request) == {"model": "claude-3-haiku", "max_tokens": 20, "temperature":
                                    0.3, "messages": [{"role": "user", "content": "hi"}]}
    remote = client.submit([("r0-v0", request)])
    fake.batches[remote]["status"] = "paused"
    with pytest.raises(BatchError, match="unknown batch status"):
        client.state(remote)
    openai = FakeOpenAI()
    oclient = openai.client()
    remote = oclient.submit([("r0-v0", ChatRequest("gpt-4o-mini", (Message("user", "hi"),)))])
    openai.batches[remote]["status"] = "completed"
    openai.batches[remote]["output"] = openai.save(b'{"custom_id": "r0-v0", "response": {"st')
    with pytest.raises(BatchError, match="could not read"):
        list(oclient.results(remote))
    assert batch_price(load_catalog(settings).get(SONNET)).output == 7.5
