"""The API routes as the Chat page does (lib.chat.routing): `model: "router"` with an optional
task; the answer names the model chosen, and its ledger row says why."""

from __future__ import annotations

pytest_plugins = ["api_served"]     # the `served` fixture

LOCAL = "local/smollm2-135m-instruct"


def test_the_router_chooses_a_model_and_says_why(served):
    client = served.client(served.key())
    reply = client.chat.completions.create(
        model="router", max_tokens=8, temperature=0,
        messages=[{"role": "user", "content": "Name a colour."}],
        extra_body={"task": "classify"})
    # With no key and no network, every rule lands on the only model that runs here.
    assert reply.model == LOCAL and reply.choices[0].message.content.strip()
    [row] = served.rows()
    assert row["model"] == "smollm2-135m-instruct" and row["route"]
    assert "only available model" in row["route"] or "classify" in row["route"]


def test_a_task_the_router_does_not_know_is_refused(served):
    r = served.post("/chat/completions", served.key(), {
        "model": "router", "task": "poetry", "max_tokens": 8,
        "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "task"
    assert served.rows() == []
