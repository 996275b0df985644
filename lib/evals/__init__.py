"""Evals as code: an eval file run through the Compare engine from the command line, gated by
paired statistics against a baseline, written as JSON, JUnit XML and Markdown; label moves
gated on eval results."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.evals.gate import ALL, exit_code, judge
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
    from lib.evals.report import to_json, to_junit, to_markdown, write_atomic
    from lib.evals.results import (
        EvalRecord,
        latest_by_version,
        latest_result,
        record_outcome,
        record_result,
    )
    from lib.evals.runner import PAGE, Outcome, load_rows, run_eval
    from lib.evals.spec import EvalFile, EvalSpec, load
    from lib.evals.stats import (
        Comparison,
        compare_paired,
        flaky,
        mcnemar_exact,
        meets_min_pass_rate,
        paired_bootstrap,
        pass_at_k,
        pass_hat_k,
        regression_p,
    )
else:
    __getattr__, __dir__, __all__ = lazy_face(__name__)
