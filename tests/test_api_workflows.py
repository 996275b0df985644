"""Stored workflows over the served API, driven by httpx (the openai SDK has no workflow
client): a run streamed as server-sent events in order and answered whole, a bad input 422
naming it, unknown workflows and versions 404, no key 401, a key's budget refusing the run
before any call, a failing step in the run's status, a client gone mid-stream
or before a whole answer stopping the run; the ledger's rows carry the key and the run."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest
from fake_openai import MODEL, Reply, http_error

from lib import api, spend
from lib.api import workflows as wf_api
from lib.workflows import WorkflowStore, load_run

pytest_plugins = ["api_served"]     # the `served` fixture

PRICED = f"compat/{MODEL}"          # $1 / $2 per million tokens
# Two prompt steps at once on the fake model, then a template joining them.
SOURCE = f"""
[inputs]
text = {{ type = "str" }}
words = {{ type = "int", required = false, default = 12 }}

[[steps]]
id = "short"
kind = "prompt"
prompt = "summarizer"
model = "{PRICED}"
max_tokens = 20
inputs = {{ text = "inputs.text", max_words = "inputs.words" }}

[[steps]]
id = "brief"
kind = "prompt"
prompt = "summarizer"
model = "{PRICED}"
max_tokens = 20
inputs = {{ text = "inputs.text", max_words = 5 }}

