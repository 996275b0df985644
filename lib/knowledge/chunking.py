"""Chunking by tokens at paragraph and sentence boundaries, every chunk within the embedding
model's limit as counted by that model's own tokenizer: nothing is silently cut."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from lib.core import ChunkingError
from lib.knowledge.parsers import Section
from lib.llm import encoding

ENCODING = "cl100k_base"
DEFAULT_SIZE = 160
DEFAULT_OVERLAP = 24
HEADING_CHARS = 100  # of a heading carried into each chunk: the chunk's own text must fit too
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+")


@dataclass(frozen=True)
class Chunk:
    index: int
    text: str
    tokens: int               # tiktoken cl100k tokens
    embed_tokens: int         # the embedding model's tokens, special tokens included
    page: int | None = None
    heading: str | None = None

    @property
    def indexed_text(self) -> str:
        """What is embedded and keyword-indexed (see `contextual`)."""
        return contextual(self.text, self.heading)

    def chunk_id(self, collection: str, document_sha: str) -> str:
        """Deterministic: the same file in the same knowledge base gives the same ids."""
        digest = hashlib.sha256(self.text.encode()).hexdigest()
        return hashlib.sha256(f"{collection}:{document_sha}:{self.index}:{digest}".encode()
                              ).hexdigest()[:32]


def chunk_label(source: str, page: int | None, index: int) -> str:
    """How a chunk is named to people, wherever it is shown: "guide.pdf, page 2, chunk 3".
    Chunks are counted from 1, as pages are; `index` is the stored 0-based place."""
    return f"{source}{f', page {page}' if page else ''}, chunk {index + 1}"


def contextual(text: str, heading: str | None) -> str:
    """The chunk with its section heading (or document title) ahead of it: a later chunk of a
    document is still found by what the document is about, not only the first one."""
    heading = (heading or "")[:HEADING_CHARS]
    if heading and not text.startswith(heading):
        return f"{heading}\n\n{text}"
    return text


def _units(text: str, size: int) -> list[tuple[str, int]]:
    """Paragraphs, or their sentences, or token slices of a sentence: each within `size`."""
    enc = encoding(ENCODING)
    out: list[tuple[str, int]] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        n = len(enc.encode(para, disallowed_special=()))
        if n <= size:
            out.append((para, n))
            continue
        for sentence in _SENTENCE.split(para):
            ids = enc.encode(sentence, disallowed_special=())
            if len(ids) <= size:
                out.append((sentence, len(ids)))
            else:  # a run-on line: cut by tokens, on token boundaries
                for i in range(0, len(ids), size):
                    piece = enc.decode(ids[i:i + size])
                    out.append((piece, len(ids[i:i + size])))
    return out


def _pack(units: list[tuple[str, int]], size: int, overlap: int) -> list[tuple[str, int]]:
    chunks: list[tuple[str, int]] = []
    current: list[tuple[str, int]] = []
    for unit in units:
        if current and sum(n for _, n in current) + unit[1] > size:
            chunks.append(("\n\n".join(t for t, _ in current), sum(n for _, n in current)))
            carry: list[tuple[str, int]] = []
            for prev in reversed(current):  # trailing units, up to `overlap` tokens
                if sum(n for _, n in carry) + prev[1] > overlap:
                    break
                carry.insert(0, prev)
            current = carry if sum(n for _, n in carry) + unit[1] <= size else []
        current.append(unit)
    if current:
        chunks.append(("\n\n".join(t for t, _ in current), sum(n for _, n in current)))
    return chunks


def chunk_sections(sections: tuple[Section, ...] | list[Section], *, size: int = DEFAULT_SIZE,
                   overlap: int = DEFAULT_OVERLAP,
                   count_embed: Callable[[list[str]], list[int]], max_embed: int) -> list[Chunk]:
    """Chunks of about `size` tokens with `overlap` carried over, each fitting `max_embed`."""
    if not 16 <= size <= 2000 or not 0 <= overlap < size:
        raise ChunkingError("The chunk size must be 16 to 2,000 tokens, and the overlap smaller "
                            "than it.")
    out: list[Chunk] = []

    def fit(pieces: list[tuple[str, int]], heading: str | None) -> list[tuple[str, int, int]]:
        fitted = []
        counts = count_embed([contextual(t, heading) for t, _ in pieces])
        for (text, n), m in zip(pieces, counts, strict=True):
            if m <= max_embed:
                fitted.append((text, n, m))
            elif n > 1:  # too long for the embedder: split it finer, in place
                half = max(1, n // 2)
                fitted.extend(fit(_pack(_units(text, half), half, 0), heading))
            else:
                raise ChunkingError(f"A single token needs {m} embedding tokens; the embedding "
                                    "model cannot take it.")
        return fitted

    for section in sections:
        for text, n, m in fit(_pack(_units(section.text, size), size, overlap), section.heading):
            out.append(Chunk(len(out), text, n, m, section.page, section.heading))
    return out
