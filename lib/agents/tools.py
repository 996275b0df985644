"""Tools the model may call. A tool is a Python function registered with `@tool`: its JSON
Schema comes from its type hints and docstring (pydantic), and arguments are validated before
it runs. Tools defined in a page have a schema and no code: their result is typed by the user
or canned. Whatever goes wrong becomes an error result the model reads, never an exception."""

from __future__ import annotations

import concurrent.futures
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lib import telemetry
from lib.core import SchemaError, ToolError
from lib.llm import ToolCall, ToolSpec, check_tool_parameters, encoding, schema_errors

log = logging.getLogger(__name__)
RESULT_TOKENS = 2000      # a result longer than this is cut, and says so
TIMEOUT_S = 10.0
# Whether a call needs a person: run it, ask first, or never offer the tool to a model.
POLICIES = ("run", "ask", "never")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# Tool bodies run here so a hung one can be timed out; a few at a time for parallel calls.
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="tool")


@dataclass(frozen=True)
class Outcome:
    """What a call gave back: the text the model reads, whether it failed, how long it took,
    and (for knowledge-base search) the chunks it cites."""
    content: str
    is_error: bool = False
    ms: float = 0.0
    cut: bool = False
    sources: tuple[dict[str, Any], ...] = ()
    pending: bool = False     # a page-defined tool with no result yet: the user gives it
    server: str = ""          # the MCP server of the tool, if it is one's
    asks: bool = False        # pending a person's approval (an `ask` tool): not run yet


@dataclass(frozen=True)
class Approval:
    """How a run decides calls of `ask` tools: it pauses for a person (Chat), or, when `deny`
    says why no one is asked (Compare, the API), the call is denied. Tools in `allowed` run
    without asking (approved for the conversation)."""
    allowed: frozenset[str] = frozenset()
    deny: str = ""


def denial(name: str, why: str) -> str:
    """The result a denied call gives the model: an error it can act on."""
    return (f"denied: {why}. {name} did not run; answer without it, or tell the person what "
            "you would need it for.")


@dataclass(frozen=True)
class Cited:
    """A tool's return value with the chunks it cites (they show under the reply)."""
    text: str
    sources: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] | None = None        # None: defined in a page, no code
    model: Any = None                           # the pydantic model that validates arguments
    canned: str | None = None                   # a code-less tool's fixed result, if any
    timeout_s: float = TIMEOUT_S
    needs: tuple[str, ...] = field(default=())  # context keys the function takes (settings, kb)
    policy: str = "run"                         # one of POLICIES; the caller enforces it
    server: str = ""                            # the MCP server whose tool this is, if any
    # The server's hints (readOnlyHint, destructiveHint, ...), shown beside the tool, never
    # trusted for what the call may do.
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


