"""What the `mcp` SDK gives, made plain for the lab: a server's tools, a call's result as text,
a transport that tells when the server's side ends, and an SDK error in a few words."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from lib.core import redact

MAX_PAGES = 100        # tools/list pages read from one server


@dataclass(frozen=True)
class RemoteTool:
    """A tool as its server lists it; `annotations` as the protocol names them."""
    name: str
    description: str
    parameters: dict[str, Any]
    annotations: dict[str, Any]
    title: str = ""


@dataclass(frozen=True)
class Reply:
    """A call's result as text (text blocks, then a note for each other block)."""
    text: str
    is_error: bool = False


@asynccontextmanager
async def watched(transport: Any, ended: Any) -> AsyncIterator[tuple[Any, Any]]:
    """The transport, with its read stream setting `ended` when the server's side closes."""
    async with transport as (read, write):
        yield EndWatch(read, ended), write


class EndWatch:
    """A read stream (mcp.shared ReadStream) that tells when it ends."""

    def __init__(self, inner: Any, ended: Any) -> None:
        self.inner, self.ended = inner, ended

    @property
    def last_context(self) -> Any:
        return getattr(self.inner, "last_context", None)

    async def receive(self) -> Any:
        import anyio

        try:
            return await self.inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self.ended.set()
            raise

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __aiter__(self) -> EndWatch:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> EndWatch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def list_tools(client: Any) -> tuple[RemoteTool, ...]:
    """Every tool the server lists, page by page (at most MAX_PAGES pages)."""
    tools: list[RemoteTool] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += [RemoteTool(t.name, t.description or "", t.input_schema,
                             t.annotations.model_dump(by_alias=True, exclude_none=True)
                             if t.annotations else {}, t.title or "") for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            break
    return tuple(tools)


def result_text(result: Any) -> str:
    """A result's text blocks as they are; other blocks as a note of what they were."""
    parts = []
    for block in result.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "resource" and hasattr(block.resource, "text"):
            parts.append(block.resource.text)
        elif kind == "resource":
            parts.append(f"[a binary resource: {block.resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[a resource: {block.uri}]")
        else:  # image, audio: the model here cannot take them from a tool
            parts.append(f"[{kind or 'content'} ({getattr(block, 'mime_type', '?')}), not "
                         "shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def short(exc: BaseException) -> str:
    """An exception in a few words (a pydantic error: its first problem and the text)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            first = errors()[0]
            shown = repr(first.get("input", ""))[:120]
            return redact(f"{first['msg']} (in {shown})")
        except (IndexError, KeyError, TypeError):
            pass
    return redact(f"{type(exc).__name__}: {str(exc)[:300]}")
