"""A crash guard for the local model: a bad build (e.g. AMX kernels on some CPUs) segfaults on
the first decode, which would take the whole Streamlit server down. So the first decode runs
once in a child process, and its verdict is cached per build, model file and CPU."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.core import atomic_write

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RuntimeCheck:
    ok: bool
    reason: str


def _fingerprint(path: Path) -> str:
    try:
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), "")
    except OSError:
        flags = ""
    parts = [importlib.metadata.version("llama-cpp-python"), str(path),
             str(path.stat().st_mtime_ns), flags]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def check_runtime(path: Path | None, cache_dir: Path, *, run: bool = True) -> RuntimeCheck:
    """Whether the local model decodes on this CPU; the verdict is cached per build and CPU.

    With run=False only a cached verdict is read (fast enough for the Home page).
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
    try:
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return RuntimeCheck(cached["ok"], cached["reason"])
    except (OSError, ValueError, KeyError):
        pass
    if not run:
        return RuntimeCheck(False, "Not checked yet: it is checked when first used.")
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
