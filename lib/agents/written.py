"""Telling an answer from a tool call written out as text — what a small model that could not
use the tools (or a big one, confused) writes instead of calling: the agent loop holds such
text back while it streams, and never passes it off as the answer."""

from __future__ import annotations

import re
from collections.abc import Container

from lib.core import json_loads

_CALL_START = re.compile(r'\{\s*"(tool|name)"\s*:\s*"([^"\\]*)"')


def may_be_call(text: str) -> bool:
    """Whether text streamed so far could still become a written call (JSON, or fenced JSON):
    held back until the step ends."""
    body = text.lstrip()
    if body.startswith("```"):  # ```json {...}, not ```python
        body = body.lstrip("`").removeprefix("json").lstrip()
    return not body or body.startswith("{")


def written_call(text: str, tools: Container[str]) -> bool:
    """Whether text is a call to one of `tools` written out, whole or cut off:
    {"tool": "calculator", "arguments": ...}, {"name": ..., ...}, in a ``` fence or not."""
    body = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    try:
        value = json_loads(body)
    except ValueError:
        start = _CALL_START.match(body)  # cut off mid-way
        return start is not None and start.group(2) in tools
    if not isinstance(value, dict):
        return False
    name = value.get("tool", value.get("name"))
    return isinstance(name, str) and name in tools
