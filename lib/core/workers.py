"""Bounded work in child processes: a time limit per job, a cap on memory, a small pool.

Untrusted work (rendering a template, parsing an uploaded file) runs in long-lived workers
started with `python -m lib.core.workers <module:function> <bytes>`. Jobs and results travel
as JSON lines. A job that runs past its time limit is killed with its worker, which is
replaced on the next job; a worker that dies (out of memory, a crashing C library) is
reported the same way. A pool holds a few workers, so one slow job does not hold up other
users; a caller that finds every worker busy waits up to a queue timeout, then is told so.
A plain subprocess, not multiprocessing: spawn would re-import Streamlit's __main__.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import queue
import selectors
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from lib.core.errors import WorkerError

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)


class Worker:
    """One child process serving one job at a time (the pool guarantees exclusivity)."""

    def __init__(self, handler: str, memory_bytes: int) -> None:
        self.handler = handler
        self.memory_bytes = memory_bytes
        self._proc: subprocess.Popen | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "lib.core.workers", self.handler, str(self.memory_bytes)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
        # Start-up (a fresh interpreter and its imports) is not charged to the first job.
        if not self._readable(60) or self._proc.stdout.readline().strip() != '"ready"':
            self.stop()
            raise WorkerError(f"The worker for {self.handler} did not start.")

    def _readable(self, timeout: float) -> bool:
        # A selector, not select.select: that refuses file descriptors above 1023, which a
        # long-lived server with many open files and sockets reaches.
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            return bool(sel.select(timeout))

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def call(self, payload: Any, timeout: float) -> Any:
        """Run one job; returns the handler's result or raises WorkerError."""
        if not self.alive:
            self.start()
        try:
            self._proc.stdin.write(json.dumps(payload) + "\n")
            self._proc.stdin.flush()
            if not self._readable(timeout):
                self.stop()
                log.warning("%s: a job passed its %g s limit; worker stopped", self.handler,
                            timeout)
                raise WorkerError(f"It took longer than {timeout:g} s and was stopped.",
                                  timed_out=True)
            line = self._proc.stdout.readline()
            if not line:
                raise EOFError
            reply = json.loads(line)
        except (EOFError, OSError, ValueError):
            code = self._proc.poll() if self._proc else None
            self.stop()
            log.warning("%s: the worker died (exit %s)", self.handler, code)
            raise WorkerError("It crashed the worker process "
                              f"(exit {code}; out of memory or a broken file).") from None
        if "error" in reply:
            raise WorkerError(reply["error"])
        return reply["ok"]


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
        if not self._slots.acquire(timeout=self.queue_timeout_s):
            raise WorkerError(f"Every worker was busy for {self.queue_timeout_s:g} s.",
                              busy=True)
        try:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = Worker(self.handler, self.memory_bytes)
            try:
                return worker.call(payload, timeout)
            finally:
                self._idle.put(worker)  # a stopped worker restarts on its next job
        finally:
            self._slots.release()

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
