"""Fencing outside text for a model: user input and documents in delimiters it can tell from
instructions, with anything that could end the fence early defused."""

from __future__ import annotations

import re
from typing import Any


def untrusted(text: Any, label: str = "input") -> str:
    """Wrap text from a user or a document in delimiters a model can tell from instructions.

    A closing tag inside the text is defused, so the text cannot end the block early.
    """
    tag = re.sub(r"[^a-z0-9_-]", "", str(label).lower()) or "input"
    body = re.sub(r"</?untrusted", lambda m: m.group(0).replace("<", "<\u200b"), str(text),
                  flags=re.IGNORECASE)
    return f'<untrusted source="{tag}">\n{body}\n</untrusted>'


def documents(chunks: Any) -> str:
    """Number retrieved chunks [1], [2], ... each wrapped as untrusted text."""
    def attr(value: Any) -> str:
        # File names and headings come from uploads: no quotes, brackets or line breaks, so
        # they cannot end the attribute and speak outside the fence.
        return re.sub(r'[\s"<>\[\]]+', " ", str(value)).strip()[:120]

    out = []
    for i, chunk in enumerate(chunks or [], 1):
        if isinstance(chunk, dict):
            where = " ".join(f'{k}="{attr(chunk[k])}"' for k in ("source", "page", "heading")
                             if chunk.get(k) not in (None, ""))
            text = chunk.get("text", "")
        else:
            where, text = "", chunk
        out.append(f"[{i}] {where}".rstrip() + "\n" + untrusted(text, "document"))
    return "\n\n".join(out)
