"""What a workflow run yields: a closed set of events a page or a server-sent stream draws.

A step is waiting until its dependencies are done, then running (a map's or orchestrator's
items each say when they start, `item` their index), streams its text, and ends done,
skipped (its condition was false) or failed — `cause` says whether by its own error, a
dependency's failure, or Stop. The run ends with one RunDone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lib.workflows.planning import Forecast


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    workflow: str
    version: int | None
    forecast: Forecast
    levels: tuple[tuple[str, ...], ...]   # steps of one level run at once


@dataclass(frozen=True)
class StepWaiting:
    step: str
    needs: tuple[str, ...]


@dataclass(frozen=True)
class StepRunning:
    step: str
    item: int | None = None


@dataclass(frozen=True)
class StepDelta:
    step: str
    text: str
    item: int | None = None


@dataclass(frozen=True)
class StepDone:
    step: str
    output: Any
    ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro: int = 0
    calls: tuple[int, ...] = ()          # its ledger rows


@dataclass(frozen=True)
class StepSkipped:
    step: str
    reason: str


CAUSES = ("error", "dependency", "stopped")


@dataclass(frozen=True)
class StepFailed:
    step: str
    error: str
    cause: str = "error"                 # one of CAUSES
    ms: float = 0.0


RUN_STATUSES = ("done", "failed", "stopped")


@dataclass(frozen=True)
class RunDone:
    run_id: str
    status: str                          # done, failed (some step did), stopped
    outputs: dict[str, Any]
    failed: tuple[str, ...] = ()         # the steps that failed, their dependents with them
    skipped: tuple[str, ...] = ()
    cost_micro: int = 0
    ms: float = 0.0
    error: str = field(default="")       # what failed first, in words


WorkflowEvent = (RunStarted | StepWaiting | StepRunning | StepDelta | StepDone | StepSkipped
                 | StepFailed | RunDone)