def tool(fn: Callable[..., Any] | None = None, *, timeout_s: float = TIMEOUT_S,
         needs: tuple[str, ...] = ()) -> Any:
    """Make a function a tool. Parameters named in `needs` come from the run's context, not
    from the model, and stay out of the schema."""
    def wrap(f: Callable[..., Any]) -> Tool:
        import pydantic

        fields: dict[str, Any] = {}
        for p in inspect.signature(f, eval_str=True).parameters.values():
            if p.name in needs:
                continue
            if p.annotation is inspect.Parameter.empty:
                raise ToolError(f"Tool {f.__name__}: parameter {p.name!r} needs a type hint.")
            default = ... if p.default is inspect.Parameter.empty else p.default
            fields[p.name] = (p.annotation, default)
        model = pydantic.create_model(f"{f.__name__}_arguments",
                                      __config__=pydantic.ConfigDict(extra="forbid"), **fields)
        schema = model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        description = inspect.cleandoc(f.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        return Tool(f.__name__, description, schema, f, model, timeout_s=timeout_s, needs=needs)

    return wrap(fn) if fn is not None else wrap


def schema_tool(name: str, description: str, parameters: dict[str, Any] | str,
                canned: str | None = None) -> Tool:
    """A tool defined in the page: a name, a description and a JSON Schema (an object, or its
    JSON text); no code. Raises ToolError for the name, SchemaError for the schema."""
    name = name.strip()
    if not name or len(name) > 64 or not set(name) <= _NAME_CHARS:
        raise ToolError("A tool name is 1 to 64 letters, digits, '_' or '-'.")
    return Tool(name, description.strip(), check_tool_parameters(name, parameters),
                canned=canned)


def check_arguments(t: Tool, call: ToolCall) -> dict[str, Any] | str:
    """The validated arguments, or what is wrong with them in words the model can act on."""
    if call.invalid:
        return call.invalid
    if t.model is not None:
        import pydantic

        try:
            return t.model.model_validate(call.arguments).model_dump()
        except pydantic.ValidationError as exc:
            return "Invalid arguments: " + "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors())
    try:
        errors = schema_errors(t.parameters, call.arguments)
    except SchemaError as exc:
        return f"The tool {t.name} cannot be used: {exc}"
    if errors:
        return "Invalid arguments: " + "; ".join(
            f"{'arguments' if path == '(root)' else path.replace('/', '.')}: {message}"
            for path, message in errors)
    return dict(call.arguments)


def run_tool(t: Tool | None, call: ToolCall, context: dict[str, Any],
             typed: str | None = None, approval: Approval | None = None) -> Outcome:
    """Run one call; every failure is an error result. `typed`: a code-less tool's result.
    `approval`: a model's call, held to the tool's policy (None: a person called it)."""
    # Traced (lib.telemetry): an execute_tool span, a child of the run's when there is one.
    with telemetry.tool_span(call.name, call.id, call.arguments,
                             description=t.description if t else "",
                             server=t.server if t else "") as span:
        outcome = _run(t, call, context, typed, approval)
        span.ended(outcome.content, error=outcome.is_error, pending=outcome.pending)
    return outcome


def _run(t: Tool | None, call: ToolCall, context: dict[str, Any], typed: str | None,
         approval: Approval | None) -> Outcome:
    start = time.perf_counter()

    def done(content: str, is_error: bool = False, sources: tuple = ()) -> Outcome:
        text, cut = cap(content)
        # The tool's MCP server: none when a canned or typed result stood in for it.
        return Outcome(text, is_error, (time.perf_counter() - start) * 1000, cut, sources,
                       server=t.server if t is not None and t.fn is not None else "")

    if t is None:
        return done(f"There is no tool named {call.name!r}.", True)
    arguments = check_arguments(t, call)
    if isinstance(arguments, str):
        return done(arguments, True)
    if approval is not None and t.policy == "never":  # never offered; named all the same
        return done(f"The tool {t.name} may not be called by a model.", True)
    if approval is not None and t.policy == "ask" and t.name not in approval.allowed:
        if approval.deny:
            return done(denial(t.name, approval.deny), True)
        # Checked, not run: the run pauses until a person decides.
        return Outcome("", ms=(time.perf_counter() - start) * 1000, pending=True,
                       server=t.server, asks=True)
    if t.fn is None:
        result = typed if typed is not None else t.canned
        if result is None:  # the run waits for the user to type it
            return Outcome("", ms=(time.perf_counter() - start) * 1000, pending=True)
        return done(result)
    future = _POOL.submit(t.fn, **{k: context[k] for k in t.needs}, **arguments)
    try:
        value = future.result(timeout=t.timeout_s)
    except concurrent.futures.TimeoutError:
        future.cancel()
        log.warning("tool %s passed its %g s limit", t.name, t.timeout_s)
        return done(f"{t.name} took longer than {t.timeout_s:g} s and was abandoned.", True)
    except ToolError as exc:  # said in plain words, for the model to act on
        log.info("tool %s refused: %s", t.name, exc)
        return done(f"{t.name} failed: {exc}", True)
    except Exception as exc:  # a tool's own failure is the model's to read, and ours to log
        log.warning("tool %s failed", t.name, exc_info=exc)
        return done(f"{t.name} failed: {type(exc).__name__}: {exc}", True)
    if isinstance(value, Cited):
        return done(value.text, sources=value.sources)
    return done(str(value))


def cap(text: str, limit: int = RESULT_TOKENS) -> tuple[str, bool]:
    """At most `limit` tokens (cl100k), with a note when cut."""
    enc = encoding("cl100k_base")
    ids = enc.encode(text, disallowed_special=())
    if len(ids) <= limit:
        return text, False
    return (enc.decode(ids[:limit]) + f"\n[cut: the result had {len(ids):,} tokens; "
            f"the first {limit:,} are shown]"), True
