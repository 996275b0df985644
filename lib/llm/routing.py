"""Cost routing: rules from the model catalog send a request to a model by task or input length.

The rules live beside the models in `models.toml` (and the user's copy in the data folder):

    [router]
    ladder = ["anthropic/claude-fable-5-2", ..., "local/smollm2-135m-instruct"]  # best first
    default_task = "chat"

    [[route]]                 # rules are tried in order; the first that matches wins
    task = "summarise"        # matches this task ...
    above_tokens = 100000     # ... with an input longer than this (a rule may name either)
    model = "openai/gpt-6-luna"

    [[route]]
    task = "classify"
    model = "anthropic/claude-haiku-5-5"

The router only chooses available models on its ladder. The first available one is the top
model, the baseline routing's savings are measured against. A rule whose model is unavailable
moves to the nearest available model on the ladder, the cheaper side first on a tie.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lib.core import CatalogError, ProviderError, Settings
from lib.llm.catalog import SHIPPED, Catalog, ModelInfo, user_catalog_path
from lib.llm.protocol import ChatRequest, Message
from lib.llm.registry import ModelStatus, counter_for

# The tasks a rule or a prompt may name, and how people read them.
TASKS = ("chat", "classify", "extract", "summarise", "reasoning", "hard")
TASK_LABELS = {"chat": "general chat", "classify": "classification", "extract": "extraction",
               "summarise": "summarising", "reasoning": "reasoning", "hard": "a hard task"}
_RULE_KEYS = {"task", "above_tokens", "model"}


@dataclass(frozen=True)
class RouteRule:
    model: str                       # a catalog key: provider/id
    task: str | None = None          # matches this task
    above_tokens: int | None = None  # matches an input longer than this many tokens

    def matches(self, task: str, input_tokens: int | None) -> bool:
        """Both conditions it names hold (an unknown input length matches no length rule)."""
        if self.task is not None and self.task != task:
            return False
        return self.above_tokens is None or (input_tokens is not None
                                             and input_tokens > self.above_tokens)

    def why(self, subject: str, input_tokens: int | None) -> str:
        """What the rule matched, in words: "the classify task with an input over 1,000 tokens"."""
        what = subject if self.task else "an input"
        if self.above_tokens is not None:
            what += (f" with an input over {self.above_tokens:,} tokens" if self.task else
                     f" over {self.above_tokens:,} tokens")
            what += f" (this one is {input_tokens:,})"
        return what


@dataclass(frozen=True)
class Router:
    ladder: tuple[str, ...]          # model keys, best first
    rules: tuple[RouteRule, ...]
    default_task: str = "chat"


@dataclass(frozen=True)
class Routed:
    model: ModelInfo                 # the model that answers
    reason: str                      # why, in words
    baseline: ModelInfo              # the top available model: what routing is measured against
    task: str


def route(router: Router, statuses: Sequence[ModelStatus], task: str | None = None,
          input_tokens: int | None = None, *, declared_by: str | None = None) -> Routed:
    """Choose among available ladder models; raises ProviderError when none is available.

    `task` None means the router's default task; `declared_by` names the prompt that
    declared it. `input_tokens` None (not counted yet) skips the length rules.
    """
    by_key = {s.model.key: s for s in statuses}
    ready = _ready(router, by_key)
    if not ready:
        raise ProviderError("unavailable", "None of the router's models is available.",
                            hint="Enable one of them, or pick a model yourself.")
    subject = f"the {router.default_task if task is None else task} task" + (
        " (the default)" if task is None else
        f" (declared by prompt '{declared_by}')" if declared_by else "")
    task = router.default_task if task is None else task
    top = by_key[ready[0]].model
    rule = next((r for r in router.rules if r.matches(task, input_tokens)), None)
    if rule is None:
        return Routed(top, f"no rule for {subject}; the top model", top, task)
    why = f"rule for {rule.why(subject, input_tokens)}"
    if rule.model in ready:
        return Routed(by_key[rule.model].model, why, top, task)
    wanted = by_key[rule.model].model.label if rule.model in by_key else rule.model
    if len(ready) == 1:
        return Routed(by_key[ready[0]].model, f"{why} names {wanted}, which is unavailable; "
                      "the only available model", top, task)
    here = router.ladder.index(rule.model)
    # Nearest on the ladder; on a tie the cheaper side (lower down, a larger index) wins.
    near = min(ready, key=lambda k: (abs(router.ladder.index(k) - here),
                                     router.ladder.index(k) < here))
    return Routed(by_key[near].model, f"{why} names {wanted}, which is unavailable; the next "
                  "available model on the router's ladder", top, task)


def top_model(router: Router, statuses: Sequence[ModelStatus]) -> ModelInfo | None:
    """The router's top model now: the first available one on its ladder."""
    by_key = {s.model.key: s for s in statuses}
    ready = _ready(router, by_key)
    return by_key[ready[0]].model if ready else None


