"""Token visualisation: how each tokenizer cuts a text, drawn as coloured spans, and what the
text would cost and fill as input to every model in the catalog."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.tokenviz.spans import (
        PAGE_SIZE,
        TOKENIZERS,
        Piece,
        count,
        model_table,
        pieces,
        spans_html,
        tokenizer_table,
    )
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
