"""Workflows as code: steps (stored prompts on a model or the router, agent runs, tool calls,
sandboxed templates and conditions, maps over lists, orchestrators dispatching to workers)
wired by naming each other's outputs, versioned and labelled like prompts, and run with
independent steps at once under one budget hold — every call through the seam."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.workflows.budget import RunBudget, StepRecorder
    from lib.workflows.events import (
        CAUSES,
        RUN_STATUSES,
        RunDone,
        RunStarted,
        StepDelta,
        StepDone,
        StepFailed,
        StepRunning,
        StepSkipped,
        StepWaiting,
        WorkflowEvent,
    )
    from lib.workflows.executor import WorkflowRun, check_inputs, start
    from lib.workflows.graph import Graph, Ref, reference
    from lib.workflows.planning import Forecast, StepForecast, forecast
    from lib.workflows.resolving import ROUTER, ModelPlan, Resolved, plan_schema, resolve
    from lib.workflows.runs import RunRow, RunTree, StepNode, list_runs, load_run
    from lib.workflows.spec import KINDS, TYPES, Workflow, WorkflowSpec, parse
    from lib.workflows.store import WorkflowInfo, WorkflowStore
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
