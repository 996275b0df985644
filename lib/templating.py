"""Rendering prompt templates safely: a sandbox for what templates may touch, a child process
for how long and how much memory they may take.

- jinja2's ImmutableSandboxedEnvironment with StrictUndefined: no dunder walks, no mutation,
  no undefined names; no loader, so include / import / extends find nothing.
- Arithmetic that would build huge values (`'a' * 10**9`, `9**9**9`, `'%999999999s' % x`)
  is refused before it runs; globals are trimmed to `range` and our helpers.
- Every render runs in a lib.worker process with an address-space limit; a render that
  passes the time limit is killed with its worker, which is restarted on next use.
- Values are data: they are passed as the render context and never compiled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lib.errors import TemplateError
from lib.worker import Worker, WorkerError

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_VALUE_LEN = 1_000_000          # longest string or list an expression may build
RENDER_TIMEOUT_S = 2.0
WORKER_MEMORY_BYTES = 1 << 30      # the worker's address space: 1 GiB
VARIABLE_TYPES = ("str", "int", "float", "bool", "list", "json")


# -- untrusted text --------------------------------------------------------------------------

def untrusted(text: Any, label: str = "input") -> str:
    """Wrap text from a user or a document in delimiters a model can tell from instructions.

    A closing tag inside the text is defused, so the text cannot end the block early.
    """
    tag = re.sub(r"[^a-z0-9_-]", "", str(label).lower()) or "input"
    body = re.sub(r"</?untrusted", lambda m: m.group(0).replace("<", "<\u200b"), str(text),
                  flags=re.IGNORECASE)
    return f'<untrusted source="{tag}">\n{body}\n</untrusted>'


def documents(chunks: Any) -> str:
    """Number retrieved chunks [1], [2], ... each wrapped as untrusted text."""
    def attr(value: Any) -> str:
        # File names and headings come from uploads: no quotes, brackets or line breaks, so
        # they cannot end the attribute and speak outside the fence.
        return re.sub(r'[\s"<>\[\]]+', " ", str(value)).strip()[:120]

    out = []
    for i, chunk in enumerate(chunks or [], 1):
        if isinstance(chunk, dict):
            where = " ".join(f'{k}="{attr(chunk[k])}"' for k in ("source", "page", "heading")
                             if chunk.get(k) not in (None, ""))
            text = chunk.get("text", "")
        else:
            where, text = "", chunk
        out.append(f"[{i}] {where}".rstrip() + "\n" + untrusted(text, "document"))
    return "\n\n".join(out)


# -- the sandbox -----------------------------------------------------------------------------

_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*:[^{}]*?(\d+)[^{}]*\}")


def _check_width(fmt: str) -> None:
    for m in _WIDTH.finditer(fmt):
        if int(m.group(1) or m.group(2) or 0) > 10_000:
            raise TemplateError("A format width in the template is too large.")


def _environment():  # -> ImmutableSandboxedEnvironment
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Env(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "%", "+"})

        def call_binop(self, context, operator, left, right):
            if operator == "**" and isinstance(right, int | float) and abs(right) > 100 and (
                    isinstance(left, int | float) and abs(left) > 1):
                raise TemplateError("An exponent in the template is too large.")
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, str | list | tuple) and isinstance(n, int) and (
                            len(seq) * n > MAX_VALUE_LEN):
                        raise TemplateError("A repetition in the template would be too large.")
            if operator == "%" and isinstance(left, str):
                _check_width(left)
            if operator == "+" and isinstance(left, str | list | tuple) and isinstance(
                    right, str | list | tuple) and len(left) + len(right) > MAX_VALUE_LEN:
                raise TemplateError("A value built by the template would be too large.")
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


def _describe(exc: BaseException) -> str:
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError, TemplateNotFound

    if isinstance(exc, TemplateSyntaxError):
        return f"Line {exc.lineno}: {exc.message}"
    if isinstance(exc, UndefinedError):
        return f"{exc.message}: declare it as a variable or fix the name."
    if isinstance(exc, TemplateNotFound) or "no loader" in str(exc):
        return "Templates cannot include, import or extend other templates."
    if isinstance(exc, SecurityError):
        return f"Refused as unsafe: {exc}"
    if isinstance(exc, RecursionError):
        return "The template recursed too deeply."
    if isinstance(exc, MemoryError):
        return "Rendering ran out of memory."
    if isinstance(exc, TemplateError):
        return exc.message
    if isinstance(exc, OverflowError):
        return f"A value in the template is too large ({exc})."
    return f"{type(exc).__name__}: {exc}"


def _line_of(exc: BaseException) -> int | None:
    """The template line an error happened on, from jinja's rewritten traceback."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return getattr(exc, "lineno", None) or line


