"""Evals as code: eval files run in CI through the Compare engine, their results stored per
prompt version, and label moves gated on them."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.evals.promote_cli import add_arguments as add_promote_arguments
    from lib.evals.promote_cli import main as promote_main
    from lib.evals.promotion import (
        LabelMove,
        Shortfall,
        eval_name_of,
        guarding,
        label_moves,
        promote,
        shortfall,
    )
    from lib.evals.results import EvalRecord, latest_by_version, latest_result, record_result
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
