"""Token visualisation: how each tokenizer cuts a text, drawn as coloured spans, and what the
text would cost and fill as input to every model in the catalog."""

from lib.tokenviz.pieces import (
    PAGE_SIZE,
    TOKENIZERS,
    Piece,
    count,
    model_table,
    pieces,
    spans_html,
    tokenizer_table,
)

__all__ = [
    "PAGE_SIZE", "TOKENIZERS", "Piece", "count", "model_table", "pieces", "spans_html",
    "tokenizer_table",
]
