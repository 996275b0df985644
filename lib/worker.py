"""Bounded work in a child process: a time limit per job and a cap on memory.

Untrusted work (rendering a template, parsing an uploaded file) runs in a long-lived worker
started with `python -m lib.worker <module:function> <bytes>`. Jobs and results travel as JSON
lines. A job that runs past its time limit is killed with its worker, which restarts on the
next job; a worker that dies (out of memory, a crashing C library) is reported the same way.
A plain subprocess, not multiprocessing: spawn would re-import Streamlit's __main__.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class WorkerError(Exception):
    """The job did not finish: `timed_out` says whether the time limit stopped it."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Worker:
    def __init__(self, handler: str, memory_bytes: int) -> None:
        self.handler = handler
        self.memory_bytes = memory_bytes
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "lib.worker", self.handler, str(self.memory_bytes)], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            bufsize=1)
        # Start-up (a fresh interpreter and its imports) is not charged to the first job.
        if not self._readable(60) or self._proc.stdout.readline().strip() != '"ready"':
            self._stop()
            raise WorkerError(f"The worker for {self.handler} did not start.")

    def _readable(self, timeout: float) -> bool:
        return bool(select.select([self._proc.stdout], [], [], timeout)[0])

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def call(self, payload: Any, timeout: float) -> Any:
        """Run one job; returns the handler's result or raises WorkerError."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            try:
                self._proc.stdin.write(json.dumps(payload) + "\n")
                self._proc.stdin.flush()
                if not self._readable(timeout):
                    self._stop()
                    raise WorkerError(f"It took longer than {timeout:g} s and was stopped.",
                                      timed_out=True)
                line = self._proc.stdout.readline()
                if not line:
                    raise EOFError
                reply = json.loads(line)
            except (EOFError, OSError, ValueError):
                code = self._proc.poll() if self._proc else None
                self._stop()
                raise WorkerError("It crashed the worker process "
                                  f"(exit {code}; out of memory or a broken file).") from None
            if "error" in reply:
                raise WorkerError(reply["error"])
            return reply["ok"]


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
