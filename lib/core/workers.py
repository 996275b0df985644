"""Bounded work in child processes: a time limit per job, a cap on memory, a small pool.

Untrusted work (rendering a template, parsing an uploaded file) runs in long-lived workers
started with `python -m lib.core.workers <module:function> <bytes>`. Jobs and results travel
as JSON lines. A job that runs past its time limit is killed with its worker, which is
replaced on the next job; a worker that dies (out of memory, a crashing C library) is
reported the same way. A pool holds a few workers, so one slow job does not hold up other
users; a caller that finds every worker busy waits up to a queue timeout, then is told so.
Several small jobs may be queued on one worker at once (`WorkerPool.map`): each keeps its own
time limit, counted from the moment the worker reaches it, so a slow job is stopped at its
limit whatever ran before it, and the jobs after it go on.
A plain subprocess, not multiprocessing: spawn would re-import Streamlit's __main__.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import queue
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from lib.core.errors import WorkerError

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)
QUEUE_AHEAD_BYTES = 32 << 10  # jobs written ahead of the one running: well under a pipe's 64 KiB


class Worker:
    """One child process serving jobs in the order they were sent (the pool guarantees that
    one caller at a time uses it)."""

    def __init__(self, handler: str, memory_bytes: int) -> None:
        self.handler = handler
        self.memory_bytes = memory_bytes
        self._proc: subprocess.Popen[bytes] | None = None
        # Replies are read straight from the pipe into this buffer: a buffered reader could
        # hold the next reply where the selector cannot see it.
        self._buffer = bytearray()
        self._pending = 0  # jobs sent and not yet answered

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pending(self) -> int:
        """Jobs sent and not yet answered."""
        return self._pending

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "lib.core.workers", self.handler, str(self.memory_bytes)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._buffer.clear()
        # Start-up (a fresh interpreter and its imports) is not charged to the first job.
        try:
            ready = self._line(60)
        except EOFError:
            ready = None
        if ready is None or ready.strip() != b'"ready"':
            self.stop()
            raise WorkerError(f"The worker for {self.handler} did not start.")

    def _line(self, timeout: float) -> bytes | None:
        """The next line from the worker, or None if it did not come within `timeout`."""
        deadline = time.monotonic() + timeout
        assert self._proc is not None and self._proc.stdout is not None  # started, with pipes
        fd = self._proc.stdout.fileno()
        scanned = 0
        while (end := self._buffer.find(b"\n", scanned)) < 0:
            scanned = len(self._buffer)
            left = deadline - time.monotonic()
            # A selector, not select.select: that refuses file descriptors above 1023, which
            # a long-lived server with many open files and sockets reaches.
            with selectors.DefaultSelector() as sel:
                sel.register(fd, selectors.EVENT_READ)
                if left <= 0 or not sel.select(left):
                    return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        return line

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            for pipe in (self._proc.stdin, self._proc.stdout):
                with contextlib.suppress(OSError):
                    if pipe is not None:
                        pipe.close()
        self._proc = None
        self._buffer.clear()
        self._pending = 0

    def call(self, payload: Any, timeout: float) -> Any:
        """Run one job; returns the handler's result or raises WorkerError."""
        self.send(payload)
        return self.receive(timeout)

    def send(self, payload: Any) -> None:
        """Queue a job; the worker takes its jobs in order, one at a time."""
        if not self.alive and not self._pending:  # never started, stopped, or died idle
            self.stop()
            self.start()
        assert self._proc is not None and self._proc.stdin is not None  # started, with pipes
        self._pending += 1
        try:
            self._proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError:  # it died: the replies it wrote first are still to be read
            log.info("%s: the worker stopped taking jobs", self.handler)

    def receive(self, timeout: float) -> Any:
        """The reply to the oldest job sent and not yet answered, which gets `timeout`
        seconds from now; raises WorkerError (the worker is stopped unless the job itself
        failed)."""
        self._pending -= 1
        try:
            line = self._line(timeout)
            if line is None:
                self.stop()
                log.warning("%s: a job passed its %g s limit; worker stopped", self.handler,
                            timeout)
                raise WorkerError(f"It took longer than {timeout:g} s and was stopped.",
                                  timed_out=True)
            reply = json.loads(line)
        except (EOFError, OSError, ValueError):
            self._died()
        if "error" in reply:
            raise WorkerError(reply["error"])
        return reply["ok"]

    def _died(self) -> NoReturn:
        code = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(1)  # its pipe closed: it is on its way out
        self.stop()
        log.warning("%s: the worker died (exit %s)", self.handler, code)
        raise WorkerError("It crashed the worker process "
                          f"(exit {code}; out of memory or a broken file).") from None


