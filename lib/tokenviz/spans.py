"""How text turns into tokens: pieces per tokenizer, coloured spans, and what the text would
cost and fill for every model in the catalog."""

from __future__ import annotations

import codecs
import html
from dataclasses import dataclass

from lib import knowledge
from lib.core import Settings, TokenizerError
from lib.llm import Catalog, counter_for, encoding, local_model

TOKENIZERS = ("o200k_base", "cl100k_base", "SmolLM2 (local model)",
              "WordPiece (embedding model)")
PAGE_SIZE = 2000           # spans drawn at once: 100k coloured spans would freeze a browser
_COLOURS = ("#fde68a", "#bfdbfe", "#bbf7d0", "#fecaca", "#ddd6fe", "#fed7aa")


@dataclass(frozen=True)
class Piece:
    id: int
    text: str


def pieces(name: str, text: str, settings: Settings) -> list[Piece]:
    """The text cut into tokens; the pieces join back to the text (WordPiece drops spaces)."""
    if name in ("o200k_base", "cl100k_base"):
        enc = encoding(name)
        ids = enc.encode(text, disallowed_special=())
        _, offsets = enc.decode_with_offsets(ids)
        ends = [*offsets[1:], len(text)]
        return [Piece(i, text[s:e]) for i, s, e in zip(ids, offsets, ends, strict=True)]
    if name.startswith("SmolLM2"):
        model = local_model(settings)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # A character split over two tokens shows on the token that completes it.
        return [Piece(i, decoder.decode(model.token_bytes(i))) for i in model.tokenize(text)]
    if name.startswith("WordPiece"):
        tokenizer = knowledge.wordpiece(knowledge.model_name(settings))
        enc = tokenizer.encode(text, add_special_tokens=False)
        out, last = [], 0
        for i, (s, e) in zip(enc.ids, enc.offsets, strict=True):
            if s > last:  # the whitespace WordPiece drops, kept visible as id -1
                out.append(Piece(-1, text[last:s]))
            out.append(Piece(i, text[s:e]))
            last = e
        if last < len(text):
            out.append(Piece(-1, text[last:]))
        return out
    raise TokenizerError(f"There is no tokenizer named {name!r}.")


def count(ps: list[Piece]) -> int:
    return sum(1 for p in ps if p.id >= 0)


def _visible(text: str) -> str:
    """Whitespace made visible: · for a space, → for a tab, ↵ before a line break."""
    return (html.escape(text).replace(" ", "·").replace("\t", "→\t")
            .replace("\n", "↵\n"))


def spans_html(ps: list[Piece], start: int, stop: int, *, show_ids: bool) -> str:
    out = []
    colour = start
    for p in ps[start:stop]:
        if p.id < 0:
            out.append(f'<span class="gap">{_visible(p.text)}</span>')
            continue
        ident = f"<sub>{p.id}</sub>" if show_ids else ""
        out.append(f'<span class="tok" style="background:{_COLOURS[colour % len(_COLOURS)]}" '
                   f'title="id {p.id}">{_visible(p.text)}{ident}</span>')
        colour += 1
    return ('<style>.pl-tokens{font-family:monospace;white-space:pre-wrap;line-height:1.9;'
            "word-break:break-all}"
            ".pl-tokens .tok{border-radius:3px;padding:1px 0;margin:0 1px;color:#111}"
            ".pl-tokens sub{color:#555;font-size:.65em;margin-left:1px}.pl-tokens .gap{color:#999}"
            f'</style><div class="pl-tokens">{"".join(out)}</div>')


def tokenizer_table(text: str, settings: Settings) -> list[dict]:
    rows = []
    for name in TOKENIZERS:
        try:
            n = count(pieces(name, text, settings))
        except TokenizerError:
            continue  # a tokenizer that is not installed has no row
        rows.append({"tokenizer": name, "tokens": n,
                     "characters per token": round(len(text) / n, 2) if n else 0.0})
    return rows


def model_table(text: str, catalog: Catalog, settings: Settings) -> list[dict]:
    """Per model: this text's tokens as input, their cost, and how full the window would be."""
    rows = []
    for m in catalog.models:
        counter = counter_for(m, settings)
        n = counter.count(text)
        rows.append({"model": m.label, "provider": m.provider, "tokens": n,
                     "counted by": counter.name, "input cost (USD)":
                     m.cost_micro(n, 0) / 1e6 if m.priced else None,  # unknown, not $0
                     "window": m.context_window, "window used": n / m.context_window})
    return rows
