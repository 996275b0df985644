"""Half-price batch runs behind one small protocol: Anthropic's Message Batches and OpenAI's
Batch API take many requests under custom ids, are polled, give results, can be cancelled."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol, TypeVar

from lib.core import BatchError, ProviderError, Settings, redact
from lib.llm.modelinfo import ModelInfo
from lib.llm.protocol import ChatRequest, Usage, stop_reason
from lib.llm.providers.sdk import client_options, translate
from lib.llm.registry import batch_providers, capabilities, provider_label, provider_status

BATCH_DISCOUNT = 0.5                  # both vendors bill batch tokens at half the list price
BATCH_STATES = ("in_progress", "ended", "cancelling", "cancelled", "failed", "expired")
FINAL_STATES = frozenset({"ended", "cancelled", "failed", "expired"})
BATCH_OUTCOMES = ("succeeded", "errored", "expired", "cancelled")
OPENAI_ENDPOINT: Final = "/v1/chat/completions"

T = TypeVar("T")


@dataclass(frozen=True)
class BatchState:
    """A batch as the provider reports it; counts of items not yet known stay 0."""
    status: str                       # one of BATCH_STATES
    total: int = 0
    succeeded: int = 0
    errored: int = 0
    expired: int = 0
    cancelled: int = 0
    error: str = ""                   # why the whole batch failed, if it did

    @property
    def final(self) -> bool:
        """Processing is over: results (if any) can be read."""
        return self.status in FINAL_STATES

    @property
    def processing(self) -> int:
        return max(0, self.total - self.succeeded - self.errored - self.expired - self.cancelled)


@dataclass(frozen=True)
class BatchOutcome:
    """One request's result, matched to its request by `custom_id`."""
    custom_id: str
    status: str                       # one of BATCH_OUTCOMES
    text: str = ""
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    stop_reason: str | None = None
    error: str = ""


class BatchClient(Protocol):
    """A provider's batch API: ProviderError for a failed call, BatchError for a bad reply."""

    provider: str

    def submit(self, items: list[tuple[str, ChatRequest]]) -> str: ...

    def state(self, remote_id: str) -> BatchState: ...

    def results(self, remote_id: str) -> Iterator[BatchOutcome]: ...

    def cancel(self, remote_id: str) -> BatchState: ...


def batch_price(model: ModelInfo) -> ModelInfo:
    """The model at its batch price: its `cost_micro` is what a batch request costs."""
    d = BATCH_DISCOUNT
    return replace(model, input=model.input * d, output=model.output * d,
                   cache_read=model.cache_read * d, cache_write=model.cache_write * d)


def _sdk_call(sdk: Any, label: str, fn: Callable[[], T]) -> T:
    """Run one SDK call: its failures become ProviderError, malformed replies BatchError."""
    try:
        return fn()
    except (ProviderError, BatchError):
        raise
    except (AttributeError, LookupError, TypeError, ValueError) as exc:  # JSON, pydantic too
        raise BatchError(f"{label} sent a batch reply this app could not read "
                         f"({type(exc).__name__}: {exc}).") from exc
    except Exception as exc:
        raise translate(exc, sdk, label) from exc


class AnthropicBatches:
    """Message Batches: each request is the Messages API body the streaming adapter sends."""

    provider = "anthropic"

    def __init__(self, api_key: str, *, read_timeout: float = 60.0,
                 http_client: Any | None = None, base_url: str | None = None) -> None:
        import anthropic  # lazy: ~0.5 s to import

        from lib.llm.providers.anthropic_provider import AnthropicProvider

        self._sdk = anthropic
        self._bodies = AnthropicProvider(api_key, read_timeout=read_timeout,
                                         http_client=http_client, base_url=base_url)
        self._client = anthropic.Anthropic(api_key=api_key, base_url=base_url,
                                           **client_options(read_timeout, http_client))

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """A request's params; what the SDK would send as extra body goes in the JSON itself."""
        params = self._bodies.params(request)
        extra = params.pop("extra_body", {})
        return {**params, **extra}

    def _call(self, fn: Callable[[], T]) -> T:
        return _sdk_call(self._sdk, "Anthropic", fn)

    def submit(self, items: list[tuple[str, ChatRequest]]) -> str:
        requests = [{"custom_id": cid, "params": self.body(r)} for cid, r in items]
        # The SDK types each request as a TypedDict; body() builds those keys as a plain dict.
        return self._call(lambda: str(self._client.messages.batches.create(
            requests=requests).id))  # type: ignore[arg-type]

    def state(self, remote_id: str) -> BatchState:
        return self._call(lambda: _anthropic_state(
            self._client.messages.batches.retrieve(remote_id)))

    def results(self, remote_id: str) -> Iterator[BatchOutcome]:
        lines = self._call(lambda: iter(self._client.messages.batches.results(remote_id)))
        while (line := self._call(lambda: next(lines, None))) is not None:
            yield self._call(lambda: _anthropic_outcome(line))

    def cancel(self, remote_id: str) -> BatchState:
        return self._call(lambda: _anthropic_state(
            self._client.messages.batches.cancel(remote_id)))


def _anthropic_state(batch: Any) -> BatchState:
    c = batch.request_counts
    status = {"in_progress": "in_progress", "canceling": "cancelling",
              "ended": "ended"}.get(batch.processing_status)
    if status is None:
        raise BatchError(f"Anthropic reported an unknown batch status "
                         f"{batch.processing_status!r}.")
    if status == "ended" and batch.cancel_initiated_at is not None:
        status = "cancelled"  # Anthropic ends a cancelled batch as "ended"
    return BatchState(status, c.processing + c.succeeded + c.errored + c.expired + c.canceled,
                      c.succeeded, c.errored, c.expired, c.canceled)


