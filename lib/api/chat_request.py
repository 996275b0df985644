"""An OpenAI Chat Completions request read into our messages, tools and schema, every field
checked and bounded (counts, names, schemas): ApiError 400 names the field at fault."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lib.api import door
from lib.core import ApiError, json_loads, json_values
from lib.llm import TASKS, Message, ToolResult, ToolSpec, ToolUse

# OpenAI's own limits where it has them (messages, tools, a tool's name); ours past them.
MAX_MESSAGES = 2048
MAX_TOOLS = 128
MAX_PARTS = 1024        # content parts in one message
MAX_TOOL_CALLS = 128    # tool calls in one assistant message
MAX_NAME = 64           # a tool's name: letters, digits, _ and -
MAX_ID = 256            # a model's name, a tool call's id
_TOOL_NAME = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_NAME}}}")


@dataclass(frozen=True)
class ChatParams:
    """What a request asks for, before any model is chosen (each model caps it)."""

    model: str
    messages: tuple[Message, ...]
    system: str = ""
    temperature: float | None = None      # None: the model's own default
    max_tokens: int | None = None         # None: as much as the window and model allow
    stream: bool = False
    include_usage: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    output_schema: dict[str, Any] | None = None
    schema_name: str = "reply"
    fallbacks: bool | None = None         # None: as the key says
    task: str | None = None               # model "router": the task it routes by (None: auto)


def _bad(message: str, param: str | None = None) -> ApiError:
    return ApiError(message, status=400, code="invalid_request", param=param)


def _many(raw: Any, most: int, what: str, param: str) -> list[Any]:
    """A list of at most `most` items (None: none)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad(f"`{param}` must be a list.", param)
    if len(raw) > most:
        raise _bad(f"At most {most:,} {what} are allowed; this request has {len(raw):,}.",
                   param)
    return raw


def _short(value: Any, what: str, param: str, most: int = MAX_ID) -> str:
    if not isinstance(value, str) or not value or len(value) > most:
        raise _bad(f"{what} must be a string of 1 to {most} characters.", param)
    return value


class _Arguments:
    """Tool calls' arguments (JSON inside the body's strings), parsed under one shared bound:
    together they hold no more values than the door lets a whole body hold."""

    def __init__(self) -> None:
        self.left = door.MAX_VALUES

    def loads(self, text: str, param: str) -> Any:
        found = json_values(text, self.left)
        if found > self.left:
            raise _bad(f"The tool calls' arguments hold more than {door.MAX_VALUES:,} JSON "
                       "values together.", param)
        self.left -= found
        try:
            return json_loads(text)
        except ValueError as exc:
            raise _bad(f"A tool call's arguments are not valid JSON: {exc}.", param) from None


