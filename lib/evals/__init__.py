"""Evals as code: an eval file run through the Compare engine from the command line, gated by
paired statistics against a baseline, written as JSON, JUnit XML and Markdown."""

from typing import TYPE_CHECKING

from lib.core import lazy_face

if TYPE_CHECKING:  # the face (lazy_face reads it: each module loads on first use)
    from lib.evals.gate import ALL, exit_code, judge
    from lib.evals.report import to_json, to_junit, to_markdown, write_atomic
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
