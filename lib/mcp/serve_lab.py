"""What the lab's MCP server answers, as plain values: stored prompts (listed, read by label
or version, run on a model), knowledge-base search and chunk reading, agent-run traces.

Each answer comes from the service the app's own pages use (lib.prompts, the chat's
knowledge-base tools, lib.spend and lib.chat traces); a model call goes through the call seam
as a prompt run on the Prompts page does, with its ledger row on page "mcp" and the caller's
budgets. Failures are the lab's own errors (PromptLabError), in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lib import agents, chat, knowledge, prompts, spend
from lib.core import (
    CatalogError,
    NotFoundError,
    PromptStoreError,
    Settings,
    VariableError,
    format_usd,
)
from lib.llm import current_catalog

PAGE = "mcp"          # the ledger's page for every call made here
MAX_PASSAGES = 10     # as the chat's search tool allows


@dataclass(frozen=True)
class Caller:
    """Who asks: over HTTP an API key (its budget applies; its owner, when it has one, sees
    only their own runs), over stdio the local user, as the app without sign-in."""

    api_key_id: int | None = None
    user: str | None = None


# -- prompts ---------------------------------------------------------------------------------

def list_prompts(settings: Settings) -> list[dict[str, Any]]:
    """Every stored prompt: name, description, versions, labels and default model."""
    store = prompts.PromptStore(settings.prompts_dir)
    out = []
    for name in store.names():
        p = store.get(name)
        out.append({"name": p.name, "description": p.description,
                    "versions": [v.version for v in p.versions], "latest": p.latest,
                    "labels": dict(sorted(p.labels.items())), "model": p.model or None,
                    "variables": [v.name for v in p.variables]})
    return out


def reference(prompt: prompts.Prompt, label: str | None, version: int | None) -> str | int:
    """A label or a version, not both; neither: the production label if the prompt has one,
    else the newest version (as the HTTP API reads a prompt run)."""
    if label is not None and version is not None:
        raise PromptStoreError("Give a label or a version, not both.")
    if label is not None:
        return label
    if version is not None:
        return version
    return "production" if "production" in prompt.labels else "latest"


def get_prompt(settings: Settings, name: str, label: str | None = None,
               version: int | None = None) -> dict[str, Any]:
    """One version of a prompt: its template, declared variables with their defaults, the
    labels pointing at it, its model parameters and output schema."""
    store = prompts.PromptStore(settings.prompts_dir)
    p = store.get(name)
    number = p.resolve(reference(p, label, version))
    info = next(v for v in p.versions if v.version == number)
    return {"name": p.name, "version": number, "labels": p.labels_of(number),
            "description": p.description, "template": store.source(name, number),
            "variables": [{"name": v.name, "type": v.type, "required": v.required,
                           "default": v.default, "description": v.description}
                          for v in p.variables],
            "model": p.model or None, "temperature": p.temperature,
            "max_tokens": p.max_tokens, "output_schema": p.output_schema(number),
            "note": info.note, "author": info.author, "created_at": info.created_at}


def run_prompt(settings: Settings, caller: Caller, name: str,
               variables: dict[str, Any] | None = None, *, label: str | None = None,
               version: int | None = None, model: str | None = None) -> tuple[str, dict[str, Any]]:
    """Run a stored prompt (lib.prompts.run, as the Prompts page's Run and the HTTP API) on
    its default model or `model` (a catalog key); (the reply's text, what the run cost and
    where it is in the ledger). Raises the prompt's, the budget's or the provider's error:
    a reply that failed part-way is an error, never a half answer."""
    values = dict(variables or {})
    store = prompts.PromptStore(settings.prompts_dir)
    p = store.get(name)
    unknown = sorted(set(values) - {v.name for v in p.variables})
    if unknown:
        raise VariableError(f"Unknown variable{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(u) for u in unknown)}: '{name}' declares "
                            f"{', '.join(v.name for v in p.variables) or 'none'}.")
    key = model or p.model
    if not key:
        raise CatalogError(f"Prompt '{name}' names no default model.",
                           hint="Pass `model`, a catalog key such as "
                                "local/smollm2-135m-instruct.")
    chosen = current_catalog(settings).get(key)
    call = prompts.run(settings, name, reference(p, label, version), values, chosen,
                       page=PAGE, user=caller.user, api_key_id=caller.api_key_id)
    call.reserve()  # a budget's refusal, before anything is sent
    for _ in call:
        pass
    if call.error is not None:
        raise call.error
    records = call.records
    validation = call.validation
    return call.text, {
        "prompt": name, "version": records[0].prompt_version if records else None,
        "model": call.model.key, "status": records[-1].status if records else "error",
        "input_tokens": sum(r.input_tokens for r in records),
        "output_tokens": sum(r.output_tokens for r in records),
        "cost": format_usd(sum(r.cost_micro for r in records)),
        "cost_micro": sum(r.cost_micro for r in records),
        "ledger_rows": [r.id for r in records],
        "structured": None if validation is None else validation.status}


# -- knowledge bases -------------------------------------------------------------------------

def list_knowledge_bases(settings: Settings) -> list[dict[str, Any]]:
    """Every knowledge base by name, with how many documents it holds."""
    return [{"name": kb.name, "documents": len(knowledge.documents(settings.db, kb)),
             "embedding_model": kb.embedding_model}
            for kb in knowledge.list_kbs(settings.db)]


def search(settings: Settings, knowledge_base: str, query: str, k: int = 5
           ) -> tuple[str, list[dict[str, Any]]]:
    """The chat's search_knowledge_base tool on the base named: numbered passages fenced as
    data, and their sources (chunk id, document, page, heading, text)."""
    found = _builtin("search_knowledge_base")(
        settings=settings, kb=knowledge.get_kb(settings.db, knowledge_base), query=query,
        k=max(1, min(k, MAX_PASSAGES)))
    return found.text, list(found.sources)


def read_chunk(settings: Settings, knowledge_base: str, chunk_id: str
               ) -> tuple[str, list[dict[str, Any]]]:
    """The chat's read_chunk tool: one stored passage in full, by its id."""
    found = _builtin("read_chunk")(
        settings=settings, kb=knowledge.get_kb(settings.db, knowledge_base), chunk_id=chunk_id)
    return found.text, list(found.sources)


def _builtin(name: str) -> Any:
    fn = agents.BUILTINS[name].fn
    assert fn is not None  # a built-in has code
    return fn


# -- traces ----------------------------------------------------------------------------------

def list_traces(settings: Settings, caller: Caller, limit: int = 20) -> list[dict[str, Any]]:
    """The latest agent runs, as the Traces page lists them (a key's owner: theirs only)."""
    return [{**r, "cost": format_usd(int(r["cost_micro"]))}
            for r in spend.recent_runs(settings.db, max(1, min(limit, 200)), user=caller.user)]


def get_trace(settings: Settings, caller: Caller, run_id: str) -> dict[str, Any]:
    """An agent run's steps (each a model call: tokens, cost, time, its text) and the tool
    calls each made, as the Traces page draws them."""
    trace = chat.run_trace(settings.db, run_id, user=caller.user)
    if trace is None:
        raise NotFoundError(f"There is no agent run {run_id[:80]!r}.",
                               hint="list_traces names the recent ones.")
    return {"run_id": trace.run_id, "end": trace.end,
            "conversation_id": trace.conversation_id, "tool_calls": trace.tool_calls,
            "steps": [{"step": s.call.step, "model": s.call.model, "status": s.call.status,
                       "input_tokens": s.call.input_tokens,
                       "output_tokens": s.call.output_tokens,
                       "cost": format_usd(s.call.cost_micro), "total_ms": s.call.total_ms,
                       "ttft_ms": s.call.ttft_ms, "error": s.call.error_message,
                       "ledger_row": s.call.id, "text": s.text,
                       "calls": [{k: c.get(k) for k in ("name", "arguments", "result",
                                                        "is_error", "ms", "cut")}
                                 for c in s.calls]}
                      for s in trace.steps]}
