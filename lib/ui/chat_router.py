"""The Chat page's router: the Task select, the model it would choose, and each turn's choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import streamlit as st

from lib.chat import StoredMessage, TurnOptions
from lib.core import PromptLabError, Settings
from lib.llm import (
    TASK_LABELS,
    TASKS,
    Message,
    ModelInfo,
    ModelStatus,
    Routed,
    Router,
    load_router,
    route,
    route_messages,
)
from lib.ui.kit import stored_prompts as prompts_view
from lib.ui.kit.app import catalog, statuses
from lib.ui.kit.text import Markdown, md
from lib.ui.kit.widgets import show_error

TASK_KEY = "chat_task"
AUTO = "auto"


@dataclass(frozen=True)
class Routing:
    router: Router
    choice: str              # AUTO, or one of TASKS
    status: ModelStatus      # the model the router would choose now (for the sidebar's settings)


def task_sidebar(settings: Settings, prompt_key: str) -> Routing:
    """The Task select under the picker and a line naming the model it would choose now; a
    message's own length may still move it when sent."""
    router = load_router(settings, catalog())
    prompt = prompts_view.chosen_prompt(prompt_key)
    declared = prompts_view.store().get(prompt).task if prompt else ""

    def label(t: str) -> str:
        if t != AUTO:
            return f"{t} · {TASK_LABELS[t]}"
        return (f"Auto: {declared} (declared by prompt {prompt})" if declared
                else f"Auto: {router.default_task} (the default)")

    choice = st.selectbox("Task", [AUTO, *TASKS], key=TASK_KEY, format_func=label,
                          help="What the router sends where is set in models.toml ([router] "
                               "and [[route]]); Auto uses the prompt's declared task.")
    task, by = _task(choice, prompt, declared)
    now = statuses()
    try:
        routed = route(router, now, task, declared_by=by)
    except PromptLabError as exc:
        show_error(exc)
        first = now[0]
        return Routing(router, choice, ModelStatus(first.model, False, str(exc)))
    st.caption(md(":material/alt_route: Now: {} ({})", routed.model.label, routed.reason))
    return Routing(router, choice, next(s for s in now if s.model.key == routed.model.key))


def route_turn(settings: Settings, routing: Routing, prompt_name: str | None, system: str,
               history: Sequence[StoredMessage], text: str,
               options: TurnOptions) -> tuple[ModelInfo, TurnOptions]:
    """The model for this turn, from its task and whole input; its options carry the router's
    reason and the top model, so the ledger records what always using it would have cost."""
    declared = prompts_view.store().get(prompt_name).task if prompt_name else ""
    task, by = _task(routing.choice, prompt_name, declared)
    turns = [Message(m.role, m.content) for m in history]  # type: ignore[arg-type]
    routed: Routed = route_messages(routing.router, statuses(), settings, task, system,
                                    [*turns, Message("user", text)], declared_by=by)
    return routed.model, replace(options, route=routed.reason, baseline=routed.baseline)


def _task(choice: str, prompt: str | None, declared: str) -> tuple[str | None, str | None]:
    """(task, the prompt that declared it): Auto is the prompt's task, else the default."""
    if choice != AUTO:
        return choice, None
    return (declared, prompt) if declared else (None, None)


def routed(meta: dict) -> bool:
    """A stored reply the router chose the model for. A reply a fallback answered says so in
    its own line instead (its ledger row's route is the fallback's)."""
    return (meta.get("baseline_micro") is not None and bool(meta.get("route"))
            and not meta.get("fallbacks"))


def route_note(meta: dict) -> Markdown:
    """Under a routed reply: which model the router chose, and why."""
    return md(":material/alt_route: Router chose {}: {}", meta.get("label") or meta.get("model"),
              meta.get("route", ""))
