"""Rendering prompt templates safely: a sandbox for what templates may touch, a child process
for how long and how much memory they may take.

- jinja2's ImmutableSandboxedEnvironment with StrictUndefined: no dunder walks, no mutation,
  no undefined names; no loader, so include / import / extends find nothing.
- Arithmetic that would build huge values (`'a' * 10**9`, `9**9**9`, `'%999999999s' % x`)
  is refused before it runs; globals are trimmed to `range` and our helpers.
- Every render runs in a worker process (lib.core.workers) with an address-space limit; a
  render that passes the time limit is killed with its worker, which is restarted on next
  use; two workers serve every session, so one slow render does not stall other previews.
- Values are data: they are passed as the render context and never compiled.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lib.core import RenderError, WorkerError, WorkerPool
from lib.prompts.fencing import documents, untrusted

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_VALUE_LEN = 1_000_000          # longest string or list an expression may build
RENDER_TIMEOUT_S = 2.0
RENDER_QUEUE_TIMEOUT_S = 10.0      # longest wait for a free render worker
WORKER_MEMORY_BYTES = 1 << 30      # the worker's address space: 1 GiB


_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")


def _check_width(fmt: str) -> None:
    for m in _WIDTH.finditer(fmt):
        if int(m.group(1) or m.group(2) or 0) > 10_000:
            raise RenderError("A format width in the template is too large.", reason="too_large")


def _environment():  # -> ImmutableSandboxedEnvironment
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Env(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def call_binop(self, context, operator, left, right):
            if operator == "**" and isinstance(right, int | float) and abs(right) > 100 and (
                    isinstance(left, int | float) and abs(left) > 1):
                raise RenderError("An exponent in the template is too large.", reason="too_large")
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, str | list | tuple) and isinstance(n, int) and (
                            len(seq) * n > MAX_VALUE_LEN):
                        raise RenderError("A repetition in the template would be too large.",
                                          reason="too_large")
            if operator == "%" and isinstance(left, str):
                _check_width(left)
            if operator == "+" and isinstance(left, str | list | tuple) and isinstance(
                    right, str | list | tuple) and len(left) + len(right) > MAX_VALUE_LEN:
                raise RenderError("A value built by the template would be too large.",
                                  reason="too_large")
            return super().call_binop(context, operator, left, right)

        def wrap_str_format(self, value):
            # str.format / format_map reach templates only through here.
            if isinstance(getattr(value, "__self__", None), str):
                _check_width(value.__self__)
            return super().wrap_str_format(value)

    env = Env(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    # Only what prompts need: cycler / joiner / namespace / lipsum and dict() are gone.
    env.globals = {"range": env.globals["range"], "untrusted": untrusted,
                   "documents": documents}
    for name in ("center", "indent", "wordwrap", "format", "xmlattr", "filesizeformat"):
        env.filters.pop(name, None)
    env.filters["untrusted"] = untrusted
    env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def _describe(exc: BaseException) -> tuple[str, str]:
    """(reason, message) for a failed render; see RenderError for the reasons."""
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError, TemplateNotFound

    if isinstance(exc, TemplateSyntaxError):
        return "syntax", f"Line {exc.lineno}: {exc.message}"
    if isinstance(exc, SecurityError):  # before UndefinedError: it may carry one's message
        return "unsafe", f"Refused as unsafe: {exc}"
    if isinstance(exc, TemplateNotFound) or "no loader" in str(exc):
        return "loader", "Templates cannot include, import or extend other templates."
    if isinstance(exc, UndefinedError):
        return "undefined", f"{exc.message}: declare it as a variable or fix the name."
    if isinstance(exc, RecursionError):
        return "recursion", "The template recursed too deeply."
    if isinstance(exc, MemoryError):
        return "memory", "Rendering ran out of memory."
    if isinstance(exc, RenderError):
        return exc.reason, exc.message
    if isinstance(exc, OverflowError):
        return "too_large", f"A value in the template is too large ({exc})."
    return "failed", f"{type(exc).__name__}: {exc}"


def _line_of(exc: BaseException) -> int | None:
    """The template line an error happened on, from jinja's rewritten traceback."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return getattr(exc, "lineno", None) or line


def _render_here(env, source: str, values: dict[str, Any]) -> list[Any]:
    """[True, output] or [False, reason, message]; runs inside the worker."""
    try:
        out, size = [], 0
        for piece in env.from_string(source).generate(values):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise RenderError(f"The rendered prompt passed {MAX_OUTPUT_CHARS:,} "
                                  "characters.", reason="too_large")
            out.append(piece)
        return [True, "".join(out)]
    except BaseException as exc:  # everything comes back as a message, nothing escapes
        line = _line_of(exc)
        reason, message = _describe(exc)
        if line and not message.startswith("Line "):
            message = f"Line {line}: {message}"
        return [False, reason, message]


_ENV = None


def render_job(payload: list[Any]) -> list[Any]:  # pragma: no cover - in the worker
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    source, values = payload
    return _render_here(_ENV, source, values)


# Two workers: one runaway template (stopped at its time limit) never blocks other previews.
_POOL = WorkerPool("lib.prompts.sandbox:render_job", WORKER_MEMORY_BYTES, size=2,
                   queue_timeout_s=RENDER_QUEUE_TIMEOUT_S)


def check_size(source: str) -> str:
    """A template within the size limit; checked before anything parses it."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise RenderError(f"The template is {len(source):,} characters; the limit is "
                          f"{MAX_TEMPLATE_CHARS:,}.", reason="too_large")
    return source


def render(source: str, values: dict[str, Any], *, timeout: float = RENDER_TIMEOUT_S) -> str:
    """Render a template source with already-validated values, or raise RenderError."""
    check_size(source)
    try:
        reply = _POOL.call([source, values], timeout)
    except WorkerError as exc:
        reason = "busy" if exc.busy else "timeout" if exc.timed_out else "crashed"
        raise RenderError(f"Rendering failed: {exc}", reason=reason) from None
    if not reply[0]:
        raise RenderError(reply[2], reason=reply[1])
    return reply[1]


def declared_names(source: str) -> set[str]:
    """Names a template reads, so an edit can be checked against the declared variables."""
    from jinja2 import meta

    check_size(source)
    try:
        return meta.find_undeclared_variables(_environment().parse(source)) - {
            "range", "untrusted", "documents"}
    except Exception as exc:  # jinja2's syntax errors, mostly
        reason, message = _describe(exc)
        raise RenderError(message, reason=reason) from None
