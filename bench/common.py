"""Shared bench helpers: percentiles, a loopback llama.cpp server, a scratch data dir."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(
        values) > 1 else values[0]


def summary(name: str, values_ms: list[float]) -> str:
    return (f"{name:<28} n={len(values_ms):<4} p50={pct(values_ms, 50):8.2f} ms  "
            f"p95={pct(values_ms, 95):8.2f} ms")


def paired(label: str, base_label: str, base: list[float], ours_label: str,
           ours: list[float], goal: str) -> float:
    """Print both series and their paired difference; returns the difference's p50."""
    print(summary(base_label, base))
    print(summary(ours_label, ours))
    added = [o - b for o, b in zip(ours, base, strict=True)]
    print(f"{label:<28} p50={pct(added, 50):8.3f} ms  p95={pct(added, 95):8.3f} ms  "
          f"(goal: {goal})")
    return pct(added, 50)


@contextlib.contextmanager
def scratch_data_dir() -> Iterator[Path]:
    """Benchmarks never touch a user's data."""
    with tempfile.TemporaryDirectory(prefix="promptlab-bench-") as d:
        os.environ["PROMPTLAB_DATA_DIR"] = d
        os.environ["PROMPTLAB_SECRETS_FILE"] = os.devnull
        yield Path(d)


@contextlib.contextmanager
def llama_server(n_ctx: int = 2048) -> Iterator[str]:
    from lib.llm import bundled_model_path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
         "--model_alias", "smollm2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/models", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("llama.cpp server did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def public_text(min_chars: int) -> list[tuple[str, str]]:
    """Public English prose available offline: docstrings of the Python standard library
    (PSF licence), then of installed open-source packages, as (module, text) pairs, until at
    least `min_chars` are gathered."""
    import ast
    import sysconfig

    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    paths = [p for root in roots for p in sorted(root.rglob("*.py"))]
    out, total = [], 0
    for path in paths:
        if any(part in ("test", "tests", "idlelib", "lib2to3") for part in path.parts) or (
                "site-packages" in path.parts and path.is_relative_to(roots[0])):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        docs = [ast.get_docstring(node) for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)]
        text = "\n\n".join(d for d in docs if d and len(d) > 80)
        if len(text) > 200:
            out.append((str(path).rsplit("python3.11/", 1)[-1], text))
            total += len(text)
        if total >= min_chars:
            break
    return out


CISI = ROOT.parent / "shared" / "data" / "cisi"


def cisi_documents() -> dict[int, tuple[str, str]]:
    """CISI's abstracts: {id: (title, text)} from CISI.ALL (fields .T title, .W text)."""
    docs: dict[int, tuple[str, str]] = {}
    current, field, parts = None, None, {"T": [], "W": []}

    def keep() -> None:
        if current is not None:
            docs[current] = (" ".join(" ".join(parts["T"]).split()),
                             " ".join(" ".join(parts["W"]).split()))

    for line in (CISI / "CISI.ALL").read_text(encoding="latin-1").splitlines():
        if line.startswith(".I "):
            keep()
            current, field, parts = int(line.split()[1]), None, {"T": [], "W": []}
        elif line[:2] in (".T", ".A", ".W", ".X", ".B") and len(line.strip()) == 2:
            field = line[1]
        elif field in parts:
            parts[field].append(line)
    keep()
    return docs
