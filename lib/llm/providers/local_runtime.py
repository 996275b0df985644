"""A crash guard for the local model: a bad build (e.g. AMX kernels on some CPUs) segfaults on
the first decode, which would take the whole Streamlit server down. So the first decode runs
once in a child process, and its verdict is cached per build, model file and CPU."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.core import atomic_write

log = logging.getLogger(__name__)

CHECKING = "Checking that the local model runs on this CPU (once, a few seconds)…"


@dataclass(frozen=True)
class RuntimeCheck:
    ok: bool
    reason: str
    checking: bool = False   # the verdict is being made in the background right now


_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()


def _lock(path: Path, cache_dir: Path) -> threading.Lock:
    with _guard:
        return _locks.setdefault((str(path), str(cache_dir)), threading.Lock())


@functools.cache
def _fingerprint_of(path: str, mtime_ns: int) -> str:
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        flags = ""
    parts = [importlib.metadata.version("llama-cpp-python"), path, str(mtime_ns), flags]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _fingerprint(path: Path) -> str:
    """The build, the model file and the CPU: read once per process (every page asks)."""
    return _fingerprint_of(str(path), path.stat().st_mtime_ns)


def check_runtime(path: Path | None, cache_dir: Path, *, run: bool = True) -> RuntimeCheck:
    """Whether the local model decodes on this CPU; the verdict is cached per build and CPU.

    With run=False the call never waits: it returns the cached verdict, or starts the check
    in the background (once per process) and says it is checking. With run=True it waits for
    the verdict; one check runs at a time however many sessions ask.
    """
    if path is None:
        return RuntimeCheck(False, "The bundled model file was not found: run `make install`.")
    if not path.is_file():
        return RuntimeCheck(False, f"The local model file {path} does not exist: fix "
                                   "PROMPTLAB_LOCAL_MODEL.")
    if importlib.util.find_spec("llama_cpp") is None:
        return RuntimeCheck(False, "llama-cpp-python is not installed: run `make install`.")
    cache = cache_dir / "local_model_check.json"
    key = _fingerprint(path)
    if (cached := _cached(cache, key)) is not None:
        return cached
    lock = _lock(path, cache_dir)
    if not run:
        if lock.acquire(blocking=False):  # nobody is checking: start, without waiting
            lock.release()
            threading.Thread(target=check_runtime, args=(path, cache_dir), daemon=True,
                             name="local-model-check").start()
        return RuntimeCheck(False, CHECKING, checking=True)
    with lock:
        return _cached(cache, key) or _run_check(path, cache, key)


def _cached(cache: Path, key: str) -> RuntimeCheck | None:
    try:
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return RuntimeCheck(cached["ok"], cached["reason"])
    except (OSError, ValueError, KeyError):
        pass
    return None


def _run_check(path: Path, cache: Path, key: str) -> RuntimeCheck:
    code = ("import sys; from lib.llm.providers.local import LocalModel; from pathlib import Path;"
            "m = LocalModel(Path(sys.argv[1]), 256, 1);"
            "t = m.llm.tokenize(b'Hello', add_bos=False);"
            "g = m.llm.generate(t, temp=0.0); next(g); g.close(); print('ok')")
    root = Path(__file__).resolve().parents[3]
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=root,
                              capture_output=True, text=True, timeout=120)
        ok = proc.returncode == 0 and proc.stdout.strip().endswith("ok")
        reason = "ready" if ok else (
            f"The local model crashed on this CPU (exit {proc.returncode}). Rebuild "
            "llama-cpp-python for it with `make rebuild-llama`." if proc.returncode < 0 else
            f"The local model failed to start: {proc.stderr.strip().splitlines()[-1:]}")
    except subprocess.TimeoutExpired:
        ok, reason = False, "The local model did not answer a test decode within 120 s."
    if not ok:
        log.warning("local model check failed: %s", reason)
    atomic_write(cache, json.dumps({"key": key, "ok": ok, "reason": reason}))
    return RuntimeCheck(ok, reason)


def _describe(value: Any) -> str:  # pragma: no cover - debugging aid for the CLI below
    return json.dumps(value, default=str)


if __name__ == "__main__":  # `python -m lib.llm.providers.local_runtime`: check, cache verdict
    from lib.core import get_settings
    from lib.llm.providers.local import bundled_model_path

    s = get_settings()
    result = check_runtime(s.local_model_path or bundled_model_path(), s.data_dir)
    print(_describe(result.__dict__))
    sys.exit(0 if result.ok else 1)
