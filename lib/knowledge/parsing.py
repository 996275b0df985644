"""Turning an uploaded file into text sections, safely: the parsers run in a small pool of
worker processes with a time limit and a memory cap, so one slow or hostile file cannot stall
other users' uploads nor take the app down. Any failure is a ParseError naming the file."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

from lib.core import ParseError, WorkerError, WorkerPool
from lib.knowledge.parsers import Section

PARSE_TIMEOUT_S = 30.0
PARSE_MEMORY_BYTES = 1536 << 20          # 1.5 GiB of address space per parser
PARSE_WORKERS = 2
PARSE_QUEUE_TIMEOUT_S = 60.0             # longest wait for a free parser


@dataclass(frozen=True)
class Parsed:
    kind: str
    sections: tuple[Section, ...]

    @property
    def chars(self) -> int:
        return sum(len(s.text) for s in self.sections)


_POOL = WorkerPool("lib.knowledge.parsers:parse_job", PARSE_MEMORY_BYTES,
                   size=PARSE_WORKERS,
                   queue_timeout_s=PARSE_QUEUE_TIMEOUT_S)


def parse(data: bytes, name: str, *, timeout: float = PARSE_TIMEOUT_S) -> Parsed:
    """Parse an upload in a bounded worker; raises ParseError naming the file."""
    with tempfile.NamedTemporaryFile(prefix="promptlab-upload-") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            result = _POOL.call({"path": tmp.name}, timeout)
        except WorkerError as exc:
            raise ParseError(f"{name}: parsing failed. {exc}") from None
    if "error" in result:
        raise ParseError(f"{name}: {result['error']}")
    return Parsed(result["kind"], tuple(Section(**s) for s in result["sections"]))
