"""Turning an uploaded file into text sections, safely: the parsers run in a small pool of
worker processes with a time limit and a memory cap, so one slow or hostile file cannot stall
other users' uploads nor take the app down. Any failure is a ParseError naming the file."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

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


GROUP_BYTES = 256 << 10                  # files up to this size share a worker ...
GROUP_FILES = 32                         # ... this many at a time, queued on it at once


def parse(data: bytes, name: str, *, timeout: float = PARSE_TIMEOUT_S) -> Parsed:
    """Parse an upload in a bounded worker; raises ParseError naming the file."""
    [result] = parse_many([(name, data)], timeout=timeout)
    if isinstance(result, ParseError):
        raise result
    return result


def parse_many(files: list[tuple[str, bytes]], *, timeout: float = PARSE_TIMEOUT_S
               ) -> list[Parsed | ParseError]:
    """Parse uploads in bounded workers, small ones several to a worker; one result per file,
    in order: what it parsed to, or the ParseError that names it. Every file has the time
    limit to itself, counted from when its parse begins: a slow file fails at its limit
    alone, and the files after it go on."""
    results: dict[int, Parsed | ParseError] = {}
    groups: list[list[int]] = []
    for i, (_, data) in enumerate(files):
        small = len(data) <= GROUP_BYTES
        if small and groups and len(groups[-1]) < GROUP_FILES and all(
                len(files[j][1]) <= GROUP_BYTES for j in groups[-1]):
            groups[-1].append(i)
        else:
            groups.append([i])
    with tempfile.TemporaryDirectory(prefix="promptlab-upload-") as folder:
        paths = []
        for i, (_, data) in enumerate(files):
            path = Path(folder) / str(i)
            path.write_bytes(data)
            paths.append(path)
        for group in groups:
            replies = _POOL.map([{"files": [{"path": str(paths[i]), "name": files[i][0]}]}
                                 for i in group], timeout)
            for i, reply in zip(group, replies, strict=True):
                results[i] = _result(files[i][0], reply)
    return [results[i] for i in range(len(files))]


def _result(name: str, reply: list[dict] | WorkerError) -> Parsed | ParseError:
    if isinstance(reply, WorkerError):
        return ParseError(f"{name}: parsing failed. {reply}")
    [one] = reply
    if "error" in one:
        return ParseError(f"{name}: {one['error']}")
    return Parsed(one["kind"], tuple(Section(**s) for s in one["sections"]))
