"""The process's tracer: set up once from the standard OpenTelemetry variables (the app, the
API, the MCP server each call `setup` at start), or installed for a while (`tracing`: tests,
benches). The SDK is imported only when tracing is on."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from lib.core import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

log = logging.getLogger(__name__)

# Either names where spans go; the exporter reads them itself (and the headers, timeout,
# certificate and compression variables beside them).
ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
SCOPE = "promptlab"
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Tracing:
    """Tracing as it is on: the provider, its tracer, and whether message text is recorded."""
    provider: TracerProvider
    tracer: Tracer
    content: bool = False


_active: Tracing | None = None
_set_up = False
_lock = threading.Lock()


def active() -> Tracing | None:
    """The tracing in force, or None (off: every hook passes through)."""
    return _active


def enabled() -> bool:
    return _active is not None


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether these variables ask for traces: an endpoint, and the SDK not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINTS)


def exporting_provider() -> TracerProvider:
    """A provider that batches spans to the OTLP/HTTP endpoint of the environment (the
    exporter reads it), as service OTEL_SERVICE_NAME (else "promptlab")."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "promptlab"}))
    provider = TracerProvider(resource=resource)  # flushed and shut down at exit
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def setup(settings: Settings) -> bool:
    """Once per process: trace to the endpoint the environment names, recording message text
    if the settings allow it; nothing when no endpoint is set. Whether tracing is on."""
    global _set_up
    with _lock:
        if not _set_up:
            _set_up = True
            if wanted(os.environ):
                try:
                    _install(_tracing(exporting_provider(), settings.otel_content))
                    log.info("traces go to the OTLP endpoint (message text %s)",
                             "included" if settings.otel_content else "left out")
                except Exception:  # a bad variable must not stop the app: it runs untraced
                    log.exception("tracing could not be set up; running without it")
    return enabled()


@contextmanager
def tracing(provider: TracerProvider, *, content: bool = False) -> Iterator[Tracing]:
    """Trace to `provider` inside the block (tests, benches); what was in force comes back."""
    before = _active
    now = _tracing(provider, content)
    _install(now)
    try:
        yield now
    finally:
        _install(before)


def carried(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, run (in another thread) inside the trace context current here: spans it makes
    are children of the one open now (an agent run's tool calls). `fn` itself when off."""
    if _active is None:
        return fn
    from opentelemetry import context

    here = context.get_current()

    def within(*args: P.args, **kwargs: P.kwargs) -> R:
        token = context.attach(here)
        try:
            return fn(*args, **kwargs)
        finally:
            context.detach(token)

    return within


def _tracing(provider: TracerProvider, content: bool) -> Tracing:
    return Tracing(provider, provider.get_tracer(SCOPE), content)


def _install(value: Tracing | None) -> None:
    global _active
    _active = value


def attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` without the unset ones (OpenTelemetry drops None with a warning)."""
    return {k: v for k, v in values.items() if v is not None}