[[steps]]
id = "both"
kind = "template"
template = "{{{{ a }}}} / {{{{ b }}}}"
inputs = {{ a = "short.output", b = "brief.output" }}
"""
INPUTS = {"text": "The cat sat on the mat all day."}
FAKE = "Hello from the fake."


@pytest.fixture
def digest(served):
    """Workflow `digest`: v1 (labelled production) and v2, the same steps."""
    store = WorkflowStore(served.settings)
    store.create("digest", SOURCE, description="Two summaries, joined.")
    store.set_label("digest", "production", 1)
    store.save_version("digest", SOURCE, note="again")
    return served


def events_of(response: httpx.Response) -> list[tuple[str, dict]]:
    """(event type, data) of each server-sent event, in order."""
    out, kind = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            out.append((kind, json.loads(line[6:])))
    return out


def stream(served, secret: str, body: dict):
    return httpx.stream("POST", f"{served.url}/workflows/digest/run", timeout=60,
                        headers={"authorization": f"Bearer {secret}"},
                        json={**body, "stream": True})


def test_a_streamed_run_sends_its_events_in_order_and_ends_with_its_result(digest):
    secret = digest.key("stream")
    with stream(digest, secret, {"inputs": INPUTS}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = events_of(r)
    kinds = [k for k, _ in events]
    assert kinds[0] == "run.started" and kinds[-1] == "run.done"
    assert kinds.count("run.started") == kinds.count("run.done") == 1
    started, result = events[0][1], events[-1][1]
    assert started["workflow"] == "digest" and started["version"] == 2   # the latest
    assert started["levels"] == [["short", "brief"], ["both"]]
    assert started["forecast"]["calls"] == 2 and started["forecast"]["max_cost_usd"] > 0
    assert r.headers["x-promptlab-run-id"] == started["run_id"] == result["id"]
    for step in ("short", "brief", "both"):
        at = {k: i for i, (k, d) in enumerate(events) if d.get("step") == step}
        assert at["step.waiting"] < at["step.running"] < at["step.done"], (step, kinds)
    done = {d["step"]: d for k, d in events if k == "step.done"}
    assert done["short"]["output"] == FAKE and done["short"]["cost_usd"] > 0
    assert done["both"]["output"] == f"{FAKE} / {FAKE}"
    assert result["status"] == "done" and result["outputs"] == {"both": f"{FAKE} / {FAKE}"}
    assert {s: v["status"] for s, v in result["steps"].items()} == {
        "short": "done", "brief": "done", "both": "done"}

    key = api.list_keys(digest.settings.db)[0]
    rows = digest.rows()
    assert [(r["api_key_id"], r["run_id"], r["status"]) for r in rows] == [
        (key.id, result["id"], "ok")] * 2
    assert key.calls == 2 and key.spent_micro == sum(r["cost_micro"] for r in rows)
    assert result["cost_usd"] == pytest.approx(key.spent_micro / 1e6)
    assert digest.holds() == 0


def test_a_run_answered_whole_by_label_or_version(digest):
    secret = digest.key()
    r = digest.post("/workflows/digest/run", secret,
                    {"label": "production", "inputs": {**INPUTS, "words": 8}})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["object"] == "workflow.run" and result["version"] == 1
    assert result["status"] == "done" and result["outputs"] == {"both": f"{FAKE} / {FAKE}"}
    steps = result["steps"]
    assert steps["short"]["status"] == "done" and steps["short"]["output_tokens"] > 0
    assert steps["both"] == {"status": "done", "input_tokens": 0, "output_tokens": 0,
                             "cost_usd": 0.0, "ms": steps["both"]["ms"]}
    assert result["usage"]["output_tokens"] == sum(s.get("output_tokens", 0)
                                                   for s in steps.values()) > 0
    assert result["cost_usd"] == pytest.approx(sum(s.get("cost_usd", 0)
                                                    for s in steps.values()))
    asked = sorted("at most 8 words" in json.dumps(q) for q in digest.fake.requests)
    assert asked == [False, True]   # the input reached `short`; `brief` asks for 5
    tree = load_run(digest.settings.db, result["id"])
    assert tree.run.status == "done" and tree.run.version == 1
    r = digest.post("/workflows/digest/run", secret, {"version": 2, "inputs": INPUTS})
    assert r.status_code == 200 and r.json()["version"] == 2

    listed = httpx.get(f"{digest.url}/workflows", timeout=30,
                       headers={"authorization": f"Bearer {secret}"}).json()
    assert listed["data"] == [{"id": "digest", "object": "workflow",
                               "description": "Two summaries, joined.", "versions": [1, 2],
                               "latest": 2, "labels": {"production": 1}}]


@pytest.mark.parametrize(("inputs", "named"), [
    ({"words": 5}, "text"),                                  # required and missing
    ({"text": "x", "words": "many"}, "words"),               # not a whole number
    ({"text": "x", "colour": "red"}, "colour"),              # not declared
])
def test_a_bad_input_is_422_naming_it(digest, inputs, named):
    r = digest.post("/workflows/digest/run", digest.key(), {"inputs": inputs})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["param"] == f"inputs.{named}" and f"'{named}'" in error["message"]
    assert error["code"] == "invalid_input"
    assert digest.rows() == [] and digest.fake.requests == []


def test_unknown_workflows_and_versions_are_404_and_no_key_is_401(digest):
    secret = digest.key()
    for path, body, param in [("/workflows/nope/run", {"inputs": INPUTS}, None),
                              ("/workflows/digest/run", {"label": "staging"}, "label"),
                              ("/workflows/digest/run", {"version": 9}, "version")]:
        r = digest.post(path, secret, body)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "workflow_not_found"
        assert r.json()["error"]["param"] == param
    r = digest.post("/workflows/digest/run", secret, {"label": "production", "version": 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "label"
    r = digest.post("/workflows/digest/run", None, {"inputs": INPUTS})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{digest.url}/workflows", timeout=30).status_code == 401
    assert digest.rows() == [] and digest.fake.requests == []


def test_a_key_budget_that_cannot_hold_the_run_refuses_it_before_any_call(digest):
    secret = digest.key("tight", budget=0.000001)   # one µ$: less than the forecast
    r = digest.post("/workflows/digest/run", secret, {"inputs": INPUTS})
    assert r.status_code == 429, r.text
    error = r.json()["error"]
    assert error["type"] == "budget_exceeded" and "API key 'tight'" in error["message"]
    assert r.headers["x-should-retry"] == "false"
    with stream(digest, secret, {"inputs": INPUTS}) as streamed:   # the same, not a stream
        assert streamed.status_code == 429
    assert digest.fake.requests == [] and digest.rows() == [] and digest.holds() == 0
    with digest.settings.db.connect() as conn:
        assert conn.execute("SELECT COUNT(*) FROM workflow_runs").fetchone()[0] == 0


def test_a_failing_step_is_named_in_the_runs_status(digest):
    digest.fake.script = [http_error(400, "The fake refuses.")]
    secret = digest.key()
    r = digest.post("/workflows/digest/run", secret, {"inputs": INPUTS})
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["status"] == "failed" and result["failed"] == ["short", "brief", "both"]
    steps = result["steps"]
    assert steps["short"]["cause"] == "error" and "refuses" in steps["short"]["error"]
    assert steps["both"]["cause"] == "dependency" and "Traceback" not in r.text
    assert result["outputs"] == {} and "refuses" in result["error"]
    with stream(digest, secret, {"inputs": INPUTS}) as streamed:
        events = events_of(streamed)
    failed = {d["step"]: d for k, d in events if k == "step.failed"}
    assert set(failed) == {"short", "brief", "both"}
    assert events[-1][0] == "run.done" and events[-1][1]["status"] == "failed"


def test_a_client_gone_mid_stream_stops_the_run(digest, monkeypatch):
    gate = threading.Event()
    digest.fake.script = [Reply([FAKE], hold=gate)]
    runs, ended = [], threading.Event()
    start_run, streamed = wf_api.start_run, wf_api.streamed

    def starting(*args):
        runs.append(start_run(*args))
        return runs[-1]

    def watched(run):
        try:
            yield from streamed(run)
        finally:
            ended.set()

    monkeypatch.setattr(wf_api, "start_run", starting)
    monkeypatch.setattr(wf_api, "streamed", watched)
    spend.set_budget(digest.settings.db, "all", "day", 1.0)
    try:
        with stream(digest, digest.key(), {"inputs": INPUTS}) as r:
            lines = r.iter_lines()
            assert next(lines) == "event: run.started"
            digest.fake.wait_for_requests(2)   # both steps' calls held at the model
        [(run, _)] = runs
        assert run.cancel.wait(30)             # the server saw the client go
    finally:
        gate.set()
    assert ended.wait(60)
    tree = load_run(digest.settings.db, run.run_id)
    assert tree.run.status == "stopped"
    assert {n.step: (n.status, n.cause) for n in tree.steps} == {
        "short": ("failed", "stopped"), "brief": ("failed", "stopped"),
        "both": ("failed", "stopped")}
    assert {r["status"] for r in digest.rows()} <= {"cancelled"}
    assert len(digest.fake.requests) == 2 and digest.holds() == 0


def test_a_client_gone_before_a_whole_answer_stops_the_run(digest, monkeypatch):
    gate = threading.Event()
    digest.fake.script = [Reply([FAKE], hold=gate)]
    runs, ended = [], threading.Event()
    start_run, reply = wf_api.start_run, wf_api.WorkflowRoute.reply

    def starting(*args):
        runs.append(start_run(*args))
        return runs[-1]

    def answering(self, *args):
        try:
            return reply(self, *args)
        finally:
            ended.set()

    monkeypatch.setattr(wf_api, "start_run", starting)
    monkeypatch.setattr(wf_api.WorkflowRoute, "reply", answering)
    body = json.dumps({"inputs": INPUTS}).encode()
    url = httpx.URL(digest.url)
    try:
        with socket.create_connection((url.host, url.port), timeout=30) as sock:
            sock.sendall(b"POST /v1/workflows/digest/run HTTP/1.1\r\nhost: x\r\n"
                         b"authorization: Bearer " + digest.key().encode() +
                         b"\r\ncontent-type: application/json\r\ncontent-length: " +
                         str(len(body)).encode() + b"\r\n\r\n" + body)
            digest.fake.wait_for_requests(2)
        [(run, _)] = runs
        assert run.cancel.wait(30)
    finally:
        gate.set()
    assert ended.wait(60)
    assert load_run(digest.settings.db, run.run_id).run.status == "stopped"
    assert len(digest.fake.requests) == 2 and digest.holds() == 0