def _ready(router: Router, by_key: dict[str, ModelStatus]) -> list[str]:
    return [k for k in router.ladder if k in by_key and by_key[k].available]


def route_messages(router: Router, statuses: Sequence[ModelStatus], settings: Settings,
                   task: str | None, system: str, messages: Sequence[Message], *,
                   declared_by: str | None = None) -> Routed:
    """Route by task, then by the input as that model's counter counts it (the whole
    conversation, before anything is left out): a length rule may move it."""
    first = route(router, statuses, task, declared_by=declared_by)
    request = ChatRequest(first.model.id, tuple(messages), system=system)
    tokens = counter_for(first.model, settings).count_request(request)
    return route(router, statuses, task, tokens, declared_by=declared_by)


def load_router(settings: Settings, catalog: Catalog) -> Router:
    """The shipped rules, overlaid by the user's copy: its [router] keys replace the shipped
    ones, and its [[route]] list, if it has one, replaces the shipped rules."""
    tables = _tables(SHIPPED.read_text(encoding="utf-8"), str(SHIPPED))
    user = user_catalog_path(settings)
    if user.is_file():
        mine = _tables(user.read_text(encoding="utf-8"), str(user))
        tables = {"router": {**tables.get("router", {}), **mine.get("router", {})},
                  "route": mine.get("route", tables.get("route", []))}
    return parse_router(tables, catalog, str(user) if user.is_file() else str(SHIPPED))


def _tables(text: str, source: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"The model catalog {source} is invalid: {exc}") from None
    return {k: data[k] for k in ("router", "route") if k in data}


def parse_router(tables: dict[str, Any], catalog: Catalog, source: str) -> Router:
    """[router] and [[route]] tables as a Router, or CatalogError saying what is wrong."""
    known = {m.key for m in catalog.models}
    head = tables.get("router", {})
    ladder = head.get("ladder", [])
    if not isinstance(ladder, list) or not ladder or not all(isinstance(k, str) for k in ladder):
        raise CatalogError(f"The router in {source} needs a ladder: a list of model keys, best "
                           "first.")
    for key in ladder:
        if key not in known:
            raise CatalogError(f"The router's ladder in {source} names {key!r}, which is not "
                               "in the model catalog.", hint="Use provider/id, as listed.")
    if len(set(ladder)) != len(ladder):
        raise CatalogError(f"The router's ladder in {source} names a model twice.")
    default = head.get("default_task", "chat")
    if default not in TASKS:
        raise CatalogError(f"The router's default task {default!r} in {source} is unknown.",
                           hint=f"Use one of {', '.join(TASKS)}.")
    rules = tuple(_rule(r, n, ladder, source)
                  for n, r in enumerate(tables.get("route", []), start=1))
    return Router(tuple(ladder), rules, default)


def _rule(raw: Any, n: int, ladder: list[str], source: str) -> RouteRule:
    where = f"Route rule {n} in {source}"
    if not isinstance(raw, dict) or set(raw) - _RULE_KEYS:
        raise CatalogError(f"{where} is invalid: it may only have task, above_tokens and "
                           "model.")
    model, task, above = raw.get("model"), raw.get("task"), raw.get("above_tokens")
    if model not in ladder:
        raise CatalogError(f"{where} sends requests to {model!r}, which is not on the "
                           "router's ladder.", hint="Add it to [router] ladder, or fix the key.")
    if task is None and above is None:
        raise CatalogError(f"{where} names neither a task nor above_tokens.")
    if task is not None and task not in TASKS:
        raise CatalogError(f"{where} names the unknown task {task!r}.",
                           hint=f"Use one of {', '.join(TASKS)}.")
    if above is not None and (isinstance(above, bool) or not isinstance(above, int)
                              or above <= 0):
        raise CatalogError(f"{where}: above_tokens must be a positive whole number.")
    return RouteRule(model, task, above)
