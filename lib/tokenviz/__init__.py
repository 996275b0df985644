"""Token visualisation: how each tokenizer cuts a text, drawn as coloured spans, and what the
text would cost and fill as input to every model in the catalog."""

from lib.core import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, {
    "lib.tokenviz.spans": (
        "PAGE_SIZE", "TOKENIZERS", "Piece", "count", "model_table", "pieces", "spans_html",
        "tokenizer_table"
    ),
})
