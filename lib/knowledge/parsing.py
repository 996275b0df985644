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


GROUP_BYTES = 256 << 10                  # files up to this size travel together ...
GROUP_FILES = 32                         # ... this many to one worker round trip


def parse(data: bytes, name: str, *, timeout: float = PARSE_TIMEOUT_S) -> Parsed:
    """Parse an upload in a bounded worker; raises ParseError naming the file."""
    [result] = parse_many([(name, data)], timeout=timeout)
    if isinstance(result, ParseError):
        raise result
    return result


def parse_many(files: list[tuple[str, bytes]], *, timeout: float = PARSE_TIMEOUT_S
               ) -> list[Parsed | ParseError]:
    """Parse uploads in bounded workers, small ones several to a round trip; one result per
    file, in order: what it parsed to, or the ParseError that names it. A group that fails as
    a whole (a crash, the time limit) is tried again one file at a time, so only the file at
    fault fails."""
    results: list[Parsed | ParseError | None] = [None] * len(files)
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
            try:
                replies = _call([(files[i][0], paths[i]) for i in group], timeout)
            except WorkerError as exc:
                if len(group) > 1:  # find the file at fault: one at a time
                    for i in group:
                        results[i] = _one(files[i][0], paths[i], timeout)
                    continue
                replies = [{"error": f"parsing failed. {exc}"}]
            for i, reply in zip(group, replies, strict=True):
                results[i] = _result(files[i][0], reply)
    return results  # type: ignore[return-value]


def _call(batch: list[tuple[str, Path]], timeout: float) -> list[dict]:
    payload = {"files": [{"path": str(path), "name": name} for name, path in batch]}
    return _POOL.call(payload, timeout * len(batch) if len(batch) > 1 else timeout)


def _one(name: str, path: Path, timeout: float) -> Parsed | ParseError:
    try:
        [reply] = _call([(name, path)], timeout)
    except WorkerError as exc:
        reply = {"error": f"parsing failed. {exc}"}
    return _result(name, reply)


def _result(name: str, reply: dict) -> Parsed | ParseError:
    if "error" in reply:
        return ParseError(f"{name}: {reply['error']}")
    return Parsed(reply["kind"], tuple(Section(**s) for s in reply["sections"]))