class WorkerPool:
    """Up to `size` workers for one handler; started on demand and kept for reuse."""

    def __init__(self, handler: str, memory_bytes: int, size: int = 2,
                 queue_timeout_s: float = 30.0) -> None:
        self.handler = handler
        self.memory_bytes = memory_bytes
        self.size = size
        self.queue_timeout_s = queue_timeout_s
        self._slots = threading.BoundedSemaphore(size)
        self._idle: queue.SimpleQueue[Worker] = queue.SimpleQueue()

    def call(self, payload: Any, timeout: float) -> Any:
        """Run one job on a free worker; raises WorkerError (busy=True if none came free)."""
        [result] = self.map([payload], timeout)
        if isinstance(result, WorkerError):
            raise result
        return result

    def map(self, payloads: list[Any], timeout: float) -> list[Any | WorkerError]:
        """Run jobs in order on one worker (one wait for a free one, jobs queued ahead so the
        worker never idles between them), each with its own time limit: a result per job, or
        the WorkerError that job met. A job that runs past its limit or kills its worker fails
        alone; the jobs after it go on, on a fresh worker."""
        results: list[Any | WorkerError] = []
        while len(results) < len(payloads):
            if not self._slots.acquire(timeout=self.queue_timeout_s):
                busy = WorkerError(f"Every worker was busy for {self.queue_timeout_s:g} s.",
                                   busy=True)
                return results + [busy] * (len(payloads) - len(results))
            try:
                try:
                    worker = self._idle.get_nowait()
                except queue.Empty:
                    worker = Worker(self.handler, self.memory_bytes)
                try:
                    self._run(worker, payloads, results, timeout)
                finally:
                    if worker.pending:  # interrupted: its late replies must reach nobody
                        worker.stop()
                    self._idle.put(worker)  # a stopped worker restarts on its next job
            finally:
                self._slots.release()
        return results

    @staticmethod
    def _run(worker: Worker, payloads: list[Any], results: list, timeout: float) -> None:
        """Jobs from len(results) on, until they are done or one stops the worker."""
        sizes = [len(json.dumps(p)) + 1 for p in payloads]
        sent, queued = len(results), 0  # queued: bytes of jobs sent and not yet answered
        try:
            while len(results) < len(payloads):
                # Queue jobs ahead while they fit in the pipe (a worker busy writing a long
                # reply must never wait on us writing to it); always at least the next one.
                while sent < len(payloads) and (sent == len(results)
                                                or queued + sizes[sent] < QUEUE_AHEAD_BYTES):
                    worker.send(payloads[sent])
                    queued += sizes[sent]
                    sent += 1
                queued -= sizes[len(results)]
                try:
                    results.append(worker.receive(timeout))
                except WorkerError as exc:
                    results.append(exc)
                    if not worker.alive:  # the jobs queued behind it went with it
                        return
        except WorkerError as exc:  # it could not start, or died while the job ran
            results.append(exc)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return


def serve(handler: str, memory_bytes: int) -> None:  # pragma: no cover - the child's loop
    import resource

    with contextlib.suppress(ValueError, OSError):  # some sandboxes forbid lowering it
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    module, func = handler.split(":")
    job = getattr(importlib.import_module(module), func)
    out = sys.stdout
    out.write('"ready"\n')
    out.flush()
    for line in sys.stdin:
        try:
            reply = {"ok": job(json.loads(line))}
        except MemoryError:
            reply = {"error": "It ran out of memory."}
        except RecursionError:
            reply = {"error": "It nested too deeply."}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":  # pragma: no cover
    serve(sys.argv[1], int(sys.argv[2]))
