"""Telemetry: OpenTelemetry traces of model calls, agent runs and tool calls, with the GenAI
semantic conventions (`gen_ai.*`), sent to the OTLP endpoint the standard variables name
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). Off when none is set:
then no provider exists, the OpenTelemetry SDK is never imported, and every hook hands back
what it was given. Message text goes into a span only when PROMPTLAB_OTEL_CONTENT is on."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.telemetry.provider import (
        Tracing,
        active,
        carried,
        enabled,
        exporting_provider,
        setup,
        tracing,
    )
    from lib.telemetry.spans import agent_run, tool_span, traced, workflow_step
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
