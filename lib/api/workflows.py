"""Stored workflows over HTTP: `POST /v1/workflows/{name}/run` (a label or version, inputs)
answered when the run ends, or its events as server-sent events as they happen; and
`GET /v1/workflows`. Behind the same keys as the chat route: the run's calls carry the key
(its budget holds the run's forecast before any call) and its owner, in the same ledger.

A stream is one `event: <type>` and `data: <json>` per workflow event, in order, ending with
`run.done`, whose data is the run's result — what a request without `stream` gets whole.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from lib.api.failures import answer
from lib.api.keys import ApiKey
from lib.api.replies import Answer, Head
from lib.api.routes import Route
from lib.api.values import checked_values
from lib.core import MICRO, ApiError, Settings, WorkflowError
from lib.workflows import (
    RunDone,
    RunStarted,
    StepDelta,
    StepDone,
    StepFailed,
    StepRunning,
    StepSkipped,
    StepWaiting,
    WorkflowEvent,
    WorkflowRun,
    WorkflowStore,
)

# Each event's name on the stream.
EVENTS: dict[type, str] = {RunStarted: "run.started", StepWaiting: "step.waiting",
                           StepRunning: "step.running", StepDelta: "step.delta",
                           StepDone: "step.done", StepSkipped: "step.skipped",
                           StepFailed: "step.failed", RunDone: "run.done"}


def listing(settings: Settings) -> dict[str, Any]:
    """GET /v1/workflows: each workflow's description, versions and labels."""
    store = WorkflowStore(settings)
    data = []
    for name in store.names():
        try:
            info = store.get(name)
        except WorkflowError:  # a broken manifest: the others are still listed
            continue
        data.append({"id": name, "object": "workflow", "description": info.description,
                     "versions": [v.version for v in info.versions], "latest": info.latest,
                     "labels": info.labels})
    return {"object": "list", "data": data}


class WorkflowRoute(Route):
    """POST /v1/workflows/{name}/run."""

    watch_whole = True   # a run answered whole may take minutes: a client gone stops it

    def reply(self, body: Any, key: ApiKey, cancel: threading.Event, path: dict[str, str],
              asked: dict[str, str]) -> Iterable[bytes | Head | Answer]:
        run, stream = start_run(self.settings, path["name"], body, key, cancel)
        if stream:
            return streamed(run)
        result = Result()
        for event in run:
            result.see(event)
        return [Answer(200, result.body)]


def start_run(settings: Settings, name: str, body: Any, key: ApiKey,
              cancel: threading.Event) -> tuple[WorkflowRun, bool]:
    """The run a body asks for, its forecast held under the key's budgets (nothing sent yet),
    and whether to stream it. ApiError 404 for an unknown workflow or version, 422 naming a
    bad input; BudgetExceededError when a budget cannot hold the run."""
    if not isinstance(body, dict):
        raise ApiError("The body must be a JSON object.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ApiError("`stream` must be true or false.", param="stream")
    ref, param = _reference(body)
    store = WorkflowStore(settings)
    try:
        version = store.get(name).resolve(ref)
    except WorkflowError as exc:
        raise ApiError(str(exc), status=404, code="workflow_not_found", param=param,
                       hint="GET /v1/workflows lists the workflows served here.") from None
    resolved = store.resolved(name, version)   # a file the lab no longer resolves: a 500
    # Each input on its own, so a refusal names it; the run checks them all again as it starts.
    checked_values(body.get("inputs"), resolved.wf.variables, owner=resolved.wf.name,
                   field="inputs", noun="input", code="invalid_input")
    try:
        run = WorkflowRun(settings, resolved, body.get("inputs") or {}, user=key.owner,
                          api_key_id=key.id, cancel=cancel)
    except WorkflowError as exc:  # what the run checks beyond each input's own value
        raise ApiError(str(exc), status=422, code="invalid_input", param="inputs") from None
    run.reserve()
    return run, stream


def _reference(body: dict[str, Any]) -> tuple[str | int, str | None]:
    """(`label` or `version`, the field that named it); neither: the latest version."""
    label, version = body.get("label"), body.get("version")
    if label is not None and version is not None:
        raise ApiError("Give a label or a version, not both.", param="label")
    if label is not None:
        if not isinstance(label, str):
            raise ApiError("`label` must be a string.", param="label")
        return label, "label"
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, int | str):
            raise ApiError("`version` must be a number such as 3 (or \"v3\").", param="version")
        return version, "version"
    return "latest", None


class Result:
    """The run's result, gathered from its events: status, outputs, each step's state,
    tokens, cost and time (costs in USD, as the chat route's `cost_usd`)."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {"object": "workflow.run", "steps": {}}
        self.steps: dict[str, dict[str, Any]] = self.body["steps"]

    def see(self, event: WorkflowEvent) -> None:
        if isinstance(event, RunStarted):
            self.body.update(id=event.run_id, workflow=event.workflow, version=event.version,
                             status="running")
        elif isinstance(event, StepWaiting):
            self.steps[event.step] = {"status": "waiting"}
        elif isinstance(event, StepRunning):
            self.steps[event.step]["status"] = "running"
        elif isinstance(event, StepDone):
            self.steps[event.step] = {
                "status": "done", "input_tokens": event.input_tokens,
                "output_tokens": event.output_tokens, "cost_usd": event.cost_micro / MICRO,
                "ms": round(event.ms, 1)}
        elif isinstance(event, StepSkipped):
            self.steps[event.step] = {"status": "skipped", "reason": event.reason}
        elif isinstance(event, StepFailed):
            self.steps[event.step] = {"status": "failed", "cause": event.cause,
                                      "error": event.error, "ms": round(event.ms, 1)}
        elif isinstance(event, RunDone):
            steps = self.steps.values()
            self.body.update(
                status=event.status, outputs=event.outputs, failed=list(event.failed),
                skipped=list(event.skipped), error=event.error or None,
                usage={"input_tokens": sum(s.get("input_tokens", 0) for s in steps),
                       "output_tokens": sum(s.get("output_tokens", 0) for s in steps)},
                cost_usd=event.cost_micro / MICRO, ms=round(event.ms, 1))


def streamed(run: WorkflowRun) -> Iterator[bytes | Head]:
    """The run's events as server-sent events; `run.done` carries the whole result. A run
    that breaks mid-stream ends with an `error` event in the API's error shape."""
    yield Head({"x-promptlab-run-id": run.run_id})
    result = Result()
    try:
        for event in run:
            result.see(event)
            yield _sse(EVENTS[type(event)], result.body if isinstance(event, RunDone)
                       else _data(event))
    except Exception as exc:
        yield _sse("error", answer(exc)[1])


def _data(event: WorkflowEvent) -> dict[str, Any]:
    """An event's fields as JSON, amounts in USD: `cost_micro` as `cost_usd`."""
    data = dataclasses.asdict(event)
    if isinstance(event, RunStarted):
        f = event.forecast
        data["forecast"] = {"calls": f.calls, "max_cost_usd": f.max_cost_micro / MICRO,
                            "unpriced_steps": f.unpriced}
    if "cost_micro" in data:
        data["cost_usd"] = data.pop("cost_micro") / MICRO
    return data


def _sse(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n".encode()
