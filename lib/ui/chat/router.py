"""The Chat page's router: the Task select, the model it would choose, and each turn's choice."""

from __future__ import annotations

import streamlit as st

from lib.chat import AUTO, Routing
from lib.core import PromptLabError, Settings
from lib.llm import TASK_LABELS, TASKS, ModelStatus, load_router, route
from lib.ui.kit import stored_prompts
from lib.ui.kit.app import catalog, statuses
from lib.ui.kit.text import Markdown, md
from lib.ui.kit.widgets import show_error

TASK_KEY = "chat_task"


def task_sidebar(settings: Settings, prompt_key: str) -> tuple[Routing, ModelStatus]:
    """The Task select under the picker and a line naming the model it would choose now (a
    message's own length may still move it when sent); the routing, and that model."""
    prompt = stored_prompts.chosen_prompt(prompt_key)
    declared = stored_prompts.store().get(prompt).task if prompt else ""
    now = tuple(statuses())
    router = load_router(settings, catalog())

    def label(t: str) -> str:
        if t != AUTO:
            return f"{t} · {TASK_LABELS[t]}"
        return (f"Auto: {declared} (declared by prompt {prompt})" if declared
                else f"Auto: {router.default_task} (the default)")

    choice = st.selectbox("Task", [AUTO, *TASKS], key=TASK_KEY, format_func=label,
                          help="What the router sends where is set in models.toml ([router] "
                               "and [[route]]); Auto uses the prompt's declared task.")
    routing = Routing(router, now, choice, prompt, declared)
    task, by = routing.task()
    try:
        routed = route(router, now, task, declared_by=by)
    except PromptLabError as exc:
        show_error(exc)
        return routing, ModelStatus(now[0].model, False, str(exc))
    st.caption(md(":material/alt_route: Now: {} ({})", routed.model.label, routed.reason))
    return routing, next(s for s in now if s.model.key == routed.model.key)


def routed(meta: dict) -> bool:
    """A stored reply the router chose the model for. A reply a fallback answered says so in
    its own line instead (its ledger row's route is the fallback's)."""
    return (meta.get("baseline_micro") is not None and bool(meta.get("route"))
            and not meta.get("fallbacks"))


def route_note(meta: dict) -> Markdown:
    """Under a routed reply: which model the router chose, and why."""
    return md(":material/alt_route: Router chose {}: {}", meta.get("label") or meta.get("model"),
              meta.get("route", ""))