def _text(content: Any, where: str) -> str:
    """A message's content: a string, or a list of text parts (other parts are refused)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for part in _many(content, MAX_PARTS, "content parts in a message", f"{where}.content"):
            if not (isinstance(part, dict) and part.get("type") == "text"
                    and isinstance(part.get("text"), str)):
                raise _bad("Only text content parts are supported.", f"{where}.content")
            parts.append(part["text"])
        return "".join(parts)
    raise _bad("A message's content must be a string or a list of text parts.",
               f"{where}.content")


def _tool_uses(calls: Any, where: str, arguments: _Arguments) -> tuple[ToolUse, ...]:
    out = []
    for i, call in enumerate(_many(calls, MAX_TOOL_CALLS, "tool calls in a message",
                                   f"{where}.tool_calls")):
        at = f"{where}.tool_calls[{i}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict):
            raise _bad("A tool call needs a function name.", at)
        name = _short(fn.get("name"), "A tool call's function name", f"{at}.function.name")
        raw = fn.get("arguments")
        if raw is not None and not isinstance(raw, str):
            raise _bad("A tool call's arguments must be a string of JSON.",
                       f"{at}.function.arguments")
        args = arguments.loads(raw or "{}", f"{at}.function.arguments")
        if not isinstance(args, dict):
            raise _bad("A tool call's arguments must be a JSON object.",
                       f"{at}.function.arguments")
        call_id = call.get("id")
        out.append(ToolUse(f"call_{i}" if call_id in (None, "") else
                           _short(call_id, "A tool call's id", f"{at}.id"), name, args))
    return tuple(out)


def _messages(raw: Any) -> tuple[str, tuple[Message, ...]]:
    """(system text, messages): system and developer messages join the system prompt; tool
    results next to each other become one user message of result blocks."""
    if not isinstance(raw, list) or not raw:
        raise _bad("`messages` must be a non-empty list.", "messages")
    _many(raw, MAX_MESSAGES, "messages", "messages")
    arguments = _Arguments()
    system: list[str] = []
    out: list[Message] = []
    results: list[ToolResult] = []   # tool results in a row, gathered into one message

    def flush() -> None:
        if results:
            out.append(Message("user", "", tuple(results)))
            results.clear()

    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        role = m.get("role") if isinstance(m, dict) else None
        if role == "tool":
            call_id = m.get("tool_call_id")
            results.append(ToolResult("" if call_id in (None, "") else _short(
                call_id, "`tool_call_id`", f"{where}.tool_call_id"),
                _text(m.get("content"), where)))
            continue
        if role in ("system", "developer"):
            system.append(_text(m.get("content"), where))
            continue
        flush()
        if role == "user":
            out.append(Message("user", _text(m.get("content"), where)))
        elif role == "assistant":
            out.append(Message("assistant", _text(m.get("content"), where),
                               _tool_uses(m.get("tool_calls"), where, arguments)))
        else:
            raise _bad(f"Unknown message role {role!r}.", f"{where}.role")
    flush()
    if not out:
        raise _bad("`messages` needs at least one user message.", "messages")
    return "\n\n".join(s for s in system if s), tuple(out)


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    out: list[ToolSpec] = []
    for i, tool in enumerate(_many(raw, MAX_TOOLS, "tools", "tools")):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict) or tool.get("type", "function") != "function":
            raise _bad("Each tool must be {type: function, function: {name, ...}}.",
                       f"tools[{i}]")
        name = fn.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
            raise _bad(f"A tool's name must be 1 to {MAX_NAME} letters, digits, _ or -.",
                       f"tools[{i}].function.name")
        if any(t.name == name for t in out):
            raise _bad(f"Two tools are named '{name}'.", f"tools[{i}].function.name")
        description = fn.get("description")
        if description is not None and not isinstance(description, str):
            raise _bad("A tool's description must be a string.",
                       f"tools[{i}].function.description")
        params = fn.get("parameters")
        out.append(ToolSpec(name, description or "", {"type": "object", "properties": {}}
                            if params is None else door.tool_parameters(
                                name, params, f"tools[{i}].function.parameters")))
    return tuple(out)


def _tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> str:
    if raw is None or raw in ("auto", "none"):
        return raw or "auto"
    if raw == "required":
        name = None
    elif isinstance(raw, dict) and isinstance((raw.get("function") or {}).get("name"), str):
        name = raw["function"]["name"]
    else:
        raise _bad("`tool_choice` must be auto, none, required or a named function.",
                   "tool_choice")
    if not tools or (name is not None and all(t.name != name for t in tools)):
        raise _bad("`tool_choice` names a tool that `tools` does not define."
                   if tools else "`tool_choice` asks for a tool, but `tools` defines none.",
                   "tool_choice")
    return name or "required"


def _schema(raw: Any) -> tuple[dict[str, Any] | None, str]:
    """`response_format`: text, json_object (any JSON object) or json_schema."""
    kind = raw.get("type") if isinstance(raw, dict) else None
    if raw is None or kind == "text":
        return None, "reply"
    if kind == "json_object":
        return {"type": "object"}, "reply"
    spec = raw.get("json_schema") if kind == "json_schema" else None
    if not isinstance(spec, dict):
        raise _bad("`response_format` must be text, json_object or json_schema.",
                   "response_format")
    name = spec.get("name")
    return door.schema({} if spec.get("schema") is None else spec["schema"],
                       "response_format"), \
        "reply" if name is None else _short(name, "The schema's name",
                                            "response_format.json_schema.name", MAX_NAME)


def _number(body: dict, name: str, low: float, high: float, whole: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int if whole else int | float) or \
            not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise _bad(f"`{name}` must be {kind} from {low:g} to {high:g}.", name)
    return value


def _flag(body: dict, name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(f"`{name}` must be true or false.", name)
    return value


def chat_params(body: Any) -> ChatParams:
    """A /v1/chat/completions body, checked; raises ApiError (400) naming the field."""
    if not isinstance(body, dict):
        raise _bad("The body must be a JSON object.")
    model = _short(body.get("model"), "`model` (a model id from GET /v1/models)", "model")
    if body.get("n") not in (None, 1):
        raise _bad("Only n = 1 is supported.", "n")
    system, messages = _messages(body.get("messages"))
    max_tokens = _number(body, "max_completion_tokens", 1, 10**7, True)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", 1, 10**7, True)
    schema, schema_name = _schema(body.get("response_format"))
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _bad("`stream_options` must be an object.", "stream_options")
    tools = _tools(body.get("tools"))
    task = body.get("task")
    if task is not None and task not in TASKS:
        raise _bad(f"`task` must be one of {', '.join(TASKS)} (with model \"router\").", "task")
    return ChatParams(model, messages, system, _number(body, "temperature", 0, 2), max_tokens,
                      bool(_flag(body, "stream")),
                      bool(options and options.get("include_usage")),
                      tools, _tool_choice(body.get("tool_choice"), tools),
                      schema, schema_name, _flag(body, "fallbacks"), task)