def _anthropic_outcome(line: Any) -> BatchOutcome:
    result, cid = line.result, str(line.custom_id)
    if result.type == "succeeded":
        m = result.message
        u = m.usage
        return BatchOutcome(cid, "succeeded",
                            "".join(b.text for b in m.content if b.type == "text"),
                            Usage(u.input_tokens or 0, u.output_tokens or 0,
                                  getattr(u, "cache_read_input_tokens", 0) or 0,
                                  getattr(u, "cache_creation_input_tokens", 0) or 0),
                            stop_reason(m.stop_reason))
    if result.type == "errored":
        err = result.error.error
        return BatchOutcome(cid, "errored", error=redact(f"{err.type}: {err.message}"))
    if result.type in ("canceled", "expired"):
        return BatchOutcome(cid, "cancelled" if result.type == "canceled" else "expired")
    raise BatchError(f"Anthropic sent an unknown batch result type {result.type!r}.")


class OpenAIBatches:
    """The Batch API: requests uploaded as a JSONL file, results read from output files."""

    provider = "openai"

    def __init__(self, api_key: str, *, read_timeout: float = 60.0,
                 http_client: Any | None = None, base_url: str | None = None) -> None:
        import openai  # lazy: ~0.5 s to import

        from lib.llm.providers.openai_provider import OpenAIProvider

        self._sdk = openai
        self._bodies = OpenAIProvider(api_key, base_url=base_url, read_timeout=read_timeout,
                                      http_client=http_client)
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url,
                                     **client_options(read_timeout, http_client))

    def _call(self, fn: Callable[[], T]) -> T:
        return _sdk_call(self._sdk, "OpenAI", fn)

    def submit(self, items: list[tuple[str, ChatRequest]]) -> str:
        lines = [json.dumps({"custom_id": cid, "method": "POST", "url": OPENAI_ENDPOINT,
                             "body": self._bodies.params(r)}) for cid, r in items]
        data = ("\n".join(lines) + "\n").encode()
        upload = self._call(lambda: self._client.files.create(
            file=("batch.jsonl", data, "application/jsonl"), purpose="batch"))
        return self._call(lambda: str(self._client.batches.create(
            input_file_id=upload.id, endpoint=OPENAI_ENDPOINT, completion_window="24h").id))

    def state(self, remote_id: str) -> BatchState:
        return self._call(lambda: _openai_state(self._client.batches.retrieve(remote_id)))

    def results(self, remote_id: str) -> Iterator[BatchOutcome]:
        batch = self._call(lambda: self._client.batches.retrieve(remote_id))
        # Successes land in the output file; failures, expiries and cancels in the error file.
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            text = self._call(lambda: self._client.files.content(file_id).text)  # noqa: B023
            for line in text.splitlines():
                if line.strip():
                    yield self._call(lambda: _openai_outcome(json.loads(line)))  # noqa: B023

    def cancel(self, remote_id: str) -> BatchState:
        return self._call(lambda: _openai_state(self._client.batches.cancel(remote_id)))


_OPENAI_STATES = {"validating": "in_progress", "in_progress": "in_progress",
                  "finalizing": "in_progress", "completed": "ended", "cancelling": "cancelling",
                  "cancelled": "cancelled", "failed": "failed", "expired": "expired"}


def _openai_state(batch: Any) -> BatchState:
    status = _OPENAI_STATES.get(batch.status)
    if status is None:
        raise BatchError(f"OpenAI reported an unknown batch status {batch.status!r}.")
    c = batch.request_counts
    errors = (batch.errors.data or []) if batch.errors else []
    return BatchState(status, c.total if c else 0, c.completed if c else 0,
                      c.failed if c else 0,
                      error=redact("; ".join(e.message or e.code or "" for e in errors)))


def _openai_outcome(line: dict[str, Any]) -> BatchOutcome:
    cid = str(line["custom_id"])
    response, error = line.get("response") or {}, line.get("error") or {}
    if response.get("status_code") == 200 and not error:
        body = response["body"]
        choice = body["choices"][0]
        u = body.get("usage") or {}
        cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        # Ledger input_tokens are the uncached ones, as the streaming adapter records them.
        return BatchOutcome(cid, "succeeded", choice["message"].get("content") or "",
                            Usage(max(0, (u.get("prompt_tokens") or 0) - cached),
                                  u.get("completion_tokens") or 0, cache_read_tokens=cached),
                            stop_reason(choice.get("finish_reason")))
    kind = {"batch_expired": "expired", "batch_cancelled": "cancelled"}.get(
        error.get("code") or "", "errored")
    body_error = ((response.get("body") or {}).get("error") or {}) if response else {}
    message = error.get("message") or body_error.get("message") or (
        f"HTTP {response.get('status_code')}" if response else "no reply")
    return BatchOutcome(cid, kind, error=redact(message) if kind == "errored" else "")


@functools.cache
def batch_client(provider: str, settings: Settings) -> BatchClient:
    """The batch API of a provider whose key is set; one client per provider and settings."""
    make = capabilities(provider).batch
    if make is None:
        raise BatchError(f"{provider_label(provider)} has no batch API here; only "
                         f"{', '.join(provider_label(p) for p in batch_providers())} models can "
                         "run as a batch.")
    ok, reason = provider_status(provider, settings, check_local=False)
    if not ok:
        raise ProviderError("unavailable", f"The {provider_label(provider)} provider is not "
                            "available.", hint=reason)
    return make(settings)
