"""The Router as a chat chooses with it: a turn's task (picked, or the prompt's declared one) and
its whole input decide the model (lib.llm.route_messages). The page and the HTTP API both
route through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lib.core import Settings
from lib.llm import Message, ModelStatus, Routed, Router, route_messages

AUTO = "auto"   # the prompt's declared task, else the router's default


@dataclass(frozen=True)
class Routing:
    """The Router in place of a model: which task (AUTO or one of lib.llm.TASKS), and the
    task the chosen prompt declares, if any."""

    router: Router
    statuses: tuple[ModelStatus, ...]
    choice: str = AUTO
    prompt: str | None = None
    declared: str = ""

    def task(self) -> tuple[str | None, str | None]:
        """(task, the prompt that declared it): Auto is the prompt's task, else the default."""
        if self.choice != AUTO:
            return self.choice, None
        return (self.declared, self.prompt) if self.declared else (None, None)


def route_turn(settings: Settings, routing: Routing, system: str,
               messages: Sequence[Message]) -> Routed:
    """The model for a turn, from its task and its whole input (the new message last) as
    that model counts it."""
    task, by = routing.task()
    return route_messages(routing.router, routing.statuses, settings, task, system,
                          list(messages), declared_by=by)
