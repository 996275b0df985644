"""Checks against a dataset's `expected` column: exact, normalised text, JSON fields (one
result per field) and semantic similarity with the bundled embedder."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from lib.core import Settings

EXPECTED = "expected"            # the dataset column holding the expected answer
DEFAULT_THRESHOLD = 0.8          # cosine similarity for "means the same"

Similarity = Callable[[str, str], float]


def normalise(text: str) -> str:
    """Case, accents' compatibility forms, punctuation and spacing do not count."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


def json_fields(output: Any, expected: Any, fields: list[str]) -> dict[str, bool]:
    """Per field of the expected object (or only `fields`), whether the output has it equal.
    A dotted name reaches into nested objects."""
    if not isinstance(expected, dict):
        return {"(root)": output == expected}
    names = fields or sorted(expected)
    return {name: _get(output, name) == _get(expected, name) != _MISSING for name in names}


_MISSING = object()


def _get(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def similarity_with(settings: Settings) -> Similarity:
    """Cosine similarity of two texts under the knowledge bases' embedding model."""
    from lib import knowledge

    name = knowledge.model_name(settings)

    def similar(a: str, b: str) -> float:
        vectors = knowledge.embed(name, [a, b])  # unit length: the dot product is the cosine
        return float(vectors[0] @ vectors[1])

    return similar