def _render_here(env, source: str, values: dict[str, Any]) -> tuple[bool, str]:
    """(ok, output or error message); runs inside the worker."""
    try:
        out, size = [], 0
        for piece in env.from_string(source).generate(values):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"The rendered prompt passed {MAX_OUTPUT_CHARS:,} characters.")
            out.append(piece)
        return True, "".join(out)
    except BaseException as exc:  # everything comes back as a message, nothing escapes
        line = _line_of(exc)
        message = _describe(exc)
        if line and not message.startswith("Line "):
            message = f"Line {line}: {message}"
        return False, message


_ENV = None


def render_job(payload: list[Any]) -> tuple[bool, str]:  # pragma: no cover - in the worker
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    source, values = payload
    return _render_here(_ENV, source, values)


_WORKER = Worker("lib.templating:render_job", WORKER_MEMORY_BYTES)


def render(source: str, values: dict[str, Any], *, timeout: float = RENDER_TIMEOUT_S) -> str:
    """Render a template source with already-validated values, or raise TemplateError."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"The template is {len(source):,} characters; the limit is "
                            f"{MAX_TEMPLATE_CHARS:,}.")
    try:
        ok, text = _WORKER.call([source, values], timeout)
    except WorkerError as exc:
        raise TemplateError(f"Rendering failed: {exc}") from None
    if not ok:
        raise TemplateError(text)
    return text


# -- declared variables ----------------------------------------------------------------------

@dataclass(frozen=True)
class Variable:
    name: str
    type: str = "str"
    required: bool = True
    default: Any = None
    description: str = ""


def _coerce(var: Variable, value: Any) -> Any:
    t = var.type
    if t == "str":
        if isinstance(value, str):
            return value
        raise ValueError(f"must be text, got {type(value).__name__}")
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no",
                                                                "1", "0"):
            return value.strip().lower() in ("true", "yes", "1")
        raise ValueError(f"must be true or false, got {value!r}")
    if t == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"must be a whole number, got {value!r}")
        try:
            return int(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a whole number, got {value!r}") from None
    if t == "float":
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        try:
            return float(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"must be a number, got {value!r}") from None
    if t == "list":
        if isinstance(value, list | tuple):
            return list(value)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    parsed = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"is not a valid JSON list ({exc.msg})") from None
                if isinstance(parsed, list):
                    return parsed
            return [line.strip() for line in text.splitlines() if line.strip()]
        raise ValueError(f"must be a list, got {type(value).__name__}")
    if t == "json":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return value
    raise ValueError(f"has an unknown type {t!r}")


def validate(variables: tuple[Variable, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Check and convert values against the declared variables; errors name the variable."""
    out: dict[str, Any] = {}
    for var in variables:
        value = values.get(var.name)
        if value is None or (isinstance(value, str) and value == "" and var.type != "str"):
            if var.default is not None:
                value = var.default
            elif var.required:
                raise TemplateError(f"Variable '{var.name}' is required.",
                                    hint=var.description)
            else:
                out[var.name] = None
                continue
        try:
            out[var.name] = _coerce(var, value)
        except ValueError as exc:
            raise TemplateError(f"Variable '{var.name}' ({var.type}) {exc}.") from None
    return out


def declared_names(source: str) -> set[str]:
    """Names a template reads, so an edit can be checked against the declared variables."""
    from jinja2 import meta

    try:
        return meta.find_undeclared_variables(_environment().parse(source)) - {
            "range", "untrusted", "documents"}
    except Exception as exc:
        raise TemplateError(_describe(exc)) from None
