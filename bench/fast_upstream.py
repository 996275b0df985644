"""A fast fake OpenAI-compatible upstream for load benchmarks: asyncio on loopback, keep-alive,
every POST answered at once with the same streamed reply (content chunks, a finish, usage).

Run as `python fast_upstream.py PORT [CHUNKS]`; it serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys

MODEL = "fast"
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def _event(body: dict) -> bytes:
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _reply(chunks: int) -> bytes:
    """The whole chunked HTTP response, encoded once."""
    base = {"id": "chatcmpl-fast", "object": "chat.completion.chunk", "created": 0,
            "model": MODEL}
    events = [_event({**base, "choices": [{"index": 0, "delta": {"content": f"tok{i} "},
                                           "finish_reason": None}]}) for i in range(chunks)]
    events.append(_event({**base, "choices": [{"index": 0, "delta": {},
                                               "finish_reason": "stop"}]}))
    events.append(_event({**base, "choices": [], "usage": {
        "prompt_tokens": 12, "completion_tokens": chunks, "total_tokens": 12 + chunks}}))
    events.append(b"data: [DONE]\n\n")
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n")
    return head + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"


def _models() -> bytes:
    body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
            % len(body)) + body


async def main(port: int, chunks: int) -> None:
    reply, models = _reply(chunks), _models()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if m := _LENGTH.search(head):
                    await reader.readexactly(int(m.group(1)))
                writer.write(models if head.startswith(b"GET") else reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 16))
